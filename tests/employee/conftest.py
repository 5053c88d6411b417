"""Inline builders for employee-scheme tests: staged tax_payment rows with only what matters."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from pipelines.rules.loader import load_rules
from pipelines.rules.retirement import load_retirement_ages

PAYMENT_SCHEMA = {
    "payment_id": pl.Utf8, "id_number": pl.Utf8, "scheme": pl.Utf8, "pooling_division": pl.Utf8,
    "period": pl.Utf8, "period_year": pl.Int32, "period_month": pl.Int32, "kind": pl.Utf8,
    "refunded_by": pl.Utf8, "amount": pl.Float64, "base": pl.Float64,
    "employer_amount": pl.Float64, "person_amount": pl.Float64, "employer_id": pl.Utf8,
    "employer_type": pl.Utf8, "paid_at": pl.Datetime("us"),
}  # fmt: skip
SHANDONG_DIVISION, ZHEJIANG_DIVISION = "370102", "330106"
MAN_1966 = "370102196603150011"  # male (odd 17th digit), born 1966-03-15


def contribution(
    payment_id: str = "P1",
    employer_type: str = "enterprise",
    base: float | None = 5000.0,
    amount: float | None = None,
    employer_amount: float | None = None,
    person_amount: float | None = None,
    period: str = "2025-03",
    *,
    id_number: str = MAN_1966,
    division: str = SHANDONG_DIVISION,
    kind: str = "normal",
    refunded_by: str | None = None,
    paid_at: datetime | None = None,
) -> dict:
    """One staged employee contribution; amounts default to the correct Shandong ones."""
    year, month = int(period[:4]), int(period[5:])
    if employer_type == "flexible":
        employer_amount = None
        amount = round(base * 0.07, 2) if amount is None else amount
        person_amount = amount if person_amount is None else person_amount
    else:
        rate = 0.08 if employer_type == "enterprise" else 0.073
        employer_amount = round(base * rate, 2) if employer_amount is None else employer_amount
        person_amount = round(base * 0.02, 2) if person_amount is None else person_amount
        amount = employer_amount + person_amount if amount is None else amount
    return {
        "payment_id": payment_id, "id_number": id_number, "scheme": "employee",
        "pooling_division": division, "period": period, "period_year": year,
        "period_month": month, "kind": kind, "refunded_by": refunded_by, "amount": amount,
        "base": base, "employer_amount": employer_amount, "person_amount": person_amount,
        "employer_id": None if employer_type == "flexible" else "91370100MA0000000X",
        "employer_type": employer_type, "paid_at": paid_at or datetime(year, month, 10),
    }  # fmt: skip


def payments(*rows: dict) -> pl.LazyFrame:
    return pl.DataFrame(list(rows), schema=PAYMENT_SCHEMA).lazy()


def monthly(
    id_number: str, first: str, count: int, division: str = SHANDONG_DIVISION
) -> list[dict]:
    """`count` consecutive correct enterprise contributions from month `first` (YYYY-MM)."""
    start = int(first[:4]) * 12 + int(first[5:]) - 1
    return [
        contribution(
            f"{id_number[-6:]}-{i}", period=f"{(start + i) // 12}-{(start + i) % 12 + 1:02d}",
            id_number=id_number, division=division,
        )
        for i in range(count)
    ]  # fmt: skip


@pytest.fixture(scope="session")
def rules():
    return load_rules()


@pytest.fixture(scope="session")
def ages():
    return load_retirement_ages()


@pytest.fixture
def wages() -> pl.LazyFrame:
    """Shandong average monthly wages: 2024 -> minimum base 2025 = 0.6 x 8000 = 4800."""
    return pl.DataFrame(
        {"province_code": ["370000"] * 3, "year": [2023, 2024, 2025],
         "average_monthly_wage": [7500.0, 8000.0, 8500.0]},
        schema={"province_code": pl.Utf8, "year": pl.Int32, "average_monthly_wage": pl.Float64},
    ).lazy()  # fmt: skip
