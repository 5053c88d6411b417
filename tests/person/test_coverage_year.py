"""coverage_year through build_coverage (policy.md section 2 via coverage_line; issue 5)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.person.conftest import (
    AS_OF,
    add,
    employee_payment,
    household,
    make_id,
    resident_payment,
    table,
)

BIRTH = date(1980, 6, 1)


def _employee_months(person: str, first: tuple[int, int], last: tuple[int, int]) -> list[dict]:
    """One employee contribution per month from first to last (year, month), inclusive."""
    rows, (year, month) = [], first
    while (year, month) <= last:
        rows.append(employee_payment(f"{person[-4:]}-{year}-{month:02d}", person, year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return rows


def _years(build, person: str) -> dict[int, tuple]:
    rows = table(build, f"""SELECT year, status, employee_months, resident_pooling_division
                            FROM main.coverage_year WHERE person_id = '{person}'""")
    return {year: rest for year, *rest in rows}


@pytest.mark.parametrize(
    ("last_before_gap", "expected_2025", "expected_2026"),
    [
        ((2025, 10), "covered", "covered"),   # Nov, Dec, Jan: 3 months, a tolerated switch
        ((2025, 9), "lapsed", "lapsed"),      # Oct .. Jan: 4 months, a lapse in both years
    ],
    ids=["gap_3_months_across_new_year", "gap_4_months_across_new_year"],
)
def test_gap_across_new_year(build, con, last_before_gap, expected_2025, expected_2026) -> None:
    from pipelines.flows.tasks_person import build_coverage, build_person

    person = make_id(BIRTH, serial=1)
    add(con, "household", [household(person, BIRTH)])        # 330106: zhejiang rules
    add(con, "tax_payment", _employee_months(person, (2023, 1), last_before_gap)
        + _employee_months(person, (2026, 2), (2026, 11)))
    con.close()
    build_person.fn(build, AS_OF)
    build_coverage.fn(build, AS_OF)
    years = _years(build, person)
    assert (years[2025][0], years[2026][0]) == (expected_2025, expected_2026)
    assert years[2024][0] == "covered"
    assert years[2026][1] == 10                                # Feb .. Nov 2026


def test_resident_year_division_and_rows_per_year(build, con) -> None:
    from pipelines.flows.tasks_person import build_coverage, build_person

    person = make_id(BIRTH, serial=2)
    add(con, "household", [household(person, BIRTH)])
    add(con, "tax_payment", [
        resident_payment("R25", person, 2025, datetime(2024, 11, 1), "330100"),
        resident_payment("R26", person, 2026, datetime(2025, 11, 1), "330100"),
        resident_payment("R26x", person, 2026, datetime(2025, 12, 1), "320100"),
        resident_payment("R24", person, 2024, datetime(2026, 2, 1), "330100", kind="repair"),
    ])
    con.close()
    build_person.fn(build, AS_OF)
    counts = build_coverage.fn(build, AS_OF)
    years = _years(build, person)
    assert sorted(years) == [2023, 2024, 2025, 2026]
    assert years[2026] == ["covered", 0, "330100"]             # earliest paid of the two
    assert years[2024][0] == "lapsed"                          # a repair never covers
    assert counts["coverage_year"] == 4


def test_newborn_without_number_has_no_covered_year(build, con) -> None:
    from pipelines.flows.tasks_person import build_coverage, build_person

    mother = make_id(BIRTH, 2, serial=3)
    add(con, "household", [household(mother, BIRTH, 2)])
    add(con, "birth", [{"birth_cert_no": "N1", "sex": 1, "birth_date": date(2026, 10, 1),
                        "mother_id_number": mother, "birth_division": "330106"}])
    con.close()
    build_person.fn(build, AS_OF)
    build_coverage.fn(build, AS_OF)
    years = _years(build, "B:N1")
    assert [years[y][0] for y in (2023, 2024, 2025)] == ["none", "none", "none"]
    assert years[2026][0] == "none"                           # 2 uncovered months: tolerated
