"""Tiny input builders shared by the coverage-line and policy-status tests (issue 6)."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

DIVISION = {"zhejiang": "330100", "jiangsu": "320100", "tianjin": "120100", "national": "110100"}

PAYMENT_SCHEMA = {
    "person_id": pl.Utf8,
    "scheme": pl.Utf8,
    "period_year": pl.Int32,
    "period_month": pl.Int32,
    "kind": pl.Utf8,
    "pooling_division": pl.Utf8,
    "paid_at": pl.Datetime("us"),
    "payment_id": pl.Utf8,
}
PERSON_SCHEMA = {"person_id": pl.Utf8, "birth_date": pl.Date, "death_date": pl.Date}
EVENT_SCHEMA = {"person_id": pl.Utf8, "event": pl.Utf8, "event_date": pl.Date, "end_date": pl.Date}
CLAIM_SCHEMA = {
    "person_id": pl.Utf8,
    "year": pl.Int32,
    "fund_paid": pl.Float64,
    "incentive_used": pl.Boolean,
}
CAP_SCHEMA = {"pooling_division": pl.Utf8, "effective_from": pl.Date, "base_cap": pl.Float64}


def resident(
    person: str, year: int, paid: date, region: str = "zhejiang", kind: str = "normal"
) -> dict:
    """A resident payment row for coverage year `year`."""
    return {
        "person_id": person,
        "scheme": "resident",
        "period_year": year,
        "period_month": None,
        "kind": kind,
        "pooling_division": DIVISION[region],
        "paid_at": datetime(paid.year, paid.month, paid.day, 10, 0),
        "payment_id": f"{person}-{kind}-{year}-{paid.isoformat()}",
    }


def employee(person: str, year: int, month: int, region: str = "zhejiang") -> dict:
    """An employee contribution for (year, month), paid on the 15th of that month."""
    return {
        "person_id": person,
        "scheme": "employee",
        "period_year": year,
        "period_month": month,
        "kind": "normal",
        "pooling_division": DIVISION[region],
        "paid_at": datetime(year, month, 15),
        "payment_id": f"{person}-e-{year}-{month}",
    }


def employee_months(
    person: str, first: tuple[int, int], last: tuple[int, int], region: str = "zhejiang"
) -> list[dict]:
    """Employee contributions for every month from `first` to `last` inclusive."""
    rows = []
    for index in range(first[0] * 12 + first[1] - 1, last[0] * 12 + last[1]):
        rows.append(employee(person, index // 12, index % 12 + 1, region))
    return rows


def frames(payments=(), persons=(), events=(), claims=(), caps=None) -> dict[str, pl.LazyFrame]:
    """The five engine inputs as LazyFrames; base caps default to 400000 everywhere from 2020."""
    if caps is None:
        caps = [
            {"pooling_division": d, "effective_from": date(2020, 1, 1), "base_cap": 400000.0}
            for d in DIVISION.values()
        ]
    return {
        "payments": pl.LazyFrame(list(payments), schema=PAYMENT_SCHEMA),
        "persons": pl.LazyFrame(list(persons), schema=PERSON_SCHEMA),
        "events": pl.LazyFrame(list(events), schema=EVENT_SCHEMA),
        "claims": pl.LazyFrame(list(claims), schema=CLAIM_SCHEMA),
        "base_caps": pl.LazyFrame(list(caps), schema=CAP_SCHEMA),
    }


def person(person_id: str, birth: date, death: date | None = None) -> dict:
    return {"person_id": person_id, "birth_date": birth, "death_date": death}
