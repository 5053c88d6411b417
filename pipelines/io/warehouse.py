"""Every DuckDB connection of the pipeline: the build copy, the atomic publish, read-only queries.

A run never writes the published file. It copies it to ``<warehouse>.building``, does all its
work there, and ``os.replace``s the copy over the published file only when every stage and
check passed. ``os.replace`` is atomic on POSIX: an analyst's open read-only connection keeps
the old file (inode) until it reconnects, and a new connection sees the new file, never a mix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import duckdb

SCHEMAS = ("staging", "reference", "restricted")


class WarehouseNotPublished(RuntimeError):
    """The published warehouse file does not exist yet."""


def building_path(warehouse: Path) -> Path:
    """Where a run builds the next state of ``warehouse``."""
    return warehouse.with_name(warehouse.name + ".building")


@contextlib.contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open one DuckDB connection, closed on exit; creates the internal schemas when writable."""
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        if not read_only:
            for schema in SCHEMAS:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        yield con
    finally:
        con.close()


def start_build(warehouse: Path) -> Path:
    """Copy the published warehouse (if any) to a fresh build file and return its path.

    A build file left behind by a killed run is discarded: the published file is the only
    state a run starts from, so the next run picks up exactly where the last good one ended.
    """
    build = building_path(warehouse)
    for stale in (build, build.with_name(build.name + ".wal")):
        stale.unlink(missing_ok=True)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    if warehouse.exists():
        shutil.copyfile(warehouse, build)
    with connect(build):
        pass
    return build


def publish(warehouse: Path) -> None:
    """Atomically replace the published warehouse with the finished build file."""
    build = building_path(warehouse)
    with connect(build) as con:
        con.execute("CHECKPOINT")
    with open(build, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(build, warehouse)
    directory = os.open(warehouse.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def discard_build(warehouse: Path) -> None:
    """Remove an unfinished build file; the published warehouse stays as it was."""
    building_path(warehouse).unlink(missing_ok=True)


def run_sql_file(con: duckdb.DuckDBPyConnection, name: str, **params: object) -> None:
    """Run the SQL stage ``pipelines/stages/sql/<name>.sql``.

    Parameters are bound by name (``$as_of`` in the SQL), never formatted into the text.
    """
    sql = resources.files("pipelines.stages").joinpath("sql", f"{name}.sql").read_text("utf-8")
    con.execute(sql, params or None)


def query_published(warehouse: Path, sql: str) -> tuple[list[str], list[tuple]]:
    """Run read-only SQL against the published warehouse; return column names and rows."""
    if not warehouse.exists():
        raise WarehouseNotPublished(
            f"no published warehouse at {warehouse}: run `enrol run` first"
        )
    with connect(warehouse, read_only=True) as con:
        relation = con.sql(sql)
        if relation is None:
            return [], []
        return list(relation.columns), relation.fetchall()
