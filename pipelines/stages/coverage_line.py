"""Monthly coverage line, gaps and lapses, and covered/lapsed years (policy.md section 2).

Months are handled as an integer index `year * 12 + month - 1` ("month index") inside this
module; public outputs carry dates. Everything works on runs (maximal stretches of eligible
months that are all covered or all uncovered), built either from the monthly line
(`build_coverage_months` -> `runs_from_months`, used by `classify_coverage_years`) or straight
from payment intervals (`build_coverage_runs`, cheaper at scale: the policy engine and the
coverage_year mart). Both feed `classify_runs` (gap -> lapse); `summarise_years` turns
classified runs into one status per person and year."""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.rules.loader import (
    FALLBACK_REGION,
    RegionRules,
    region_for_division,
    resident_rules_frame,
)

RESIDENT = "resident"
EMPLOYEE = "employee"
COVERING_KINDS = ["normal"]  # repair payments never make a month covered (section 2)
YEAR_STATUS = pl.Enum(["covered", "lapsed", "none"])


def month_index(year: pl.Expr, month: pl.Expr | int = 1) -> pl.Expr:
    """Month index of (year, month): year * 12 + month - 1, Int32."""
    month_expr = month if isinstance(month, pl.Expr) else pl.lit(month)
    return (year.cast(pl.Int32) * 12 + month_expr.cast(pl.Int32) - 1).cast(pl.Int32)


