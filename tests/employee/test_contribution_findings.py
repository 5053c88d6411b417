"""Contribution findings: amount vs base x rate, flexible minimum base, employer type (issue 11)."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.stages.contribution_findings import FINDING_COLUMNS, detect_contribution_findings
from tests.employee.conftest import ZHEJIANG_DIVISION, contribution, payments

AS_OF = date(2026, 11, 20)


def _findings(rules, wages, *rows: dict) -> dict[str, str]:
    out = detect_contribution_findings(payments(*rows), rules, wages, AS_OF).collect()
    return dict(zip(out["payment_id"], out["finding"].cast(str)))


@pytest.mark.parametrize(
    ("row", "finding"),
    [
        (contribution(employer_type="enterprise"), None),  # 400 + 100
        (contribution(employer_type="institution"), None),  # 365 + 100
        (contribution(employer_type="enterprise", employer_amount=365.0), "employer_type_rate"),
        (contribution(employer_type="institution", employer_amount=400.0), "employer_type_rate"),
        (contribution(amount=501.0), None),  # +1 yuan: within tolerance
        (contribution(amount=499.0), None),  # -1 yuan
        (contribution(amount=501.01), "amount_mismatch"),
        (contribution(amount=498.99), "amount_mismatch"),
        (contribution(employer_amount=350.0, amount=450.0), "amount_mismatch"),  # 7%: neither type
        (
            contribution(person_amount=150.0, amount=500.0),
            "amount_mismatch",
        ),  # shares wrong, total right
        (contribution(base=12345.67), None),  # non-round base: 987.65 + 246.91
    ],
)
def test_employer_contribution_11(rules, wages, row, finding) -> None:
    assert _findings(rules, wages, row).get("P1") == finding


@pytest.mark.parametrize(
    ("base", "amount", "person_amount", "finding"),
    [
        (5000.0, 350.0, None, None),  # 7%, no personal account
        (5000.0, 450.0, None, None),  # 9%, 2% to the account
        (5000.0, 400.0, None, "amount_mismatch"),  # 8%
        (5000.0, 351.0, None, None),  # within 1 yuan of 7%
        (5000.0, 352.0, None, "amount_mismatch"),
        (5000.0, 350.0, 250.0, "amount_mismatch"),  # a flexible worker pays it all
        (4800.0, 336.0, None, None),  # exactly 60% of the 2024 wage 8000
        (4799.99, 336.0, None, "base_below_minimum"),
        (3000.0, 100.0, None, "base_below_minimum"),  # base first, then amount
    ],
)
def test_flexible_contribution_11(rules, wages, base, amount, person_amount, finding) -> None:
    row = contribution(
        employer_type="flexible", base=base, amount=amount, person_amount=person_amount
    )
    assert _findings(rules, wages, row).get("P1") == finding


def test_minimum_base_uses_the_previous_years_wage_11(rules, wages) -> None:
    """2024 contributions: 0.6 x the 2023 wage 7500 = 4500; 2026: 0.6 x 8500 = 5100."""
    rows = [
        contribution("A", "flexible", base=4500.0, period="2024-06"),
        contribution("B", "flexible", base=4499.0, period="2024-06"),
        contribution("C", "flexible", base=5000.0, period="2026-01"),
        contribution("D", "flexible", base=5100.0, period="2026-01"),
    ]
    assert _findings(rules, wages, *rows) == {"B": "base_below_minimum", "C": "base_below_minimum"}


def test_no_wage_for_the_year_means_no_base_finding_11(rules, wages) -> None:
    row = contribution(
        employer_type="flexible", base=100.0, period="2027-01", paid_at=datetime(2026, 1, 5)
    )
    assert _findings(rules, wages, row) == {}


@pytest.mark.parametrize(
    ("employer_type", "period", "in_transition"),
    [
        ("enterprise", "2024-12", True),  # cities may phase in until 2025-01
        ("enterprise", "2025-01", False),
        ("flexible", "2025-12", True),  # until 2026-01
        ("flexible", "2026-01", False),
    ],
)
def test_transition_is_flagged_not_excused_11(
    rules, wages, employer_type, period, in_transition
) -> None:
    row = contribution(employer_type=employer_type, base=6000.0, amount=1.0, period=period)
    out = detect_contribution_findings(payments(row), rules, wages, AS_OF).collect()
    assert out.select("finding", "in_transition").rows() == [("amount_mismatch", in_transition)]


@pytest.mark.parametrize(
    "row",
    [
        contribution(amount=1.0, period="2023-12"),  # before the rates are in force (2024-01)
        contribution(amount=1.0, division=ZHEJIANG_DIVISION),  # Zhejiang sets no rates
        contribution(amount=1.0, refunded_by="R1"),  # refunded: not live
        contribution(amount=1.0, kind="refund"),
        contribution(amount=1.0, paid_at=datetime(2026, 11, 21)),  # paid after the as-of date
        contribution(amount=1.0) | {"base": None},  # no base: nothing to compare
        contribution(amount=1.0) | {"employer_type": None},
        contribution(amount=1.0) | {"scheme": "resident"},
    ],
)
def test_not_checked_11(rules, wages, row) -> None:
    assert _findings(rules, wages, row) == {}


def test_output_row_11(rules, wages) -> None:
    row = contribution("P9", "enterprise", base=5000.0, employer_amount=365.0, period="2025-03")
    out = detect_contribution_findings(payments(row), rules, wages, AS_OF).collect()
    expected = pl.DataFrame(
        {
            "payment_id": ["P9"], "person_id": [row["id_number"]], "region": ["shandong"],
            "pooling_division": ["370102"], "employer_id": [row["employer_id"]],
            "employer_type": ["enterprise"], "period": ["2025-03"], "period_year": [2025],
            "period_month": [3], "base": [5000.0], "amount": [465.0], "employer_amount": [365.0],
            "person_amount": [100.0], "expected_amount": [500.0], "minimum_base": [None],
            "in_transition": [False], "finding": ["employer_type_rate"],
        },
        schema_overrides={"period_year": pl.Int32, "period_month": pl.Int32, "minimum_base": pl.Float64},
    )  # fmt: skip
    assert out.columns == FINDING_COLUMNS
    assert_frame_equal(out.with_columns(pl.col("finding").cast(str)), expected)
