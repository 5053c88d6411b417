"""Prefect tasks of the ingest: reference tables, then the night's deliveries into ``staging``.

read -> stage -> validate -> quarantine -> write, per delivery night (oldest first) and source.
Every record that fails a check goes to ``main.rejects``; a file that cannot be read at all is
rejected whole with the reason and the rest of the night still runs. Per file and source:
rows read = accepted + rejected (asserted, logged in ``main.ingest_log``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandera.errors
import polars as pl
from prefect import get_run_logger, task
from prefect.exceptions import MissingContextError

from pipelines.io import staging_store as store
from pipelines.io.inbox import Delivery, discover, sha256_of
from pipelines.io.readers import UnreadableFile, open_delivery, read_reference_csv
from pipelines.io.warehouse import connect
from pipelines.stages.stage_extract import (
    MESSAGES,
    StagedExtract,
    canonical_headers,
    duplicate_key_sql,
    stage_extract,
)
from schemas import SOURCES, SourceSpec
from schemas._common import staged_columns

REFERENCE_TABLES = tuple(store.REFERENCE_DDL)
BATCH_ROWS = 500_000  # records staged at a time: bounds memory on multi-million-row files
# DuckDB's own cap while ingesting (it spills joins to disk beyond it); its default, 80% of RAM,
# let a 1M-person night (11M payments in one transaction) reach 6 GB on a shared machine.
DUCKDB_MEMORY_LIMIT = "2GB"


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

    def source(self, name: str) -> SourceCounts:
        return self.sources.setdefault(name, SourceCounts())

    def counts(self) -> dict[str, int]:
        """Flat integer counts for the run log: totals, then ``<source>_<count>``."""
        fields = ("rows_read", "rows_accepted", "rows_rejected", "files_ingested",
                  "files_skipped", "files_rejected")
        totals = {f: sum(getattr(c, f) for c in self.sources.values()) for f in fields}
        per_source = {f"{name}_{f}": getattr(c, f)
                      for name, c in sorted(self.sources.items()) for f in fields[:3]}
        return {**totals, **per_source}

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
    summary = IngestSummary()
    with connect(build) as con:
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        store.ensure_tables(con)
        divisions = _divisions(con)
        nights: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in discover(Path(inbox), SOURCES):
            nights[delivery.batch_id].append(delivery)
        for batch_id, deliveries in nights.items():  # discover() orders nights by date
            _ingest_night(con, batch_id, deliveries, divisions, summary, batch_rows)
        store.recompute_refunds(con)
    _logger().info("ingest summary\n%s", summary.table())
    _raise_if_over_threshold(summary, max_reject_rate)
    return summary


def _divisions(con) -> tuple[pl.Series, pl.Series]:
    historical = store.historical_divisions()
    current = store.current_divisions(con)
    if current.len() == 0:
        _logger().warning("reference.divisions is empty: division columns are checked "
                          "against python-stdnum's code list instead")
        current = historical
    return current, pl.concat([current, historical]).unique()


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
class _FileResult:
    """One file staged into its source's incoming table (failures kept until it completes)."""

    delivery: Delivery
    sha: str
    encoding: str
    extra: list[str]
    rows_read: int = 0
    failures: list[pl.DataFrame] = field(default_factory=list)
    rejected_identity: list[pl.DataFrame] = field(default_factory=list)


def _ingest_night(con, batch_id: str, deliveries: list[Delivery], divisions, summary,
                  batch_rows: int) -> None:
    """One delivery folder, in one transaction: stage every new file, then merge per source."""
    logged_pairs, logged_shas = store.logged_files(con)
    log_rows: list[dict] = []
    by_source: dict[str, list[_FileResult]] = defaultdict(list)
    whole_file_rejected: set[str] = set()
    incoming: set[str] = set()  # sources with a work table this night
    con.begin()
    for delivery in deliveries:
        sha = sha256_of(delivery.path)
        counts = summary.source(delivery.source or "unknown")
        if (delivery.file, sha) in logged_pairs or sha in logged_shas:
            counts.files_skipped += 1
            summary.files_skipped += 1
            if (delivery.file, sha) not in logged_pairs:  # same bytes under another name
                log_rows.append(_log_row(delivery.file, sha, 0, 0, 0, batch_id,
                                         "skipped_duplicate", delivery.source))
            continue
        if delivery.source and delivery.source not in incoming:
            incoming.add(store.create_incoming(con, SOURCES[delivery.source]) and delivery.source)
        result = _stage_file(con, delivery, sha, divisions, batch_rows)
        if isinstance(result, UnreadableFile):
            log_rows.append(_reject_file(con, delivery, sha, batch_id, result))
            counts.files_rejected += 1
            summary.files_rejected += 1
            whole_file_rejected.add(delivery.source or "")
        else:
            logged_shas.add(sha)
            by_source[delivery.source].append(result)
    for source, files in by_source.items():
        log_rows += _merge_source(con, SOURCES[source], batch_id, files, summary,
                                  replace=source not in whole_file_rejected)
    for source in incoming - set(by_source):  # every file of the source was rejected whole
        store.drop_incoming(con, SOURCES[source])
    store.append_ingest_log(con, log_rows)
    con.commit()


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


