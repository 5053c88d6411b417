"""Waiting period (待遇等待期) and its exemptions (policy.md sections 3 and 4)."""

from __future__ import annotations

from datetime import date

import polars as pl

TRANSITION_EVENTS = [
    "employee_stop",
    "military_discharge",
    "graduation",
    "hukou_move_in",
    "residence_permit",
    "student_status",
    "prison_release",
]
# When several exemptions give the same start date, the first of this order names it.
EXEMPTION_ORDER = ["newborn", "assistance", "status_change"]


def _benefit_start(rule_column: str) -> pl.Expr:
    """Day after the payment, or the 1st of the month after it (zhejiang 自参保缴费次月起)."""
    next_month = pl.col("paid_date").dt.month_start().dt.offset_by("1mo")
    day_after = pl.col("paid_date") + pl.duration(days=1)
    return (
        pl.when(pl.col(rule_column) == "first_of_next_month").then(next_month).otherwise(day_after)
    )


def _newborn(enrolment: pl.LazyFrame, births: pl.LazyFrame) -> pl.LazyFrame:
    """Newborn 新生儿: payment within newborn_window_days of birth; benefits from birth."""
    window_end = pl.col("event_date") + pl.duration(days=pl.col("newborn_window_days"))
    return (
        enrolment.join(births, on="person_id", how="inner")
        .filter(pl.col("paid_date").is_between(pl.col("event_date"), window_end))
        .select("person_id", exemption=pl.lit("newborn"), exemption_start="event_date")
    )


def _assistance(enrolment: pl.LazyFrame, events: pl.LazyFrame) -> pl.LazyFrame:
    """Assistance recipient 医疗救助对象: recognised on or before the payment and not ended
    (recognized_date <= paid < ended_date); with assistance_window_days, recognised at most
    that many days before the payment (新认定); zhejiang: any recipient."""
    recipients = events.filter(pl.col("event") == "assistance")
    window_end = pl.col("event_date") + pl.duration(days=pl.col("assistance_window_days"))
    in_window = pl.col("assistance_window_days").is_null() | (pl.col("paid_date") <= window_end)
    active = (pl.col("event_date") <= pl.col("paid_date")) & (
        pl.col("end_date").is_null() | (pl.col("paid_date") < pl.col("end_date"))
    )
    return (
        enrolment.join(recipients, on="person_id", how="inner")
        .filter(active & in_window)
        .select(
            "person_id",
            exemption=pl.lit("assistance"),
            exemption_start=_benefit_start("assistance_benefit_start"),
        )
    )


def _status_change(enrolment: pl.LazyFrame, events: pl.LazyFrame) -> pl.LazyFrame:
    """Status change 身份转换: payment within the transition window of the event (90 days;
    zhejiang 3 calendar months), both ends inclusive."""
    changes = events.filter(pl.col("event").is_in(TRANSITION_EVENTS))
    by_days = pl.col("event_date") + pl.duration(days=pl.col("transition_window_days"))
    by_months = pl.col("event_date").dt.offset_by(
        pl.format("{}mo", pl.col("transition_window_months"))
    )
    window_end = (
        pl.when(pl.col("transition_window_days").is_not_null()).then(by_days).otherwise(by_months)
    )
    return (
        enrolment.join(changes, on="person_id", how="inner")
        .filter(pl.col("paid_date").is_between(pl.col("event_date"), window_end))
        .select(
            "person_id",
            exemption=pl.lit("status_change"),
            exemption_start=_benefit_start("transition_benefit_start"),
        )
    )


def find_exemptions(
    enrolment: pl.LazyFrame, persons: pl.LazyFrame, events: pl.LazyFrame, as_of: date
) -> pl.LazyFrame:
    """One row per exempt enrolled person: exemption (newborn|assistance|status_change) and
    exemption_start = the later of Jan 1 of Y and the exemption's own start, the earliest
    when several hold (section 3). Births come from 'birth' events and persons.birth_date."""
    known = events.filter(pl.col("event_date") <= as_of)
    births = pl.concat(
        [
            known.filter(pl.col("event") == "birth").select("person_id", "event_date"),
            persons.select("person_id", event_date="birth_date").drop_nulls("event_date"),
        ]
    ).unique()
    candidates = pl.concat(
        [
            _newborn(enrolment, births),
            _assistance(enrolment, known),
            _status_change(enrolment, known),
        ]
    )
    return (
        candidates.with_columns(
            exemption_start=pl.max_horizontal("exemption_start", pl.lit(date(as_of.year, 1, 1))),
            priority=pl.col("exemption").replace_strict(EXEMPTION_ORDER, list(range(3))),
        )
        .sort("person_id", "exemption_start", "priority")
        .group_by("person_id", maintain_order=True)
        .first()
        .drop("priority")
    )


