"""Describe the published warehouse: analyst views, COMMENTs and the data dictionary.

Everything comes from ``schemas/marts.py``: a table's comment is its model's docstring
(first paragraph), a column's comment its ``Field(description=...)``. The data dictionary
page is generated from the same models::

    python -m pipelines.io.catalog --markdown docs/data-dictionary.md
"""

from __future__ import annotations

import argparse
import logging
import re
from importlib import resources
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl

from pipelines.io.layer_comments import apply_layer_comments
from pipelines.io.warehouse import sql_literal
from schemas.marts import TABLES, VIEWS

log = logging.getLogger(__name__)

VIEWS_SQL = "views_analyst"

_DUCKDB_TYPES = {
    pl.Utf8: "VARCHAR",
    pl.Boolean: "BOOLEAN",
    pl.Date: "DATE",
    pl.Float64: "DOUBLE",
    pl.Float32: "FLOAT",
    pl.Int8: "TINYINT",
    pl.Int16: "SMALLINT",
    pl.Int32: "INTEGER",
    pl.Int64: "BIGINT",
    pl.UInt8: "UTINYINT",
    pl.UInt16: "USMALLINT",
    pl.UInt32: "UINTEGER",
    pl.UInt64: "UBIGINT",
}


def table_comment(model: type[pa.DataFrameModel]) -> str:
    """The model docstring's first paragraph, on one line."""
    paragraph = (model.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def column_comments(model: type[pa.DataFrameModel]) -> dict[str, str]:
    """Column name → ``Field(description=...)``."""
    return {name: col.description or "" for name, col in model.to_schema().columns.items()}


def column_type(spec: object) -> str:
    """The DuckDB type of a pandera column: ``metadata["duckdb_type"]``, else from its dtype."""
    metadata = getattr(spec, "metadata", None) or {}
    return metadata.get("duckdb_type") or duckdb_type(spec.dtype)


def duckdb_type(dtype: object) -> str:
    """The DuckDB type of a pandera polars dtype."""
    polars_type = getattr(dtype, "type", dtype)
    if isinstance(polars_type, pl.Datetime) or polars_type == pl.Datetime:
        return "TIMESTAMP"
    for candidate, name in _DUCKDB_TYPES.items():
        if polars_type == candidate:
            return name
    raise TypeError(f"no DuckDB type for {dtype!r}")


def create_table_sql(name: str, model: type[pa.DataFrameModel], schema: str = "main") -> str:
    """``CREATE TABLE`` text for an empty table with the model's columns."""
    columns = ", ".join(
        f'"{column}" {column_type(spec)}' for column, spec in model.to_schema().columns.items()
    )
    return f"CREATE OR REPLACE TABLE {schema}.{name} ({columns})"


def _relations(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, str]:
    """Name → ``TABLE`` or ``VIEW`` for every user relation in ``schema``."""
    rows = con.execute(
        """
        SELECT table_name, 'TABLE' FROM duckdb_tables()
        WHERE schema_name = $schema AND database_name = current_database() AND NOT internal
        UNION ALL
        SELECT view_name, 'VIEW' FROM duckdb_views()
        WHERE schema_name = $schema AND database_name = current_database() AND NOT internal
        """,
        {"schema": schema},
    ).fetchall()
    return dict(rows)


def create_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create the analyst views whose tables exist; return the names created.

    A view whose input table is not built yet (a partial warehouse) is skipped, not an error.
    """
    sql = resources.files("pipelines.stages").joinpath("sql", f"{VIEWS_SQL}.sql").read_text("utf-8")
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    created = []
    for statement in (part.strip() for part in code.split(";")):
        if not statement:
            continue
        match = re.search(r"VIEW\s+(?:main\.)?(\w+)", statement, re.IGNORECASE)
        try:
            con.execute(statement)
        except (duckdb.CatalogException, duckdb.BinderException) as error:
            log.warning("view %s skipped: %s", match.group(1) if match else "?", error)
            continue
        if match:
            created.append(match.group(1))
    return created


def apply_comments(con: duckdb.DuckDBPyConnection, schema: str = "main") -> list[str]:
    """COMMENT ON every table/view of ``schema`` described in schemas/marts.py and its columns.

    Returns the relations commented. Columns without a description are left to
    :func:`uncommented_columns`.
    """
    models = {**TABLES, **VIEWS}
    commented = []
    for name, kind in sorted(_relations(con, schema).items()):
        model = models.get(name)
        if model is None:
            continue
        con.execute(f"COMMENT ON {kind} {schema}.{name} IS {sql_literal(table_comment(model))}")
        present = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = $s "
                "AND table_name = $t AND database_name = current_database()",
                {"s": schema, "t": name},
            ).fetchall()
        }
        for column, text in column_comments(model).items():
            if column in present and text:
                con.execute(f'COMMENT ON COLUMN {schema}.{name}."{column}" IS {sql_literal(text)}')
        commented.append(name)
    return commented


def uncommented_columns(con: duckdb.DuckDBPyConnection, schema: str = "main") -> list[str]:
    """``table.column`` for every column of a published relation without a comment."""
    rows = con.execute(
        """
        SELECT table_name || '.' || column_name FROM duckdb_columns()
        WHERE schema_name = $schema AND database_name = current_database() AND NOT internal
          AND (comment IS NULL OR comment = '')
        ORDER BY 1
        """,
        {"schema": schema},
    ).fetchall()
    missing_tables = [
        name
        for name, comment in con.execute(
            """
            SELECT table_name, comment FROM duckdb_tables()
            WHERE schema_name = $schema AND database_name = current_database() AND NOT internal
            UNION ALL
            SELECT view_name, comment FROM duckdb_views()
            WHERE schema_name = $schema AND database_name = current_database() AND NOT internal
            """,
            {"schema": schema},
        ).fetchall()
        if not comment
    ]
    return sorted(missing_tables) + [row[0] for row in rows]


DESCRIBED_SCHEMAS = ("main", "staging", "reference", "analyst")


def describe(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Create the views, apply every comment (the marts' and the staging and reference
    tables'); report what is still undescribed (``table.column`` in main, else
    ``schema.table.column``)."""
    views = create_views(con)
    commented = apply_comments(con) + apply_layer_comments(con)
    missing = undescribed(con)
    if missing:
        log.warning(
            "published columns without a comment (add them to schemas/marts.py, or to "
            "pipelines/io/layer_comments.py outside main): %s", missing
        )
    return {"views": views, "commented": commented, "uncommented": missing}


def undescribed(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every published relation or column without a comment, in every schema analysts see."""
    return [entry if schema == "main" else f"{schema}.{entry}"
            for schema in DESCRIBED_SCHEMAS for entry in uncommented_columns(con, schema)]


# ---------------------------------------------------------------------------------------
# Data dictionary
# ---------------------------------------------------------------------------------------


def _model_markdown(name: str, model: type[pa.DataFrameModel]) -> list[str]:
    lines = [f"### `{name}`", "", table_comment(model), ""]
    lines += ["| column | type | null | 中文 / English |", "|---|---|---|---|"]
    for column, spec in model.to_schema().columns.items():
        text = (spec.description or "").replace("|", "\\|")
        nullable = "yes" if spec.nullable else ""
        lines.append(f"| `{column}` | {column_type(spec)} | {nullable} | {text} |")
    return lines + [""]


def data_dictionary_markdown() -> str:
    """The data dictionary page, generated from schemas/marts.py."""
    lines = [
        "# Data dictionary / 数据字典",
        "",
        (
            "<!-- Generated by `python -m pipelines.io.catalog --markdown docs/data-dictionary.md`"
            " from schemas/marts.py; do not edit by hand. -->"
        ),
        "",
        (
            "Every table and view of the published warehouse (DuckDB schema `main`). The same"
            " texts are the warehouse's COMMENTs: `SELECT table_name, column_name, comment FROM"
            " duckdb_columns() WHERE schema_name = 'main'`."
        ),
        "",
        "## Tables",
        "",
    ]
    for name, model in TABLES.items():
        lines += _model_markdown(name, model)
    lines += ["## Analyst views", ""]
    for name, model in VIEWS.items():
        lines += _model_markdown(name, model)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--markdown", type=Path, required=True, help="write the data dictionary here"
    )
    args = parser.parse_args(argv)
    args.markdown.write_text(data_dictionary_markdown(), encoding="utf-8")


if __name__ == "__main__":
    main()
