"""Raw -> staged: type, normalise and check one source's records of one delivery.

Pure polars, no I/O. Input: the raw text frame(s) of one source and one delivery night, already
renamed to canonical English columns, with ``line`` and ``source_file``. Output: the staged rows
that passed every record check, the failures (one row per failing record, column and check, in
the check vocabulary of docs/architecture.md), and the identity rejects kept for review.

What each column is and which check applies come from the staged schema (schemas/), never from
this module: ``metadata["kind"]`` picks the parse, ``nullable=False`` makes it required.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from pipelines.stages.normalise_identity import (
    check_character_of_number,
    failed_id_check,
    first17_number,
    half_width,
    id_birth_date,
    is_legacy,
    mask_id,
    upgrade_legacy_with,
)
from schemas._common import LINEAGE_COLUMNS, header_map, required_columns, staged_columns

LINE = "line"
SOURCE_FILE = "source_file"
DELIVERY_DATE = "delivery_date"

FAILURE_SCHEMA = {
    "source_file": pl.Utf8,
    "line": pl.Int64,
    "column": pl.Utf8,
    "check": pl.Utf8,
    "value": pl.Utf8,
    "message": pl.Utf8,
}

MESSAGES = {
    "required": "required column is empty",
    "date": "not a real date in the form YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD",
    "timestamp": "not a real timestamp in the form YYYY-MM-DD HH:MM:SS (or YYYY/MM/DD, YYYYMMDD)",
    "period": "period must be YYYY (resident) or YYYY-MM (employee)",
    "enum": "code outside the allowed values",
    "number": "not a number, negative where it must not be, or outside its allowed range",
    "division_code": "not a GB/T 2260 division code",
    "grid_code": "not a grid code: up to 20 digits, the first 6 a GB/T 2260 division code",
    "code_length": "not the contract's length for this code (str(n) in extracts.md)",
    "duplicate_key": "record key appears more than once in this delivery",
    "id_format": "ID number is not 18 characters (17 digits and a digit or X) or 15 digits",
    "id_check_char": "ID check character is wrong (ISO 7064 MOD 11-2)",
    "id_birth_date": "birth date inside the ID number is not a real date or is in the future",
    "id_division": "division code of the ID number is not a GB/T 2260 code",
    "id_birth_mismatch": "birth date inside the ID number differs from the record's birth date",
    "id_sex_mismatch": "sex digit of the ID number differs from the record's sex",
}

# The record checks as an Enum: the vocabulary of rejects.check (and of MESSAGES).
CHECKS = pl.Enum(list(MESSAGES))

# [0-9], never \d: polars' (and Python's) \d matches every Unicode digit (full-width, Arabic-Indic)
_DATE_FORMS = ((r"^[0-9]{4}-[0-9]{2}-[0-9]{2}", "%Y-%m-%d"),
               (r"^[0-9]{4}/[0-9]{2}/[0-9]{2}", "%Y/%m/%d"),
               (r"^[0-9]{8}", "%Y%m%d"))


@dataclass(frozen=True)
class StagedExtract:
    """Accepted staged rows, one row per failure, and the identity rejects for review."""

    staged: pl.DataFrame
    failures: pl.DataFrame
    rejected_identity: pl.DataFrame
    rows_read: int

    @property
    def rows_rejected(self) -> int:
        return self.rows_read - self.staged.height


def parse_date(text: pl.Expr, with_time: bool = False) -> pl.Expr:
    """A date (or timestamp with `` HH:MM:SS``) in one of the contract's three forms, else null."""
    parsed = []
    for pattern, fmt in _DATE_FORMS:
        if with_time:
            full = pattern + r" [0-9]{2}:[0-9]{2}:[0-9]{2}$"
            value = text.str.to_datetime(fmt + " %H:%M:%S", strict=False, time_unit="us")
        else:
            full = pattern + "$"
            value = text.str.to_date(fmt, strict=False)
        parsed.append(pl.when(text.str.contains(full)).then(value))
    return pl.coalesce(parsed)


def _map_codes(text: pl.Expr, codes: dict[str, Any], dtype: pl.DataType) -> pl.Expr:
    lowered = {str(k).lower(): v for k, v in codes.items()}
    return text.str.to_lowercase().replace_strict(
        list(lowered), list(lowered.values()), default=None, return_dtype=dtype
    )


