"""Year counts of the policy engine (policy.md section 2, "Derived counts for evaluation year Y").

Works on the enrolled persons only (a resident payment for the as-of year Y), one row per
person with one column per year of history (`covered_2025`, `lapsed_2025`, ...): the years are
few (history_start_year..Y), so per-year facts become columns and the counts are horizontal
expressions built by a loop over years, never over people.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.rules.loader import RegionRules
from pipelines.stages import coverage_line

RESIDENT = coverage_line.RESIDENT


def _overlaps(year: int) -> pl.Expr:
    return (pl.col("start") <= year * 12 + 11) & (pl.col("end") >= year * 12)


def wide_coverage_years(classified: pl.LazyFrame, years: list[int]) -> pl.LazyFrame:
    """One row per person with runs: covered_<y> (a covered month and no lapse month),
    lapsed_<y> (a lapse month), post_lapse_<y> (a lapse month after the first covered month)."""
    aggs = []
    for y in years:
        aggs += [
            (pl.col("is_covered") & _overlaps(y)).any().alias(f"any_covered_{y}"),
            (pl.col("is_lapse") & _overlaps(y)).any().alias(f"lapsed_{y}"),
            (pl.col("is_lapse") & ~pl.col("is_leading") & _overlaps(y))
            .any()
            .alias(f"post_lapse_{y}"),
        ]
    covered = [
        (pl.col(f"any_covered_{y}") & ~pl.col(f"lapsed_{y}")).alias(f"covered_{y}") for y in years
    ]
    return classified.group_by("person_id").agg(aggs).with_columns(covered)


def wide_payment_years(payments: pl.LazyFrame, years: list[int], as_of: date) -> pl.LazyFrame:
    """One row per person with a payment: resident_<y> (a covering resident payment for y) and
    repaired_<y> (a repair payment for y), both paid by the as-of date."""
    resident = coverage_line.live_payments_as_of(payments, as_of).filter(
        pl.col("scheme") == RESIDENT
    )
    normal = pl.col("kind").is_in(coverage_line.COVERING_KINDS)
    aggs = []
    for y in years:
        this_year = pl.col("period_year") == y
        aggs += [
            (normal & this_year).any().alias(f"resident_{y}"),
            ((pl.col("kind") == "repair") & this_year).any().alias(f"repaired_{y}"),
        ]
    return resident.group_by("person_id").agg(aggs)


def wide_claim_years(claims: pl.LazyFrame, years: list[int]) -> pl.LazyFrame:
    """One row per person with claims: fund_paid_<y> (sum) and incentive_used_<y> (any)."""
    aggs = []
    for y in years:
        this_year = pl.col("year") == y
        aggs += [
            pl.col("fund_paid").fill_null(0).filter(this_year).sum().alias(f"fund_paid_{y}"),
            pl.col("incentive_used")
            .fill_null(False)
            .filter(this_year)
            .any()
            .alias(f"incentive_used_{y}"),
        ]
    return claims.group_by("person_id").agg(aggs)


def enrolled_person_years(
    payments: pl.LazyFrame,
    persons: pl.LazyFrame,
    claims: pl.LazyFrame,
    enrolment: pl.LazyFrame,
    rules: dict[str, RegionRules],
    as_of: date,
    history_start_year: int,
) -> pl.LazyFrame:
    """One row per enrolled person: the wide year facts above for history_start_year..Y.

    The region of the Y payment decides the gap rules for the whole history (section 3)."""
    years = list(range(history_start_year, as_of.year + 1))
    runs = coverage_line.build_coverage_runs(payments, persons, as_of, history_start_year)
    params = coverage_line.person_coverage_params(enrolment, rules)
    classified = coverage_line.classify_runs(runs, params, rules)
    facts = [
        wide_coverage_years(classified, years),
        wide_payment_years(payments, years, as_of),
        wide_claim_years(claims, years),
    ]
    wide = enrolment.select("person_id")
    for frame in facts:
        wide = wide.join(frame, on="person_id", how="left")
    return wide.with_columns(
        pl.all().exclude("person_id", r"^fund_paid_\d+$").fill_null(False),
        pl.col(r"^fund_paid_\d+$").fill_null(0.0),
    )


def _run_columns(frame: pl.LazyFrame, flag: str, name: str, years: list[int]) -> pl.LazyFrame:
    """Add <name>_<y>: the length of the run of <flag>_<y> years ending at y."""
    for previous, y in zip([None, *years], years, strict=False):
        before = pl.col(f"{name}_{previous}") if previous else pl.lit(0)
        frame = frame.with_columns(
            pl.when(pl.col(f"{flag}_{y}"))
            .then(before + 1)
            .otherwise(0)
            .cast(pl.Int32)
            .alias(f"{name}_{y}")
        )
    return frame


def mark_counted_years(wide: pl.LazyFrame, params: pl.LazyFrame, years: list[int]) -> pl.LazyFrame:
    """Same grain, plus counted_covered_<y>, counted_lapsed_<y> (only years from
    policy_start_year count, section 2; employee-only years count as covered when
    employee_years_count_for_continuity), consecutive_<y> and lapse_run_<y>."""
    flags = []
    for y in years:
        counted = pl.lit(y) >= pl.col("policy_start_year")
        continuity = pl.col("employee_years_count_for_continuity") | pl.col(f"resident_{y}")
        flags += [
            (counted & pl.col(f"covered_{y}") & continuity).alias(f"counted_covered_{y}"),
            (counted & pl.col(f"lapsed_{y}")).alias(f"counted_lapsed_{y}"),
        ]
    marked = wide.join(params, on="person_id", how="inner").with_columns(flags)
    marked = _run_columns(marked, "counted_covered", "consecutive", years)
    return _run_columns(marked, "counted_lapsed", "lapse_run", years)


def count_person_years(marked: pl.LazyFrame, years: list[int]) -> pl.LazyFrame:
    """One row per enrolled person: consecutive_years, lapse_run_years, lapsed_years_total,
    repaired_years, continuous_years_earned, zero_claim_years for Y = years[-1]."""
    y_now, before = years[-1], years[:-1]
    lapse_run = pl.col(f"lapse_run_{y_now - 1}") if before else pl.lit(0)
    # Zero-claim years are cleared by the latest year before Y that used incentive amount.
    used = [pl.when(pl.col(f"incentive_used_{y}")).then(y) for y in before]
    reset = pl.when("zero_claim_reset_on_incentive_use").then(
        pl.max_horizontal(used) if used else None
    )
    last_reset = reset.fill_null(0)
    earning = [
        pl.col(f"counted_covered_{y}")
        & (pl.col(f"consecutive_{y}") > pl.col("incentive_threshold_years"))
        for y in years
    ]
    zero = [
        pl.col(f"counted_covered_{y}")
        & pl.col(f"resident_{y}")
        & (pl.col(f"fund_paid_{y}") == 0)
        # section 5 clears "the zero-claim total earned up to and including" the use year:
        # the use year's own zero-claim step is earned the year after, so it stays
        & (pl.lit(y) >= last_reset)
        for y in before
    ]
    in_run = [
        (pl.lit(y) >= y_now - lapse_run) & pl.col(f"counted_lapsed_{y}") & pl.col(f"repaired_{y}")
        for y in before
    ]
    post = [pl.col(f"counted_lapsed_{y}") & pl.col(f"post_lapse_{y}") for y in before]
    return marked.select(
        "person_id",
        consecutive_years=pl.col(f"consecutive_{y_now}"),
        lapse_run_years=lapse_run,
        lapsed_years_total=pl.sum_horizontal(post) if post else pl.lit(0),
        repaired_years=pl.sum_horizontal(in_run) if in_run else pl.lit(0),
        continuous_years_earned=pl.sum_horizontal(earning),
        zero_claim_years=pl.sum_horizontal(zero) if zero else pl.lit(0),
    )
