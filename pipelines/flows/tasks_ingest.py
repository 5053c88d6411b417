"""Prefect tasks of the ingest: reference tables, then the night's deliveries into ``staging``.

read -> stage -> validate -> quarantine -> write, per delivery night (oldest first) and source.
Every record that fails a check goes to ``main.rejects``; a file that cannot be read at all is
rejected whole with the reason and the rest of the night still runs. Per file and source:
rows read = accepted + rejected (asserted, logged in ``main.ingest_log``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import logging
import queue
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandera.config
import pandera.errors
import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth
from prefect import get_run_logger, task
from prefect.exceptions import MissingContextError

from pipelines.io import staging_store as store
from pipelines.io.inbox import Delivery, discover, sha256_of
from pipelines.io.readers import (
    PreparedCsv,
    UnreadableFile,
    file_format,
    open_delivery,
    prepare_csv,
    read_reference_csv,
)
from pipelines.io.warehouse import build_memory_limit, connect
from pipelines.stages.stage_extract import (
    LINE,
    MESSAGES,
    SOURCE_FILE,
    StagedExtract,
    canonical_headers,
    duplicate_key_sql,
    stage_extract,
)
from schemas import SOURCES, SourceSpec
from schemas._common import LINEAGE_COLUMNS, staged_columns

REFERENCE_TABLES = tuple(store.REFERENCE_DDL)
# Records checked at a time: bounds memory on multi-million-row files. Reading runs ahead of
# the writes (up to STAGED_AHEAD batches wait), so batches are half the 500k they were when the
# two took turns: the same speed, and a lower peak (1M persons: 2.5 GB, 500k: 2.7 GB).
BATCH_ROWS = 250_000
# DuckDB's own cap while ingesting (it spills joins to disk beyond it); its default, 80% of RAM,
# let a 1M-person night (11M payments in one transaction) reach 6 GB on a shared machine. The
# rows go straight to the staged tables (no work table to hold), and the reading thread keeps a
# batch or two of its own alongside: 1.5 GB kept the 1M-person peak at 2.7 GB (2 GB: 2.9 GB)
# at the same speed.
DUCKDB_MEMORY_LIMIT = "1.5GB"
# ... except while a night's rows replace older rows with the same key: that DELETE ... USING
# joins the night's keys and cannot spill the way a SELECT join does, so 1.5 GB ran out of
# memory at 10M persons (~40M payment keys a night). It gets the build connections' limit
# (warehouse.build_memory_limit, 40% of RAM) and takes only what the join needs (a
# 1M-person night: a few hundred MB).


@contextlib.contextmanager
def _roomy(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's memory limit raised to ``build_memory_limit()`` for the block, then restored."""
    con.execute(f"SET memory_limit = '{build_memory_limit()}'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")


class RejectRateExceeded(RuntimeError):
    """A source rejected more of its records than the threshold allows; nothing is published."""

    def __init__(self, source: str, rate: float, threshold: float, summary: IngestSummary):
        self.source, self.rate, self.threshold, self.summary = source, rate, threshold, summary
        super().__init__(
            f"source {source!r} rejected {rate:.1%} of its records this run, above the "
            f"threshold of {threshold:.1%}: the run stops before publishing; see main.rejects "
            f"for the failing records and check the department's export"
        )


