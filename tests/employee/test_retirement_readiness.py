"""Retirement readiness: near statutory retirement age with too few employee months (issue 11)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from pipelines.rules.retirement import retirement_age_frame
from pipelines.stages.retirement_readiness import (
    READINESS_COLUMNS,
    assess_readiness,
    count_contribution_months,
)
from tests.employee.conftest import MAN_1966, ZHEJIANG_DIVISION, contribution, monthly, payments

WOMAN_1971 = "370102197106100022"  # female (even 17th digit), born 1971-06-10
ZHEJIANG_MAN = "330106196603150031"  # male, born 1966-03-15
PERSON_SCHEMA = {"person_id": pl.Utf8, "grid_code": pl.Utf8, "name": pl.Utf8, "death_date": pl.Date}
NO_PERSONS = pl.DataFrame(schema=PERSON_SCHEMA).lazy()


def _assess(rules, ages, rows, as_of, persons=NO_PERSONS, track=None) -> pl.DataFrame:
    months = count_contribution_months(payments(*rows), rules, as_of)
    ages_frame = retirement_age_frame(ages, track)
    return assess_readiness(
        months, persons, rules, ages_frame, ages.outreach_window_months, as_of
    ).collect()


def test_short_history_near_retirement_is_a_case_11(rules, ages) -> None:
    """Man born 1966-03-15: 60 years 4 months (born 1966-01..04) -> retires 2026-07-15."""
    out = _assess(rules, ages, monthly(MAN_1966, "2024-01", 12), date(2026, 3, 1))
    assert out.columns == READINESS_COLUMNS
    row = out.row(0, named=True)
    assert (row["person_id"], row["region"], row["sex"]) == (MAN_1966, "shandong", 1)
    assert (row["retirement_age_months"], row["retirement_date"]) == (724, date(2026, 7, 15))
    assert (row["contribution_months"], row["required_months"], row["shortfall_months"]) == (
        12,
        360,
        348,
    )
    assert row["due_date"] == date(2026, 7, 15)
    assert row["reason"].startswith(
        "距法定退休年龄不足12个月(2026-07-15到龄), 职工医保缴费年限不足"
    )
    assert row["reason"].endswith("一次性补缴或继续缴费至满足年限")


def test_enough_months_is_no_case_11(rules, ages) -> None:
    assert _assess(rules, ages, monthly(MAN_1966, "1996-03", 360), date(2026, 3, 1)).is_empty()
    assert _assess(rules, ages, monthly(MAN_1966, "1996-04", 359), date(2026, 3, 1)).height == 1


@pytest.mark.parametrize(
    ("as_of", "is_case"),
    [
        (date(2025, 7, 14), False),  # retirement more than 12 months away
        (date(2025, 7, 15), True),  # exactly 12 months
        (date(2026, 7, 15), True),  # the retirement day itself
        (date(2026, 7, 16), False),  # already past retirement age
    ],
)
def test_window_boundaries_11(rules, ages, as_of, is_case) -> None:
    rows = monthly(MAN_1966, "2024-01", 12)
    assert _assess(rules, ages, rows, as_of).height == int(is_case)


def test_women_track_is_a_parameter_11(rules, ages) -> None:
    """Woman born 1971-06-10: cadre track 55y5m -> 2026-11-10; worker track 50 -> retired 2021."""
    rows = monthly(WOMAN_1971, "2024-01", 24)
    cadre = _assess(rules, ages, rows, date(2026, 3, 1))
    assert cadre.select("sex", "retirement_date", "required_months").rows() == [
        (2, date(2026, 11, 10), 300)
    ]
    assert _assess(rules, ages, rows, date(2026, 3, 1), track="female_worker").is_empty()


def test_minimum_in_force_from_the_regions_date_11(rules, ages) -> None:
    """Shandong's 30/25 years apply to retirements from its date, 2024-01-01 (policy.md
    section 1); Zhejiang's 20 always."""
    born_1965 = "370102196501200011"  # 60y1m -> 2025-02-20
    zhejiang_1965 = "330106196501200031"
    rows = monthly(born_1965, "2024-01", 6) + monthly(
        zhejiang_1965, "2024-01", 6, ZHEJIANG_DIVISION
    )
    out = _assess(rules, ages, rows, date(2024, 9, 1))
    assert out.select("person_id", "region", "required_months").rows() == [
        (zhejiang_1965, "zhejiang", 240), (born_1965, "shandong", 360)
    ]
    born_1963 = "370102196312200011"  # 60 -> 2023-12-20, before Shandong's rules
    zhejiang_1963 = "330106196312200031"
    rows = monthly(born_1963, "2022-01", 6) + monthly(
        zhejiang_1963, "2022-01", 6, ZHEJIANG_DIVISION
    )
    out = _assess(rules, ages, rows, date(2023, 6, 1))
    assert out.select("person_id", "region").rows() == [(zhejiang_1963, "zhejiang")]


def test_months_are_distinct_live_months_11(rules, ages) -> None:
    rows = [
        contribution("A", period="2025-01"),
        contribution("B", period="2025-01", employer_type="institution"),  # same month again
        contribution("C", period="2025-02", refunded_by="R"),  # refunded
        contribution("D", period="2025-03", kind="refund", amount=-500.0),
        contribution("E", period="2025-04", division=ZHEJIANG_DIVISION),  # other province counts
    ]
    out = _assess(rules, ages, rows, date(2026, 3, 1))
    assert out.select("contribution_months", "region").rows() == [(2, "zhejiang")]


def test_region_is_that_of_the_latest_contribution_11(rules, ages) -> None:
    rows = monthly(ZHEJIANG_MAN, "2024-01", 3, ZHEJIANG_DIVISION) + monthly(
        ZHEJIANG_MAN, "2024-04", 3
    )
    out = _assess(rules, ages, rows, date(2026, 3, 1))
    assert out.select("region", "contribution_months", "required_months").rows() == [
        ("shandong", 6, 360)
    ]


def test_grid_name_and_death_from_person_11(rules, ages) -> None:
    rows = monthly(MAN_1966, "2024-01", 12) + monthly(WOMAN_1971, "2024-01", 12)
    persons = pl.DataFrame(
        {"person_id": [MAN_1966, WOMAN_1971], "grid_code": ["370102001001001", None],
         "name": ["张三", "李四"], "death_date": [None, date(2026, 2, 1)]},
        schema=PERSON_SCHEMA,
    ).lazy()  # fmt: skip
    out = _assess(rules, ages, rows, date(2026, 3, 1), persons)
    assert out.select("person_id", "grid_code", "name").rows() == [
        (MAN_1966, "370102001001001", "张三")
    ]
