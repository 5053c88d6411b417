"""Events that can exempt a resident enrolment from the waiting period (policy.md section 4).

One row per person and event: person_id, event, event_date, end_date. Sources: status changes
as delivered, medical-assistance recognitions, residence permits (取得居住证 on the issue
date), and employee-scheme stops derived from contributions: policy.md example 6 dates the
stop on the day after the last contributed month (职工医保停保).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.stages import coverage_line as line

EVENT_COLUMNS = ["person_id", "event", "event_date", "end_date"]


def derive_employee_stops(payments: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """One row per end of a run of employee contributions: the 1st of the first unpaid month.

    A run still open in the as-of month has not stopped. Only contributions that cover a month
    on the coverage line count (section 2): live ``normal`` ones paid on or before the as-of
    date, so a contribution paid later, or a repair, never moves the stop.
    """
    # A contributed month whose next month is not contributed ends a run. Person and month are
    # packed into one integer (the ID's categorical code x 2^20 + month index; month indexes are
    # far below 2^20) so that "is the next month paid" is one is_in over integers instead of a
    # unique() and a self-join on (ID string, month): a third of the time at 1M persons.
    index = (pl.col("period_year") * 12 + pl.col("period_month") - 1).cast(pl.Int64)
    person = pl.col("person_id").cast(pl.Categorical).to_physical().cast(pl.Int64)
    as_of_index = as_of.year * 12 + as_of.month - 1
    months = (
        line.live_payments_as_of(payments, as_of)
        .filter((pl.col("scheme") == line.EMPLOYEE) & pl.col("kind").is_in(line.COVERING_KINDS))
        .select("person_id", key=person * (1 << 20) + index)
    )
    stop_index = pl.col("key") % (1 << 20) + 1
    return (
        months.filter(~(pl.col("key") + 1).is_in(pl.col("key").implode()))
        .filter(stop_index <= as_of_index)
        .unique()
        .select(
            "person_id",
            event=pl.lit("employee_stop"),
            event_date=pl.date(stop_index // 12, stop_index % 12 + 1, 1),
            end_date=pl.lit(None, pl.Date),
        )
    )


def collect_exemption_events(
    status_changes: pl.LazyFrame,
    assistance: pl.LazyFrame,
    permits: pl.LazyFrame,
    payments: pl.LazyFrame,
    as_of: date,
) -> pl.LazyFrame:
    """All exemption events known on the as-of date, in the engine's event frame."""
    delivered = status_changes.select(
        pl.col("id_number").alias("person_id"), event="kind", event_date="event_date",
        end_date=pl.lit(None, pl.Date),
    )
    recipients = assistance.select(
        pl.col("id_number").alias("person_id"), event=pl.lit("assistance"),
        event_date="recognized_date", end_date="ended_date",
    )
    issued = permits.select(
        pl.col("id_number").alias("person_id"), event=pl.lit("residence_permit"),
        event_date="issued_date", end_date=pl.lit(None, pl.Date),
    )
    return (
        pl.concat([delivered, recipients, issued, derive_employee_stops(payments, as_of)])
        .filter(pl.col("event_date") <= as_of)
        .unique()
        .select(EVENT_COLUMNS)
    )
