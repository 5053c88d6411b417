"""The staged layer in DuckDB: staged tables, rejects, ingest log, reference tables.

Writes are deterministic (no wall-clock values), so re-running a night leaves every table
identical. Rules (extracts.md, docs/architecture.md):

- event sources: a key delivered again replaces the earlier version if its delivery date is
  the same or later (latest delivery wins; an older night arriving late never overwrites);
- snapshot sources: the rows of the latest delivery date replace all earlier rows; an older
  snapshot arriving late is ignored; a night where a part of the snapshot was rejected whole is
  merged instead of replacing, so a broken export never wipes anyone's status;
- ``tax_payment.refunded_by`` is recomputed over the whole table after every run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from importlib import resources

import duckdb
import polars as pl

from schemas import SOURCES, SourceSpec
from schemas._common import empty_frame

REJECTS_DDL = """
CREATE TABLE IF NOT EXISTS main.rejects (
    batch_id VARCHAR, source VARCHAR, file VARCHAR, line BIGINT, "column" VARCHAR,
    "check" VARCHAR, value VARCHAR, message VARCHAR
)"""
INGEST_LOG_DDL = """
CREATE TABLE IF NOT EXISTS main.ingest_log (
    file VARCHAR, sha256 VARCHAR, rows_read BIGINT, rows_accepted BIGINT, rows_rejected BIGINT,
    batch_id VARCHAR, status VARCHAR, source VARCHAR, encoding VARCHAR, extra_columns VARCHAR
)"""
# extracts.md: "unknown extra columns are kept in the raw layer and reported": their cells,
# one row per non-empty cell, as delivered (the staged tables hold the contract's columns).
EXTRA_VALUES_DDL = """
CREATE TABLE IF NOT EXISTS staging.extra_values (
    batch_id VARCHAR, source VARCHAR, file VARCHAR, line BIGINT, "column" VARCHAR, value VARCHAR
)"""
REJECTED_IDENTITY_DDL = """
CREATE TABLE IF NOT EXISTS staging.rejected_identity (
    source VARCHAR, source_file VARCHAR, line BIGINT, id_number_raw VARCHAR, name VARCHAR,
    sex VARCHAR, birth_date VARCHAR, division VARCHAR, "check" VARCHAR
)"""
REFERENCE_DDL = {
    "divisions": "division_code VARCHAR, name VARCHAR, level VARCHAR, parent_code VARCHAR",
    "base_caps": "pooling_division VARCHAR, effective_from DATE, base_cap DOUBLE",
    "grids": "grid_code VARCHAR, division_code VARCHAR, township VARCHAR, community VARCHAR, "
    "worker_name VARCHAR, worker_phone VARCHAR",
    "average_wages": "province_code VARCHAR, year INTEGER, average_monthly_wage DOUBLE",
}
REFERENCE_VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS reference.versions (
    table_name VARCHAR PRIMARY KEY, file VARCHAR, sha256 VARCHAR, rows BIGINT
)"""

