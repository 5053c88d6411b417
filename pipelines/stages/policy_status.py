"""Policy status: waiting period, incentives and caps per enrolled person (policy.md).

One row per person with a resident payment for the as-of year Y; columns as outputs.md
`policy_status`. Every number comes from the region rules; nothing here loops over people.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.rules.loader import (
    RegionRules,
    centralized_extensions_frame,
    history_start_year,
    region_base_caps_frame,
    region_for_division,
    resident_rules_frame,
)
from pipelines.stages import coverage_line, policy_years, waiting_period

POLICY_STATUS_COLUMNS = [
    "person_id",
    "year",
    "pooling_division",
    "region",
    "consecutive_years",
    "lapse_run_years",
    "lapsed_years_total",
    "repaired_years",
    "exemption",
    "fixed_wait_months",
    "variable_wait_months",
    "wait_months",
    "benefit_start_date",
    "in_waiting_period",
    "continuous_incentive",
    "zero_claim_incentive",
    "total_incentive",
    "lapse_penalty",
    "base_cap",
    "effective_cap",
    "outpatient_incentive",
]


def select_enrolment(
    payments: pl.LazyFrame, rules: dict[str, RegionRules], as_of: date
) -> pl.LazyFrame:
    """One row per person with a resident payment for Y (the earliest non-repair one): its
    division, the region of that division and every parameter of the region (section 3)."""
    params = resident_rules_frame(rules).lazy()
    return (
        coverage_line.select_year_payment(payments, as_of)
        .with_columns(region=region_for_division("pooling_division", rules))
        .join(params, on="region", how="left")
    )


def attach_base_cap(
    enrolment: pl.LazyFrame, base_caps: pl.LazyFrame, rules: dict[str, RegionRules], as_of: date
) -> pl.LazyFrame:
    """Same grain, plus base_cap: the row in force on the as-of date (latest effective_from on
    or before it) of the division's reference row or its region file's province-wide row."""

    def in_force(frame: pl.LazyFrame, key: str) -> pl.LazyFrame:
        return (
            frame.filter(pl.col("effective_from") <= as_of)
            .sort(key, "effective_from")
            .group_by(key, maintain_order=True)
            .last()
        )

    table = in_force(base_caps, "pooling_division").rename(
        {"effective_from": "table_from", "base_cap": "table_cap"}
    )
    province = in_force(region_base_caps_frame(rules).lazy(), "region").rename(
        {"effective_from": "region_from", "base_cap": "region_cap"}
    )
    province_newer = pl.col("region_from").is_not_null() & (
        pl.col("table_from").is_null() | (pl.col("region_from") > pl.col("table_from"))
    )
    return (
        enrolment.join(table, on="pooling_division", how="left")
        .join(province, on="region", how="left")
        .with_columns(base_cap=pl.when(province_newer).then("region_cap").otherwise("table_cap"))
        .drop("table_from", "table_cap", "region_from", "region_cap")
    )


def compute_incentives(status: pl.LazyFrame) -> pl.LazyFrame:
    """Same grain, plus continuous_incentive, zero_claim_incentive and total_incentive (capped
    at incentive_cap_ratio x base cap; uncapped when the base cap is unknown), section 5."""
    current_run = pl.col("consecutive_years") - pl.col("incentive_threshold_years")
    # continuous_kept_on_lapse: amounts earned before a lapse are kept (前期积累的奖励额度继续保留)
    earned_years = (
        pl.when("continuous_kept_on_lapse")
        .then("continuous_years_earned")
        .otherwise(current_run.clip(lower_bound=0))
    )
    uncapped = pl.col("continuous_incentive") + pl.col("zero_claim_incentive")
    cap = pl.col("incentive_cap_ratio") * pl.col("base_cap")
    return status.with_columns(
        continuous_incentive=(pl.col("continuous_step") * earned_years).cast(pl.Float64),
        zero_claim_incentive=(pl.col("zero_claim_step") * pl.col("zero_claim_years")).cast(
            pl.Float64
        ),
    ).with_columns(
        # without a base cap the 20% cap cannot apply (min_horizontal skips the null cap)
        total_incentive=pl.min_horizontal(uncapped, cap)
    )


def compute_caps(status: pl.LazyFrame) -> pl.LazyFrame:
    """Same grain, plus lapse_penalty (capped at penalty_cap_ratio x base cap when both are
    known), effective_cap (null when the base cap is unknown) and outpatient_incentive
    (Tianjin: four full years done, lost on lapse), section 5."""
    penalty = pl.col("lapse_penalty_step") * pl.col("lapsed_years_total")
    cap = pl.col("penalty_cap_ratio") * pl.col("base_cap")
    capped = pl.when(cap.is_null()).then(penalty).otherwise(pl.min_horizontal(penalty, cap))
    earned = pl.col("consecutive_years") > pl.col("incentive_threshold_years")
    return status.with_columns(
        lapse_penalty=capped.cast(pl.Float64),
        outpatient_incentive=pl.when(earned)
        .then("outpatient_step")
        .otherwise(0.0)
        .cast(pl.Float64),
    ).with_columns(
        effective_cap=pl.col("base_cap") + pl.col("total_incentive") - pl.col("lapse_penalty"),
    )


def compute_policy_status(
    payments: pl.LazyFrame,
    persons: pl.LazyFrame,
    events: pl.LazyFrame,
    claims: pl.LazyFrame,
    base_caps: pl.LazyFrame,
    rules: dict[str, RegionRules],
    as_of: date,
) -> pl.LazyFrame:
    """One row per person with a resident payment for the as-of year: outputs.md policy_status.

    Only what is known on the as-of date counts: payments paid and events dated on or before it.
    Rows are sorted by person_id."""
    if as_of.year < history_start_year(rules):
        raise ValueError(f"as_of {as_of} is before history_start_year {history_start_year(rules)}")
    enrolment = select_enrolment(payments, rules, as_of).with_row_index("person_key").cache()
    keys = enrolment.select("person_id", "person_key")
    keyed = {
        name: _key_by_person(frame, keys)
        for name, frame in [
            ("payments", payments),
            ("persons", persons),
            ("events", events),
            ("claims", claims),
        ]
    }
    status = _status_by_key(
        **keyed,
        enrolment=_key_by_person(enrolment, keys),
        base_caps=base_caps,
        rules=rules,
        as_of=as_of,
    )
    return (
        status.rename({"person_id": "person_key"})
        .join(keys, on="person_key", how="inner")
        .with_columns(year=pl.lit(as_of.year, pl.Int32))
        .select(POLICY_STATUS_COLUMNS)
        .sort("person_id")
    )


def _key_by_person(frame: pl.LazyFrame, keys: pl.LazyFrame) -> pl.LazyFrame:
    """Rows of enrolled persons only, person_id replaced by an integer key: the engine's joins
    and per-person windows run on integers, not strings (performance, no semantic change)."""
    keyed = frame.drop("person_key", strict=False).join(keys, on="person_id", how="inner")
    return keyed.drop("person_id").rename({"person_key": "person_id"}).cache()


def _status_by_key(
    payments, persons, events, claims, enrolment, base_caps, rules, as_of
) -> pl.LazyFrame:
    """policy_status rows (without year) for enrolled persons keyed by integer person_id."""
    start_year = history_start_year(rules)
    years = list(range(start_year, as_of.year + 1))
    year_params = enrolment.select(
        "person_id",
        "policy_start_year",
        "employee_years_count_for_continuity",
        "incentive_threshold_years",
        "zero_claim_reset_on_incentive_use",
    )
    counts = (
        policy_years.enrolled_person_years(
            payments, persons, claims, enrolment, rules, as_of, start_year
        )
        .pipe(policy_years.mark_counted_years, year_params, years)
        .pipe(policy_years.count_person_years, years)
    )
    exemptions = waiting_period.find_exemptions(enrolment, persons, events, as_of)
    return (
        enrolment.join(counts, on="person_id", how="left")
        .with_columns(_fill_counts())
        .join(exemptions, on="person_id", how="left")
        .pipe(
            waiting_period.centralized_window,
            centralized_extensions_frame(rules).lazy(),
            as_of.year,
        )
        .pipe(waiting_period.compute_waiting_period, as_of)
        .pipe(attach_base_cap, base_caps, rules, as_of)
        .pipe(compute_incentives)
        .pipe(compute_caps)
    )


def _fill_counts() -> list[pl.Expr]:
    """Enrolled persons without a coverage line (unknown to persons) count as all zero."""
    names = [
        "consecutive_years",
        "lapse_run_years",
        "lapsed_years_total",
        "repaired_years",
        "continuous_years_earned",
        "zero_claim_years",
    ]
    return [pl.col(name).fill_null(0).cast(pl.Int32) for name in names]
