"""person and newborn_link (issue 5)."""

from __future__ import annotations

from datetime import date, datetime

from tests.person.conftest import (
    AS_OF,
    add,
    household,
    make_id,
    resident_payment,
    table,
)

MOTHER_BIRTH = date(1992, 4, 4)
CHILD_BIRTH = date(2026, 9, 9)


def _build(build) -> None:
    from pipelines.flows.tasks_person import build_person

    build_person.fn(build, AS_OF)


def _person(build, person_id: str) -> dict:
    with __import__("duckdb").connect(str(build), read_only=True) as con:
        rel = con.sql(f"SELECT * FROM main.person WHERE person_id = '{person_id}'")
        rows = rel.fetchall()
        return dict(zip(rel.columns, rows[0])) if rows else {}


def _links(build) -> set[tuple]:
    return set(table(build, "SELECT birth_cert_no, person_id, method FROM main.newborn_link"))


def test_person_demographics_from_all_sources(build, con) -> None:
    person = make_id(date(1970, 1, 2), 2, serial=4)
    add(con, "household", [household(person, date(1970, 1, 2), 2, name="陈红")])
    add(con, "residence_permit", [{"id_number": person, "name": "陈红", "permit_division": "320102",
                                   "grid_code": "32010200100100100001",
                                   "issued_date": date(2025, 1, 1), "valid_until": None}])
    add(con, "assistance", [{"id_number": person, "name": "陈红", "category": "minimum_living",
                             "recognized_date": date(2025, 3, 1), "division": "330106"}])
    add(con, "tax_payment", [resident_payment("P", person, 2026, datetime(2025, 11, 1))])
    add(con, "claims", [{"id_number": person, "year": 2025, "scheme": "resident", "fund_paid": 0.0}])
    con.close()
    _build(build)
    row = _person(build, person)
    assert row["name"] == "陈红" and row["sex"] == 2 and row["birth_date"] == date(1970, 1, 2)
    assert row["hukou_division"] == "330106"
    assert row["residence_division"] == "320102"               # a valid permit wins
    assert row["grid_code"] == "32010200100100100001"
    assert row["assistance_category"] == "minimum_living"
    assert row["sources"] == "assistance,claims,household,residence_permit,tax_payment"


def test_newborn_without_number_keyed_by_certificate(build, con) -> None:
    mother = make_id(MOTHER_BIRTH, 2, serial=5)
    add(con, "household", [household(mother, MOTHER_BIRTH, 2, household_id="H1")])
    add(con, "birth", [{"birth_cert_no": "Q1", "child_name": "小明", "sex": 1,
                        "birth_date": CHILD_BIRTH, "mother_id_number": mother,
                        "birth_division": "330106"}])
    con.close()
    _build(build)
    row = _person(build, "B:Q1")
    assert row["birth_date"] == CHILD_BIRTH and row["sources"] == "birth"
    assert row["grid_code"] == "33010600100100100001"          # the mother's grid, for outreach
    assert _links(build) == set()


def test_newborn_linked_by_birth_record(build, con) -> None:
    child = make_id(CHILD_BIRTH, 1, serial=6)
    add(con, "birth", [{"birth_cert_no": "Q2", "sex": 1, "birth_date": CHILD_BIRTH,
                        "mother_id_number": make_id(MOTHER_BIRTH, 2, serial=7),
                        "birth_division": "330106", "child_id_number": child}])
    con.close()
    _build(build)
    assert _links(build) == {("Q2", child, "birth_record")}
    assert _person(build, child)["birth_cert_no"] == "Q2"
    assert _person(build, "B:Q2") == {}


def test_newborn_linked_by_parent_household_and_link_kept(build, con) -> None:
    import duckdb

    mother, father = make_id(MOTHER_BIRTH, 2, serial=8), make_id(MOTHER_BIRTH, 1, serial=9)
    child = make_id(CHILD_BIRTH, 1, serial=10)
    add(con, "household", [
        household(father, MOTHER_BIRTH, 1, household_id="H2"),
        household(child, CHILD_BIRTH, 1, household_id="H2"),
        household(make_id(CHILD_BIRTH, 2, serial=11), CHILD_BIRTH, 2, household_id="H2"),
    ])
    add(con, "birth", [{"birth_cert_no": "Q3", "sex": 1, "birth_date": CHILD_BIRTH,
                        "mother_id_number": mother, "father_id_number": father,
                        "birth_division": "330106"}])
    con.close()
    _build(build)
    assert _links(build) == {("Q3", child, "household")}
    # the household snapshot loses the child: the link is never lost
    with duckdb.connect(str(build)) as again:
        again.execute(f"DELETE FROM staging.household WHERE id_number = '{child}'")
    _build(build)
    assert _links(build) == {("Q3", child, "household")}
    assert _person(build, child)["sources"] == "birth"


def test_same_sex_twins_linked_by_name_or_not_at_all(build, con) -> None:
    mother = make_id(MOTHER_BIRTH, 2, serial=12)
    twin_a, twin_b = make_id(CHILD_BIRTH, 1, serial=13), make_id(CHILD_BIRTH, 1, serial=14)
    add(con, "household", [
        household(mother, MOTHER_BIRTH, 2, household_id="H3"),
        household(twin_a, CHILD_BIRTH, 1, household_id="H3", name="大宝"),
        household(twin_b, CHILD_BIRTH, 1, household_id="H3", name="二宝"),
    ])
    birth = {"sex": 1, "birth_date": CHILD_BIRTH, "mother_id_number": mother,
             "birth_division": "330106"}
    add(con, "birth", [{**birth, "birth_cert_no": "T1", "child_name": "大宝"},
                       {**birth, "birth_cert_no": "T2", "child_name": None}])
    con.close()
    _build(build)
    # T1 is named; T2 has two candidates and no name. twin_a is claimed by name only once.
    assert _links(build) == {("T1", twin_a, "household")}
    assert _person(build, "B:T2") != {}


def test_a_staged_source_breaking_its_key_stops_the_stage(build, con) -> None:
    import pytest

    from pipelines.flows.tasks_person import PersonKeyNotUnique

    person = make_id(date(1970, 1, 2), 1, serial=30)
    twice = [household(person, date(1970, 1, 2)), household(person, date(1970, 1, 2))]
    add(con, "household", twice)
    con.close()
    with pytest.raises(PersonKeyNotUnique, match="person_id not unique.*staging.household"):
        _build(build)


def test_a_source_missing_from_the_source_bits_stops_the_stage(build, con, monkeypatch) -> None:
    """person.sql gathers sources as bits: a source it has no bit for fails loudly, the
    person is never dropped silently."""
    import duckdb
    import pytest

    from pipelines.io import warehouse

    person = make_id(date(1970, 1, 2), 2, serial=4)
    add(con, "household", [household(person, date(1970, 1, 2), 2)])
    add(con, "claims", [{"id_number": person, "year": 2025, "scheme": "resident", "fund_paid": 0.0}])
    con.close()
    original = warehouse.run_sql_file

    def without_claims_bit(con, name, **params):
        if name != "person":
            return original(con, name, **params)
        sql = (warehouse.resources.files("pipelines.stages").joinpath("sql", "person.sql")
               .read_text("utf-8").replace("('claims'), ", ""))
        con.execute(sql, params or None)

    monkeypatch.setattr("pipelines.flows.tasks_person.run_sql_file", without_claims_bit)
    with pytest.raises(duckdb.InvalidInputException, match="source claims is not in source_bits"):
        _build(build)