@dataclass
class SourceCounts:
    """One source's counts for one run."""

    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    files_ingested: int = 0
    files_skipped: int = 0
    files_rejected: int = 0

    @property
    def reject_rate(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0


@dataclass
class IngestSummary:
    """Per-source counts of one ingest run (records of files rejected whole not included)."""

    sources: dict[str, SourceCounts] = field(default_factory=dict)
    files_ingested: int = 0
    files_skipped: int = 0
    files_rejected: int = 0
    units_on_cluster: int = 0  # units of files read and checked on a Dask cluster

    def source(self, name: str) -> SourceCounts:
        return self.sources.setdefault(name, SourceCounts())

    def counts(self) -> dict[str, int]:
        """Flat integer counts for the run log: totals, then ``<source>_<count>``."""
        fields = ("rows_read", "rows_accepted", "rows_rejected", "files_ingested",
                  "files_skipped", "files_rejected")
        totals = {f: sum(getattr(c, f) for c in self.sources.values()) for f in fields}
        per_source = {f"{name}_{f}": getattr(c, f)
                      for name, c in sorted(self.sources.items()) for f in fields[:3]}
        return {**totals, "units_on_cluster": self.units_on_cluster, **per_source}

    def table(self) -> str:
        """A plain-text table, one line per source."""
        head = f"{'source':<18}{'read':>10}{'accepted':>10}{'rejected':>10}{'rate':>8}" \
               f"{'files':>7}{'skipped':>9}{'rej.files':>10}"
        lines = [head, "-" * len(head)]
        for name, c in sorted(self.sources.items()):
            lines.append(
                f"{name:<18}{c.rows_read:>10}{c.rows_accepted:>10}{c.rows_rejected:>10}"
                f"{c.reject_rate:>8.1%}{c.files_ingested:>7}{c.files_skipped:>9}"
                f"{c.files_rejected:>10}"
            )
        lines.append(
            f"files: {self.files_ingested} ingested, {self.files_skipped} skipped, "
            f"{self.files_rejected} rejected"
        )
        return "\n".join(lines)


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


# --- reference ----------------------------------------------------------------------------


@task(name="load_reference")
def load_reference(build: Path, reference_dirs: list[Path]) -> dict[str, int]:
    """Load reference CSVs into ``reference.*``; later dirs override earlier ones; row counts."""
    with connect(build) as con:
        store.ensure_tables(con)
        for table in REFERENCE_TABLES:
            _load_reference_table(con, table, [Path(d) for d in reference_dirs])
        return {
            t: con.execute(f"SELECT count(*) FROM reference.{t}").fetchone()[0]
            for t in REFERENCE_TABLES
        }


def _load_reference_table(con, table: str, dirs: list[Path]) -> None:
    candidates = [d / f"{table}.csv" for d in dirs if (d / f"{table}.csv").is_file()]
    if not candidates:
        return
    path = candidates[-1]
    sha = sha256_of(path)
    if store.reference_version(con, table) == sha:
        return
    frame = read_reference_csv(path)
    columns = [c.split()[0] for c in store.REFERENCE_DDL[table].split(", ")]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"reference file {path}: missing column(s) {missing}")
    file = f"reference/{path.name}"
    con.begin()
    store.replace_reference(con, table, frame, file, sha)
    store.append_ingest_log(con, [_log_row(file, sha, frame.height, frame.height, 0,
                                           "reference", "ingested", None)])
    con.commit()
    _logger().info("reference.%s replaced from %s (%d rows)", table, path, frame.height)


# --- deliveries ---------------------------------------------------------------------------


@task(name="ingest_deliveries")
def ingest_deliveries(
    build: Path, inbox: Path, max_reject_rate: float = 0.2, batch_rows: int = BATCH_ROWS
) -> IngestSummary:
    """Stage every delivery not ingested before; raise ``RejectRateExceeded`` after logging.

    Nights are processed oldest first, each in one transaction; per source the reject rate is
    rejected / read over the records of files that could be read (a file rejected whole
    stages nothing and replaces no snapshot, so it cannot wipe anyone's status).
    """
    return ingest(build, inbox, max_reject_rate, functools.partial(_ingest_nights,
                                                                   batch_rows=batch_rows))


# How a run's nights are staged: (con, nights, divisions, summary) -> None; in this process
# (``_ingest_nights``) or with the reading and checking on a Dask cluster (ingest_on_dask).
NightsIngest = Callable[[duckdb.DuckDBPyConnection, "dict[str, list[Delivery]]", "Divisions",
                         "IngestSummary"], None]


def ingest(build: Path, inbox: Path, max_reject_rate: float,
           ingest_nights: NightsIngest) -> IngestSummary:
    """Every delivery of ``inbox`` by night, oldest first, through ``ingest_nights``; refunds
    recomputed, the summary logged, ``RejectRateExceeded`` raised after logging."""
    summary = IngestSummary()
    with connect(build) as con:
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        store.ensure_tables(con)
        divisions = read_divisions(con)
        nights: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in discover(Path(inbox), SOURCES):
            nights[delivery.batch_id].append(delivery)
        ingest_nights(con, nights, divisions, summary)  # oldest night first
        store.recompute_refunds(con)
    _logger().info("ingest summary\n%s", summary.table())
    _raise_if_over_threshold(summary, max_reject_rate)
    return summary


@dataclass(frozen=True)
class Divisions:
    """Division codes of the run: division columns, ID numbers (with historical codes)."""

    current: pl.Series
    with_historical: pl.Series
    six_digits: bool  # every current code matches the staged ``str_matches`` ``^[0-9]{6}$``


