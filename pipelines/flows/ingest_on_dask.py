"""The ingest with its reading and record checks on a Dask cluster (issue 9).

Reading, decoding and checking the deliveries is most of the ingest's work and needs no
warehouse, so with ``--dask-address`` it runs on the cluster: the night's files are cut into
units (consecutive files of one source, up to ``unit_bytes`` of input), one Prefect task per
unit reads and checks them exactly as the in-process ingest does (``stage_nights``) and leaves
the accepted rows as parquet beside the build file. This process hashes every file (to skip
bytes ingested before without reading them again), then writes the units' results in delivery
order through the same DuckDB side as the in-process ingest (``write_events``): each night in
one transaction, duplicate keys, merges and counts unchanged. The workers need the inbox and
the build folder at the same paths (a shared file system), as the person shards do.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NONE

from pipelines.flows.sharded import dask_task_runner
from pipelines.flows.tasks_ingest import (
    BATCH_ROWS,
    STAGED_AHEAD,
    Divisions,
    Event,
    FileResult,
    IngestSummary,
    NightDone,
    Skipped,
    StagedRows,
    in_background,
    ingest,
    ingest_deliveries,
    stage_nights,
    staged_weight,
    write_events,
)
from pipelines.io import shards as shard_io
from pipelines.io import staging_store as store
from pipelines.io.inbox import Delivery, sha256_of
from pipelines.stages.stage_extract import SOURCE_FILE

# Input per unit (one Prefect task): large enough that a task's fixed cost (Prefect's and
# Dask's bookkeeping, the planning of the checks) stays small beside its work; small files
# are grouped, a large file is a unit of its own (1M persons: 49 units).
UNIT_BYTES = 64 * 2**20
HASH_THREADS = 4  # hashlib releases the GIL: the host hashes files in parallel


@dataclass(frozen=True)
class DeliveryUnit:
    """Consecutive files of one night and source, read and checked by one task."""

    number: int
    night: str
    deliveries: tuple[Delivery, ...]
    shas: dict[str, str]  # sha256 by ``Delivery.file``


@dataclass(frozen=True)
class StagedParquet:
    """A ``StagedRows`` whose rows a worker left in a parquet file."""

    delivery: Delivery
    path: Path
    files: tuple[str, ...]


@flow(name="ingest_deliveries_on_dask")
def ingest_on_dask(build: Path, inbox: Path, max_reject_rate: float = 0.2,
                   batch_rows: int = BATCH_ROWS, unit_bytes: int = UNIT_BYTES) -> IngestSummary:
    """``ingest_deliveries`` with each unit of files read and checked on the flow's Dask
    task runner; the same tables, counts and errors."""
    work = shard_io.reset_shard_work(Path(build), "ingest")
    try:
        return ingest(build, inbox, max_reject_rate, functools.partial(
            _ingest_nights_on_dask, work=work, batch_rows=batch_rows, unit_bytes=unit_bytes))
    finally:
        shard_io.remove_shard_work(work)


def _ingest_nights_on_dask(con, nights: dict[str, list[Delivery]], divisions: Divisions,
                           summary: IngestSummary, *, work: Path, batch_rows: int,
                           unit_bytes: int) -> None:
    """Plan the units, map ``check_delivery_unit`` over them, write their results in order
    (the next results fetched and read a step ahead, in a thread, while this one writes)."""
    logged_pairs, logged_shas = store.logged_files(con)
    plan = plan_units(nights, logged_pairs, logged_shas, _hash_all(nights), unit_bytes)
    units = [item for item in plan if isinstance(item, DeliveryUnit)]
    summary.units_on_cluster = len(units)
    get_run_logger().info("ingest: %d unit(s) of files to read and check on the cluster", len(units))
    futures = check_delivery_unit.map(units, unmapped(divisions), unmapped(batch_rows),
                                      unmapped(work))
    results = {unit.number: future for unit, future in zip(units, futures, strict=True)}
    events = replay_units(plan, lambda unit: results[unit.number].result())
    ahead = STAGED_AHEAD * batch_rows
    with contextlib.closing(in_background(events, ahead, staged_weight)) as staged:
        write_events(con, staged, summary, logged_pairs)


def _hash_all(nights: dict[str, list[Delivery]]) -> dict[str, str]:
    """sha256 of every delivered file, by ``Delivery.file``."""
    deliveries = [d for files in nights.values() for d in files]
    with ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="ingest-hash") as pool:
        shas = pool.map(lambda d: sha256_of(d.path), deliveries)
        return {d.file: sha for d, sha in zip(deliveries, shas, strict=True)}


def plan_units(nights: dict[str, list[Delivery]], logged_pairs: set[tuple[str, str]],
               logged_shas: set[str], shas: dict[str, str],
               unit_bytes: int) -> list[DeliveryUnit | Skipped | NightDone]:
    """The run in delivery order: files whose bytes were ingested by an earlier run
    (``Skipped``), units of the others, and each night's end.

    A unit holds consecutive files of one source (a file with a broken name alone), up to
    ``unit_bytes`` of input or one larger file; a skipped file ends the unit before it.
    """
    plan: list[DeliveryUnit | Skipped | NightDone] = []
    units = 0
    for night, deliveries in nights.items():
        for group in _groups(deliveries, logged_pairs, logged_shas, shas, unit_bytes):
            if isinstance(group, Skipped):
                plan.append(group)
                continue
            plan.append(DeliveryUnit(units, night, tuple(group),
                                     {d.file: shas[d.file] for d in group}))
            units += 1
        plan.append(NightDone(night))
    return plan


def _groups(deliveries: list[Delivery], logged_pairs: set[tuple[str, str]],
            logged_shas: set[str], shas: dict[str, str],
            unit_bytes: int) -> Iterator[list[Delivery] | Skipped]:
    """One night's files as units (lists) and skipped files, in delivery order."""
    unit: list[Delivery] = []
    size = 0
    for delivery in deliveries:
        sha = shas[delivery.file]
        known = (delivery.file, sha) in logged_pairs or sha in logged_shas
        file_size = 0 if known else delivery.path.stat().st_size
        if unit and (known or delivery.source != unit[-1].source or delivery.problem
                     or unit[-1].problem or size + file_size > unit_bytes):
            yield unit
            unit, size = [], 0
        if known:
            yield Skipped(delivery, sha)
            continue
        unit.append(delivery)
        size += file_size
    if unit:
        yield unit


