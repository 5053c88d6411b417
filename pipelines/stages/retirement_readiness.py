"""Retirement readiness (policy.md section 6): near retirement age, employee years short.

A person whose statutory retirement date (birth date + the retirement age of their sex and birth
cohort, retirement_age.toml) falls within the outreach window after the as-of date, and whose
cumulative employee contribution months are below the minimum of their region and sex, is an
outreach case: 一次性补缴或继续缴费至满足年限 (鲁政字〔2023〕184号).

Counted months are the distinct months with a live employee contribution the pipeline has seen
(from history_start_year on), in any pooling region: the spec's "cumulative months", which
undercounts careers that started before the history. The region is the one of the person's
latest contribution; a region's minimum applies to retirement dates on or after its in-force date.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.rules.loader import RegionRules
from pipelines.stages.contribution_findings import (
    LIVE_PAYMENT_COLUMNS,
    live_employee_contributions,
)
from pipelines.stages.normalise_identity import id_birth_date, id_sex

MALE, FEMALE = 1, 2
READINESS_COLUMNS = [
    "grid_code", "person_id", "name", "region", "sex", "birth_date", "retirement_age_months",
    "retirement_date", "contribution_months", "required_months", "shortfall_months", "reason",
    "due_date",
]  # fmt: skip
PAYMENT_COLUMNS = LIVE_PAYMENT_COLUMNS
"""The staged payment columns count_contribution_months reads."""


def minimum_months_frame(rules: dict[str, RegionRules]) -> pl.DataFrame:
    """One row per (region, sex) with an employee minimum: required_months, in_force_from."""
    rows = [
        {
            "region": key,
            "sex": sex,
            "required_months": years * 12,
            "in_force_from": minimum.in_force_from,
        }
        for key, r in rules.items()
        if r.employee is not None
        for minimum in [r.employee.minimum_contribution_years]
        for sex, years in ((MALE, minimum.male), (FEMALE, minimum.female))
    ]
    schema = {
        "region": pl.Utf8,
        "sex": pl.UInt8,
        "required_months": pl.Int32,
        "in_force_from": pl.Date,
    }
    return pl.DataFrame(rows, schema=schema)


def count_contribution_months(
    payments: pl.LazyFrame, rules: dict[str, RegionRules], as_of: date
) -> pl.LazyFrame:
    """One row per person with a live employee contribution: contribution_months and region.

    Months are distinct (a month paid twice counts once); region is that of the latest month.
    """
    return (
        live_employee_contributions(payments, rules, as_of)
        .group_by("person_id")
        .agg(
            contribution_months=pl.col("period_start").n_unique().cast(pl.Int32),
            region=pl.col("region").sort_by("period_start", "paid_at").last(),
        )
    )


def employee_persons(months: pl.LazyFrame, persons: pl.LazyFrame) -> pl.LazyFrame:
    """One row per counted person: sex and birth date from the ID number, grid/name/death if known.

    `persons` (main.person) may be empty; its grid_code, name and death_date are optional extras.
    """
    return months.join(persons, on="person_id", how="left").with_columns(
        sex=id_sex(pl.col("person_id")),
        birth_date=id_birth_date(pl.col("person_id")),
    )


def add_retirement_date(people: pl.LazyFrame, ages: pl.DataFrame) -> pl.LazyFrame:
    """Add retirement_age_months and retirement_date (birth date + age in calendar months)."""
    birth_month = pl.col("birth_date").dt.year() * 12 + pl.col("birth_date").dt.month() - 1
    return (
        people.filter(pl.col("birth_date").is_not_null(), pl.col("sex").is_not_null())
        .with_columns(born_index=birth_month.cast(pl.Int32))
        .sort("born_index")
        .join_asof(
            ages.lazy().rename({"age_months": "retirement_age_months"}),
            left_on="born_index",
            right_on="born_from_index",
            by="sex",
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(
            retirement_date=pl.col("birth_date").dt.offset_by(
                pl.format("{}mo", pl.col("retirement_age_months"))
            )
        )
    )


def _reason(window_months: int) -> pl.Expr:
    return pl.format(
        "距法定退休年龄不足{}个月({}到龄), 职工医保缴费年限不足(已缴{}个月, 需{}个月, 差{}个月): "
        "一次性补缴或继续缴费至满足年限",
        pl.lit(window_months), pl.col("retirement_date"), pl.col("contribution_months"),
        pl.col("required_months"), pl.col("shortfall_months"),
    )  # fmt: skip


def assess_readiness(
    months: pl.LazyFrame,
    persons: pl.LazyFrame,
    rules: dict[str, RegionRules],
    ages: pl.DataFrame,
    window_months: int,
    as_of: date,
) -> pl.LazyFrame:
    """One row per outreach case (READINESS_COLUMNS): alive, retiring within the window, months short.

    Window: as_of <= retirement_date <= as_of + window_months; due_date is the retirement date,
    when the one-off payment (一次性补缴) or the choice to keep paying must be settled.
    """
    window_end = pl.lit(as_of).dt.offset_by(f"{window_months}mo")
    alive = pl.col("death_date").is_null() | (pl.col("death_date") > as_of)
    return (
        employee_persons(months, persons)
        .pipe(add_retirement_date, ages)
        .join(minimum_months_frame(rules).lazy(), on=["region", "sex"], how="inner")
        .filter(
            alive,
            pl.col("retirement_date").is_between(pl.lit(as_of), window_end),
            pl.col("in_force_from").is_null()
            | (pl.col("retirement_date") >= pl.col("in_force_from")),
            pl.col("contribution_months") < pl.col("required_months"),
        )
        .with_columns(shortfall_months=pl.col("required_months") - pl.col("contribution_months"))
        .with_columns(reason=_reason(window_months), due_date=pl.col("retirement_date"))
        .select(READINESS_COLUMNS)
        .sort("retirement_date", "person_id")
    )