def read_divisions(con) -> Divisions:
    historical = store.historical_divisions()
    current = store.current_divisions(con)
    if current.len() == 0:
        _logger().warning("reference.divisions is empty: division columns are checked "
                          "against python-stdnum's code list instead")
        current = historical
    return Divisions(current, pl.concat([current, historical]).unique(),
                     bool(current.str.contains(r"^[0-9]{6}$").all()))


def _raise_if_over_threshold(summary: IngestSummary, threshold: float) -> None:
    for name, counts in sorted(summary.sources.items()):
        if counts.reject_rate > threshold:
            raise RejectRateExceeded(name, counts.reject_rate, threshold, summary)


def _log_row(file, sha, read, accepted, rejected, batch_id, status, source,
             encoding=None, extra=None) -> dict:
    return {"file": file, "sha256": sha, "rows_read": read, "rows_accepted": accepted,
            "rows_rejected": rejected, "batch_id": batch_id, "status": status,
            "source": source, "encoding": encoding, "extra_columns": extra}


@dataclass
class FileResult:
    """One file staged into its source's incoming table (failures kept until it completes)."""

    delivery: Delivery
    sha: str
    encoding: str
    extra: list[str]
    rows_read: int = 0
    failures: list[pl.DataFrame] = field(default_factory=list)
    rejected_identity: list[pl.DataFrame] = field(default_factory=list)
    extra_values: list[pl.DataFrame] = field(default_factory=list)  # line, column, value


# Staged batches (of rows) that may wait for the writing thread: one while a night streams in;
# while a night's merges and commit run (1M persons: 2-4 s a night), the next night's first
# files are read and checked meanwhile instead of the reading thread standing idle. The bound
# counts rows (``staged_weight``): a night's small sources (a few thousand rows each) and the
# events without rows (a file's counts, skips) no longer fill it.
STAGED_AHEAD = 3


def _ingest_nights(con, nights: dict[str, list[Delivery]], divisions: Divisions,
                   summary: IngestSummary, *, batch_rows: int) -> None:
    """Every delivery folder in order, each in one transaction: its files staged, then merged
    per source and committed.

    Reading and checking (``stage_nights``) run in a worker thread ahead of this thread,
    which writes to DuckDB (``_Night.apply``): both release the GIL, so on two cores the
    writes of a batch overlap the checks of the next instead of waiting for them, and a
    night's merges overlap the checks of the next night's first files. Checking needs no
    DuckDB: what was ingested before this run is read once, what this run ingests the worker
    knows itself (``stage_nights``).
    """
    logged_pairs, logged_shas = store.logged_files(con)
    events = stage_nights(nights, logged_pairs, logged_shas, divisions, batch_rows)
    ahead = STAGED_AHEAD * batch_rows
    with contextlib.closing(in_background(events, ahead, staged_weight)) as staged:
        write_events(con, staged, summary, logged_pairs)


def write_events(con, events: Iterator[Event | NightDone], summary: IngestSummary,
                 logged_pairs: set[tuple[str, str]]) -> None:
    """The DuckDB side of the ingest: each night's events written in one transaction, merged
    and committed at its ``NightDone``."""
    night: _Night | None = None
    for event in events:
        if night is None:
            batch_id = event.batch_id if isinstance(event, NightDone) \
                else event.delivery.batch_id
            night = _Night(con, batch_id, summary, logged_pairs)
            con.begin()
        if isinstance(event, NightDone):
            _finish_night(night)
            night = None
        else:
            night.apply(event)


def _finish_night(night: _Night) -> None:
    """Merge the night's staged rows per source, log its files and commit its transaction."""
    con, batch_id = night.con, night.batch_id
    log_rows = night.log_rows
    for source, files in night.by_source.items():
        log_rows += _merge_source(con, night.incoming[source], batch_id, files, night.summary,
                                  replace=source not in night.whole_file_rejected)
    for source in set(night.incoming) - set(night.by_source):  # every file rejected whole
        store.drop_incoming(con, night.incoming[source])
    store.append_ingest_log(con, log_rows)
    con.commit()


