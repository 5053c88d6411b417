"""coverage_year: one row per person per year of the coverage line (policy.md section 2).

The gap and lapse logic is the policy engine's (``pipelines.stages.coverage_line``); this
module only assembles the mart of outputs.md around it: every person of the ``person`` table
gets a row for each year from ``history_start_year`` to the as-of year, with the status
(covered / lapsed / none), the months paid by the employee scheme and the pooling division of
the year's resident payment.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.rules.loader import RegionRules, history_start_year
from pipelines.stages import coverage_line as line


def _year_grid(persons: pl.LazyFrame, first_year: int, last_year: int) -> pl.LazyFrame:
    """One row per person per year in [first_year, last_year]."""
    return (
        persons.select("person_id")
        .with_columns(year=pl.int_ranges(first_year, last_year + 1, dtype=pl.Int32))
        .explode("year")
    )


def count_employee_months(
    payments: pl.LazyFrame, persons: pl.LazyFrame, as_of: date, first_year: int
) -> pl.LazyFrame:
    """One row per person per year with employee coverage: employee_months (eligible months
    with a covering employee contribution, on the line up to the as-of month)."""
    window = line.eligibility_window(persons, as_of, first_year)
    month = line.month_index(pl.col("period_year"), pl.col("period_month"))
    # n_unique inside the group-by rather than unique() on (person, month) first: one hash
    # pass over the ~8M contributions instead of two (half the time at 1M persons)
    return (
        line.live_payments_as_of(payments, as_of)
        .filter((pl.col("scheme") == line.EMPLOYEE) & pl.col("kind").is_in(line.COVERING_KINDS))
        .select("person_id", m=month)
        .join(window, on="person_id", how="inner")
        .filter(pl.col("m").is_between("window_start", "window_end"))
        .group_by("person_id", year=(pl.col("m") // 12).cast(pl.Int32))
        .agg(employee_months=pl.col("m").n_unique().cast(pl.Int32))
    )


def resident_pooling_divisions(payments: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """One row per person per coverage year with a resident payment: the pooling division of
    the earliest non-repair one (by paid_at, then payment_id), as section 3 chooses it."""
    # the first row of each (person, year) in payment order; the sorted plan is the one the
    # region choice sorts too, so the stage sorts the resident payments once
    return (
        line.resident_payments_in_order(payments, as_of)
        .filter(pl.struct("person_id", "period_year").is_first_distinct())
        .select(
            "person_id",
            year=pl.col("period_year").cast(pl.Int32),
            resident_pooling_division="pooling_division",
        )
    )


def build_coverage_year(
    payments: pl.LazyFrame, persons: pl.LazyFrame, rules: dict[str, RegionRules], as_of: date
) -> pl.LazyFrame:
    """One row per person per year from history_start_year to the as-of year.

    payments: live payments (person_id, scheme, period_year, period_month, kind,
    pooling_division, paid_at, payment_id); persons: person_id, birth_date, death_date,
    home_division. Columns: person_id, year, resident_pooling_division, employee_months,
    status (covered / lapsed / none), has_post_enrolment_lapse.
    """
    first_year = history_start_year(rules)
    runs = line.build_coverage_runs(payments, persons, as_of, first_year)
    region = line.assign_person_region(payments, persons, rules, as_of)
    classified = line.classify_runs(runs, line.person_coverage_params(region, rules), rules)
    # flag_years rather than summarise_years: the year grid below already gives every person
    # every year, and the fill_null calls give years without a run 'none' and false
    status = line.flag_years(classified)
    return (
        _year_grid(persons, first_year, as_of.year)
        .join(status, on=["person_id", "year"], how="left")
        .join(resident_pooling_divisions(payments, as_of), on=["person_id", "year"], how="left")
        .join(
            count_employee_months(payments, persons, as_of, first_year),
            on=["person_id", "year"],
            how="left",
        )
        .select(
            "person_id",
            "year",
            "resident_pooling_division",
            employee_months=pl.col("employee_months").fill_null(0),
            status=pl.col("status").fill_null("none").cast(line.YEAR_STATUS),
            has_post_enrolment_lapse=pl.col("has_post_enrolment_lapse").fill_null(False),
        )
        .pipe(line.sort_by_person, "year")
    )


def build_coverage_year_by_key(
    payments: pl.LazyFrame, persons: pl.LazyFrame, rules: dict[str, RegionRules], as_of: date
) -> pl.LazyFrame:
    """``build_coverage_year`` for text person IDs (the shards' inputs), run on integer keys.

    The coverage line sorts by person several times; an integer key sorts packed with the
    month or year into one Int64 (``coverage_line.sort_by_person``), a text ID as a pair:
    numbering the persons first and naming them again at the end took one person shard of 1M
    persons from 14.5 to 10.5 s. Keys follow person_id order, so the rows come out in the
    order ``build_coverage_year`` gives them. (In process, ``tasks_person.build_coverage``
    numbers them in DuckDB instead, so only integers cross into polars.)
    """
    keys = (
        persons.select("person_id").unique().sort("person_id")
        .with_row_index("person_key").with_columns(pl.col("person_key").cast(pl.UInt32))
    )

    def keyed(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.join(keys, on="person_id", how="inner").drop("person_id").rename(
            {"person_key": "person_id"})

    years = build_coverage_year(keyed(payments), keyed(persons), rules, as_of)
    names = keys.rename({"person_id": "person_name", "person_key": "person_id"})
    return (
        years.join(names, on="person_id", how="left", maintain_order="left")
        .with_columns(person_id="person_name")
        .drop("person_name")
    )