REJECT_COLUMNS = ["batch_id", "source", "file", "line", "column", "check", "value", "message"]


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the staged, reference, rejects and ingest-log tables if they do not exist."""
    for ddl in (REJECTS_DDL, INGEST_LOG_DDL, REJECTED_IDENTITY_DDL, EXTRA_VALUES_DDL,
                REFERENCE_VERSIONS_DDL):
        con.execute(ddl)
    for name, columns in REFERENCE_DDL.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS reference.{name} ({columns})")
    for spec in SOURCES.values():
        shape = empty_frame(spec.staged)  # noqa: F841  (read by DuckDB's replacement scan)
        con.execute(f"CREATE TABLE IF NOT EXISTS staging.{spec.name} AS SELECT * FROM shape")


# --- ingest log ---------------------------------------------------------------------------


def logged_files(con: duckdb.DuckDBPyConnection) -> tuple[set[tuple[str, str]], set[str]]:
    """((file, sha256) pairs already logged, sha256 values already ingested).

    A file rejected whole does not make its bytes "seen": the same bytes delivered again under
    a correct name (after a ``file_name`` reject) must be ingested.
    """
    rows = con.execute("SELECT file, sha256, status FROM main.ingest_log").fetchall()
    pairs = {(f, s) for f, s, _ in rows}
    shas = {s for _, s, status in rows if status == "ingested"}
    return pairs, shas


def append_ingest_log(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    if not rows:
        return
    frame = pl.DataFrame(  # noqa: F841
        rows,
        schema={
            "file": pl.Utf8, "sha256": pl.Utf8, "rows_read": pl.Int64, "rows_accepted": pl.Int64,
            "rows_rejected": pl.Int64, "batch_id": pl.Utf8, "status": pl.Utf8,
            "source": pl.Utf8, "encoding": pl.Utf8, "extra_columns": pl.Utf8,
        },
    )
    con.execute("INSERT INTO main.ingest_log BY NAME SELECT * FROM frame")


def append_rejects(con: duckdb.DuckDBPyConnection, rejects: pl.DataFrame) -> None:
    if rejects.height:
        frame = rejects.select(REJECT_COLUMNS)  # noqa: F841
        con.execute("INSERT INTO main.rejects BY NAME SELECT * FROM frame")


def append_extra_values(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> None:
    """Cells of unknown extra columns (batch_id, source, file, line, column, value)."""
    if rows.height:
        frame = rows  # noqa: F841
        con.execute("INSERT INTO staging.extra_values BY NAME SELECT * FROM frame")


def append_rejected_identity(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> None:
    if rows.height:
        frame = rows  # noqa: F841
        con.execute("INSERT INTO staging.rejected_identity BY NAME SELECT * FROM frame")


# --- staged rows --------------------------------------------------------------------------


def _key_match(key: tuple[str, ...], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{k} = {right}.{k}" for k in key)


def incoming_table(spec: SourceSpec) -> str:
    """The work table holding one night's accepted rows of a source before they are merged."""
    return f"staging._incoming_{spec.name}"


# DuckDB's row group (rows). Appends are written in whole row groups: a transaction that
# appends in pieces of other sizes leaves partial row groups that the checkpoint at commit
# rewrites (measured: 5 s CPU per 6M payment rows, and a 70% larger file).
ROW_GROUP_ROWS = 122_880
# Key hashes a night keeps in the writer's memory (16 bytes a row: 256 MiB). Beyond it they
# move to a DuckDB temporary table, which DuckDB keeps within its memory limit and spills to
# disk past it (encrypted when the warehouse is): a province's first night, ~1 billion
# payment rows, would otherwise hold ~16 GB of hashes in the writer.
KEY_HASH_MEMORY_ROWS = 1 << 24


def _repeated_hashes(hashes: pl.DataFrame) -> pl.DataFrame:
    """(file_no, line) of the rows of ``hashes`` whose key_hash occurs more than once."""
    # a sort and a look at the neighbour: 0.2 s for 11.7M hashes, where is_duplicated's hash
    # table took 1.5 s
    ordered = hashes.get_column("key_hash").sort()
    repeated = ordered.filter(ordered == ordered.shift(1))
    return hashes.filter(pl.col("key_hash").is_in(repeated.implode())).select(
        pl.col("file_no").cast(pl.UInt32), pl.col("line").cast(pl.UInt32))