@dataclass
class _Night:
    """The DuckDB side of one night while its files are staged: writes and bookkeeping."""

    con: object
    batch_id: str
    summary: IngestSummary
    logged_pairs: set[tuple[str, str]]
    log_rows: list[dict] = field(default_factory=list)
    by_source: dict[str, list[FileResult]] = field(default_factory=lambda: defaultdict(list))
    whole_file_rejected: set[str] = field(default_factory=set)
    incoming: dict[str, store.Incoming] = field(default_factory=dict)  # per source
    appended: set[str] = field(default_factory=set)  # files with rows appended

    def apply(self, event: Event) -> None:
        """Write what the event says, in the order the files come."""
        delivery = event.delivery
        counts = self.summary.source(delivery.source or "unknown")
        if isinstance(event, Skipped):
            counts.files_skipped += 1
            self.summary.files_skipped += 1
            if (delivery.file, event.sha) not in self.logged_pairs:  # same bytes, other name
                self.log_rows.append(_log_row(delivery.file, event.sha, 0, 0, 0, self.batch_id,
                                              "skipped_duplicate", delivery.source))
        elif isinstance(event, StagedRows):
            store.append_incoming(self.con, self._incoming(delivery), event.rows)
            self.appended.update(event.files)
        elif isinstance(event, Rejected):
            incoming = self._incoming(delivery)
            if delivery.file in self.appended:  # found unreadable half-way through
                store.discard_incoming_file(self.con, incoming, delivery.file)
            self.log_rows.append(
                _reject_file(self.con, delivery, event.sha, self.batch_id, event.reason))
            counts.files_rejected += 1
            self.summary.files_rejected += 1
            self.whole_file_rejected.add(delivery.source or "")
        else:
            self._incoming(delivery)
            self.by_source[delivery.source].append(event)

    def _incoming(self, delivery: Delivery) -> store.Incoming | None:
        """The source's incoming rows of the night, decided before its first write."""
        if delivery.source and delivery.source not in self.incoming:
            self.incoming[delivery.source] = store.create_incoming(
                self.con, SOURCES[delivery.source], delivery.delivery_date)
        return self.incoming.get(delivery.source or "")


@dataclass(frozen=True)
class Skipped:
    """A file whose bytes were ingested before (under this name or another)."""

    delivery: Delivery
    sha: str


@dataclass(frozen=True)
class StagedRows:
    """Accepted, validated staged rows of one batch (of ``files``, in order), to append."""

    delivery: Delivery  # the first file's
    rows: pl.DataFrame
    files: tuple[str, ...]


@dataclass(frozen=True)
class Rejected:
    """A file rejected whole (rows of it already appended must be discarded)."""

    delivery: Delivery
    sha: str
    reason: UnreadableFile


Event = Skipped | StagedRows | Rejected | FileResult


def staged_weight(event: object) -> int:
    """The rows an event carries: what ``in_background``'s look-ahead bound counts."""
    return event.rows.height if isinstance(event, StagedRows) else 0


@dataclass(frozen=True)
class NightDone:
    """Every file of the night ``batch_id`` was handed on: its merges may run."""

    batch_id: str


def stage_nights(nights: dict[str, list[Delivery]], logged_pairs: set[tuple[str, str]],
                 logged_shas: set[str], divisions: Divisions, batch_rows: int,
                 shas: dict[str, str] | None = None) -> Iterator[Event | NightDone]:
    """What to do with each file, night by night in order, each night ending in a
    ``NightDone``; no DuckDB (it runs in a worker thread).

    Bytes already ingested are skipped, also when an earlier file of this run had them (in
    this night or an earlier one: those are exactly the files the earlier nights log as
    ingested). A file ends in a ``FileResult`` (after its ``StagedRows``) or a
    ``Rejected``. Batches of consecutive files of one source are checked together
    (``_Batch``), never across nights. ``shas``: files' sha256 already known (by ``file``).
    """
    seen = set(logged_shas)
    pending: _Batch | None = None  # read, not yet checked
    night: str | None = None
    deliveries = [d for files in nights.values() for d in files]
    for delivery, sha, prepared in _prepared_ahead(deliveries, logged_pairs, logged_shas, shas):
        if night is not None and delivery.batch_id != night:
            if pending:
                yield from pending.stage()
                pending = None
            yield NightDone(night)
        night = delivery.batch_id
        known = (delivery.file, sha) in logged_pairs or sha in seen
        if pending and (known or delivery.problem or pending.source != delivery.source):
            yield from pending.stage()
            pending = None
        if known:
            if isinstance(prepared, PreparedCsv):  # the same bytes came earlier in this run
                prepared.close()
            yield Skipped(delivery, sha)
            continue
        if not delivery.problem:
            pending = pending or _Batch(SOURCES[delivery.source], divisions, batch_rows)
        outcome = yield from _read_file(delivery, sha, prepared, pending, batch_rows)
        if isinstance(outcome, UnreadableFile):
            if pending:
                pending.forget(delivery.file)
                yield from pending.stage()
                pending = None
            yield Rejected(delivery, sha, outcome)
        else:
            seen.add(sha)
            pending.complete(outcome)
    if pending:
        yield from pending.stage()
    if night is not None:
        yield NightDone(night)


