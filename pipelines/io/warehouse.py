"""Every DuckDB connection of the pipeline: the build copy, the atomic publish, read-only queries.

A run never writes the published file. It copies it to ``<warehouse>.building``, does all its
work there, and ``os.replace``s the copy over the published file only when every stage and
check passed. ``os.replace`` is atomic on POSIX: an analyst's open read-only connection keeps
the old file (inode) until it reconnects, and a new connection sees the new file, never a mix.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import duckdb

SCHEMAS = ("staging", "reference", "restricted")
ENCRYPTION_KEY_ENV = "ENROL_ENCRYPTION_KEY"
"""Set to encrypt the warehouse at rest (DuckDB AES-GCM); every connection then needs it."""
UNSAFE_MBEDTLS_ENV = "ENROL_ENCRYPTION_ALLOW_MBEDTLS"
"""Set to 1 to write encrypted files without DuckDB's httpfs (OpenSSL) extension (tests, CI)."""
ALIAS = "warehouse"
MEMORY_LIMIT_ENV = "ENROL_DUCKDB_MEMORY_LIMIT"
"""DuckDB's memory limit on writable connections (e.g. ``8GB``); default ``BUILD_MEMORY_SHARE``."""
BUILD_MEMORY_SHARE = 0.4
"""Share of physical memory DuckDB may hold on a writable (build) connection. DuckDB's own
default, 80%, is a cache it fills and keeps: at 10M persons the build reached 21 GiB with
polars' frames beside it. 40% leaves the rest to the polars stages; DuckDB spills beyond it."""


class RunInProgress(RuntimeError):
    """Another run is building the same warehouse; this one stopped before touching anything."""


class WarehouseNotPublished(RuntimeError):
    """The published warehouse file does not exist yet."""


class WarehouseCorrupt(RuntimeError):
    """The published warehouse file cannot be opened: restore the previous one (issue 10)."""


def previous_path(warehouse: Path) -> Path:
    """The state published before the current one, kept by ``publish`` for recovery."""
    return warehouse.with_name(warehouse.name + ".previous")


def building_path(warehouse: Path) -> Path:
    """Where a run builds the next state of ``warehouse``."""
    return warehouse.with_name(warehouse.name + ".building")


def sql_literal(value: object) -> str:
    """``value`` (text or a path) as a DuckDB string literal, quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


@contextlib.contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open one DuckDB connection, closed on exit; creates the internal schemas when writable.

    With ``ENROL_ENCRYPTION_KEY`` set, the file is attached encrypted (DuckDB's AES-GCM
    encryption) and made the default catalog, so every caller's SQL runs unchanged; what
    DuckDB spills to disk is encrypted too (``_open_encrypted``).
    """
    key = os.environ.get(ENCRYPTION_KEY_ENV)
    con = _open_encrypted(path, key, read_only) if key else duckdb.connect(
        str(path), read_only=read_only)
    try:
        if not read_only:
            con.execute(f"SET memory_limit = '{build_memory_limit()}'")
            for schema in SCHEMAS:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        yield con
    finally:
        con.close()


