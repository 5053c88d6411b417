"""Defects injected into delivered files, each at a tunable rate and recorded in the truth.

Record defects (at most one per record; a rejecting defect triggers exactly one check):
- normalised, never rejected (`defects.csv` only): `legacy_15_digit` (born 1900-1999),
  `full_width_digits`, `lower_case_x` (numbers ending in X), `surrounding_spaces`;
- rejected (`rejects.csv` too): `bad_check_char` -> `id_check_char` (valid date kept),
  `impossible_id_date` -> `id_birth_date` (check character recomputed), `id_birth_mismatch`
  and `id_sex_mismatch` (household: the record's birth date / sex changed, number valid),
  `missing_required` -> `required`, `impossible_date` -> `date` (`timestamp` in a timestamp
  column: `TIMESTAMP_COLUMNS`).
  The `column` of an id_* reject is `id_number` (the identity column the check is evaluated for);
  `defects.csv` names the column that was changed.
File defects (`defects.csv`, line and column empty): `gb18030_encoding`, `utf8_bom`,
`chinese_headers`, `shuffled_columns`, `chinese_codes`, `format_csv_gz`, `format_parquet`,
`format_xlsx`, `duplicate_file` (same bytes delivered again under another name; the pipeline
ingests it once, so nothing in it counts twice).
Whole-file rejects (`defects.csv` and `rejects.csv`, line and column empty): a broken copy of
an event file delivered the same night beside the good one (an export that failed and was sent
again), which the pipeline must reject whole with the check of `FILE_CHECK_OF`:
`file_missing_column` (a required column dropped), `file_undecodable` (a byte that is neither
UTF-8 nor GB18030), `file_truncated_gzip` (the gzip stream cut short). The good file carries
the records, so nothing else in the truth changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

ID_SOURCES = {
    "household",
    "residence_permit",
    "death",
    "student",
    "tax_payment",
    "claims",
    "assistance",
    "status_change",
}
REQUIRED_TARGET = {
    "household": "name",
    "residence_permit": "name",
    "birth": "birth_division",
    "death": "death_date",
    "student": "school_code",
    "tax_payment": "paid_at",
    "claims": "fund_paid",
    "assistance": "recognized_date",
    "status_change": "event_date",
}
DATE_TARGET = {
    "household": "status_date",
    "residence_permit": "issued_date",
    "birth": "birth_date",
    "death": "death_date",
    "student": "status_date",
    "tax_payment": "paid_at",
    "assistance": "recognized_date",
    "status_change": "event_date",
}
CHECK_OF = {
    "bad_check_char": "id_check_char",
    "impossible_id_date": "id_birth_date",
    "id_birth_mismatch": "id_birth_mismatch",
    "id_sex_mismatch": "id_sex_mismatch",
    "missing_required": "required",
    "impossible_date": "date",
}
TIMESTAMP_COLUMNS = {"paid_at"}  # an impossible date there fails the `timestamp` check
_FULL_WIDTH = {str(d): chr(0xFF10 + d) for d in range(10)} | {"X": "Ｘ"}


@dataclass(frozen=True)
class DefectRates:
    """Defect rates: record defects per record, file defects per delivered file."""

    legacy_15_digit: float = 0.01
    full_width_digits: float = 0.005
    lower_case_x: float = 0.3  # of the numbers ending in X
    surrounding_spaces: float = 0.003
    bad_check_char: float = 0.002
    impossible_id_date: float = 0.001
    id_birth_mismatch: float = 0.003  # household records
    id_sex_mismatch: float = 0.002  # household records
    missing_required: float = 0.002
    impossible_date: float = 0.001
    gb18030_encoding: float = 0.25  # csv and csv.gz files
    utf8_bom: float = 0.1
    chinese_headers: float = 0.3
    shuffled_columns: float = 0.3
    chinese_codes: float = 0.3
    csv_gz: float = 0.15
    parquet: float = 0.15
    xlsx: float = 0.1  # files of at most `xlsx_max_rows` rows
    xlsx_max_rows: int = 3_000
    duplicate_files: int = 1  # event files delivered a second time (same bytes)
    rejected_files: int = 3  # broken copies of event files, the FILE_CHECK_OF kinds in turn


# Whole-file defects -> the check of the pipeline's whole-file reject (main.rejects.check).
FILE_CHECK_OF = {
    "file_missing_column": "file_missing_column",
    "file_undecodable": "file_encoding",
    "file_truncated_gzip": "file_unreadable",
}


def _pick(u: np.ndarray, eligible: np.ndarray, lo: float, rate: float) -> tuple[np.ndarray, float]:
    return eligible & (u >= lo) & (u < lo + rate), lo + rate


def inject_records(
    source: str,
    df: pl.DataFrame,
    protect: np.ndarray,
    rng: np.random.Generator,
    rates: DefectRates,
    date_format: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Corrupts some records of one rendered file; returns the file and its defect rows.

    Defect rows: `row` (0-based), `defect`, `column`, `original`, `delivered`.
    """
    n = df.height
    u = rng.random(n)
    free = ~protect
    masks: dict[str, np.ndarray] = {}
    lo = 0.0
    if source in ID_SOURCES:
        ids = df["id_number"]
        year = ids.str.slice(6, 4).cast(pl.Int32, strict=False).fill_null(0).to_numpy()
        ends_x = (ids.str.slice(17, 1) == "X").to_numpy()
        masks["bad_check_char"], lo = _pick(u, free, lo, rates.bad_check_char)
        masks["impossible_id_date"], lo = _pick(u, free, lo, rates.impossible_id_date)
        if source == "household":
            masks["id_birth_mismatch"], lo = _pick(u, free, lo, rates.id_birth_mismatch)
            masks["id_sex_mismatch"], lo = _pick(u, free, lo, rates.id_sex_mismatch)
        masks["legacy_15_digit"], lo = _pick(
            u, free & (year >= 1900) & (year <= 1999), lo, rates.legacy_15_digit
        )
        masks["full_width_digits"], lo = _pick(u, free, lo, rates.full_width_digits)
        masks["surrounding_spaces"], lo = _pick(u, free, lo, rates.surrounding_spaces)
    req = REQUIRED_TARGET[source]
    masks["missing_required"], lo = _pick(
        u, free & df[req].is_not_null().to_numpy(), lo, rates.missing_required
    )
    if source in DATE_TARGET:
        col = DATE_TARGET[source]
        masks["impossible_date"], lo = _pick(
            u, free & df[col].is_not_null().to_numpy(), lo, rates.impossible_date
        )
    if source in ID_SOURCES:
        taken = np.zeros(n, dtype=bool)
        for m in masks.values():
            taken |= m
        masks["lower_case_x"] = free & ends_x & ~taken & (rng.random(n) < rates.lower_case_x)

    rows = []
    columns = {c: df[c] for c in df.columns}
    for defect, mask in masks.items():
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            continue
        col, expr = _corruption(source, defect, date_format)
        # Corrupt only the chosen rows (cheap), then scatter them back into the column.
        sub = df[idx].with_columns(_row=pl.Series(idx, dtype=pl.Int64))
        new = sub.with_columns(expr.alias(col))[col]
        before = columns[col].gather(idx)
        columns[col] = columns[col].scatter(idx, new)
        rows.append(
            pl.DataFrame(
                {
                    "row": idx.astype(np.int64),
                    "defect": [defect] * len(idx),
                    "column": [col] * len(idx),
                    "original": before.fill_null(""),
                    "delivered": new.fill_null(""),
                }
            )
        )
    found = (
        pl.concat(rows)
        if rows
        else pl.DataFrame(
            schema={
                "row": pl.Int64,
                "defect": pl.String,
                "column": pl.String,
                "original": pl.String,
                "delivered": pl.String,
            }
        )
    )
    return pl.DataFrame(list(columns.values())), found