_Prepared = PreparedCsv | UnreadableFile | None


def _prepared_ahead(
    deliveries: list[Delivery], logged_pairs: set[tuple[str, str]], logged_shas: set[str],
    shas: dict[str, str] | None = None,
) -> Iterator[tuple[Delivery, str, _Prepared]]:
    """Each delivery with its sha256 and, for a CSV not ingested before, its text prepared
    (``prepare_csv``: checked, decoded to UTF-8) or the reason it cannot be read.

    Hashing and decoding stream the whole file in one thread (1M persons: ~8 CPU s), so they
    run in a thread of their own, up to two files ahead, while this file is read and checked
    (at most two decoded copies wait on disk).
    Prepared text that is not used (the generator closed early) is removed.
    """
    def prepare(delivery: Delivery) -> tuple[Delivery, str, _Prepared]:
        sha = (shas or {}).get(delivery.file) or sha256_of(delivery.path)
        if (delivery.problem or file_format(delivery.path) not in ("csv", "csv.gz")
                or (delivery.file, sha) in logged_pairs or sha in logged_shas):
            return delivery, sha, None
        try:
            return delivery, sha, prepare_csv(delivery.path)
        except UnreadableFile as exc:
            return delivery, sha, exc

    upcoming = iter(deliveries)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-prepare") as pool:
        ahead = deque(pool.submit(prepare, d) for d in itertools.islice(upcoming, 2))
        try:
            while ahead:
                ready = ahead.popleft().result()
                if (following := next(upcoming, None)) is not None:
                    ahead.append(pool.submit(prepare, following))
                yield ready
        finally:
            for future in ahead:
                if not future.cancel() and future.exception() is None:
                    _, _, prepared = future.result()
                    if isinstance(prepared, PreparedCsv):
                        prepared.close()


class _Batch:
    """Raw batches of consecutive files of one source, checked together once ``rows`` are in.

    A night delivers hundreds of small files (a few hundred records each); checking each
    alone cost a fixed 10-20 ms of planning and validation per file. Each file's failures
    and counts are kept on its own ``FileResult``; a file's result is handed on after every
    batch of it was checked and its rows handed on.
    """

    def __init__(self, spec: SourceSpec, divisions: Divisions, rows: int) -> None:
        self.spec, self.divisions, self.rows = spec, divisions, rows
        self.source = spec.name
        self.parts: list[tuple[FileResult, pl.DataFrame]] = []
        self.done: list[FileResult] = []  # complete files whose rows may still be in parts
        keep = staged_columns(spec.staged)
        self.columns = [c for c in keep if c not in LINEAGE_COLUMNS]

    def add(self, result: FileResult, raw: pl.DataFrame) -> Iterator[Event]:
        """Take a validated raw batch of a file; check what is read once ``rows`` are in.

        What was read before is checked first if this batch would take it past ``rows``, so
        a check never holds more than ``rows`` records, or one batch of a file.
        """
        if result.extra:  # kept as delivered, one row per non-empty cell
            result.extra_values.append(
                raw.select(LINE, *result.extra)
                .unpivot(index=LINE, variable_name="column", value_name="value")
                .drop_nulls("value")
            )
        waiting = sum(part.height for _, part in self.parts)
        if waiting and waiting + raw.height > self.rows:
            yield from self.stage()
            waiting = 0
        self.parts.append((result, raw.select(
            [c for c in raw.columns if c in self.columns or c == LINE],
        ).with_columns(pl.lit(result.delivery.file).alias(SOURCE_FILE))))
        if waiting + raw.height >= self.rows:
            yield from self.stage()

    def complete(self, result: FileResult) -> None:
        self.done.append(result)

    def forget(self, file: str) -> None:
        """Drop the unchecked batches of a file rejected whole."""
        self.parts = [(r, part) for r, part in self.parts if r.delivery.file != file]

    def stage(self) -> Iterator[Event]:
        """Check the batches read so far: the rows to append, then the complete files."""
        if self.parts:
            results = {r.delivery.file: r for r, _ in self.parts}
            raw = pl.concat([part for _, part in self.parts], how="diagonal")
            self.parts = []
            first = next(iter(results.values())).delivery
            staged = stage_extract(
                raw, self.spec.staged, source=self.source, delivery_date=first.delivery_date,
                divisions=self.divisions.current, id_divisions=self.divisions.with_historical,
            )
            rows = _validate_staged(self.spec, staged, self.divisions.six_digits)
            for file, result in results.items():
                result.failures.append(staged.failures.filter(pl.col("source_file") == file))
                result.rejected_identity.append(
                    staged.rejected_identity.filter(pl.col("source_file") == file))
            if rows.height:
                yield StagedRows(first, rows, tuple(results))
        yield from self.done
        self.done = []