@dataclass(eq=False)
class KeyHashes:
    """A 64-bit hash of the key of every row a night appends, with the row's file and line:
    what ``duplicate_candidates`` sorts to find the rows whose key may repeat.

    Files are numbered (``files``) so that a row takes 16 bytes. Up to
    ``KEY_HASH_MEMORY_ROWS`` rows the hashes stay polars frames (``frames``); past it every
    frame moves to the temporary table ``table`` and later ones follow it there.
    """

    table: str
    frames: list[pl.DataFrame] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # source_file -> file_no
    spilled: bool = False  # rows are in ``table`` (and may be in ``frames``)

    def add(self, con: duckdb.DuckDBPyConnection, rows: pl.DataFrame,
            key: tuple[str, ...]) -> None:
        # the files of a frame come in runs (rle compares neighbours; unique() hashes them)
        for name in rows.get_column("source_file").rle().struct.field("value").to_list():
            self.files.setdefault(name, len(self.files))
        self.frames.append(rows.select(
            file_no=pl.col("source_file").replace_strict(self.files, return_dtype=pl.UInt32),
            line=pl.col("line").cast(pl.UInt32),
            key_hash=pl.struct(*key).hash(),
        ))
        if sum(frame.height for frame in self.frames) > KEY_HASH_MEMORY_ROWS:
            self._spill(con)

    def _spill(self, con: duckdb.DuckDBPyConnection) -> None:
        """Move the frames to ``table``, created with an explicit column list (see
        ``create_incoming`` on DuckDB 2.0 and CTAS inside a transaction)."""
        if not self.spilled:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {self.table} "
                        "(file_no UINTEGER, line UINTEGER, key_hash UBIGINT)")
            self.spilled = True
        if self.frames:
            con.register("key_hash_frame", pl.concat(self.frames))
            try:
                con.execute(f"INSERT INTO {self.table} SELECT * FROM key_hash_frame")
            finally:
                con.unregister("key_hash_frame")
            self.frames = []

    def discard(self, con: duckdb.DuckDBPyConnection, file: str) -> None:
        """Forget the rows of ``file`` (found unreadable half-way through)."""
        if (number := self.files.get(file)) is None:
            return
        self.frames = [frame.filter(pl.col("file_no") != number) for frame in self.frames]
        if self.spilled:
            con.execute(f"DELETE FROM {self.table} WHERE file_no = ?", [number])

    def repeated(self, con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
        """(source_file, line) of every row whose key hash occurs more than once.

        Hashes moved to DuckDB are grouped there in one pass: DuckDB's aggregate partitions
        and spills within its memory limit. Reading them back in ranges of their top bits and
        sorting each in polars was lighter at 1M persons with every hash moved (+264 MiB and
        +1.3 CPU s of the ingest, against +580 MiB and +3.4 CPU s), the same at 10M (ingest
        446 s against 445 s), but scans the whole table once per range: 64 scans of ~16 GB,
        partly spilled, for a province's first night.
        """
        if not self.spilled:
            rows = _repeated_hashes(pl.concat(self.frames, rechunk=False)) if self.frames else (
                pl.DataFrame(schema={"file_no": pl.UInt32, "line": pl.UInt32}))
        else:
            self._spill(con)
            rows = con.sql(
                f"SELECT file_no, line FROM {self.table} WHERE key_hash IN "
                f"(SELECT key_hash FROM {self.table} GROUP BY key_hash HAVING count(*) > 1)"
            ).pl()
        names = pl.DataFrame({"source_file": list(self.files), "file_no": list(self.files.values())},
                             schema={"source_file": pl.Utf8, "file_no": pl.UInt32})
        return rows.join(names, on="file_no", how="inner").select(
            "source_file", pl.col("line").cast(pl.Int64))

    def clear(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.spilled:
            con.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.frames, self.files, self.spilled = [], {}, False


@dataclass(eq=False)
class Incoming:
    """Where one night's accepted rows of a source wait until the night's merge.

    ``direct``: the staged table holds no row of this night or a later one (the usual case:
    nights arrive in order, each once), so the rows are appended to ``staging.<source>``
    itself and the night's rows there are exactly this run's. Duplicates are then removed and
    superseded older rows deleted in place, and each row is written to the warehouse once. A
    work table (``incoming_table``) written first and copied at the merge cost a second full
    write of every staged row (the merge was a quarter of the ingest's CPU at 1M persons).

    Otherwise (a night arriving late, or more parts of a night already staged) the rows go to
    the work table and ``merge_incoming`` applies the rules against what is staged.
    """

    spec: SourceSpec
    night: date
    direct: bool
    pending: list[pl.DataFrame] = field(default_factory=list)  # less than a row group
    key_hashes: KeyHashes = field(init=False)  # every appended row's: duplicate_candidates'

    def __post_init__(self) -> None:
        self.key_hashes = KeyHashes(f"temp.key_hashes_{self.spec.name}")

    @property
    def table(self) -> str:
        """The table the night's rows are appended to (and deleted from)."""
        return f"staging.{self.spec.name}" if self.direct else incoming_table(self.spec)

    @property
    def rows(self) -> str:
        """A relation with exactly the night's accepted rows of the source (this run's)."""
        if self.direct:
            return f"(SELECT * FROM {self.table} WHERE {self.tonight})"
        return self.table

    @property
    def tonight(self) -> str:
        """SQL condition: a staged row of this night (in the direct case, this run's rows)."""
        return f"delivery_date = DATE '{self.night.isoformat()}'"


def create_incoming(con: duckdb.DuckDBPyConnection, spec: SourceSpec, night: date) -> Incoming:
    """Where the night's rows of ``spec`` go: the staged table itself, or an empty work table.

    The work table is created with an explicit column list, not ``CREATE TABLE ... AS SELECT
    ... LIMIT 0``: in DuckDB 2.0 a table created by CTAS inside an open transaction and then
    given a large insert (more than one row group) reports the right ``count(*)`` but scans
    as empty.
    """
    staged_later = con.execute(
        f"SELECT count(*) FROM staging.{spec.name} WHERE delivery_date >= ?", [night]
    ).fetchone()[0]
    incoming = Incoming(spec, night, direct=staged_later == 0)
    if incoming.direct:
        return incoming
    table = incoming_table(spec)
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE schema_name = 'staging' AND table_name = ? ORDER BY column_index",
        [spec.name],
    ).fetchall()
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns)})")
    return incoming


