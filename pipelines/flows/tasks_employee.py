"""Prefect tasks of the employee-scheme checks (issue 11): contribution findings and retirement
readiness.

Each task opens the build copy of the warehouse, reads the staged payments, runs its polars stage,
validates the result against ``schemas/employee.py``, writes ``main.<table>`` with CREATE OR
REPLACE and returns counts for the run log. Findings are data-quality notes, never rejections.

Both stages are per person (a finding is per payment, readiness per person), so a population
whose employee payments exceed ``batch_rows`` is read in person buckets, one after another, and
only the small results are kept: memory stays bounded at any population size (issue 9). With
many buckets the payments are split by bucket in one pass (``marts.person_buckets``), not
scanned once per bucket.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl
from prefect import task

from pipelines.io.marts import PersonBuckets, person_buckets
from pipelines.io.warehouse import connect, run_sql_file
from pipelines.rules.loader import load_rules
from pipelines.rules.retirement import load_retirement_ages, retirement_age_frame
from pipelines.settings import DEFAULT_BATCH_ROWS
from pipelines.stages import contribution_findings, retirement_readiness
from pipelines.stages.contribution_findings import detect_contribution_findings
from pipelines.stages.person_shards import bucket_count, detached, shard_of_sql
from pipelines.stages.retirement_readiness import assess_readiness, count_contribution_months
from schemas.employee import ContributionFinding, RetirementReadiness

EMPLOYEE_PAYMENTS = "staging.tax_payment WHERE scheme = 'employee'"
WAGES_SCHEMA = {"province_code": pl.Utf8, "year": pl.Int32, "average_monthly_wage": pl.Float64}
PERSON_SCHEMA = {"person_id": pl.Utf8, "grid_code": pl.Utf8, "name": pl.Utf8, "death_date": pl.Date}


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
        "AND database_name = current_database()",
        [schema, table],
    ).fetchall()
    return [row[0] for row in rows]


def _read_optional(con, schema: str, table: str, wanted: dict[str, pl.DataType]) -> pl.LazyFrame:
    """The wanted columns of schema.table; missing columns (or a missing table) come back null."""
    present = set(_columns(con, schema, table))
    if not present:
        return pl.DataFrame(schema=wanted).lazy()
    frame = con.sql(
        f"SELECT {', '.join(c for c in wanted if c in present)} FROM {schema}.{table}"
    ).pl()
    missing = [pl.lit(None, dtype).alias(c) for c, dtype in wanted.items() if c not in present]
    return frame.with_columns(missing).select([pl.col(c).cast(t) for c, t in wanted.items()]).lazy()


def _write(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    con.register(f"{table}_frame", frame)
    con.execute(f"CREATE OR REPLACE TABLE main.{table} AS SELECT * FROM {table}_frame")
    con.unregister(f"{table}_frame")


def _validated(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> pl.DataFrame:
    """Validate a mart frame before it is written; a failure is a bug, so it stops the run."""
    return model.validate(frame, lazy=True)


def _payment_buckets(con: duckdb.DuckDBPyConnection, batch_rows: int) -> int:
    """Person buckets that keep each read of the employee payments under ``batch_rows`` rows."""
    rows = con.execute(f"SELECT count(*) FROM {EMPLOYEE_PAYMENTS}").fetchall()[0][0]
    return bucket_count(int(rows), batch_rows)


def _split_payments(split: PersonBuckets, columns: list[str]) -> None:
    """Split the employee payments by person bucket, read back with ``split.read("payments", b)``.

    Only the columns the stage reads: converting a row to polars costs per column, and
    retirement readiness needs half of them.
    """
    split.split("payments", f"SELECT {', '.join(columns)} FROM {EMPLOYEE_PAYMENTS}", "id_number")


@task
def check_contributions(build: Path, as_of: date, batch_rows: int = DEFAULT_BATCH_ROWS) -> dict:
    """contribution_finding (one row per live employee contribution with a finding) and its view."""
    rules = load_rules()
    with connect(build) as con:
        wages = _read_optional(con, "reference", "average_wages", WAGES_SCHEMA).collect().lazy()
        buckets = _payment_buckets(con, batch_rows)
        with person_buckets(con, buckets, shard_of_sql) as split:
            _split_payments(split, contribution_findings.PAYMENT_COLUMNS)
            parts = [
                detached(detect_contribution_findings(
                    split.read("payments", b).lazy(), rules, wages, as_of
                ).collect())
                for b in range(buckets)
            ]
        counts = publish_contribution_findings(con, pl.concat(parts))
    return counts | {"employee_buckets": buckets}


def publish_contribution_findings(con: duckdb.DuckDBPyConnection, findings: pl.DataFrame) -> dict:
    """Write ``main.contribution_finding`` (every bucket's or shard's findings) and its view."""
    findings = _validated(
        ContributionFinding,
        findings.with_columns(pl.col("finding").cast(pl.Utf8)).sort("payment_id"),
    )
    _write(con, "contribution_finding", findings)
    run_sql_file(con, "views_employee")
    counts = findings.group_by("finding").len().rows()
    return {"contribution_finding": findings.height, **{f"finding_{k}": n for k, n in counts}}


@task
def assess_retirement_readiness(
    build: Path,
    as_of: date,
    female_track: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> dict:
    """retirement_readiness: one row per person near retirement age with too few employee months.

    `female_track` picks the women's retirement-age track of retirement_age.toml (default: the
    file's `female_track`, the 55-based cadre track).
    """
    rules, ages = load_rules(), load_retirement_ages()
    age_frame = retirement_age_frame(ages, female_track)
    cases, counted = [], 0
    with connect(build) as con:
        persons = _read_optional(con, "main", "person", PERSON_SCHEMA)
        buckets = _payment_buckets(con, batch_rows)
        with person_buckets(con, buckets, shard_of_sql) as split:
            _split_payments(split, retirement_readiness.PAYMENT_COLUMNS)
            for b in range(buckets):
                payments = split.read("payments", b).lazy()
                months = count_contribution_months(payments, rules, as_of).collect()
                counted += months.height
                cases.append(detached(
                    assess_readiness(
                        months.lazy(), persons, rules, age_frame, ages.outreach_window_months,
                        as_of,
                    ).collect()
                ))
        published = publish_retirement_readiness(con, pl.concat(cases))
    return published | {"employee_persons": counted}


def publish_retirement_readiness(con: duckdb.DuckDBPyConnection, cases: pl.DataFrame) -> dict:
    """Write ``main.retirement_readiness`` (every bucket's or shard's cases)."""
    ready = _validated(RetirementReadiness, cases.sort("retirement_date", "person_id"))
    _write(con, "retirement_readiness", ready)
    return {"retirement_readiness": ready.height}