def in_background(events: Iterator[Event], ahead: int = 1,
                  weight: Callable[[object], int] = lambda item: 1) -> Iterator[Event]:
    """The items of ``events``, computed in a worker thread at most ``ahead`` ahead, counted
    by ``weight`` (one per item by default; an item heavier than ``ahead`` goes alone).

    Bounded, so memory holds one or two batches more than a sequential loop. The ingest
    weighs items by their rows: a small file's counts, a skip or the end of a night weigh
    nothing, so while this side runs a night's merges the worker reads on through the next
    night's small sources instead of stopping at the third of them. An exception in the
    worker is raised here, in order; if this side stops early (an exception, or the generator
    closed), the worker stops after its current item and closes ``events``. The worker runs
    in a copy of this context, so Prefect's run logger works there too.
    """
    handoff: queue.SimpleQueue = queue.SimpleQueue()
    room = threading.Condition()
    waiting = 0  # weight handed over and not yet taken
    stop = threading.Event()
    end = object()

    def put(item: object, heft: int) -> bool:
        nonlocal waiting
        with room:
            while waiting and waiting + heft > ahead and not stop.is_set():
                room.wait(timeout=0.1)
            if stop.is_set():
                return False
            waiting += heft
        handoff.put((item, heft))
        return True

    def produce() -> None:
        try:
            for event in events:
                if not put(event, weight(event)):
                    return
            put(end, 0)
        except BaseException as exc:  # handed over, raised by the consumer
            handoff.put((_Raised(exc), 0))
        finally:
            events.close()

    worker = threading.Thread(target=contextvars.copy_context().run, args=(produce,),
                              name="ingest-stage", daemon=True)
    worker.start()
    try:
        while True:
            item, heft = handoff.get()
            if item is end:
                return
            if isinstance(item, _Raised):
                raise item.exc
            if heft:
                with room:
                    waiting -= heft
                    room.notify()
            yield item
    finally:
        stop.set()
        worker.join()


@dataclass(frozen=True)
class _Raised:
    """An exception of ``in_background``'s worker, handed to the consumer in order."""

    exc: BaseException


def _reject_file(con, delivery: Delivery, sha: str, batch_id: str,
                 reason: UnreadableFile) -> dict:
    """Reject a whole file: one reject row (line and column NULL) and its ingest-log row."""
    store.append_rejects(con, pl.DataFrame([{
        "batch_id": batch_id, "source": delivery.source, "file": delivery.file, "line": None,
        "column": None, "check": reason.check, "value": None, "message": reason.reason,
    }], schema=_REJECT_SCHEMA))
    _logger().warning("file rejected whole: %s", reason.reason)
    return _log_row(delivery.file, sha, reason.rows, 0, reason.rows, batch_id, "rejected",
                    delivery.source)


_REJECT_SCHEMA = {"batch_id": pl.Utf8, "source": pl.Utf8, "file": pl.Utf8, "line": pl.Int64,
                  "column": pl.Utf8, "check": pl.Utf8, "value": pl.Utf8, "message": pl.Utf8}


