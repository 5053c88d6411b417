"""Prefect tasks for what the nightly run hands out: worklist, exports, catalog, report."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import task

from pipelines.io import catalog, exports, marts
from pipelines.io.warehouse import connect
from pipelines.report import builder as report_builder
from pipelines.rules.loader import load_rules
from pipelines.stages import worklist as worklist_stage
from pipelines.stages.worklist_export import worklist_csv_table, worklist_sheets
from schemas.marts import RegionParameters, Worklist


@task
def build_worklist(build: Path, as_of: date) -> dict:
    """Rebuild ``main.worklist`` (one row per outreach case) and ``main.region_parameters``."""
    rules = load_rules()
    with connect(build) as con:
        inputs = worklist_stage.WorklistInputs(
            **{name: marts.read_mart(con, name).lazy() for name in worklist_stage.MART_INPUTS},
            resident_paid=marts.read_resident_paid(con, [as_of.year, as_of.year + 1]).lazy(),
        )
        cases = Worklist.validate(
            worklist_stage.build_worklist(inputs, rules, as_of).collect(), lazy=True
        )
        params = RegionParameters.validate(
            worklist_stage.region_parameters(rules, as_of), lazy=True
        )
        marts.write_mart(con, "region_parameters", params)
        marts.write_mart(con, "worklist", cases)
    counts = dict(cases["case"].value_counts().iter_rows())
    return {"worklist_cases": cases.height, **{f"cases_{k}": v for k, v in counts.items()}}


@task
def export_worklists(build: Path, exports_dir: Path, as_of: date) -> dict:
    """Write one ``.xlsx`` per grid and per school and ``worklist.csv`` under ``<exports>/<as-of>/``."""
    with connect(build) as con:
        cases = marts.read_mart(con, "worklist")
        grid_names = marts.read_grid_names(con)
    folder = exports.exports_folder(exports_dir, as_of)
    sheets = worklist_sheets(cases, as_of, grid_names)
    for sheet in sheets:
        exports.write_sheet_xlsx(folder / sheet.file_name, sheet.header_lines, sheet.table)
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