def _corruption(source: str, defect: str, date_format: str) -> tuple[str, pl.Expr]:
    ident = pl.col("id_number")
    if defect == "bad_check_char":
        digits = "0123456789X"
        pos = ident.str.slice(17, 1).replace_strict(
            {c: i for i, c in enumerate(digits)}, return_dtype=pl.Int64
        )
        shift = 1 + pl.col("_row") % 10
        return "id_number", ident.str.slice(0, 17) + pl.lit(digits).str.slice((pos + shift) % 11, 1)
    if defect == "impossible_id_date":
        from .population import check_characters

        bad = pl.col("_row") % 3
        mmdd = (
            pl.when(bad == 0)
            .then(pl.lit("0230"))
            .when(bad == 1)
            .then(pl.lit("1301"))
            .otherwise(pl.lit("0431"))
        )
        first17 = ident.str.slice(0, 10) + mmdd + ident.str.slice(14, 3)
        return "id_number", first17 + check_characters(first17)
    if defect == "id_birth_mismatch":
        shifted = pl.col("birth_date").str.to_date(date_format) - pl.duration(
            days=1 + pl.col("_row") % 300
        )
        return "birth_date", shifted.dt.strftime(date_format)
    if defect == "id_sex_mismatch":
        return "sex", pl.col("sex").replace({"1": "2", "2": "1", "男": "女", "女": "男"})
    if defect == "legacy_15_digit":
        return "id_number", ident.str.slice(0, 6) + ident.str.slice(8, 9)
    if defect == "full_width_digits":
        return "id_number", ident.str.replace_many(_FULL_WIDTH)
    if defect == "surrounding_spaces":
        return "id_number", pl.lit(" ") + ident + pl.lit(" ")
    if defect == "lower_case_x":
        return "id_number", ident.str.to_lowercase()
    if defect == "missing_required":
        return REQUIRED_TARGET[source], pl.lit(None, pl.String)
    if defect == "impossible_date":
        col = DATE_TARGET[source]
        c = pl.col(col)
        bad = pl.when(pl.col("_row") % 2 == 0).then(pl.lit("02-30")).otherwise(pl.lit("13-01"))
        sep = {"%Y-%m-%d": "-", "%Y/%m/%d": "/", "%Y%m%d": ""}[date_format]
        value = c.str.slice(0, 4) + sep + bad.str.replace("-", sep, literal=True)
        if col == "paid_at":
            value = value + c.str.slice(-9)
        return col, value
    raise ValueError(defect)