def _stage_file(con, delivery: Delivery, sha: str, divisions,
                batch_rows: int) -> _FileResult | UnreadableFile:
    """Read, check and stage one file batch by batch; an ``UnreadableFile`` rejects it whole."""
    if delivery.problem:
        return UnreadableFile("file_name", delivery.problem)
    spec = SOURCES[delivery.source]
    try:
        with open_delivery(delivery.path) as opened:
            headers = canonical_headers(opened.columns, spec.raw)
            if headers.missing:
                return UnreadableFile(
                    "file_missing_column",
                    f"{delivery.file}: missing required column(s) {', '.join(headers.missing)}",
                    rows=opened.lazy.select(pl.len()).collect().item(),
                )
            result = _FileResult(delivery, sha, opened.encoding, headers.extra)
            for batch in opened.batches(batch_rows):
                _stage_batch(con, spec, result, batch.rename(headers.renames), divisions)
    except pandera.errors.SchemaErrors as exc:  # raw text frame: can only be a broken file
        store.discard_incoming_file(con, spec, delivery.file)
        return UnreadableFile("file_unreadable", f"{delivery.file}: raw layer rejected "
                              f"({exc.failure_cases.height} failure(s))")
    except UnreadableFile as exc:
        store.discard_incoming_file(con, spec, delivery.file)
        exc.reason = f"{delivery.file}: {exc.reason.split(': ', 1)[-1]}"
        return exc
    if result.rows_read == 0:
        return UnreadableFile("file_empty", f"{delivery.file}: header only, no records")
    if headers.extra:
        _logger().warning("%s: extra column(s) kept in the raw layer and reported: %s",
                          delivery.file, ", ".join(headers.extra))
    return result


def _stage_batch(con, spec: SourceSpec, result: _FileResult, batch: pl.DataFrame,
                 divisions) -> None:
    """raw -> validate -> stage -> validate -> incoming table; failures kept on the result."""
    current, with_historical = divisions
    # schema level only (a LazyFrame): every column text, extras kept; the record-level
    # checks are stage_extract's, and the staged rows are validated in full below
    raw = spec.raw.validate(batch.lazy(), lazy=True).collect()
    staged = stage_extract(
        raw.with_columns(pl.lit(result.delivery.file).alias("source_file")), spec.staged,
        source=spec.name, delivery_date=result.delivery.delivery_date, divisions=current,
        id_divisions=with_historical,
    )
    store.append_incoming(con, spec, _validate_staged(spec, staged))
    result.rows_read += staged.rows_read
    result.failures.append(staged.failures)
    result.rejected_identity.append(staged.rejected_identity)


def _merge_source(con, spec: SourceSpec, batch_id: str, files: list[_FileResult],
                  summary: IngestSummary, *, replace: bool) -> list[dict]:
    """Duplicate keys across the night's parts, rejects written, rows merged; log rows."""
    id_columns = {n for n, i in staged_columns(spec.staged).items() if i.get("kind") == "id"}
    store.reject_duplicates(
        con, spec, batch_id,
        duplicate_key_sql(store.incoming_table(spec), spec.key, id_columns),
        MESSAGES["duplicate_key"],
    )
    for f in files:
        store.append_rejects(con, pl.concat(f.failures).with_columns(
            pl.lit(batch_id).alias("batch_id"), pl.lit(spec.name).alias("source"),
            pl.col("source_file").alias("file")))
        store.append_rejected_identity(con, pl.concat(f.rejected_identity))
    accepted = store.accepted_per_file(con, spec)
    store.merge_incoming(con, spec, replace=replace)
    return [_count(con, spec, batch_id, f, accepted.get(f.delivery.file, 0), summary)
            for f in files]


def _validate_staged(spec: SourceSpec, result: StagedExtract) -> pl.DataFrame:
    """Validate the accepted rows with the staged model (collected, lazy=True).

    The record checks of ``stage_extract`` come from the same model, so a failure here is a
    defect of the pipeline, not of the data: it stops the run with pandera's report.
    """
    try:
        return spec.staged.validate(result.staged, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        raise RuntimeError(
            f"staged {spec.name} rows broke the {spec.staged.__name__} schema after the record "
            f"checks passed (a pipeline defect):\n{exc.failure_cases.head(20)}"
        ) from exc


def _count(con, spec, batch_id, f: _FileResult, accepted: int, summary) -> dict:
    """Counts of one file: read = accepted + rejected, asserted against the rejects table."""
    rejected = f.rows_read - accepted
    rejected_records = con.execute(
        "SELECT count(DISTINCT line) FROM main.rejects WHERE file = ? AND batch_id = ?",
        [f.delivery.file, batch_id],
    ).fetchone()[0]
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
