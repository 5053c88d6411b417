"""Events that can exempt a resident enrolment from the waiting period (policy.md section 4).

One row per person and event: person_id, event, event_date, end_date. Sources: status changes
as delivered, medical-assistance recognitions, residence permits (取得居住证 on the issue
date), and employee-scheme stops derived from contributions: policy.md example 6 dates the
stop on the day after the last contributed month (职工医保停保).
"""

from __future__ import annotations

from datetime import date

import polars as pl

EVENT_COLUMNS = ["person_id", "event", "event_date", "end_date"]


def derive_employee_stops(payments: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """One row per end of a run of employee contributions: the 1st of the first unpaid month.

    A run still open in the as-of month has not stopped; payments are the live ones.
    """
    index = pl.col("period_year") * 12 + pl.col("period_month") - 1
    as_of_index = as_of.year * 12 + as_of.month - 1
    months = (
        payments.filter(pl.col("scheme") == "employee")
        .select("person_id", month=index.cast(pl.Int32))
        .unique()
    )
    following = months.select("person_id", month=pl.col("month") - 1, has_next=pl.lit(True))
    stop_index = pl.col("month") + 1
    return (
        months.join(following, on=["person_id", "month"], how="left")
        .filter(pl.col("has_next").is_null() & (stop_index <= as_of_index))
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