def build_memory_limit() -> str:
    """``$ENROL_DUCKDB_MEMORY_LIMIT``, else ``BUILD_MEMORY_SHARE`` of physical memory."""
    if configured := os.environ.get(MEMORY_LIMIT_ENV):
        return configured
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(int(total * BUILD_MEMORY_SHARE) // 2**20, 1024)}MiB"


def spill_path(path: Path) -> Path:
    """Where DuckDB spills what does not fit in memory, for a connection to ``path``: beside
    the file, as DuckDB itself places it for a file it opens (``<file>.tmp``)."""
    return path.with_name(path.name + ".tmp")


def _open_encrypted(path: Path, key: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with ``path`` attached encrypted as the default catalog.

    DuckDB writes its spill files (a large sort, join or temporary table beyond the memory
    limit) in plain text unless ``temp_file_encryption`` is on, and an in-memory connection
    puts them in ``.tmp`` under the working directory: both measured with DuckDB 2.0, ID
    numbers readable in the files. Spills therefore go beside the warehouse and are encrypted.
    Encrypting them needs the write crypto even on a read-only connection; where it is missing
    (no httpfs and mbedtls not allowed), a query that would spill fails instead of writing
    plain text.
    """
    con = duckdb.connect()
    try:
        _load_write_crypto(con, required=not read_only)
        options = "ENCRYPTION_KEY '" + key.replace("'", "''") + "'"
        options += ", READ_ONLY" if read_only else ""
        location = str(path).replace("'", "''")
        con.execute(f"ATTACH '{location}' AS {ALIAS} ({options})")
        con.execute(f"USE {ALIAS}")
    except duckdb.Error as error:
        con.close()
        raise WarehouseCorrupt(
            f"cannot open the encrypted warehouse {path} with the key in {ENCRYPTION_KEY_ENV} "
            f"(wrong key, or not an encrypted warehouse): {type(error).__name__}"
        ) from None  # DuckDB's message may quote the ATTACH options, key included
    con.execute(f"SET temp_directory = {sql_literal(spill_path(path))}")
    con.execute("SET temp_file_encryption = true")
    return con


@contextlib.contextmanager
def scratch_beside(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory connection for intermediate tables (Splink's), closed on exit, that spills
    where ``con`` spills and as ``con`` does: encrypted when ``con``'s spills are.

    DuckDB encrypts spill files only while an encrypted database is attached, so an encrypted
    scratch attaches an empty throwaway file with a random key of its own beside the spills.
    """
    (folder, encrypted), = con.execute(  # fetchall: a pending result would block con
        "SELECT current_setting('temp_directory'), current_setting('temp_file_encryption')"
    ).fetchall()
    folder = Path(folder)
    scratch = duckdb.connect()
    anchor = folder / f"scratch-{secrets.token_hex(8)}.duckdb"  # attached only if encrypted
    try:
        scratch.execute(f"SET temp_directory = {sql_literal(folder)}")
        if encrypted:
            _load_write_crypto(scratch)
            folder.mkdir(parents=True, exist_ok=True)
            scratch.execute(f"ATTACH {sql_literal(anchor)} AS spill_key "
                            f"(ENCRYPTION_KEY '{secrets.token_hex(32)}')")
            scratch.execute("SET temp_file_encryption = true")
        yield scratch
    finally:
        scratch.close()
        for leftover in (anchor, anchor.with_name(anchor.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _load_write_crypto(con: duckdb.DuckDBPyConnection, *, required: bool = True) -> None:
    """Writing encrypted files needs OpenSSL (httpfs); built-in mbedtls only on request.

    ``required=False`` (a read-only connection, which writes only its spill files): where
    neither is available nothing is loaded and a spill fails rather than being written."""
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error:
        if os.environ.get(UNSAFE_MBEDTLS_ENV) != "1":
            if not required:
                return
            raise RuntimeError(
                f"{ENCRYPTION_KEY_ENV} is set but DuckDB's httpfs extension (OpenSSL) cannot be "
                f"loaded: run INSTALL httpfs once on this server, or set {UNSAFE_MBEDTLS_ENV}=1 "
                f"to write with DuckDB's built-in mbedtls, which DuckDB calls not securely "
                f"encrypted (its random IVs are not from a cryptographic source)"
            ) from None
        con.execute("SET force_mbedtls_unsafe = 'true'")


def verify_published(warehouse: Path) -> None:
    """Raise ``WarehouseCorrupt`` naming the file and the recovery if it cannot be opened."""
    try:
        with connect(warehouse, read_only=True) as con:
            con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()
    except (duckdb.Error, WarehouseCorrupt) as error:
        previous = previous_path(warehouse)
        recovery = (
            f"restore the last good state with `mv {previous} {warehouse}` and run again "
            f"(deliveries since then are re-ingested from the inbox)"
            if previous.exists() else "restore it from the bureau's backup and run again"
        )
        raise WarehouseCorrupt(
            f"the published warehouse {warehouse} cannot be opened ({type(error).__name__}); "
            f"nothing was changed: {recovery}"
        ) from None


def lock_path(warehouse: Path) -> Path:
    """The file a run holds locked while it builds and publishes ``warehouse``."""
    return warehouse.with_name(warehouse.name + ".lock")


@contextlib.contextmanager
def run_lock(warehouse: Path) -> Iterator[None]:
    """Hold ``<warehouse>.lock`` for a whole run: build, publish and exports.

    Two runs of one warehouse must never overlap: the second would discard the first's build
    file as a killed run's leftover, and the first could then publish the second's half-built
    copy. A second run raises ``RunInProgress`` before it changes anything. The lock is an
    ``flock``: the kernel releases it when the holding process ends, killed or not, so a
    killed run never leaves a stale lock behind (its build file is discarded by the next run,
    ``start_build``). The file itself stays, holding the last holder's process id and start.
    """
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "an unknown process"
            raise RunInProgress(
                f"another run is building {warehouse} ({holder}, lock {path}); "
                "nothing was changed: wait for it to finish, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S %z', time.localtime())}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def start_build(warehouse: Path) -> Path:
    """Copy the published warehouse (if any) to a fresh build file and return its path.

    A build file left behind by a killed run is discarded: the published file is the only
    state a run starts from, so the next run picks up exactly where the last good one ended.
    (A live run's build file is never taken for a leftover: the caller holds ``run_lock``.)
    """
    build = building_path(warehouse)
    for stale in (build, build.with_name(build.name + ".wal")):
        stale.unlink(missing_ok=True)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    if warehouse.exists():
        verify_published(warehouse)
        shutil.copyfile(warehouse, build)
    with connect(build):
        pass
    return build


def publish(warehouse: Path) -> None:
    """Atomically replace the published warehouse with the finished build file.

    The state it replaces stays as ``<warehouse>.previous`` (a hard link, no copy): the
    recovery when the published file is ever found corrupt (``verify_published``).
    """
    build = building_path(warehouse)
    with connect(build) as con:
        con.execute("CHECKPOINT")
    with open(build, "rb+") as handle:
        os.fsync(handle.fileno())
    if warehouse.exists():
        _keep_previous(warehouse)
    os.replace(build, warehouse)
    directory = os.open(warehouse.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _keep_previous(warehouse: Path) -> None:
    """Hard-link the published file to ``<warehouse>.previous`` (atomically replaced)."""
    link = warehouse.with_name(warehouse.name + ".previous.tmp")
    link.unlink(missing_ok=True)
    try:
        os.link(warehouse, link)
    except OSError:  # a file system without hard links: copy instead
        shutil.copyfile(warehouse, link)
    os.replace(link, previous_path(warehouse))


def discard_build(warehouse: Path) -> None:
    """Remove an unfinished build file; the published warehouse stays as it was."""
    building_path(warehouse).unlink(missing_ok=True)


def run_sql_file(con: duckdb.DuckDBPyConnection, name: str, **params: object) -> None:
    """Run the SQL stage ``pipelines/stages/sql/<name>.sql``.

    Parameters are bound by name (``$as_of`` in the SQL), never formatted into the text.
    """
    sql = resources.files("pipelines.stages").joinpath("sql", f"{name}.sql").read_text("utf-8")
    con.execute(sql, params or None)


def query_published(
    warehouse: Path, sql: str, *, search_path: str | None = None
) -> tuple[list[str], list[tuple]]:
    """Run read-only SQL against the published warehouse; return column names and rows.

    ``search_path`` (e.g. ``"analyst,main"``) picks where unqualified names resolve; schemas
    that the file does not hold yet are left out.
    """
    if not warehouse.exists():
        raise WarehouseNotPublished(
            f"no published warehouse at {warehouse}: run `enrol run` first"
        )
    with connect(warehouse, read_only=True) as con:
        if search_path:
            present = {row[0] for row in con.execute(
                "SELECT schema_name FROM duckdb_schemas() "
                "WHERE database_name = current_database()").fetchall()}
            wanted = [s for s in search_path.split(",") if s in present]
            if wanted:
                con.execute(f"SET search_path = '{','.join(wanted)}'")
        relation = con.sql(sql)
        if relation is None:
            return [], []
        return list(relation.columns), relation.fetchall()
