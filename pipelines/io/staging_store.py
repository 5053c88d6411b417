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
from importlib import resources
from pathlib import Path

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
    for ddl in (REJECTS_DDL, INGEST_LOG_DDL, REJECTED_IDENTITY_DDL, REFERENCE_VERSIONS_DDL):
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


def create_incoming(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> str:
    """An empty work table shaped like ``staging.<source>``.

    Created with an explicit column list, not ``CREATE TABLE ... AS SELECT ... LIMIT 0``: in
    DuckDB 2.0 a table created by CTAS inside an open transaction and then given a large
    insert (more than one row group) reports the right ``count(*)`` but scans as empty.
    """
    table = incoming_table(spec)
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE schema_name = 'staging' AND table_name = ? ORDER BY column_index",
        [spec.name],
    ).fetchall()
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns)})")
    return table


def append_incoming(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, rows: pl.DataFrame
) -> None:
    if rows.height:
        frame = rows  # noqa: F841  (read by DuckDB's replacement scan)
        con.execute(f"INSERT INTO {incoming_table(spec)} BY NAME SELECT * FROM frame")


def discard_incoming_file(con: duckdb.DuckDBPyConnection, spec: SourceSpec, file: str) -> None:
    """Forget the rows staged from a file found unreadable half-way through."""
    con.execute(f"DELETE FROM {incoming_table(spec)} WHERE source_file = ?", [file])


def reject_duplicates(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, batch_id: str, sql: str, message: str
) -> None:
    """Move the rows ``sql`` selects from the incoming table to ``main.rejects``."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE duplicates AS {sql}")
    con.execute(
        """
        INSERT INTO main.rejects BY NAME
        SELECT ? AS batch_id, ? AS source, source_file AS file, line, "column", "check", value,
               source_file || ' line ' || line || ', column ' || "column" || ': ' || ?
               || ' (value: ' || value || ')' AS message
        FROM duplicates
        """,
        [batch_id, spec.name, message],
    )
    con.execute(
        f"DELETE FROM {incoming_table(spec)} i USING duplicates d "
        "WHERE i.source_file = d.source_file AND i.line = d.line"
    )
    con.execute("DROP TABLE duplicates")


def drop_incoming(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    con.execute(f"DROP TABLE IF EXISTS {incoming_table(spec)}")


def accepted_per_file(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> dict[str, int]:
    rows = con.execute(
        f"SELECT source_file, count(*) FROM {incoming_table(spec)} GROUP BY 1"
    ).fetchall()
    return dict(rows)


def merge_incoming(con: duckdb.DuckDBPyConnection, spec: SourceSpec, *, replace: bool) -> None:
    """Merge one night's accepted rows of a source (one delivery date) into its staged table.

    ``replace`` (snapshot sources, complete night): rows of earlier deliveries are dropped
    first, unless a later snapshot is already staged (then this older one changes nothing).
    The incoming table is dropped afterwards.
    """
    table, incoming = f"staging.{spec.name}", incoming_table(spec)
    night = con.execute(f"SELECT max(delivery_date) FROM {incoming}").fetchone()[0]
    skip = night is None
    if spec.snapshot and not skip:
        latest = con.execute(f"SELECT max(delivery_date) FROM {table}").fetchone()[0]
        skip = latest is not None and latest > night  # an older snapshot arriving late
        if replace and not skip:
            con.execute(f"DELETE FROM {table} WHERE delivery_date < ?", [night])
    if not skip:
        match = _key_match(spec.key, "t", "n")
        con.execute(
            f"DELETE FROM {table} t USING {incoming} n WHERE {match} "
            "AND t.delivery_date <= n.delivery_date"
        )
        con.execute(
            f"INSERT INTO {table} BY NAME SELECT * FROM {incoming} n WHERE NOT EXISTS "
            f"(SELECT 1 FROM {table} t WHERE {match} AND t.delivery_date > n.delivery_date)"
        )
    con.execute(f"DROP TABLE {incoming}")


def recompute_refunds(con: duckdb.DuckDBPyConnection) -> None:
    """``refunded_by``: the (first) staged refund whose ``refund_of`` names the payment."""
    con.execute(
        """
        UPDATE staging.tax_payment AS p SET refunded_by = r.refund_id
        FROM (
            SELECT p2.payment_id, min(r2.payment_id) AS refund_id
            FROM staging.tax_payment p2
            LEFT JOIN staging.tax_payment r2
              ON r2.kind = 'refund' AND r2.refund_of = p2.payment_id
            GROUP BY p2.payment_id
        ) AS r
        WHERE p.payment_id = r.payment_id
          AND p.refunded_by IS DISTINCT FROM r.refund_id
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