def _typed(name: str, info: dict[str, Any], text: pl.Expr) -> tuple[pl.Expr, str | None]:
    """(typed value expression, check reported when a present value does not parse)."""
    kind, dtype = info["kind"], info["dtype"]
    if kind == "id":  # pieces materialised by _identity_pieces, reused by the id checks
        pieces = [pl.col(f"__{piece}_{name}") for piece in ("id_clean", "legacy", "check_char")]
        return upgrade_legacy_with(*pieces), None
    if kind == "date":
        return parse_date(text), "date"
    if kind == "timestamp":
        return parse_date(text, with_time=True), "timestamp"
    if kind in ("enum", "sex", "boolean"):
        return _map_codes(text, info["codes"], dtype), "enum"
    if kind == "number":
        ok = text.str.contains(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
        return pl.when(ok).then(text.cast(pl.Float64, strict=False)), "number"
    if kind == "integer":
        digits = text.str.contains(r"^[0-9]+$")
        return pl.when(digits).then(text.cast(dtype, strict=False)), "number"
    if kind == "period":
        return pl.when(text.str.contains(r"^[0-9]{4}(-(0[1-9]|1[0-2]))?$")).then(text), "period"
    return text, None  # text, division: kept as cleaned text


def _failed_check(
    name: str,
    info: dict[str, Any],
    *,
    typed: pl.Expr,
    parse_check: str | None,
    divisions: pl.Series,
    id_divisions: pl.Series,
    delivery_date: date,
) -> pl.Expr:
    """The check this column fails for the record (vocabulary order), or null."""
    text = pl.col(name)
    expr = pl.when(text.is_null())
    expr = expr.then(pl.lit("required" if not info["nullable"] else None, dtype=pl.Utf8))
    kind = info["kind"]
    if kind == "id":
        birth, sex = info.get("birth_date"), info.get("sex")
        return expr.otherwise(failed_id_check(
            typed, divisions=id_divisions, not_after=delivery_date,
            record_birth_date=pl.col(f"__typed_{birth}") if birth else None,
            record_sex=pl.col(f"__typed_{sex}") if sex else None,
            computed_check=pl.col(f"__check_char_{name}"), born=pl.col(f"__born_{name}"),
        ))
    if parse_check:
        expr = expr.when(typed.is_null()).then(pl.lit(parse_check))
    if kind == "number" and not info.get("allow_negative"):
        expr = expr.when(typed < 0).then(pl.lit("number"))
    if kind == "integer" and info.get("range"):
        bounds = info["range"]
        outside = ~typed.is_between(bounds["min_value"], bounds["max_value"])
        expr = expr.when(outside).then(pl.lit("number"))
    if kind == "period" and info.get("scheme"):
        scheme = pl.col(f"__typed_{info['scheme']}")
        wrong = ((scheme == "resident") & typed.str.contains("-")) | (
            (scheme == "employee") & typed.str.contains("-").not_()
        )
        expr = expr.when(wrong.fill_null(False)).then(pl.lit("period"))
    if kind == "division":
        expr = expr.when(typed.is_in(divisions.implode()).not_()).then(pl.lit("division_code"))
    if kind == "grid":  # extracts.md: up to 20 digits, its first 6 the county-level division
        county = typed.str.slice(0, 6).is_in(divisions.implode())
        expr = expr.when(~typed.str.contains(r"^[0-9]{6,20}$") | ~county).then(pl.lit("grid_code"))
    if kind == "code":
        expr = expr.when(typed.str.len_chars() != info["length"]).then(pl.lit("code_length"))
    return expr.otherwise(pl.lit(None, dtype=pl.Utf8))


def _identity_pieces(frame: pl.LazyFrame, id_columns: list[str]) -> pl.LazyFrame:
    """Cleaned number, whether it is legacy, its 17 check digits (as an integer) and their
    check character, one column per step.

    Materialising each step matters: a nested expression is re-evaluated everywhere it is
    used. The input is already stripped (``_clean_text``), so only full-width characters are
    mapped here.
    """
    clean, legacy, first17, check = ("__id_clean_", "__legacy_", "__first17_", "__check_char_")
    return (
        frame.with_columns(half_width(pl.col(n)).alias(clean + n) for n in id_columns)
        .with_columns(is_legacy(pl.col(clean + n)).alias(legacy + n) for n in id_columns)
        .with_columns(first17_number(pl.col(clean + n), pl.col(legacy + n)).alias(first17 + n)
                      for n in id_columns)
        .with_columns(check_character_of_number(pl.col(first17 + n)).alias(check + n)
                      for n in id_columns)
    )


def _derived(name: str) -> pl.Expr:
    """Columns the staged layer adds from others (tax_payment's period split, refunds)."""
    if name == "period_year":
        return pl.col("__typed_period").str.slice(0, 4).cast(pl.Int32, strict=False)
    if name == "period_month":
        return pl.col("__typed_period").str.slice(5, 2).cast(pl.Int32, strict=False)
    return pl.lit(None)  # refunded_by: recomputed over the whole table by the store


def _clean_text(frame: pl.LazyFrame, names: list[str]) -> pl.LazyFrame:
    """Surrounding whitespace (also full-width) removed; an empty value is missing.

    Two steps, so each value is stripped once (as one expression the strip ran twice: in
    the condition and in the value).
    """
    return (
        frame.with_columns(pl.col(n).cast(pl.Utf8).str.strip_chars() for n in names)
        .with_columns(pl.when(pl.col(n).str.len_bytes() > 0).then(pl.col(n)).alias(n)
                      for n in names)
    )


def stage_extract(
    raw: pl.DataFrame,
    staged_model: type,
    *,
    source: str,
    delivery_date: date,
    divisions: pl.Series,
    id_divisions: pl.Series,
) -> StagedExtract:
    """Staged rows (one per accepted record) and failures (one per record, column and check).

    ``raw`` has canonical column names (all text), ``line`` and ``source_file``; missing
    optional columns are added as empty. ``duplicate_key`` spans every file of a delivery, so
    it is not decided here but by ``duplicate_key_sql`` over the night's staged rows.
    ``divisions`` are the current GB/T 2260 codes of ``reference.divisions``;
    ``id_divisions`` adds the historical codes an ID number may carry.
    """
    columns = staged_columns(staged_model)
    checked = {n: i for n, i in columns.items() if i.get("kind") not in (None, "derived")}
    missing = [pl.lit(None, dtype=pl.Utf8).alias(n) for n in checked if n not in raw.columns]
    id_columns = [n for n, i in checked.items() if i["kind"] == "id"]
    frame = raw.lazy().with_columns(missing).pipe(_clean_text, list(checked))
    frame = frame.pipe(_identity_pieces, id_columns)
    typed = {n: _typed(n, i, pl.col(n)) for n, i in checked.items()}
    frame = frame.with_columns(
        expr.cast(checked[n]["dtype"]).alias(f"__typed_{n}") for n, (expr, _) in typed.items()
    ).with_columns(id_birth_date(pl.col(f"__typed_{n}")).alias(f"__born_{n}") for n in id_columns)
    frame = frame.with_columns(
        _failed_check(
            n, i, typed=pl.col(f"__typed_{n}"), parse_check=typed[n][1], divisions=divisions,
            id_divisions=id_divisions, delivery_date=delivery_date,
        ).cast(CHECKS).alias(f"__check_{n}")
        for n, i in checked.items()
    )
    check_cols = [f"__check_{n}" for n in checked]
    frame = frame.with_columns(__ok=pl.all_horizontal(pl.col(c).is_null() for c in check_cols))
    # computed once, read by three outputs; only what they read is kept (the identity pieces
    # and extra columns are not), and the checks as an Enum: a text column of mostly nulls
    # still costs 16 bytes a row
    keep = [*checked, *(f"__typed_{n}" for n in checked), *check_cols, "__ok", LINE, SOURCE_FILE]
    frame = frame.select(keep).collect(engine="in-memory").lazy()
    failures = _failures(frame, checked)
    accepted = frame.filter(pl.col("__ok"))
    staged = accepted.select(
        *(
            pl.col(f"__typed_{n}").alias(n) if n in checked
            else pl.lit(delivery_date).alias(n) if n == DELIVERY_DATE
            else pl.col(n) if n in LINEAGE_COLUMNS
            else _derived(n).cast(i["dtype"]).alias(n)
            for n, i in columns.items()
        )
    )
    # one pass over the shared checked frame for all three outputs
    staged, failures, rejected_identity = pl.collect_all(
        [staged, failures, _rejected_identity(frame, checked, source)], engine="in-memory"
    )
    return StagedExtract(staged, failures, rejected_identity, rows_read=raw.height)


def _failures(frame: pl.LazyFrame, checked: dict[str, dict[str, Any]]) -> pl.LazyFrame:
    """One row per rejected record (outputs.md: ``rejects``, one row per rejected record):
    the column, check and value of its first failing column in the schema's order; the
    message names every failing column, each with its reason and value."""
    parts = []
    for order, (name, info) in enumerate(checked.items()):
        check = pl.col(f"__check_{name}")
        value = mask_id(pl.col(name)) if info["kind"] == "id" else pl.col(name)
        parts.append(
            frame.filter(check.is_not_null()).select(
                pl.col(SOURCE_FILE).alias("source_file"),
                pl.col(LINE).alias("line"),
                pl.lit(name).alias("column"),
                check.cast(pl.Utf8).alias("check"),
                value.alias("value"),
                pl.lit(order).alias("order"),
            )
        )
    text = pl.col("check").replace_strict(MESSAGES, default="failed check")
    reason = pl.format("column {}: {} (value: {})", pl.col("column"), text,
                       pl.col("value").fill_null("empty"))
    return (
        pl.concat(parts)
        .sort("source_file", "line", "order")
        .group_by("source_file", "line", maintain_order=True)
        .agg(pl.col("column", "check", "value").first(), reasons=reason)
        .select(
            "source_file", "line", "column", "check", "value",
            message=pl.format("{} line {}, {}", pl.col("source_file"), pl.col("line"),
                              pl.col("reasons").list.join("; also ")),
        )
    )


def _rejected_identity(
    frame: pl.LazyFrame, checked: dict[str, dict[str, Any]], source: str
) -> pl.LazyFrame:
    """One row per record rejected for an ``id_*`` check (staging.rejected_identity)."""
    division = next((n for n, i in checked.items() if i["kind"] == "division"), None)
    parts = []
    for name, info in checked.items():
        if info["kind"] != "id":
            continue
        check = pl.col(f"__check_{name}")
        parts.append(
            frame.filter(check.cast(pl.Utf8).str.starts_with("id_")).select(
                pl.lit(source).alias("source"),
                pl.col(SOURCE_FILE).alias("source_file"),
                pl.col(LINE).alias("line"),
                pl.col(name).alias("id_number_raw"),
                (pl.col("name") if "name" in checked else pl.lit(None, pl.Utf8)).alias("name"),
                (pl.col("sex") if "sex" in checked else pl.lit(None, pl.Utf8)).alias("sex"),
                (pl.col("birth_date") if "birth_date" in checked else pl.lit(None, pl.Utf8))
                .alias("birth_date"),
                (pl.col(division) if division else pl.lit(None, pl.Utf8)).alias("division"),
                check.cast(pl.Utf8).alias("check"),
            )
        )
    if not parts:
        return pl.LazyFrame(schema=REJECTED_IDENTITY_SCHEMA)
    return pl.concat(parts).cast(REJECTED_IDENTITY_SCHEMA)


REJECTED_IDENTITY_SCHEMA = {
    "source": pl.Utf8, "source_file": pl.Utf8, "line": pl.Int64, "id_number_raw": pl.Utf8,
    "name": pl.Utf8, "sex": pl.Utf8, "birth_date": pl.Utf8, "division": pl.Utf8, "check": pl.Utf8,
}


@dataclass(frozen=True)
class CanonicalHeaders:
    """How to rename a delivery's headers to canonical columns; what was missing or extra."""

    renames: dict[str, str]
    missing: list[str]
    extra: list[str]


def canonical_headers(columns: list[str], raw_model: type) -> CanonicalHeaders:
    """Map English or Chinese headers to the raw model's English names (the one mapping).

    Unknown columns are kept (raw layer) and listed in ``extra`` (renamed ``extra:<name>`` only
    if they would clash with a canonical name); required columns that are absent are listed in
    ``missing``, which rejects the file.
    """
    mapping = header_map(raw_model)
    renames: dict[str, str] = {}
    extra: list[str] = []
    for name in columns:
        target = mapping.get(name, mapping.get(name.lower()))
        if name == LINE or target is None or target in renames.values():
            extra.append(name)
        else:
            renames[name] = target
    taken = set(renames.values())
    for name in extra:
        if name in taken:
            renames[name] = f"extra:{name}"
    missing = [c for c in required_columns(raw_model) if c not in taken]
    return CanonicalHeaders(renames, missing, extra)


def duplicate_key_sql(table: str, key: tuple[str, ...], id_columns: set[str],
                      candidates: str) -> str:
    """SQL: the rows of ``table`` whose key already occurred earlier (file, line order).

    ``table`` holds one night's accepted rows of one source, every part together. Output
    columns: source_file, line, column, check, value (ID numbers masked). ``candidates`` is a
    relation with the (source_file, line) of every row whose key may repeat, each row of a
    repeated key among them (the store finds them from key hashes): keys are almost all
    unique, so only those rows are numbered by the keys themselves (rows of different keys
    among them are never duplicates), instead of partitioning and sorting every row.
    """
    def shown(k: str) -> str:
        text = f"CAST({k} AS VARCHAR)"
        return f"left({text}, 6) || '********' || right({text}, 4)" if k in id_columns else text

    keys = ", ".join(key)
    value = " || ',' || ".join(shown(k) for k in key)
    return f"""
        SELECT source_file, line, '{",".join(key)}' AS "column", 'duplicate_key' AS "check",
               {value} AS value
        FROM (
            SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY source_file, line) AS n
            FROM {table} AS night SEMI JOIN {candidates} USING (source_file, line)
        )
        WHERE n > 1
    """