@task(name="check_delivery_unit", cache_policy=NONE)
def check_delivery_unit(unit: DeliveryUnit, divisions: Divisions, batch_rows: int,
                        work: Path) -> list[Event | StagedParquet]:
    """One unit read and checked as the in-process ingest does; its accepted rows left as
    parquet in ``work``, everything else (file results, failures, rejects) returned."""
    events: list[Event | StagedParquet] = []
    for event in stage_nights({unit.night: list(unit.deliveries)}, set(), set(), divisions,
                              batch_rows, unit.shas):
        if isinstance(event, NightDone):
            continue
        if isinstance(event, StagedRows):
            path = Path(work) / f"unit-{unit.number:06d}-{len(events):05d}.parquet"
            event.rows.write_parquet(path, compression="lz4")
            event = StagedParquet(event.delivery, path, event.files)
        events.append(event)
    return events


def replay_units(
    plan: list[DeliveryUnit | Skipped | NightDone],
    results: Callable[[DeliveryUnit], list[Event | StagedParquet]],
) -> Iterator[Event | NightDone]:
    """The events of the run in order, as the in-process ingest yields them: each unit's
    ``results(unit)`` with its rows read back (and their parquet removed).

    A unit is checked without knowing the units before it, so a file whose bytes an earlier
    unit of this run ingested is turned into the ``Skipped`` the in-process ingest gives it
    (its rows dropped); a copy of a file rejected whole is checked (and rejected) again,
    as in process.
    """
    ingested: set[str] = set()  # sha256 of the files this run ingested
    for item in plan:
        if not isinstance(item, DeliveryUnit):
            yield item
            continue
        again = {file: sha for file, sha in item.shas.items() if sha in ingested}
        for event in results(item):
            if isinstance(event, StagedParquet):
                rows = pl.read_parquet(event.path)
                event.path.unlink()
                if again:
                    rows = rows.filter(~pl.col(SOURCE_FILE).is_in(list(again)))
                files = tuple(f for f in event.files if f not in again)
                if rows.height:
                    yield StagedRows(event.delivery, rows, files)
            elif event.delivery.file in again:  # its one result, whatever the unit found
                yield Skipped(event.delivery, again[event.delivery.file])
            else:
                if isinstance(event, FileResult):
                    ingested.add(event.sha)
                yield event


def run_ingest(build: Path, inbox: Path, max_reject_rate: float,
               dask_address: str | None) -> IngestSummary:
    """The ingest in this process, or with its reading and checks on the cluster at
    ``dask_address``."""
    if not dask_address:
        return ingest_deliveries(build, inbox, max_reject_rate)
    runner = dask_task_runner(dask_address)
    return ingest_on_dask.with_options(task_runner=runner)(build, inbox, max_reject_rate)
