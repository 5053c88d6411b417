"""Prefect tasks for what the nightly run hands out: worklist, exports, catalog, report."""

from __future__ import annotations

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
from pipelines.stages.person_shards import bucket_count, bucket_filter_sql
from pipelines.stages.worklist_export import worklist_csv_table, worklist_sheets
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
        parts = [
            worklist_stage.build_worklist(_worklist_inputs(con, as_of, buckets, b), rules, as_of)
            .collect()
            for b in range(buckets)
        ]
        cases = Worklist.validate(
            pl.concat(parts).sort(worklist_stage.WORKLIST_ORDER, **worklist_stage.WORKLIST_SORT),
            lazy=True,
        )
        params = RegionParameters.validate(
            worklist_stage.region_parameters(rules, as_of), lazy=True
        )
        marts.write_mart(con, "region_parameters", params)
        marts.write_mart(con, "worklist", cases)
    counts = dict(cases["case"].value_counts().iter_rows())
    return {
        "worklist_cases": cases.height,
        "worklist_buckets": buckets,
        **{f"cases_{k}": v for k, v in counts.items()},
    }


def _worklist_buckets(con: duckdb.DuckDBPyConnection, batch_rows: int) -> int:
    rows = con.execute("SELECT count(*) FROM main.coverage_year").fetchall()[0][0]
    return bucket_count(int(rows), batch_rows)


def _worklist_inputs(
    con: duckdb.DuckDBPyConnection, as_of: date, buckets: int, bucket: int
) -> worklist_stage.WorklistInputs:
    """The worklist's marts for one person bucket (everyone when there is one bucket)."""
    where = bucket_filter_sql("person_id", buckets, bucket)
    return worklist_stage.WorklistInputs(
        **{
            name: marts.read_mart(con, name, where, columns).lazy()
            for name, columns in worklist_stage.MART_INPUTS.items()
        },
        resident_paid=marts.read_resident_paid(con, [as_of.year, as_of.year + 1], where).lazy(),
    )


@task
def export_worklists(build: Path, exports_dir: Path, as_of: date) -> dict:
    """Write one ``.xlsx`` per grid and per school and ``worklist.csv`` under ``<exports>/<as-of>/``."""
    with connect(build) as con:
        cases = marts.read_mart(con, "worklist")
        grid_names = marts.read_grid_names(con)
    folder = exports.exports_folder(exports_dir, as_of)
    sheets = worklist_sheets(cases, as_of, grid_names)
    # all workbooks in one call: checked for unmasked IDs in one pass before any is written,
    # rendered many per polars query, zipped and written by two threads
    exports.write_sheets_xlsx(
        [exports.SheetFile(folder / s.file_name, s.header_lines, s.table) for s in sheets]
    )
    exports.write_csv(folder / "worklist.csv", worklist_csv_table(cases))
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
