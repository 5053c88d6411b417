"""repeat_enrolment: each rule of outputs.md and its boundaries (issue 5)."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from tests.person.conftest import (
    add,
    create_staging,
    employee_payment,
    household,
    make_id,
    resident_payment,
    run_person_stage,
    table,
)

r, e = resident_payment, employee_payment
BIRTH = date(1985, 2, 2)


def _id(serial: int) -> str:
    return make_id(BIRTH, 1, serial=serial)


# scenario -> (person, residence division, payments, expected rows
#              [(period, kind, keep, refunds, overlap_months, action)])
CASES = {
    "resident_twice_keeps_residence_region": (
        _id(1), "330106",
        [r("A1", _id(1), 2026, datetime(2025, 10, 1), "320100"),
         r("A2", _id(1), 2026, datetime(2025, 11, 1), "330100")],
        [("2026", "resident_twice", "A2", ["A1"], 12, "refund")],
    ),
    "resident_twice_else_earliest_paid": (
        _id(2), "330106",
        [r("B1", _id(2), 2026, datetime(2025, 12, 1), "320100"),
         r("B2", _id(2), 2026, datetime(2025, 10, 5), "120000")],
        [("2026", "resident_twice", "B2", ["B1"], 12, "refund")],
    ),
    "resident_twice_both_home_earliest_of_them": (
        _id(3), "330106",
        [r("C1", _id(3), 2026, datetime(2025, 12, 1), "330100"),
         r("C2", _id(3), 2026, datetime(2025, 10, 5), "330106"),
         r("C3", _id(3), 2026, datetime(2025, 9, 5), "320100")],
        [("2026", "resident_twice", "C2", ["C1", "C3"], 12, "refund")],
    ),
    "resident_twice_tianjin_municipal_pooling": (
        _id(4), "120101",
        [r("D1", _id(4), 2025, datetime(2024, 9, 1), "330100"),
         r("D2", _id(4), 2025, datetime(2024, 12, 1), "120000")],
        [("2025", "resident_twice", "D2", ["D1"], 12, "refund")],
    ),
    "refunded_payment_is_not_live": (
        _id(5), "330106",
        [r("E1", _id(5), 2026, datetime(2025, 10, 1), "320100", refunded_by="E3"),
         r("E2", _id(5), 2026, datetime(2025, 11, 1), "330100"),
         r("E3", _id(5), 2026, datetime(2026, 1, 3), "320100", kind="refund", refund_of="E1")],
        [],
    ),
    "repair_payment_is_not_live": (
        _id(6), "330106",
        [r("F1", _id(6), 2025, datetime(2024, 10, 1)),
         r("F2", _id(6), 2025, datetime(2026, 3, 1), kind="repair")],
        [],
    ),
    "resident_then_employee_overlap": (
        _id(7), "330106",
        [r("G0", _id(7), 2026, datetime(2026, 1, 15)),
         *[e(f"G{m}", _id(7), 2026, m) for m in (1, 2, 3)]],
        [("2026", "employee_and_resident", None, ["G0"], 3, "refund")],
    ),
    "employee_then_resident_is_a_switch": (
        _id(8), "330106",
        [*[e(f"H{m}", _id(8), 2026, m) for m in range(1, 7)],
         r("H0", _id(8), 2026, datetime(2026, 7, 10))],
        [],
    ),
    "resident_paid_on_last_day_of_employee_month": (
        _id(9), "330106",
        [*[e(f"I{m}", _id(9), 2026, m) for m in range(1, 7)],
         r("I0", _id(9), 2026, datetime(2026, 6, 30, 23, 59, 59))],
        [("2026", "employee_and_resident", None, ["I0"], 1, "refund")],
    ),
    "resident_paid_first_day_after_employee_month": (
        _id(10), "330106",
        [*[e(f"J{m}", _id(10), 2026, m) for m in range(1, 7)],
         r("J0", _id(10), 2026, datetime(2026, 7, 1, 0, 0, 0))],
        [],
    ),
    "resident_to_employee_counts_months_both_cover": (
        _id(11), "330106",
        [r("K0", _id(11), 2026, datetime(2025, 11, 1)),
         *[e(f"K{m}", _id(11), 2026, m) for m in (9, 10, 11)]],
        [("2026", "employee_and_resident", None, ["K0"], 3, "refund")],
    ),
    "employee_after_death_first_day_of_paid_month": (
        _id(12), "330106",
        [*[e(f"L{m}", _id(12), 2026, m) for m in (2, 3, 4, 5)]],
        [("2026", "after_death", None, ["L4", "L5"], 2, "stop")],
    ),
    "resident_after_death_year": (
        _id(13), "330106",
        [r("M5", _id(13), 2025, datetime(2024, 11, 1)),
         r("M6", _id(13), 2026, datetime(2025, 11, 1)),
         r("M7", _id(13), 2027, datetime(2026, 10, 1))],
        [("2026", "after_death", None, ["M6"], 12, "stop"),
         ("2027", "after_death", None, ["M7"], 12, "stop")],
    ),
    "refunded_after_death_is_not_live": (
        _id(14), "330106",
        [e("N4", _id(14), 2026, 4, refunded_by="N4R"),
         e("N4R", _id(14), 2026, 4, kind="refund", refund_of="N4")],
        [],
    ),
}
DEATHS = {_id(12): date(2026, 3, 1), _id(13): date(2025, 6, 10), _id(14): date(2026, 3, 1)}


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, list[tuple]]:
    build = tmp_path_factory.mktemp("repeat") / "w.duckdb"
    with duckdb.connect(str(build)) as con:
        create_staging(con)
        add(con, "household", [
            household(person, BIRTH, household_id=f"H{i}", residence_division=division)
            for i, (person, division, _, _) in enumerate(CASES.values())
        ])
        add(con, "tax_payment", [p for _, _, payments, _ in CASES.values() for p in payments])
        add(con, "death", [{"id_number": k, "name": "亡", "death_date": v} for k, v in DEATHS.items()])
    run_person_stage(build)
    found: dict[str, list[tuple]] = {}
    for person, *row in table(build, """
            SELECT person_id, period, kind, keep_payment_id,
                   string_split(refund_payment_ids, ';'), overlap_months, action
            FROM main.repeat_enrolment ORDER BY person_id, period, kind"""):
        found.setdefault(person, []).append(tuple(row))
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_repeat_enrolment_rule(rows, case: str) -> None:
    person, _, _, expected = CASES[case]
    assert rows.get(person, []) == expected


def test_school_division_counts_as_home(build, con) -> None:
    """A student living in Tianjin keeps the payment made where the school is."""
    person = _id(20)
    add(con, "household", [household(person, BIRTH, residence_division="120101")])
    add(con, "student", [{"id_number": person, "name": "学生", "student_no": "S",
                          "school_code": "SC", "school_name": "大学",
                          "school_division": "330102", "level": "higher",
                          "status": "enrolled"}])
    add(con, "tax_payment", [r("S1", person, 2026, datetime(2025, 9, 1), "320100"),
                             r("S2", person, 2026, datetime(2025, 10, 1), "330100")])
    con.close()
    run_person_stage(build)
    kept = table(build, "SELECT keep_payment_id, refund_payment_ids FROM main.repeat_enrolment")
    assert kept == [("S2", "S1")]


def test_residence_permit_counts_as_home(build, con) -> None:
    person = _id(21)
    add(con, "household", [household(person, BIRTH, residence_division="320102")])
    add(con, "residence_permit", [{"id_number": person, "name": "甲", "permit_division": "330106",
                                   "issued_date": date(2024, 1, 1), "valid_until": None}])
    add(con, "tax_payment", [r("T1", person, 2026, datetime(2025, 9, 1), "120000"),
                             r("T2", person, 2026, datetime(2025, 10, 1), "330100")])
    con.close()
    run_person_stage(build)
    assert table(build, "SELECT keep_payment_id FROM main.repeat_enrolment") == [("T2",)]


def test_each_row_names_payments_kept_and_refunded(build, con) -> None:
    """employee_and_resident keeps the employee scheme: its contributions are listed as kept,
    keep_payment_id (one payment) stays empty; payment_ids lists every payment involved."""
    person = _id(22)
    add(con, "household", [household(person, BIRTH)])
    add(con, "tax_payment", [r("V0", person, 2026, datetime(2026, 1, 15)),
                             *[e(f"V{m}", person, 2026, m) for m in (1, 2)]])
    con.close()
    run_person_stage(build)
    assert table(build, """SELECT payment_ids, keep_payment_id, kept_payment_ids,
                                  refund_payment_ids, action, reason IS NOT NULL
                           FROM main.repeat_enrolment""") == [
        ("V0;V1;V2", None, "V1;V2", "V0", "refund", True)
    ]


def test_expired_permit_and_graduated_school_still_count_as_home(build, con) -> None:
    """outputs.md names the residence permit and the school division without a validity
    condition: as written, any permit or school record on file counts."""
    person = _id(23)
    add(con, "household", [household(person, BIRTH, residence_division="120101")])
    add(con, "residence_permit", [{"id_number": person, "name": "甲", "permit_division": "330106",
                                   "issued_date": date(2020, 1, 1),
                                   "valid_until": date(2021, 1, 1)}])
    add(con, "tax_payment", [r("W1", person, 2026, datetime(2025, 9, 1), "320100"),
                             r("W2", person, 2026, datetime(2025, 10, 1), "330100")])
    con.close()
    run_person_stage(build)
    assert table(build, "SELECT keep_payment_id FROM main.repeat_enrolment") == [("W2",)]
