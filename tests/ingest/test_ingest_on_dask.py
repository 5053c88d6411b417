"""The ingest with its files read and checked in units, one Prefect task per unit (on the Dask
cluster of --dask-address; here on Prefect's default runner): exactly the tables of the
in-process ingest (issue 9). tests/flows/test_sharded.py runs it on a real Dask cluster."""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from pipelines.flows.ingest_on_dask import DeliveryUnit, ingest_on_dask, plan_units
from pipelines.flows.tasks_ingest import NightDone, Skipped, ingest_deliveries, load_reference
from pipelines.io.inbox import discover, sha256_of
from schemas import SOURCES

from .helpers import TAX_HEADER, household_row, make_id, tax_row, write_csv, write_night

A = make_id("110105", "19900101", "001")
B = make_id("110105", "19900101", "011")


def _deliveries(inbox: Path) -> None:
    """Two nights with every case the units must reproduce: copies of a file in a later unit
    (skipped), a broken file delivered twice (rejected twice), a broken name, a bad record."""
    write_night(inbox, "2026-01-02", [household_row(A)], part="-01")
    write_night(inbox, "2026-01-02", [household_row(B)], part="-02")
    write_night(inbox, "2026-01-02", payments=[tax_row("P1", A), tax_row("P2", B, amount="x")],
                part="-01")
    write_night(inbox, "2026-01-02", payments=[tax_row("P3", A)], part="-02")
    shutil.copyfile(inbox / "2026-01-02" / "tax_payment-01.csv",
                    inbox / "2026-01-02" / "tax_payment-03.csv")  # resent: same bytes
    for part in ("-04", "-05"):  # a broken export sent twice: the same bytes, both rejected
        write_csv(inbox / "2026-01-02" / f"tax_payment{part}.csv", TAX_HEADER[:3], [["P9", A, "x"]])
    write_csv(inbox / "2026-01-02" / "payments.csv", TAX_HEADER, [tax_row("P8", A)])  # bad name
    write_night(inbox, "2026-01-03", payments=[tax_row("P1", A, amount="400")], part="-01")
    for part in ("-02", "-03"):  # a night's file again, twice
        shutil.copyfile(inbox / "2026-01-02" / "tax_payment-02.csv",
                        inbox / "2026-01-03" / f"tax_payment{part}.csv")


def _tables(build: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(build), read_only=True) as con:
        names = con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables() "
                            "WHERE schema_name IN ('main', 'staging')").fetchall()
        return {n: sorted(con.execute(f"SELECT * FROM {n}").fetchall(), key=repr)
                for (n,) in names}


@pytest.mark.parametrize("unit_bytes", [1, 2**20])  # every file a unit; the night's files grouped
def test_units_stage_exactly_what_the_process_stages(prefect_harness, inbox, tmp_path,
                                                     unit_bytes):
    _deliveries(inbox)
    in_process, on_units = tmp_path / "process.duckdb", tmp_path / "units.duckdb"
    for build in (in_process, on_units):
        load_reference.fn(build, [inbox / "reference"])
    expected = ingest_deliveries.fn(in_process, inbox, 1.0)
    summary = ingest_on_dask(on_units, inbox, 1.0, unit_bytes=unit_bytes)
    assert summary.counts() | {"units_on_cluster": 0} == expected.counts()
    assert summary.units_on_cluster == (11 if unit_bytes == 1 else 4)
    tables = _tables(on_units)
    assert tables == _tables(in_process)
    assert len(tables["staging.tax_payment"]) == 2  # P1 (of 01-03) and P3; P2 rejected
    with duckdb.connect(str(on_units), read_only=True) as con:
        statuses = [status for (status,) in con.execute(
            "SELECT status FROM main.ingest_log WHERE batch_id <> 'reference'").fetchall()]
    assert statuses.count("skipped_duplicate") == 3 and statuses.count("rejected") == 3
    assert not (tmp_path / "units.duckdb.shards").exists()  # the units' parquet removed

    ingest_on_dask(on_units, inbox, 1.0, unit_bytes=unit_bytes)  # the same inbox again
    assert _tables(on_units) == tables


def test_plan_skips_what_earlier_runs_ingested_and_groups_consecutive_files(inbox):
    _deliveries(inbox)
    nights = defaultdict(list)
    for delivery in discover(inbox, SOURCES):
        nights[delivery.batch_id].append(delivery)
    shas = {d.file: sha256_of(d.path) for files in nights.values() for d in files}
    logged = "2026-01-03/tax_payment-01.csv"
    plan = plan_units(nights, {(logged, shas[logged])}, set(), shas, 2**20)
    shown = [[d.file.split("/")[1] for d in item.deliveries] if isinstance(item, DeliveryUnit)
             else f"skip {item.delivery.file}" if isinstance(item, Skipped)
             else f"end {item.batch_id}" if isinstance(item, NightDone) else item
             for item in plan]
    assert shown == [
        ["payments.csv"],  # a broken name (discovered first): a unit of its own
        ["household-01.csv", "household-02.csv"],
        ["tax_payment-01.csv", "tax_payment-02.csv", "tax_payment-03.csv", "tax_payment-04.csv",
         "tax_payment-05.csv"],
        "end 2026-01-02",
        "skip 2026-01-03/tax_payment-01.csv",  # logged by an earlier run: never read again
        ["tax_payment-02.csv", "tax_payment-03.csv"],
        "end 2026-01-03",
    ]
    assert [item.number for item in plan if isinstance(item, DeliveryUnit)] == [0, 1, 2, 3]
