"""Read and write published marts (DuckDB schema ``main``) as polars frames."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import polars as pl

from schemas.marts import TABLES


def empty_frame(table: str) -> pl.DataFrame:
    """An empty frame with the columns and types of ``schemas.marts.TABLES[table]``."""
    columns = TABLES[table].to_schema().columns
    return pl.DataFrame(schema={name: spec.dtype.type for name, spec in columns.items()})


def table_exists(con: duckdb.DuckDBPyConnection, name: str, schema: str = "main") -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = $s AND table_name = $t "
            "AND database_name = current_database()",
            {"s": schema, "t": name},
        ).fetchall()[0][0]
    )


def read_mart(
    con: duckdb.DuckDBPyConnection,
    name: str,
    where: str = "TRUE",
    columns: Iterable[str] | None = None,
) -> pl.DataFrame:
    """``main.<name>`` as a frame; an empty frame of the mart's schema if not built (yet).

    ``where`` is a SQL predicate on the mart's columns (a person bucket, say). ``columns``
    keeps those of them the mart has (all columns when None): converting a column to polars
    costs as much whether or not the caller uses it.
    """
    if not table_exists(con, name):
        frame = empty_frame(name)
        return frame if columns is None else frame.select(c for c in columns if c in frame.columns)
    if columns is None:
        select = "*"
    else:
        present = set(con.sql(f"SELECT * FROM main.{name} LIMIT 0").columns)
        select = ", ".join(f'"{c}"' for c in columns if c in present)
    return con.sql(f"SELECT {select} FROM main.{name} WHERE {where}").pl()


def read_resident_paid(
    con: duckdb.DuckDBPyConnection, years: list[int], where: str = "TRUE"
) -> pl.DataFrame:
    """(person_id, year) of every live, non-repair resident payment for ``years``.

    ``where`` is a SQL predicate on ``person_id`` (a person bucket, say).
    """
    if not table_exists(con, "tax_payment", "staging"):
        return pl.DataFrame(schema={"person_id": pl.Utf8, "year": pl.Int32})
    return con.sql(
        """
        SELECT * FROM (
            SELECT DISTINCT id_number AS person_id, period_year::INTEGER AS year
            FROM staging.tax_payment
            WHERE scheme = 'resident' AND kind = 'normal' AND refunded_by IS NULL
              AND list_contains($years, period_year)
        ) WHERE """ + where,
        params={"years": years},
    ).pl()


def write_mart(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> int:
    """Replace ``main.<name>`` with ``frame``; returns the row count."""
    con.register("_frame", frame.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TABLE main.{name} AS SELECT * FROM _frame")
    finally:
        con.unregister("_frame")
    return frame.height


def read_grid_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """grid_code → "township community" from ``reference.grids`` (empty if not loaded)."""
    if not table_exists(con, "grids", "reference"):
        return {}
    rows = con.execute(
        "SELECT grid_code, concat_ws(' ', township, community) FROM reference.grids"
    ).fetchall()
    return {code: name for code, name in rows if code}
