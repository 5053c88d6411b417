"""The truth's repeat-enrolment and flag logic on tiny hand-made payment lists (outputs.md)."""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.synthetic import truth

END = date(2026, 11, 20)


def payments(rows: list[tuple]) -> pl.DataFrame:
    """rows: (payment_id, person, scheme, pooling_division, period, kind, refund_of, paid)."""
    df = pl.DataFrame(
        rows,
        schema={
            "payment_id": pl.String,
            "_pid": pl.String,
            "scheme": pl.String,
            "pooling_division": pl.String,
            "period": pl.String,
            "kind": pl.String,
            "refund_of": pl.String,
            "paid": pl.Date,
        },
        orient="row",
    )
    return df.with_columns(_paid_ord=pl.col("paid").map_elements(date.toordinal, pl.Int64))


def empty_deaths() -> pl.DataFrame:
    return pl.DataFrame(schema={"_pid": pl.String, "death_date": pl.Date})


def residence(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"_pid": pl.String, "pooling_division": pl.String}, orient="row"
    )


def test_resident_twice_keeps_the_payment_where_the_person_lives() -> None:
    live = truth.live_payments(
        payments(
            [
                ("R1", "p", "resident", "330100", "2026", "normal", None, date(2025, 10, 1)),
                ("R2", "p", "resident", "320500", "2026", "normal", None, date(2025, 11, 1)),
            ]
        )
    )
    rows = truth.repeat_enrolments(live, empty_deaths(), residence([("p", "320500")]))
    assert rows.rows() == [("p", "2026", "resident_twice", "R2", "R1")]


def test_refunded_double_payment_is_not_a_repeat() -> None:
    live = truth.live_payments(
        payments(
            [
                ("R1", "p", "resident", "330100", "2026", "normal", None, date(2025, 10, 1)),
                ("R2", "p", "resident", "330100", "2026", "normal", None, date(2025, 10, 5)),
                ("FR2", "p", "resident", "330100", "2026", "refund", "R2", date(2025, 10, 20)),
            ]
        )
    )
    assert truth.repeat_enrolments(live, empty_deaths(), residence([])).height == 0


def test_resident_then_employee_overlaps_but_employee_then_resident_does_not() -> None:
    emp = [
        (f"E{m}", p, "employee", "370100", f"2026-{m:02d}", "normal", None, date(2025, 12, 20))
        for p in ("a", "b")
        for m in range(1, 7)
    ]
    live = truth.live_payments(
        payments(
            emp
            + [
                ("RA", "a", "resident", "370100", "2026", "normal", None, date(2026, 3, 15)),
                ("RB", "b", "resident", "370100", "2026", "normal", None, date(2026, 7, 10)),
            ]
        )
    )
    rows = truth.repeat_enrolments(live, empty_deaths(), residence([]))
    assert rows.rows() == [("a", "2026", "employee_and_resident", None, "RA")]


def test_payment_after_death_is_flagged_first() -> None:
    pays = payments(
        [
            ("R1", "d", "resident", "330100", "2026", "normal", None, date(2025, 10, 1)),
            ("R2", "d", "resident", "330100", "2027", "normal", None, date(2026, 10, 1)),
        ]
    )
    live = truth.live_payments(pays)
    deaths = pl.DataFrame({"_pid": ["d"], "death_date": [date(2026, 10, 20)]})
    repeats = truth.repeat_enrolments(live, deaths, residence([]))
    assert repeats.rows() == [("d", "2027", "after_death", None, "R2")]
    household = pl.DataFrame({"_pid": ["d"], "status": ["cancelled"]})
    permits = pl.DataFrame(
        schema={"_pid": pl.String, "issued_date": pl.Date, "valid_until": pl.Date}
    )
    students = pl.DataFrame(schema={"_pid": pl.String, "status": pl.String})
    links = pl.DataFrame(
        schema={"birth_cert_no": pl.String, "birth_date": pl.Date, "person_id": pl.String}
    )
    flags = truth.persons(
        END, 2023, household, permits, students, deaths, links, live, repeats, pl.Series(["d"])
    )
    assert flags.rows() == [("d", True, "deceased_covered")]