def _read_file(delivery: Delivery, sha: str, prepared: _Prepared, batch: _Batch | None,
               batch_rows: int) -> Generator[Event, None, FileResult | UnreadableFile]:
    """Read one file batch by batch into ``batch`` (which yields what it checked); returns the
    file's result, or an ``UnreadableFile`` that rejects it whole. ``prepared``: its text
    made ready ahead (closed here), or why it cannot be read."""
    if delivery.problem:
        return UnreadableFile("file_name", delivery.problem)
    spec = SOURCES[delivery.source]
    try:
        if isinstance(prepared, UnreadableFile):
            raise prepared
        with open_delivery(delivery.path, prepared) as opened:
            headers = canonical_headers(opened.columns, spec.raw)
            if headers.missing:
                return UnreadableFile(
                    "file_missing_column",
                    f"{delivery.file}: missing required column(s) {', '.join(headers.missing)}",
                    rows=opened.lazy.select(pl.len()).collect().item(),
                )
            result = FileResult(delivery, sha, opened.encoding, headers.extra)
            for raw in opened.batches(batch_rows):
                raw = _validate_raw(spec, raw.rename(headers.renames))
                result.rows_read += raw.height
                yield from batch.add(result, raw)
    except pandera.errors.SchemaErrors as exc:  # raw text frame: can only be a broken file
        return UnreadableFile("file_unreadable", f"{delivery.file}: raw layer rejected "
                              f"({exc.failure_cases.height} failure(s))")
    except UnreadableFile as exc:
        exc.reason = f"{delivery.file}: {exc.reason.split(': ', 1)[-1]}"
        return exc
    if result.rows_read == 0 and spec.snapshot:  # events: "nothing new tonight" is a delivery
        return UnreadableFile("file_empty", f"{delivery.file}: header only, no records (a "
                              "snapshot without records would empty the whole list)")
    if headers.extra:
        _logger().warning("%s: extra column(s) kept in the raw layer and reported: %s",
                          delivery.file, ", ".join(headers.extra))
    return result


def _merge_source(con, incoming: store.Incoming, batch_id: str, files: list[FileResult],
                  summary: IngestSummary, *, replace: bool) -> list[dict]:
    """Duplicate keys across the night's parts, rejects written, rows merged; log rows."""
    spec = incoming.spec
    id_columns = {n for n, i in staged_columns(spec.staged).items() if i.get("kind") == "id"}
    store.reject_duplicates(
        con, incoming, batch_id,
        functools.partial(duplicate_key_sql, incoming.rows, spec.key, id_columns),
        MESSAGES["duplicate_key"],
    )
    # every file's failures in one insert (in file order), not one small insert per file;
    # a file without records (an event source's "nothing new") was never checked: none
    failures = [x for f in files for x in f.failures]
    if failures:
        store.append_rejects(con, pl.concat(failures).with_columns(
            pl.lit(batch_id).alias("batch_id"), pl.lit(spec.name).alias("source"),
            pl.col("source_file").alias("file")))
    if identity := [x for f in files for x in f.rejected_identity]:
        store.append_rejected_identity(con, pl.concat(identity))
    if extra := [x.with_columns(file=pl.lit(f.delivery.file)) for f in files
                 for x in f.extra_values]:
        store.append_extra_values(con, pl.concat(extra).with_columns(
            batch_id=pl.lit(batch_id), source=pl.lit(spec.name)))
    accepted = store.accepted_per_file(con, incoming)
    rejected = _rejected_records(con, batch_id, [f.delivery.file for f in files])
    with _roomy(con):
        store.merge_incoming(con, incoming, replace=replace)
    return [_count(spec, batch_id, f, accepted.get(f.delivery.file, 0),
                   rejected.get(f.delivery.file, 0), summary) for f in files]


def _rejected_records(con, batch_id: str, files: list[str]) -> dict[str, int]:
    """Per file, the records (distinct lines) of the night in ``main.rejects``."""
    rows = con.execute(
        "SELECT file, count(DISTINCT line) FROM main.rejects "
        "WHERE batch_id = ? AND list_contains(?, file) GROUP BY file",
        [batch_id, files],
    ).fetchall()
    return dict(rows)


# Kinds whose schema checks (value rules and ``nullable=False``) stage_extract applies to every
# record itself, with the same rule or a stricter one: id (``str_matches`` = its ``id_format``),
# enum and sex (``isin``: the code maps yield only allowed values), number (``ge=0`` unless
# ``allow_negative``), integer (its ``in_range``, from the field's ``range`` metadata), period
# (its regex is stricter than ``str_matches``), grid (the same regex, and a known division),
# code (its ``str_length``, from the field's ``length`` metadata), and ``required``
# for every checked column. ``division`` (``str_matches`` 6 digits) is implied by membership
# in the reference only while every reference code is 6 digits, checked per run.
_KINDS_CHECKED_BY_STAGE_EXTRACT = frozenset(
    {"id", "enum", "sex", "number", "integer", "period", "date", "timestamp", "boolean", "text",
     "grid", "code"}
)


