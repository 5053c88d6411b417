"""Prefect tasks for what the nightly run hands out: worklist, exports, catalog, report."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
from prefect import task

from pipelines.io import catalog, exports, marts
from pipelines.io.warehouse import connect
from pipelines.report import builder as report_builder
from pipelines.rules.loader import load_rules
from pipelines.settings import DEFAULT_BATCH_ROWS
from pipelines.stages import worklist as worklist_stage
from pipelines.stages.person_shards import bucket_count, detached, shard_of_sql
from pipelines.stages.worklist_export import worklist_exports
from schemas.marts import RegionParameters, Worklist


@task
def build_worklist(build: Path, as_of: date, batch_rows: int = DEFAULT_BATCH_ROWS) -> dict:
    """Rebuild ``main.worklist`` (one row per outreach case) and ``main.region_parameters``.

    Cases are per person: a population whose ``coverage_year`` exceeds ``batch_rows`` rows is
    built in person buckets, one after another, and the cases sorted together (issue 9).
    """
    rules = load_rules()
    with connect(build) as con:
        buckets = _worklist_buckets(con, batch_rows)
        with marts.person_buckets(con, buckets, shard_of_sql) as split:
            _split_worklist_inputs(split, as_of)
            parts = [
                detached(
                    worklist_stage.build_worklist(_worklist_inputs(split, b), rules, as_of)
                    .collect()
                )
                for b in range(buckets)
            ]
        counts = publish_worklist(con, pl.concat(parts), rules, as_of)
    return counts | {"worklist_buckets": buckets}


def publish_worklist(con: duckdb.DuckDBPyConnection, cases: pl.DataFrame, rules, as_of: date
                     ) -> dict:
    """Write ``main.worklist`` (every bucket's or shard's cases, in worklist order) and
    ``main.region_parameters``; the run-log counts."""
    cases = Worklist.validate(
        cases.sort(worklist_stage.WORKLIST_ORDER, **worklist_stage.WORKLIST_SORT), lazy=True
    )
    params = RegionParameters.validate(worklist_stage.region_parameters(rules, as_of), lazy=True)
    marts.write_mart(con, "region_parameters", params)
    marts.write_mart(con, "worklist", cases)
    counts = dict(cases["case"].value_counts().iter_rows())
    return {"worklist_cases": cases.height, **{f"cases_{k}": v for k, v in counts.items()}}


def _worklist_buckets(con: duckdb.DuckDBPyConnection, batch_rows: int) -> int:
    rows = con.execute("SELECT count(*) FROM main.coverage_year").fetchall()[0][0]
    return bucket_count(int(rows), batch_rows)


def _paid_years(as_of: date) -> list[int]:
    """The years ``resident_paid`` covers: the as-of year and the next (already renewed)."""
    return [as_of.year, as_of.year + 1]


def _split_worklist_inputs(split: marts.PersonBuckets, as_of: date) -> None:
    """Split the worklist's marts and resident payments by person bucket, each in one pass."""
    for name, columns in worklist_stage.MART_INPUTS.items():
        split.split_mart(name, columns)
    split.split_resident_paid(_paid_years(as_of))


def worklist_input_queries(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, str]:
    """The queries ``_split_worklist_inputs`` splits, by input name (every mart built): for
    the worklist's person shards on Dask, which export them."""
    queries = {
        name: marts.mart_sql(con, name, columns)
        for name, columns in worklist_stage.MART_INPUTS.items()
    }
    return queries | {"resident_paid": marts.resident_paid_sql(_paid_years(as_of))}


def _worklist_inputs(split: marts.PersonBuckets, bucket: int) -> worklist_stage.WorklistInputs:
    """The worklist's marts for one person bucket (everyone when there is one bucket)."""
    return worklist_stage.WorklistInputs(
        **{name: split.read(name, bucket).lazy() for name in worklist_stage.MART_INPUTS},
        resident_paid=split.read("resident_paid", bucket).lazy(),
    )


@task
def export_worklists(build: Path, exports_dir: Path, as_of: date) -> dict:
    """Write one ``.xlsx`` per grid and per school and ``worklist.csv`` under ``<exports>/<as-of>/``."""
    with connect(build) as con:
        cases = marts.read_mart(con, "worklist")
        grid_names = marts.read_grid_names(con)
    folder = exports.exports_folder(exports_dir, as_of)
    sheets, csv_table = worklist_exports(cases, as_of, grid_names)
    # worklist.csv (its own masking check, then polars' writer: both release the GIL) is
    # written by a thread while the workbooks are checked, rendered and zipped
    with ThreadPoolExecutor(1, thread_name_prefix="worklist-csv") as pool:
        csv = pool.submit(exports.write_csv, folder / "worklist.csv", csv_table)
        # all workbooks in one call: checked for unmasked IDs in one pass before any is
        # written, rendered many per polars query, zipped and written by two threads
        exports.write_sheets_xlsx(
            [exports.SheetFile(folder / s.file_name, s.header_lines, s.table) for s in sheets]
        )
        csv.result()
    return {"export_files": len(sheets) + 1, "export_rows": cases.height}


@task
def describe_warehouse(build: Path) -> None:
    """Create the analyst views and COMMENT every published table and column."""
    with connect(build) as con:
        catalog.describe(con)


@task
def write_report(build: Path, exports_dir: Path, as_of: date, run_id: str) -> Path:
    """Record this run's metrics and write its self-contained HTML report; returns its path."""
    path = exports.exports_folder(exports_dir, as_of) / f"report-{run_id}.html"
    with connect(build) as con:
        report_builder.record_run_metrics(con, run_id, as_of)
        report_builder.write_report(con, path, as_of, run_id)
        catalog.describe(con)  # run_log and run_metrics are written after describe_warehouse
    return path
