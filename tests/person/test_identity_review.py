"""identity_review: deterministic ID matches first, Splink for the rest, never merged (issue 5)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.person.conftest import AS_OF, add, household, make_id, table

WANG = make_id(date(1980, 1, 1), 1, serial=1)
LI = make_id(date(1990, 5, 5), 2, serial=2)


def _rejected(line: int, raw: str, name: str, sex: int, birth: date, check: str) -> dict:
    return {"source": "household", "source_file": "2026-11-20/household.csv", "line": line,
            "id_number_raw": raw, "name": name, "sex": sex, "birth_date": birth,
            "division": "330106", "check": check}


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    import duckdb

    from tests.person.conftest import create_staging

    path = tmp_path_factory.mktemp("review") / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        create_staging(con)
    return path


@pytest.fixture(scope="module")
def review(build) -> dict[int, list[tuple]]:
    import duckdb

    from pipelines.flows.tasks_person import build_person, review_identities

    con = duckdb.connect(str(build))

    wrong_check = "0" if WANG[-1] != "0" else "1"
    add(con, "household", [
        household(WANG, date(1980, 1, 1), 1, name="王伟", household_id="A"),
        household(LI, date(1990, 5, 5), 2, name="李娜", household_id="B"),
        # same birth date, sex and county as 李娜, another name: not a candidate
        *[household(make_id(date(1990, 5, 5), 2, serial=s), date(1990, 5, 5), 2, name="赵敏",
                    household_id=f"C{s}") for s in range(10, 20)],
    ])
    add(con, "staging.rejected_identity", [
        _rejected(2, WANG[:17] + wrong_check, "王伟", 1, date(1980, 1, 1), "id_check_char"),
        _rejected(3, f" {WANG.lower()} ", "王伟", 2, date(1980, 1, 1), "id_sex_mismatch"),
        _rejected(4, "3301061990050", "李娜", 2, date(1990, 5, 5), "id_format"),
        _rejected(5, "12", "钱多多", 2, date(1970, 5, 5), "id_format"),
    ])
    con.close()
    build_person.fn(build, AS_OF)
    counts = review_identities.fn(build)
    assert counts["identity_review"] == 4
    rows = table(build, """SELECT line, candidate_person_id, method, candidate_rank,
                                  review_status FROM main.identity_review ORDER BY line""")
    return {line: rest for line, *rest in rows}


def test_wrong_check_character_matches_on_first_17(review) -> None:
    assert review[2] == [WANG, "id_first17", 1, "pending"]


def test_valid_number_with_wrong_sex_matches_exactly(review) -> None:
    assert review[3] == [WANG, "id_exact", 1, "pending"]


def test_no_number_is_scored_by_splink(review) -> None:
    assert review[4] == [LI, "splink", 1, "pending"]


def test_unmatched_record_stays_in_the_queue(review) -> None:
    assert review[5] == [None, "no_candidate", None, "pending"]


def test_nothing_is_merged(build, review) -> None:
    """The review never changes person: the rejected records add no person and no source."""
    assert table(build, "SELECT count(*) FROM main.person") == [(12,)]