@functools.cache
def _residual_schema(source: str, division_implied: bool) -> pa.DataFrameSchema:
    """The staged model's columns whose checks stage_extract does not apply, as a schema.

    For example tax_payment's derived period columns (``period_month`` 1-12) and the lineage
    columns (``line >= 2``).
    """
    spec = SOURCES[source]
    covered = _KINDS_CHECKED_BY_STAGE_EXTRACT | ({"division"} if division_implied else set())
    keep = [n for n, i in staged_columns(spec.staged).items() if i.get("kind") not in covered]
    return spec.staged.to_schema().select_columns(keep)


def _validate_raw(spec: SourceSpec, batch: pl.DataFrame) -> pl.DataFrame:
    """The raw model at schema level (a LazyFrame): every column text, extras kept.

    The record-level checks are stage_extract's. Schema-level validation depends only on the
    column names and dtypes, so a batch with the names and dtypes of one that passed unchanged
    (nothing to coerce) passes unchanged too: pandera's few milliseconds a call, times some
    500 files a night, are skipped for it.
    """
    schema = (spec.raw.__name__, tuple(batch.schema.items()))
    if schema in _SCHEMAS_PASSED:
        return batch
    raw = spec.raw.validate(batch.lazy(), lazy=True).collect()
    if raw.schema == batch.schema:
        _SCHEMAS_PASSED.add(schema)
    return raw


# (model or source, ((column, dtype), ...)) of frames that passed schema-level validation
_SCHEMAS_PASSED: set[tuple[str, tuple]] = set()


def _validate_staged(spec: SourceSpec, result: StagedExtract,
                     division_implied: bool = False) -> pl.DataFrame:
    """Validate the accepted rows with the staged model (lazy=True, every failure reported).

    The schema (columns, dtypes, strictness) is validated in full. The value checks are not
    re-run on columns where ``stage_extract`` already applied the same rule to every record it
    accepted (``_KINDS_CHECKED_BY_STAGE_EXTRACT``): re-running them was 8% of the ingest and
    could only fail on a pipeline defect, which the record-check tests cover. The checks
    stage_extract does not apply (``_residual_schema``) still run on every staged row. A
    failure here is a defect of the pipeline, not of the data: it stops the run with
    pandera's report.
    """
    residual = _residual_schema(spec.name, division_implied)
    schema = (spec.name, tuple(result.staged.schema.items()))
    try:
        if schema not in _SCHEMAS_PASSED:  # the same columns and dtypes as a batch that passed
            with pandera.config.config_context(validation_depth=ValidationDepth.SCHEMA_ONLY):
                spec.staged.validate(result.staged, lazy=True)
            _SCHEMAS_PASSED.add(schema)
        residual.validate(result.staged.select(list(residual.columns)), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        raise RuntimeError(
            f"staged {spec.name} rows broke the {spec.staged.__name__} schema after the record "
            f"checks passed (a pipeline defect):\n{exc.failure_cases.head(20)}"
        ) from exc
    return result.staged


def _count(spec, batch_id, f: FileResult, accepted: int, rejected_records: int,
           summary) -> dict:
    """Counts of one file: read = accepted + rejected, asserted against the rejects table."""
    rejected = f.rows_read - accepted
    if rejected_records != rejected:  # not `assert`: must hold under python -O too
        raise AssertionError(
            f"{f.delivery.file}: {rejected_records} records in rejects but {rejected} "
            f"not accepted; rows read {f.rows_read} != accepted + rejected"
        )
    counts = summary.source(spec.name)
    counts.rows_read += f.rows_read
    counts.rows_accepted += accepted
    counts.rows_rejected += rejected
    counts.files_ingested += 1
    summary.files_ingested += 1
    _logger().info("%s: %d read = %d accepted + %d rejected", f.delivery.file, f.rows_read,
                   accepted, rejected)
    return _log_row(f.delivery.file, f.sha, f.rows_read, accepted, rejected, batch_id,
                    "ingested", spec.name, f.encoding, ",".join(f.extra) or None)