def month_start(index: pl.Expr) -> pl.Expr:
    """First day of the month with this month index."""
    return pl.date(index // 12, index % 12 + 1, 1)


def live_payments_as_of(payments: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """The payments known on the as-of date: one row per payment paid on or before it."""
    return payments.filter(pl.col("paid_at").dt.date() <= as_of)


def eligibility_window(persons: pl.LazyFrame, as_of: date, history_start_year: int) -> pl.LazyFrame:
    """One row per person: first and last eligible month index (window_start, window_end).

    Eligible: born on or before the month's last day, not died before its first day; the line
    runs from January of history_start_year to the as-of month. Unknown birth: from the start.
    """
    first = history_start_year * 12
    last = as_of.year * 12 + as_of.month - 1
    birth = month_index(pl.col("birth_date").dt.year(), pl.col("birth_date").dt.month())
    death = month_index(pl.col("death_date").dt.year(), pl.col("death_date").dt.month())
    return persons.select(
        "person_id",
        window_start=pl.max_horizontal(pl.lit(first, pl.Int32), birth.fill_null(first)),
        window_end=pl.min_horizontal(pl.lit(last, pl.Int32), death.fill_null(last)),
    )


def covered_intervals(payments: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """One row per covering payment: person_id, start, end (month index), is_resident.

    A resident payment for year Y covers Jan-Dec of Y; an employee contribution covers its month.
    Duplicate intervals are kept: both consumers (the monthly line's any() per month and the
    interval merge) give the same result with them, and a unique() over ~10M rows is not free.
    """
    covering = live_payments_as_of(payments, as_of).filter(pl.col("kind").is_in(COVERING_KINDS))
    year_start = month_index(pl.col("period_year"))
    resident = covering.filter(pl.col("scheme") == RESIDENT).select(
        "person_id", start=year_start, end=year_start + 11, is_resident=pl.lit(True)
    )
    employee_month = month_index(pl.col("period_year"), pl.col("period_month"))
    employee = covering.filter(pl.col("scheme") == EMPLOYEE).select(
        "person_id", start=employee_month, end=employee_month, is_resident=pl.lit(False)
    )
    return pl.concat([resident, employee])


def build_coverage_months(
    payments: pl.LazyFrame, persons: pl.LazyFrame, as_of: date, history_start_year: int
) -> pl.LazyFrame:
    """One row per person per month from January of history_start_year to the as-of month.

    Columns: person_id, month (Date, 1st), is_eligible, is_covered, is_employee_month,
    is_resident_month. Coverage and employee/resident flags are false in ineligible months.
    """
    first = history_start_year * 12
    last = as_of.year * 12 + as_of.month - 1
    grid = (
        eligibility_window(persons, as_of, history_start_year)
        .with_columns(m=pl.int_ranges(first, last + 1, dtype=pl.Int32))
        .explode("m")
    )
    paid = (
        covered_intervals(payments, as_of)
        .with_columns(m=pl.int_ranges("start", pl.col("end") + 1, dtype=pl.Int32))
        .explode("m")
        .group_by("person_id", "m")
        .agg(
            is_resident_month=pl.col("is_resident").any(),
            is_employee_month=(~pl.col("is_resident")).any(),
        )
    )
    eligible = pl.col("m").is_between(pl.col("window_start"), pl.col("window_end"))
    return (
        grid.join(paid, on=["person_id", "m"], how="left")
        .with_columns(is_eligible=eligible)
        .select(
            "person_id",
            month=month_start(pl.col("m")),
            is_eligible="is_eligible",
            is_covered=pl.col("is_eligible")
            & (pl.col("is_resident_month") | pl.col("is_employee_month")).fill_null(False),
            is_employee_month=pl.col("is_eligible") & pl.col("is_employee_month").fill_null(False),
            is_resident_month=pl.col("is_eligible") & pl.col("is_resident_month").fill_null(False),
        )
        .sort("person_id", "month")
    )


# person_id dtypes that fit with a month index or year into one Int64 sort key (sort_by_person)
_PACKABLE_PERSON_IDS = {pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32}


def sort_by_person(frame: pl.LazyFrame, then: str) -> pl.LazyFrame:
    """frame sorted by person_id, then by `then`: a non-null month index or year (0 <= x < 2^20).

    Integer person keys (the stages' tasks) are packed with it into one Int64,
    person_id x 2^20 + then, which orders rows the same way: polars sorts one integer column
    several times faster than two (a multi-column sort goes through row encoding). Other keys
    (string IDs in tests and shards) sort as the pair."""
    if frame.collect_schema()["person_id"] in _PACKABLE_PERSON_IDS:
        return frame.sort(pl.col("person_id").cast(pl.Int64) * (1 << 20) + pl.col(then))
    return frame.sort("person_id", then)


def _same_person() -> pl.Expr:
    """True where the row continues the previous row's person (frame sorted by person)."""
    return (pl.col("person_id") == pl.col("person_id").shift(1)).fill_null(False)


def _with_gap_context(runs: pl.LazyFrame) -> pl.LazyFrame:
    """Add is_leading (an uncovered run before the person's first covered month) and
    prior_covered_months (length of the covered run right before, 0 if none).

    Runs of a person alternate covered/uncovered, so an uncovered run is leading exactly when
    it is the person's first run. Shifts with a same-person check instead of windows (speed)."""
    length = pl.col("end") - pl.col("start") + 1
    previous_covered = _same_person() & pl.col("is_covered").shift(1).fill_null(False)
    return sort_by_person(runs, "start").with_columns(
        is_leading=~pl.col("is_covered") & ~_same_person(),
        prior_covered_months=pl.when(previous_covered)
        .then(length.shift(1))
        .otherwise(0)
        .cast(pl.Int32),
    )


def runs_from_months(months: pl.LazyFrame) -> pl.LazyFrame:
    """One row per run of eligible months that are all covered or all uncovered.

    Columns: person_id, start, end (month index), is_covered, is_leading, prior_covered_months.
    """
    m = month_index(pl.col("month").dt.year(), pl.col("month").dt.month())
    runs = (
        months.filter("is_eligible")
        .select("person_id", "is_covered", m=m)
        .sort("person_id", "m")
        .with_columns(run=pl.struct("person_id", "is_covered").rle_id())
        .group_by("run")
        .agg(
            pl.col("person_id").first(),
            pl.col("is_covered").first(),
            start=pl.col("m").min(),
            end=pl.col("m").max(),
        )
        .drop("run")
    )
    return _with_gap_context(runs)


def _merge_intervals(intervals: pl.LazyFrame, window: pl.LazyFrame) -> pl.LazyFrame:
    """Covered runs: covering intervals clipped to the eligibility window and merged when they
    overlap or touch. One row per person per covered run (person_id, start, end).

    Linear scans on the sorted frame instead of windows and a group-by (speed): the running
    maximum of `end` per person is the global running maximum of person number x 2^20 + end
    (month indexes are far below 2^20); a run ends on the row before the next run starts."""
    person_number = (~_same_person()).cum_sum().cast(pl.Int64) * (1 << 20)
    reach = (person_number + pl.col("end")).cum_max() - person_number
    return (
        intervals.join(window, on="person_id", how="inner")
        .select(
            "person_id",
            start=pl.max_horizontal("start", "window_start"),
            end=pl.min_horizontal("end", "window_end"),
        )
        .filter(pl.col("start") <= pl.col("end"))
        .pipe(sort_by_person, "start")
        .with_columns(reach=reach, starts_run=~_same_person())
        .with_columns(
            starts_run=pl.col("starts_run") | (pl.col("start") > pl.col("reach").shift(1) + 1)
        )
        .with_columns(
            run_start=pl.when("starts_run").then("start").forward_fill(),
            ends_run=pl.col("starts_run").shift(-1).fill_null(True),
        )
        .filter("ends_run")
        .select("person_id", start="run_start", end=pl.col("reach").cast(pl.Int32))
    )


def _gaps_between(covered: pl.LazyFrame, window: pl.LazyFrame) -> pl.LazyFrame:
    """Uncovered runs: every stretch of the eligibility window outside the covered runs."""
    before = sort_by_person(covered, "start").with_columns(
        gap_start=pl.when(_same_person()).then(pl.col("end").shift(1) + 1),
        gap_end=pl.col("start") - 1,
    )
    inner = before.select("person_id", start="gap_start", end="gap_end").drop_nulls("start")
    bounds = covered.group_by("person_id").agg(
        first=pl.col("start").min(), last=pl.col("end").max()
    )
    edges = window.join(bounds, on="person_id", how="left")
    leading = edges.select(
        "person_id", start="window_start", end=pl.coalesce(pl.col("first") - 1, "window_end")
    )
    trailing = edges.filter(pl.col("last").is_not_null()).select(
        "person_id", start=pl.col("last") + 1, end="window_end"
    )
    gaps = pl.concat([leading, inner, trailing])
    return gaps.filter(pl.col("start") <= pl.col("end")).with_columns(is_covered=pl.lit(False))


def build_coverage_runs(
    payments: pl.LazyFrame, persons: pl.LazyFrame, as_of: date, history_start_year: int
) -> pl.LazyFrame:
    """One row per run of eligible months (same grain and columns as `runs_from_months`),
    built from payment intervals without materialising the monthly line."""
    window = eligibility_window(persons, as_of, history_start_year).cache()
    covered = _merge_intervals(covered_intervals(payments, as_of), window).cache()
    runs = pl.concat(
        [covered.with_columns(is_covered=pl.lit(True)), _gaps_between(covered, window)]
    )
    return _with_gap_context(runs.select("person_id", "start", "end", "is_covered"))


def person_coverage_params(
    person_region: pl.LazyFrame, rules: dict[str, RegionRules]
) -> pl.LazyFrame:
    """One row per person in person_region: the section 2 parameters of the person's region."""
    params = (
        resident_rules_frame(rules)
        .lazy()
        .select(
            "region",
            "switch_gap_tolerance_months",
            "switch_min_prior_months",
            "never_covered_counts_as_lapse",
        )
    )
    return person_region.select("person_id", "region").join(params, on="region", how="left")


def classify_runs(
    runs: pl.LazyFrame, params: pl.LazyFrame, rules: dict[str, RegionRules]
) -> pl.LazyFrame:
    """Runs with is_lapse: an uncovered run longer than the switching tolerance, or (tianjin)
    a short one after fewer than switch_min_prior_months covered months; leading runs count
    only when never_covered_counts_as_lapse (section 2). Persons without params use national."""
    national = (
        resident_rules_frame(rules).filter(pl.col("region") == FALLBACK_REGION).row(0, named=True)
    )
    p = {
        name: pl.col(name).fill_null(national[name])
        for name in [
            "switch_gap_tolerance_months",
            "switch_min_prior_months",
            "never_covered_counts_as_lapse",
        ]
    }
    length = pl.col("end") - pl.col("start") + 1
    too_long = length > p["switch_gap_tolerance_months"]
    short_history = ~pl.col("is_leading") & (
        pl.col("prior_covered_months") < p["switch_min_prior_months"]
    )
    counts = ~pl.col("is_leading") | p["never_covered_counts_as_lapse"]
    return (
        runs.join(params, on="person_id", how="left")
        .with_columns(is_lapse=~pl.col("is_covered") & (too_long | short_history) & counts)
        .select("person_id", "start", "end", "is_covered", "is_leading", "is_lapse")
    )


def flag_years(classified: pl.LazyFrame) -> pl.LazyFrame:
    """One row per person per year that a run touches: status and has_post_enrolment_lapse
    (a lapse month after the person's first covered month).

    covered: a covered month and no lapse month; lapsed: a lapse month; none: neither (section 2).
    """
    status = (
        pl.when(pl.col("any_lapse"))
        .then(pl.lit("lapsed"))
        .when(pl.col("any_covered"))
        .then(pl.lit("covered"))
        .otherwise(pl.lit("none"))
    )
    return (
        classified.with_columns(year=pl.int_ranges(pl.col("start") // 12, pl.col("end") // 12 + 1))
        .explode("year")
        .group_by("person_id", "year")
        .agg(
            any_covered=pl.col("is_covered").any(),
            any_lapse=pl.col("is_lapse").any(),
            has_post_enrolment_lapse=(pl.col("is_lapse") & ~pl.col("is_leading")).any(),
        )
        .select(
            "person_id",
            year=pl.col("year").cast(pl.Int32),
            status=status.cast(YEAR_STATUS),
            has_post_enrolment_lapse="has_post_enrolment_lapse",
        )
    )


def summarise_years(classified: pl.LazyFrame, first_year: int, last_year: int) -> pl.LazyFrame:
    """One row per person (with a run) per year in [first_year, last_year]: status and
    has_post_enrolment_lapse as `flag_years`; 'none' and false in years no run touches."""
    grid = (
        classified.select("person_id")
        .unique()
        .with_columns(year=pl.int_ranges(first_year, last_year + 1, dtype=pl.Int32))
        .explode("year")
    )
    return grid.join(flag_years(classified), on=["person_id", "year"], how="left").select(
        "person_id",
        "year",
        status=pl.col("status").fill_null("none"),
        has_post_enrolment_lapse=pl.col("has_post_enrolment_lapse").fill_null(False),
    )


def classify_coverage_years(
    months: pl.LazyFrame, person_region: pl.LazyFrame, rules: dict[str, RegionRules]
) -> pl.LazyFrame:
    """One row per person per year of the monthly line: status ('covered'|'lapsed'|'none'),
    has_post_enrolment_lapse, employee_months, resident_months (eligible months only).

    Gap rules are those of the person's region (person_region); persons absent from it use
    national. Persons with no eligible month get 'none' for every year.
    """
    runs = runs_from_months(months)
    classified = classify_runs(runs, person_coverage_params(person_region, rules), rules)
    counts = months.group_by("person_id", year=pl.col("month").dt.year().cast(pl.Int32)).agg(
        employee_months=pl.col("is_employee_month").sum().cast(pl.Int32),
        resident_months=pl.col("is_resident_month").sum().cast(pl.Int32),
    )
    bounds = months.select(
        first=pl.col("month").min().dt.year(), last=pl.col("month").max().dt.year()
    )
    status = counts.join(
        classified.pipe(_summarise_all_years, bounds), on=["person_id", "year"], how="left"
    ).with_columns(
        pl.col("status").fill_null("none"),
        pl.col("has_post_enrolment_lapse").fill_null(False),
    )
    return status.select(
        "person_id",
        "year",
        "status",
        "has_post_enrolment_lapse",
        "employee_months",
        "resident_months",
    ).sort("person_id", "year")


def _summarise_all_years(classified: pl.LazyFrame, bounds: pl.LazyFrame) -> pl.LazyFrame:
    first, last = bounds.collect().row(0)
    if first is None:
        return summarise_years(classified, 0, -1)
    return summarise_years(classified, first, last)


def resident_payments_in_order(payments: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """One row per covering (non-repair) resident payment known on the as-of date, sorted by
    person_id, paid_at, payment_id: the order in which section 3 picks a person's payment.

    Every pick below starts from this one plan, so a query that uses several of them sorts the
    resident payments once (polars caches a common subplan), and each pick is a filter on the
    sorted frame instead of a group_by(maintain_order=True), which hashes every row."""
    return (
        live_payments_as_of(payments, as_of)
        .filter((pl.col("scheme") == RESIDENT) & pl.col("kind").is_in(COVERING_KINDS))
        .sort("person_id", "paid_at", "payment_id")
    )


def select_year_payment(payments: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """One row per person with a resident payment for the as-of year: the earliest non-repair
    one (by paid_at, then payment_id): person_id, payment_id, paid_date, pooling_division."""
    return (
        resident_payments_in_order(payments, as_of)
        .filter(pl.col("period_year") == as_of.year)
        .filter(~_same_person())
        .select(
            "person_id", "payment_id", "pooling_division", paid_date=pl.col("paid_at").dt.date()
        )
    )


def assign_person_region(
    payments: pl.LazyFrame, persons: pl.LazyFrame, rules: dict[str, RegionRules], as_of: date
) -> pl.LazyFrame:
    """One row per person: region and the pooling_division it was chosen from.

    Section 3: the division of the earliest non-repair resident payment for the as-of year.
    Fallback (documented choice): the division of the latest non-repair resident payment
    (any year, by paid_at), else the person's home_division, else null division -> national.
    """
    year_payment = select_year_payment(payments, as_of).select(
        "person_id", year_division="pooling_division"
    )
    is_persons_last = (pl.col("person_id") != pl.col("person_id").shift(-1)).fill_null(True)
    latest = (
        resident_payments_in_order(payments, as_of)
        .filter(is_persons_last)
        .select("person_id", latest_division="pooling_division")
    )
    home = (
        pl.col("home_division")
        if "home_division" in persons.collect_schema()
        else pl.lit(None, pl.Utf8)
    )
    division = pl.coalesce("year_division", "latest_division", "home_division")
    return (
        persons.select("person_id", home_division=home)
        .join(year_payment, on="person_id", how="left")
        .join(latest, on="person_id", how="left")
        .select("person_id", pooling_division=division)
        .with_columns(region=region_for_division("pooling_division", rules))
        .select("person_id", "region", "pooling_division")
    )
