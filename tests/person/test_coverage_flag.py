"""coverage_flag: population in scope, each flag and its boundaries (outputs.md; issue 5).

One small world, built once: every person is one scenario, named in ``SCENARIOS`` with the
flag expected as of 2026-11-20 (None: not in scope).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pytest

from tests.person.conftest import (
    AS_OF,
    add,
    create_staging,
    employee_payment,
    household,
    make_id,
    resident_payment,
    run_person_stage,
    table,
)

ADULT = date(1980, 6, 1)
DAY_90 = AS_OF - timedelta(days=90)      # 2026-08-22: born exactly 90 days ago
DAY_91 = AS_OF - timedelta(days=91)
DAY_365 = AS_OF - timedelta(days=365)
DAY_366 = AS_OF - timedelta(days=366)


def _id(serial: int, birth: date = ADULT, sex: int = 1) -> str:
    return make_id(birth, sex, serial=serial)


# scenario -> (person_id, expected flag, expected since)
SCENARIOS: dict[str, tuple[str, str | None, date | None]] = {
    "insured_resident": (_id(1), "insured", date(2025, 1, 1)),
    "insured_employee_as_of_month": (_id(2), "insured", date(2026, 11, 1)),
    "lapsed_employee_last_month": (_id(3), "lapsed", date(2026, 11, 1)),
    "lapsed_resident_2024": (_id(4), "lapsed", date(2025, 1, 1)),
    "uninsured": (_id(5), "uninsured", date(2023, 1, 1)),
    "uninsured_refunded": (_id(6), "uninsured", date(2023, 1, 1)),
    "uninsured_repair_only": (_id(7), "uninsured", date(2023, 1, 1)),
    "student_uninsured": (_id(8, date(2008, 3, 3)), "student_uninsured", date(2023, 1, 1)),
    "student_lapsed": (_id(9, date(2008, 3, 3)), "student_uninsured", date(2026, 1, 1)),
    "graduate_uninsured": (_id(10, date(2004, 3, 3)), "uninsured", date(2023, 1, 1)),
    "newborn_90_days": ("B:BC090", "newborn_pending", DAY_90),
    "newborn_91_days": ("B:BC091", "newborn_overdue", DAY_91 + timedelta(days=91)),
    "newborn_90_days_covered": (_id(11, DAY_90), "insured", date(2026, 8, 1)),
    "newborn_paid_for_next_year": (
        _id(12, date(2026, 10, 1)), "newborn_pending", date(2026, 10, 1)
    ),
    "newborn_365_days": ("B:BC365", "newborn_overdue", DAY_365 + timedelta(days=91)),
    "newborn_366_days": ("B:BC366", None, None),
    "newborn_366_days_with_household": (_id(13, DAY_366), "uninsured", date(2025, 11, 1)),
    "newborn_born_on_as_of": ("B:BC000", "newborn_pending", AS_OF),
    "deceased_employee_month_after_death": (_id(14), "deceased_covered", date(2026, 4, 1)),
    "death_on_first_day_of_paid_month": (_id(15), None, None),
    "deceased_resident_next_year": (_id(16), "deceased_covered", date(2026, 1, 1)),
    "deceased_resident_same_year": (_id(17), None, None),
    "died_on_as_of_date": (_id(18), None, None),
    "repeat_enrolled": (_id(19), "repeat_enrolled", date(2026, 2, 1)),
    "repeat_last_year_only": (_id(20), "insured", date(2025, 1, 1)),
    "deceased_beats_repeat": (_id(21), "deceased_covered", date(2026, 1, 1)),
    "moved_out": (_id(22), None, None),
    "permit_valid": (_id(23), "uninsured", date(2023, 1, 1)),
    "permit_valid_until_as_of": (_id(24), "uninsured", date(2023, 1, 1)),
    "permit_expired": (_id(25), None, None),
    "repeat_beats_newborn": (_id(26, date(2026, 9, 1)), "repeat_enrolled", date(2026, 10, 2)),
}


def pid(name: str) -> str:
    return SCENARIOS[name][0]


def _world(con: duckdb.DuckDBPyConnection) -> None:
    r, e = resident_payment, employee_payment
    adults = [n for n, (p, _, _) in SCENARIOS.items() if not p.startswith("B:")]
    households = [
        household(pid(n), date.fromisoformat(f"{pid(n)[6:10]}-{pid(n)[10:12]}-{pid(n)[12:14]}"),
                  household_id=f"H{i}")
        for i, n in enumerate(adults)
        if n not in {"student_uninsured", "student_lapsed", "permit_valid",
                     "permit_valid_until_as_of", "permit_expired", "newborn_90_days_covered",
                     "newborn_paid_for_next_year", "repeat_beats_newborn"}
    ]
    for row in households:
        if row["id_number"] == pid("moved_out"):
            row["status"] = "moved_out"
    add(con, "household", households)
    add(con, "student", [
        {"id_number": pid("student_uninsured"), "name": "学生", "student_no": "S1",
         "school_code": "SC1", "school_name": "一中", "school_division": "330106",
         "level": "senior", "status": "enrolled"},
        {"id_number": pid("student_lapsed"), "name": "学生", "student_no": "S2",
         "school_code": "SC1", "school_name": "一中", "school_division": "330106",
         "level": "senior", "status": "enrolled"},
        {"id_number": pid("graduate_uninsured"), "name": "毕业", "student_no": "S3",
         "school_code": "SC1", "school_name": "一中", "school_division": "330106",
         "level": "senior", "status": "graduated"},
    ])
    add(con, "residence_permit", [
        {"id_number": pid("permit_valid"), "name": "甲", "permit_division": "330106",
         "issued_date": date(2024, 1, 1), "valid_until": date(2027, 1, 1)},
        {"id_number": pid("permit_valid_until_as_of"), "name": "乙", "permit_division": "330106",
         "issued_date": date(2024, 1, 1), "valid_until": AS_OF},
        {"id_number": pid("permit_expired"), "name": "丙", "permit_division": "330106",
         "issued_date": date(2024, 1, 1), "valid_until": AS_OF - timedelta(days=1)},
    ])
    mother = pid("insured_resident")
    add(con, "birth", [
        {"birth_cert_no": "BC090", "child_name": "婴一", "sex": 1, "birth_date": DAY_90,
         "mother_id_number": mother, "birth_division": "330106"},
        {"birth_cert_no": "BC091", "child_name": "婴二", "sex": 1, "birth_date": DAY_91,
         "mother_id_number": mother, "birth_division": "330106"},
        {"birth_cert_no": "BC365", "child_name": "婴三", "sex": 1, "birth_date": DAY_365,
         "mother_id_number": mother, "birth_division": "330106"},
        {"birth_cert_no": "BC366", "child_name": "婴四", "sex": 1, "birth_date": DAY_366,
         "mother_id_number": mother, "birth_division": "330106"},
        {"birth_cert_no": "BC000", "child_name": "婴五", "sex": 1, "birth_date": AS_OF,
         "mother_id_number": mother, "birth_division": "330106"},
        {"birth_cert_no": "BCN1", "child_name": "婴六", "sex": 1, "birth_date": DAY_90,
         "mother_id_number": mother, "birth_division": "330106",
         "child_id_number": pid("newborn_90_days_covered")},
        {"birth_cert_no": "BCN2", "child_name": "婴七", "sex": 1, "birth_date": date(2026, 10, 1),
         "mother_id_number": mother, "birth_division": "330106",
         "child_id_number": pid("newborn_paid_for_next_year")},
        {"birth_cert_no": "BCN3", "child_name": "婴八", "sex": 1, "birth_date": date(2026, 9, 1),
         "mother_id_number": mother, "birth_division": "330106",
         "child_id_number": pid("repeat_beats_newborn")},
    ])
    add(con, "death", [
        {"id_number": pid("deceased_employee_month_after_death"), "name": "亡",
         "death_date": date(2026, 3, 1)},
        {"id_number": pid("death_on_first_day_of_paid_month"), "name": "亡",
         "death_date": date(2026, 3, 1)},
        {"id_number": pid("deceased_resident_next_year"), "name": "亡",
         "death_date": date(2025, 6, 10)},
        {"id_number": pid("deceased_resident_same_year"), "name": "亡",
         "death_date": date(2026, 6, 10)},
        {"id_number": pid("died_on_as_of_date"), "name": "亡", "death_date": AS_OF},
        {"id_number": pid("deceased_beats_repeat"), "name": "亡", "death_date": date(2025, 5, 5)},
    ])
    y25, y26 = datetime(2024, 11, 1), datetime(2025, 11, 1)
    add(con, "tax_payment", [
        r("P1a", pid("insured_resident"), 2025, y25), r("P1b", pid("insured_resident"), 2026, y26),
        e("P2", pid("insured_employee_as_of_month"), 2026, 11, datetime(2026, 11, 5)),
        *[e(f"P3-{m}", pid("lapsed_employee_last_month"), 2026, m) for m in range(1, 11)],
        r("P4", pid("lapsed_resident_2024"), 2024, datetime(2023, 11, 1)),
        r("P6", pid("uninsured_refunded"), 2026, y26, refunded_by="P6R"),
        r("P6R", pid("uninsured_refunded"), 2026, datetime(2026, 1, 5), kind="refund",
          refund_of="P6"),
        r("P7", pid("uninsured_repair_only"), 2025, datetime(2026, 3, 1), kind="repair"),
        r("P9", pid("student_lapsed"), 2025, y25),
        r("P11", pid("newborn_90_days_covered"), 2026, datetime(2026, 9, 1)),
        r("P12", pid("newborn_paid_for_next_year"), 2027, datetime(2026, 11, 1)),
        e("P14a", pid("deceased_employee_month_after_death"), 2026, 3),
        e("P14b", pid("deceased_employee_month_after_death"), 2026, 4),
        e("P15", pid("death_on_first_day_of_paid_month"), 2026, 3),
        r("P16", pid("deceased_resident_next_year"), 2026, y26),
        r("P17", pid("deceased_resident_same_year"), 2026, y26),
        r("P18", pid("died_on_as_of_date"), 2026, y26),
        r("P19a", pid("repeat_enrolled"), 2026, y26),
        r("P19b", pid("repeat_enrolled"), 2026, datetime(2026, 2, 1), "320100"),
        r("P20a", pid("repeat_last_year_only"), 2025, y25),
        r("P20b", pid("repeat_last_year_only"), 2025, datetime(2025, 2, 1), "320100"),
        r("P20c", pid("repeat_last_year_only"), 2026, y26),
        r("P21a", pid("deceased_beats_repeat"), 2026, y26),
        r("P21b", pid("deceased_beats_repeat"), 2026, datetime(2026, 2, 1), "320100"),
        r("P26a", pid("repeat_beats_newborn"), 2026, datetime(2026, 9, 20)),
        r("P26b", pid("repeat_beats_newborn"), 2026, datetime(2026, 10, 2, 9), "320100"),
    ])


@pytest.fixture(scope="module")
def flags(tmp_path_factory) -> dict[str, tuple[str, date]]:
    build = tmp_path_factory.mktemp("flags") / "w.duckdb"
    with duckdb.connect(str(build)) as con:
        create_staging(con)
        _world(con)
    run_person_stage(build)
    rows = table(build, "SELECT person_id, flag, since FROM main.coverage_flag")
    return {person_id: (flag, since) for person_id, flag, since in rows}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_flag_and_since(flags, scenario: str) -> None:
    person_id, expected_flag, expected_since = SCENARIOS[scenario]
    if expected_flag is None:
        assert person_id not in flags, f"{scenario} should be out of scope"
    else:
        assert flags.get(person_id) == (expected_flag, expected_since), scenario


def test_only_scenario_persons_in_scope(flags) -> None:
    expected = {p for p, flag, _ in SCENARIOS.values() if flag is not None}
    assert set(flags) == expected


def test_views_count_each_flag_by_division_and_grid(flags, tmp_path_factory) -> None:
    build = next(tmp_path_factory.getbasetemp().glob("flags*")) / "w.duckdb"
    by_flag: dict[str, int] = {}
    for flag, _ in flags.values():
        by_flag[flag] = by_flag.get(flag, 0) + 1
    for view in ("v_coverage_flags_by_division", "v_coverage_flags_by_grid"):
        totals = table(build, f"""SELECT sum(persons), sum(covered), sum(count_insured),
                                         sum(count_deceased_covered), sum(count_newborn_pending)
                                  FROM main.{view}""")[0]
        living = len(flags) - by_flag["deceased_covered"]
        covered = by_flag["insured"] + by_flag["repeat_enrolled"]
        assert totals == (living, covered, by_flag["insured"], by_flag["deceased_covered"],
                          by_flag["newborn_pending"]), view


@pytest.mark.parametrize(
    ("last_employee_month", "as_of", "expected"),
    [
        # a 3-month gap across New Year in progress: the switching tolerance of policy.md
        # section 2 decides the year's status, not the flag (outputs.md: as-of month not covered)
        ((2026, 10), date(2027, 1, 20), ("lapsed", date(2026, 11, 1))),
        ((2026, 9), date(2027, 1, 20), ("lapsed", date(2026, 10, 1))),
        ((2027, 1), date(2027, 1, 20), ("insured", date(2026, 1, 1))),
    ],
    ids=["gap_3_months_across_new_year", "gap_4_months_across_new_year", "no_gap"],
)
def test_flag_across_new_year(build, last_employee_month, as_of, expected) -> None:
    person = make_id(ADULT, serial=40)
    year, month = last_employee_month
    months = [(2026, m) for m in range(1, 13)] + [(2027, 1)]
    with duckdb.connect(str(build)) as con:
        add(con, "household", [household(person, ADULT)])
        add(con, "tax_payment", [employee_payment(f"X{y}{m}", person, y, m)
                                 for y, m in months if (y, m) <= (year, month)])
    run_person_stage(build, as_of)
    assert table(build, "SELECT flag, since FROM main.coverage_flag") == [expected]


@pytest.mark.parametrize(
    ("scenario", "detail"),
    [
        ("lapsed_employee_last_month", "last covered month 2026-10"),
        ("uninsured", "never covered since 2023-01"),
        ("insured_resident", "covered since 2025-01"),
        ("newborn_90_days", "born 2026-08-22 (90 days ago), not covered this month"),
        ("student_lapsed", "enrolled student, not covered this month (last covered 2025-12)"),
        ("repeat_enrolled", "resident_twice: refund P19b"),
    ],
)
def test_detail_is_plain(flags, tmp_path_factory, scenario: str, detail: str) -> None:
    build = next(tmp_path_factory.getbasetemp().glob("flags*")) / "w.duckdb"
    rows = table(build, f"SELECT detail FROM main.coverage_flag WHERE person_id = '{pid(scenario)}'")
    assert rows == [(detail,)]


def test_every_flag_has_since_and_detail(flags, tmp_path_factory) -> None:
    build = next(tmp_path_factory.getbasetemp().glob("flags*")) / "w.duckdb"
    assert table(build, """SELECT count(*) FROM main.coverage_flag
                           WHERE since IS NULL OR detail IS NULL OR detail = ''""") == [(0,)]