def centralized_window(
    enrolment: pl.LazyFrame, extensions: pl.LazyFrame, year: int
) -> pl.LazyFrame:
    """Same grain as enrolment, plus centralized_start/centralized_end of coverage year Y:
    (Y-1)-start .. (Y-1)-end, or the region's extension for Y (section 3)."""
    start = pl.date(year - 1, pl.col("centralized_start_month"), pl.col("centralized_start_day"))
    end = pl.date(year - 1, pl.col("centralized_end_month"), pl.col("centralized_end_day"))
    return enrolment.join(
        extensions.filter(pl.col("year") == year).drop("year"), on="region", how="left"
    ).with_columns(centralized_start=start, centralized_end=pl.coalesce("centralized_end", end))


def _outside_period() -> pl.Expr:
    return ~pl.col("paid_date").is_between(pl.col("centralized_start"), pl.col("centralized_end"))


def compute_wait_months(enrolment: pl.LazyFrame) -> pl.LazyFrame:
    """Same grain, plus is_waiting, fixed_wait_months, variable_wait_months, wait_months.

    Section 3: not exempt and the region's trigger holds (outside the centralized period, or
    with outside_or_lapsed also lapse_run_years > 0); variable = lapsed years - repaired years
    (never below 0); a lapse run of long_lapse_years or more waits at least the floor."""
    lapsed = (pl.col("trigger") == "outside_or_lapsed") & (pl.col("lapse_run_years") > 0)
    variable = (
        pl.col("variable_months_per_lapsed_year") * pl.col("lapse_run_years")
        - pl.col("repair_months_per_year") * pl.col("repaired_years")
    ).clip(lower_bound=0)
    long_lapse = pl.col("lapse_run_years") >= pl.col("long_lapse_years")
    floor = pl.when(long_lapse).then(pl.col("long_lapse_min_total_months")).otherwise(0)
    total = pl.max_horizontal(pl.col("fixed_wait_months") + pl.col("variable_wait_months"), floor)
    return (
        enrolment.with_columns(
            is_waiting=pl.col("exemption").is_null() & (_outside_period() | lapsed)
        )
        .with_columns(
            fixed_wait_months=pl.when("is_waiting")
            .then("fixed_months")
            .otherwise(0)
            .cast(pl.Int32),
            variable_wait_months=pl.when("is_waiting").then(variable).otherwise(0).cast(pl.Int32),
        )
        .with_columns(wait_months=pl.when("is_waiting").then(total).otherwise(0).cast(pl.Int32))
    )


def compute_benefit_start(enrolment: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Same grain, plus benefit_start_date and in_waiting_period (as-of date before the start).

    Exempt: exemption_start; waiting: T calendar months (clamped to month end) after the later
    of Jan 1 of Y and the day after the payment; otherwise Jan 1 of Y (section 3)."""
    jan1 = pl.lit(date(as_of.year, 1, 1))
    # Interpretation (section 3): a payment inside the centralized period waits from Jan 1 of Y,
    # which only differs from the general rule when an extension reaches into Y.
    wait_from = (
        pl.when(~_outside_period() & pl.col("inside_period_waits_from_jan1"))
        .then(jan1)
        .otherwise(pl.max_horizontal(jan1, pl.col("paid_date") + pl.duration(days=1)))
    )
    start = (
        pl.when(pl.col("exemption").is_not_null())
        .then(pl.col("exemption_start"))
        .when("is_waiting")
        .then(wait_from.dt.offset_by(pl.format("{}mo", pl.col("wait_months"))))
        .otherwise(jan1)
    )
    return enrolment.with_columns(benefit_start_date=start).with_columns(
        in_waiting_period=pl.lit(as_of) < pl.col("benefit_start_date")
    )


def compute_waiting_period(enrolment: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Same grain (one row per enrolled person), plus fixed_wait_months, variable_wait_months,
    wait_months, benefit_start_date, in_waiting_period (sections 3 and 4).

    Needs paid_date, centralized_start/end, lapse_run_years, repaired_years, exemption,
    exemption_start and the waiting_period parameters."""
    return enrolment.pipe(compute_wait_months).pipe(compute_benefit_start, as_of).drop("is_waiting")
