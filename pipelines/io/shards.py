"""Shard files of the per-person stages (issue 9): export, read and publish, all as parquet.

The work folder sits beside the build file (``<warehouse>.building.shards/<stage>/``), so a
Dask cluster whose workers mount the warehouse folder (NFS, a shared volume) reads and writes
the same files. Layout per stage: ``<input>/shard=<k>/*.parquet`` for each per-person input
(one DuckDB ``COPY ... PARTITION_BY`` pass per input), ``broadcast/<input>.parquet`` for small
reference inputs every shard needs whole, and ``output/shard-<k>.parquet``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl

# The policy engine's input queries, one per PolicyInputs attribute; owned by policy_inputs.py.
from pipelines.io.policy_inputs import _QUERIES as POLICY_QUERIES
from pipelines.io.policy_inputs import PolicyInputs
from pipelines.io.warehouse import connect, sql_literal

# input -> (query, the column naming the person: its shard key; None: broadcast to every shard)
ShardQueries = dict[str, tuple[str, str | None]]

_POLICY_KEYS = {
    "payments": "person_id",
    "persons": "person_id",
    "claims": "person_id",
    "status_changes": "id_number",
    "assistance": "id_number",
    "permits": "id_number",
    "base_caps": None,
}
POLICY_SHARD_QUERIES: ShardQueries = {
    name: (sql, _POLICY_KEYS[name]) for name, sql in POLICY_QUERIES.items()
}

# The coverage line's inputs (as tasks_person reads them, keyed by person_id instead of an
# integer key): payments of persons in main.person only, as its inner join keeps.
COVERAGE_SHARD_QUERIES: ShardQueries = {
    "payments": (
        """SELECT person_id, scheme, period_year, period_month, kind, pooling_division,
               paid_at, payment_id
        FROM main.payment_live WHERE person_id IN (SELECT person_id FROM main.person)""",
        "person_id",
    ),
    "persons": (
        """SELECT person_id, birth_date, death_date,
               coalesce(residence_division, hukou_division, birth_division) AS home_division
        FROM main.person""",
        "person_id",
    ),
}
COVERAGE_YEAR_COLUMNS = (
    "person_id, year, resident_pooling_division, employee_months, status::VARCHAR AS status, "
    "has_post_enrolment_lapse"
)


def reset_shard_work(build: Path, stage: str) -> Path:
    """An empty shard folder for ``stage`` beside the build file (leftovers discarded)."""
    work = build.with_name(build.name + ".shards") / stage
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return work


def remove_shard_work(work: Path) -> None:
    """Remove a stage's shard folder, and the run's folder once it is empty."""
    shutil.rmtree(work, ignore_errors=True)
    if work.parent.exists() and not any(work.parent.iterdir()):
        work.parent.rmdir()


def export_shard_inputs(
    build: Path,
    work: Path,
    queries: ShardQueries,
    shards: int,
    shard_of_sql: Callable[[str, int], str],
) -> dict[str, int]:
    """Write every input partitioned by shard; returns rows exported per input.

    ``shard_of_sql(column, shards)`` is the partition expression (a stage helper). Every shard
    gets a file, empty where no row hashed there, so a shard never guesses a schema.
    """
    rows: dict[str, int] = {}
    with connect(build) as con:
        for name, (sql, key) in queries.items():
            if key is None:
                (work / "broadcast").mkdir(exist_ok=True)
                target = work / "broadcast" / f"{name}.parquet"
                con.execute(f"COPY ({sql}) TO {sql_literal(target)} (FORMAT parquet)")
            else:
                partitioned = f"SELECT *, {shard_of_sql(key, shards)} AS shard FROM ({sql})"
                con.execute(
                    f"COPY ({partitioned}) TO {sql_literal(work / name)} "
                    "(FORMAT parquet, PARTITION_BY (shard), OVERWRITE_OR_IGNORE)"
                )
                for shard in range(shards):
                    folder = work / name / f"shard={shard}"
                    if not folder.exists():
                        folder.mkdir(parents=True)
                        empty = folder / "empty.parquet"
                        con.execute(
                            f"COPY ({sql} LIMIT 0) TO {sql_literal(empty)} (FORMAT parquet)")
            files = target if key is None else work / name / "*" / "*.parquet"
            count = f"SELECT count(*) FROM read_parquet({sql_literal(files)})"
            rows[name] = int(con.execute(count).fetchone()[0])
    return rows


def read_shard_inputs(work: Path, queries: ShardQueries, shard: int) -> dict[str, pl.LazyFrame]:
    """One shard's inputs as lazy parquet scans (broadcast inputs whole)."""
    return {
        name: pl.scan_parquet(
            work / "broadcast" / f"{name}.parquet"
            if key is None
            else work / name / f"shard={shard}" / "*.parquet",
            hive_partitioning=False,
        )
        for name, (_, key) in queries.items()
    }


def read_policy_shard(work: Path, shard: int) -> PolicyInputs:
    """One shard's policy engine inputs."""
    return PolicyInputs(**read_shard_inputs(work, POLICY_SHARD_QUERIES, shard))


def write_shard_output(work: Path, shard: int, frame: pl.DataFrame) -> Path:
    """Write one shard's result."""
    folder = work / "output"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"shard-{shard}.parquet"
    frame.write_parquet(path)
    return path


def publish_shard_outputs(
    build: Path, work: Path, table: str, order_by: str, columns: str = "*"
) -> int:
    """Replace ``main.<table>`` with the union of every shard's output; returns its rows."""
    with connect(build) as con:
        con.execute(
            f"CREATE OR REPLACE TABLE main.{table} AS SELECT {columns} FROM "
            f"read_parquet({sql_literal(work / 'output' / 'shard-*.parquet')}) ORDER BY {order_by}"
        )
        return int(con.execute(f"SELECT count(*) FROM main.{table}").fetchone()[0])


def count_by(build: Path, table: str, column: str) -> dict[str, int]:
    """Rows of ``main.<table>`` per value of ``column`` (run-log counts)."""
    with connect(build) as con:
        return dict(
            con.execute(f"SELECT {column}, count(*) FROM main.{table} GROUP BY ALL").fetchall()
        )