def append_incoming(con: duckdb.DuckDBPyConnection, incoming: Incoming,
                    rows: pl.DataFrame) -> None:
    """Append staged rows (all of ``incoming.night``), in order, whole row groups at a time.

    Rows short of a row group wait in ``incoming.pending`` for the next append or
    ``flush_incoming``; DuckDB reads the frame through Arrow. Each row's key hash is kept
    (``duplicate_candidates``).
    """
    if rows.height:
        incoming.pending.append(rows)
        incoming.key_hashes.add(con, rows, incoming.spec.key)
    waiting = sum(frame.height for frame in incoming.pending)
    if waiting >= ROW_GROUP_ROWS:
        whole = waiting - waiting % ROW_GROUP_ROWS
        pending = pl.concat(incoming.pending, rechunk=False)
        incoming.pending = [pending.slice(whole)] if whole < waiting else []
        _insert(con, incoming, pending.slice(0, whole))


def flush_incoming(con: duckdb.DuckDBPyConnection, incoming: Incoming) -> None:
    """Append the rows still waiting for a whole row group (before the night's rows are read)."""
    if incoming.pending:
        pending = pl.concat(incoming.pending, rechunk=False)
        incoming.pending = []
        _insert(con, incoming, pending)


def _insert(con: duckdb.DuckDBPyConnection, incoming: Incoming, rows: pl.DataFrame) -> None:
    """One ``INSERT`` of ``rows`` as one contiguous chunk.

    DuckDB writes each Arrow chunk of a frame to row groups of its own: a frame of several
    chunks (a concatenation) left partial row groups behind even when its total was whole,
    and the commit rewrote them (9 s of the first 1M-person night).
    """
    frame = rows.rechunk()  # noqa: F841  (read by DuckDB's replacement scan)
    con.execute(f"INSERT INTO {incoming.table} BY NAME SELECT * FROM frame")


def discard_incoming_file(con: duckdb.DuckDBPyConnection, incoming: Incoming, file: str) -> None:
    """Forget the rows staged from a file found unreadable half-way through."""
    incoming.pending = [frame.filter(pl.col("source_file") != file)
                        for frame in incoming.pending]
    incoming.key_hashes.discard(con, file)
    con.execute(f"DELETE FROM {incoming.table} WHERE source_file = ? AND {incoming.tonight}",
                [file])


def duplicate_candidates(con: duckdb.DuckDBPyConnection, incoming: Incoming) -> pl.DataFrame:
    """(source_file, line) of the night's rows whose key hash occurs more than once.

    Every row of a repeated key is among them (equal keys hash alike), and a row outside them
    has a key no other row of the night has: the exact check (``duplicate_key_sql``) needs to
    look at these rows only, and at none on a night without candidates (the usual case). The
    hashes are computed as the rows are appended (``KeyHashes``), so DuckDB no longer reads
    every key of the night back from storage to group it (1M persons: 11.7M payment keys,
    ~3 s of the writer).
    """
    return incoming.key_hashes.repeated(con)


