"""Shared building blocks of the source schemas: field constructors, lineage, header mapping.

Each source has a ``<Source>Raw`` model (every column text, as delivered, with the contract's
Chinese header in ``metadata["alias"]``) and a ``<Source>Staged`` model that inherits it and
overrides the typed columns. The staged field's ``metadata["kind"]`` names the record check the
ingest applies to it (``id``, ``date``, ``timestamp``, ``enum``, ``sex``, ``number``, ``integer``,
``boolean``, ``division``, ``period``, ``text``); ``nullable=False`` marks a required column, so
these models are the single place that says which columns exist, their types and their checks.

Why the Chinese header is metadata and not pandera's ``Field(alias=...)``: a department may send
either the English or the Chinese header, and an alias makes the Chinese the *only* accepted
column name. ``header_map`` turns both forms into the English attribute name, once, at the raw
boundary.
"""

from __future__ import annotations

from typing import Any

import pandera.polars as pa
import polars as pl

SEX_CODES = {"1": 1, "2": 2, "男": 1, "女": 2, "male": 1, "female": 2}
BOOLEAN_CODES = {
    "1": True, "0": False, "true": True, "false": False, "t": True, "f": False,
    "y": True, "n": False, "yes": True, "no": False, "是": True, "否": False,
}


def raw(alias: str | None, description: str = "") -> Any:
    """A raw column: text exactly as delivered; ``alias`` is the contract's Chinese header.

    The contract defines a column's Chinese header where the column first appears and reuses
    it wherever the same column name comes back (``name`` is 姓名 in every source); ``status``
    is the one name with a header per source (户籍状态, 学籍状态).
    """
    return pa.Field(nullable=True, coerce=True, description=description, metadata={"alias": alias})


def _staged(kind: str, required: bool, description: str, **checks: Any) -> Any:
    metadata = {"kind": kind, **checks.pop("metadata", {})}
    return pa.Field(nullable=not required, description=description, metadata=metadata, **checks)


def id_field(
    required: bool = True,
    description: str = "",
    birth_date: str | None = None,
    sex: str | None = None,
) -> Any:
    """An ID number (GB 11643), normalised to 18 characters.

    ``birth_date`` / ``sex`` name the record's own columns the number must agree with.
    """
    return _staged(
        "id", required, description, str_matches=r"^[0-9]{17}[0-9X]$",
        metadata={"birth_date": birth_date, "sex": sex},
    )


def text_field(required: bool = False, description: str = "") -> Any:
    return _staged("text", required, description)


def date_field(required: bool = False, description: str = "") -> Any:
    return _staged("date", required, description)


def timestamp_field(required: bool = False, description: str = "") -> Any:
    return _staged("timestamp", required, description)


def division_field(required: bool = False, description: str = "") -> Any:
    """A 6-digit GB/T 2260 division code, checked against ``reference.divisions``."""
    return _staged("division", required, description, str_matches=r"^[0-9]{6}$")


def grid_field(description: str = "") -> Any:
    """A neighbourhood grid code 网格编码: up to 20 digits, the first 6 its county-level
    division (extracts.md), checked against ``reference.divisions`` like a division column."""
    return _staged("grid", False, description, str_matches=r"^[0-9]{6,20}$")


def code_field(length: int, required: bool = False, description: str = "") -> Any:
    """A code of exactly ``length`` characters (extracts.md ``str(n)``)."""
    return _staged("code", required, description,
                   str_length={"min_value": length, "max_value": length},
                   metadata={"length": length})


def enum_field(codes: dict[str, str], required: bool = False, description: str = "") -> Any:
    """A code with English staged values; ``codes`` maps every accepted spelling to one."""
    spellings = {**{v: v for v in codes.values()}, **codes}
    return _staged(
        "enum", required, description, isin=sorted(set(codes.values())),
        metadata={"codes": spellings},
    )


def sex_field(
    required: bool = True, description: str = "sex, GB/T 2261.1: 1 male, 2 female"
) -> Any:
    return _staged("sex", required, description, isin=[1, 2], metadata={"codes": SEX_CODES})


def number_field(
    required: bool = False, description: str = "", allow_negative: bool = False
) -> Any:
    """An amount in yuan (DOUBLE); negative only where ``allow_negative``."""
    checks = {} if allow_negative else {"ge": 0}
    return _staged(
        "number", required, description, metadata={"allow_negative": allow_negative}, **checks
    )


def integer_field(
    required: bool = False, description: str = "", in_range: dict[str, int] | None = None
) -> Any:
    """A whole number; ``in_range`` (``min_value``/``max_value``, inclusive) bounds it.

    The bounds are metadata too: the ingest checks them per record (a value outside is
    rejected ``number``), and the schema keeps them as pandera's ``in_range``.
    """
    checks = {"in_range": in_range, "metadata": {"range": in_range}} if in_range else {}
    return _staged("integer", required, description, **checks)


def boolean_field(required: bool = False, description: str = "") -> Any:
    return _staged("boolean", required, description, metadata={"codes": BOOLEAN_CODES})


class RawBase(pa.DataFrameModel):
    """Columns every raw frame carries: the physical record number (header = line 1)."""

    line: pl.Int64 = pa.Field(description="1-based record number, header is line 1", ge=2)

    class Config:
        strict = False  # unknown extra columns are kept in the raw layer and reported
        coerce = True


class LineageMixin(pa.DataFrameModel):
    """Lineage of every staged row: which delivery, file and record it came from."""

    delivery_date: pl.Date = pa.Field(description="delivery folder date")
    source_file: str = pa.Field(description="path relative to the inbox")
    line: pl.Int64 = pa.Field(description="1-based record number, header is line 1", ge=2)


LINEAGE_COLUMNS = ("delivery_date", "source_file", "line")
STAGED_CONFIG = {"strict": True, "coerce": False}


def raw_columns(model: type[pa.DataFrameModel]) -> dict[str, dict[str, Any]]:
    """Canonical column name -> {alias, required} for a raw model (``line`` excluded)."""
    schema = model.to_schema()
    return {
        name: {"alias": (col.metadata or {}).get("alias"), "required": col.required}
        for name, col in schema.columns.items()
        if name != "line"
    }


def header_map(model: type[pa.DataFrameModel]) -> dict[str, str]:
    """Every accepted header spelling (English or Chinese, case-insensitive English) -> name."""
    mapping: dict[str, str] = {}
    for name, info in raw_columns(model).items():
        mapping[name] = name
        mapping[name.lower()] = name
        if info["alias"]:
            mapping[info["alias"]] = name
    return mapping


def required_columns(model: type[pa.DataFrameModel]) -> list[str]:
    return [name for name, info in raw_columns(model).items() if info["required"]]


def staged_columns(model: type[pa.DataFrameModel]) -> dict[str, dict[str, Any]]:
    """Staged column name -> {dtype, nullable, kind, ...metadata} in model order."""
    schema = model.to_schema()
    out = {}
    for name, col in schema.columns.items():
        meta = dict(col.metadata or {})
        out[name] = {"dtype": col.dtype.type, "nullable": col.nullable, **meta}
    lineage = [name for name in LINEAGE_COLUMNS if name in out]
    return {**{k: v for k, v in out.items() if k not in lineage}, **{k: out[k] for k in lineage}}


def empty_frame(model: type[pa.DataFrameModel]) -> pl.DataFrame:
    """A zero-row frame with the model's columns and dtypes (the DuckDB table's shape)."""
    return pl.DataFrame(
        schema={name: info["dtype"] for name, info in staged_columns(model).items()}
    )