def reject_duplicates(
    con: duckdb.DuckDBPyConnection, incoming: Incoming, batch_id: str,
    sql: Callable[[str], str], message: str,
) -> None:
    """Move the night's rows with a key that occurred earlier (file, line order) to
    ``main.rejects``: ``sql(candidates)`` selects them, given a relation with the
    (source_file, line) of every row that may be one (``duplicate_candidates``)."""
    flush_incoming(con, incoming)
    candidates = duplicate_candidates(con, incoming)
    incoming.key_hashes.clear(con)
    if not candidates.height:
        return
    con.register("duplicate_candidates", candidates)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE duplicates AS {sql('duplicate_candidates')}")
    finally:
        con.unregister("duplicate_candidates")
    if con.execute("SELECT count(*) FROM duplicates").fetchone()[0]:
        con.execute(
            """
            INSERT INTO main.rejects BY NAME
            SELECT ? AS batch_id, ? AS source, source_file AS file, line, "column", "check",
                   value, source_file || ' line ' || line || ', column ' || "column" || ': '
                   || ? || ' (value: ' || value || ')' AS message
            FROM duplicates
            """,
            [batch_id, incoming.spec.name, message],
        )
        con.execute(
            f"DELETE FROM {incoming.table} i USING duplicates d "
            f"WHERE i.source_file = d.source_file AND i.line = d.line AND i.{incoming.tonight}"
        )
    con.execute("DROP TABLE duplicates")


def drop_incoming(con: duckdb.DuckDBPyConnection, incoming: Incoming) -> None:
    """Drop the work table, if the night had one (and rows still waiting, if any)."""
    incoming.pending = []
    incoming.key_hashes.clear(con)
    if not incoming.direct:
        con.execute(f"DROP TABLE IF EXISTS {incoming_table(incoming.spec)}")


def accepted_per_file(con: duckdb.DuckDBPyConnection, incoming: Incoming) -> dict[str, int]:
    flush_incoming(con, incoming)
    rows = con.execute(f"SELECT source_file, count(*) FROM {incoming.rows} GROUP BY 1").fetchall()
    return dict(rows)


def merge_incoming(con: duckdb.DuckDBPyConnection, incoming: Incoming, *, replace: bool) -> None:
    """Merge one night's accepted rows of a source (one delivery date) into its staged table.

    ``replace`` (snapshot sources, complete night): rows of earlier deliveries are dropped
    first, unless a later snapshot is already staged (then this older one changes nothing).
    Then staged rows with an incoming key and a delivery date up to this night's are replaced,
    and incoming rows whose key is staged from a later night are left out (events arriving
    late). A night without accepted rows changes nothing. The work table is dropped afterwards.

    Every incoming row carries the night's date, so both rules compare with a constant and
    each join runs only when staged rows exist on its side of the date; in the direct case
    (``Incoming``) the rows are already in place and only older rows are deleted. A
    correlated ``NOT EXISTS`` made DuckDB aggregate every incoming key even when nothing was
    staged yet.
    """
    spec, night = incoming.spec, incoming.night
    table = f"staging.{spec.name}"
    flush_incoming(con, incoming)
    if incoming.direct:
        _merge_in_place(con, incoming, replace=replace)
        return
    source = incoming_table(spec)
    night = con.execute(f"SELECT max(delivery_date) FROM {source}").fetchone()[0]
    skip = night is None
    if spec.snapshot and not skip:
        latest = con.execute(f"SELECT max(delivery_date) FROM {table}").fetchone()[0]
        skip = latest is not None and latest > night  # an older snapshot arriving late
        if replace and not skip:
            con.execute(f"DELETE FROM {table} WHERE delivery_date < ?", [night])
    if not skip:
        match = _key_match(spec.key, "t", "n")
        earlier, later = con.execute(
            f"SELECT count(*) FILTER (WHERE delivery_date <= $1), "
            f"count(*) FILTER (WHERE delivery_date > $1) FROM {table}", [night]
        ).fetchone()
        if earlier:
            con.execute(
                f"DELETE FROM {table} t USING {source} n WHERE {match} "
                "AND t.delivery_date <= ?", [night]
            )
        if later:
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT n.* FROM {source} n ANTI JOIN "
                f"(SELECT {', '.join(spec.key)} FROM {table} WHERE delivery_date > ?) t "
                f"ON {match}", [night]
            )
        else:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {source}")
    con.execute(f"DROP TABLE {source}")


def _merge_in_place(con: duckdb.DuckDBPyConnection, incoming: Incoming, *,
                    replace: bool) -> None:
    """``merge_incoming`` when the night's rows were appended to the staged table itself.

    Nothing later than the night is staged (that chose the direct case), so no snapshot is
    newer and no incoming row is left out; what remains is deleting the older rows.
    """
    spec, night = incoming.spec, incoming.night
    table = f"staging.{spec.name}"
    tonight, older = con.execute(
        f"SELECT count(*) FILTER (WHERE delivery_date = $1), "
        f"count(*) FILTER (WHERE delivery_date < $1) FROM {table}", [night]
    ).fetchone()
    if not tonight or not older:  # no accepted rows changes nothing; nothing older to drop
        return
    if spec.snapshot and replace:
        con.execute(f"DELETE FROM {table} WHERE delivery_date < ?", [night])
        return
    con.execute(
        f"DELETE FROM {table} t USING (SELECT {', '.join(spec.key)} FROM {incoming.rows}) n "
        f"WHERE {_key_match(spec.key, 't', 'n')} AND t.delivery_date < ?", [night]
    )


def recompute_refunds(con: duckdb.DuckDBPyConnection) -> None:
    """``refunded_by``: the (first) staged refund whose ``refund_of`` names the payment.

    ``payment_id`` is the staged key (unique), so this is: per named payment the smallest
    refund id, set where it differs, and cleared where no staged refund names the payment.
    Both statements start from the refunds (a few per cent of the rows) instead of grouping
    every payment of the table.
    """
    con.execute(
        """
        UPDATE staging.tax_payment AS p SET refunded_by = r.refund_id
        FROM (
            SELECT refund_of, min(payment_id) AS refund_id
            FROM staging.tax_payment
            WHERE kind = 'refund' AND refund_of IS NOT NULL
            GROUP BY refund_of
        ) AS r
        WHERE p.payment_id = r.refund_of
          AND p.refunded_by IS DISTINCT FROM r.refund_id
        """
    )
    con.execute(
        """
        UPDATE staging.tax_payment AS p SET refunded_by = NULL
        WHERE p.refunded_by IS NOT NULL
          AND p.payment_id NOT IN (
              SELECT refund_of FROM staging.tax_payment
              WHERE kind = 'refund' AND refund_of IS NOT NULL
          )
        """
    )


# --- reference ----------------------------------------------------------------------------


def reference_version(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    row = con.execute(
        "SELECT sha256 FROM reference.versions WHERE table_name = ?", [table]
    ).fetchone()
    return row[0] if row else None


def replace_reference(
    con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, file: str, sha256: str
) -> None:
    """Replace ``reference.<table>`` with ``frame`` (cast to the table's types) and record it."""
    incoming = frame  # noqa: F841
    columns = [c.split()[0] for c in REFERENCE_DDL[table].split(", ")]
    select = ", ".join(f'"{c}"' for c in columns)
    con.execute(f"DELETE FROM reference.{table}")
    con.execute(f"INSERT INTO reference.{table} SELECT {select} FROM incoming")
    con.execute(
        "INSERT OR REPLACE INTO reference.versions VALUES (?, ?, ?, ?)",
        [table, file, sha256, frame.height],
    )


def current_divisions(con: duckdb.DuckDBPyConnection) -> pl.Series:
    """GB/T 2260 codes of ``reference.divisions`` (the check of division columns)."""
    return con.sql("SELECT DISTINCT division_code FROM reference.divisions").pl()[
        "division_code"
    ].cast(pl.Utf8)


def historical_divisions() -> pl.Series:
    """Every county-level code python-stdnum knows, abolished ones included (``cn/loc.dat``).

    An ID number keeps the division code of its birth registration after the code is abolished
    (330103 下城区, 500105 江北区), so the ID check needs the historical list as well as the
    current reference.
    """
    text = resources.files("stdnum").joinpath("cn", "loc.dat").read_text("utf-8")
    codes, province = [], None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        top = re.match(r"^(\d{2}) ", line)
        if top:
            province = top[1]
            codes.append(province + "0000")
            continue
        sub = re.match(r"^\s+(\d{4}) ", line)
        if sub and province:
            codes.append(province + sub[1])
    return pl.Series("division_code", sorted(set(codes)), dtype=pl.Utf8)
