"""Masking of personal data for anything that leaves the warehouse (exports, report, logs).

ID numbers keep the first 6 characters (the birth registration division) and the last 4
(three sequence digits and the check character): enough for a grid worker to tell two people
apart, not enough to reconstruct the number. Names keep the surname and the last character
(张*三), phones the carrier prefix and the last four digits (138****1234).
"""

from __future__ import annotations

import re

import polars as pl

ID_STARS = "*" * 8
FULL_ID_PATTERN = r"\d{17}[\dXx]"
"""An unmasked 18-character resident ID number (also matches inside longer text)."""

_FULL_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def mask_id(value: str | None) -> str | None:
    """``330102199001011234`` → ``330102********1234``; a ``B:`` birth certificate keeps its
    prefix and last 4; anything else keeps only its last 4 characters."""
    if value is None:
        return None
    if len(value) == 18:
        return value[:6] + ID_STARS + value[-4:]
    if value.startswith("B:"):
        return "B:" + "*" * max(len(value) - 6, 0) + value[-4:]
    return "*" * max(len(value) - 4, 0) + value[-4:]


def mask_name(value: str | None) -> str | None:
    """``张三丰`` → ``张*丰``, ``张三`` → ``张*``, ``欧阳小明`` → ``欧**明``."""
    if value is None or len(value) < 2:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_phone(value: str | None) -> str | None:
    """``13812341234`` → ``138****1234``; other lengths keep only the last 4 digits."""
    if value is None:
        return None
    if len(value) == 11:
        return value[:3] + "****" + value[-4:]
    return "*" * max(len(value) - 4, 0) + value[-4:]


def _stars(count: pl.Expr) -> pl.Expr:
    """``count`` asterisks (0 when negative), at most 64."""
    return pl.lit("*" * 64).str.slice(0, pl.max_horizontal(count, pl.lit(0)).cast(pl.UInt32))


def mask_id_expr(column: str | pl.Expr) -> pl.Expr:
    """Polars expression of :func:`mask_id`."""
    col = pl.col(column) if isinstance(column, str) else column
    n = col.str.len_chars().cast(pl.Int64)
    last4 = col.str.slice(-4)
    stars = _stars(n - 4)
    birth_stars = _stars(n - 6)
    return (
        pl.when(n == 18)
        .then(col.str.slice(0, 6) + pl.lit(ID_STARS) + last4)
        .when(col.str.starts_with("B:"))
        .then(pl.lit("B:") + birth_stars + last4)
        .otherwise(stars + last4)
    )


def mask_name_expr(column: str | pl.Expr) -> pl.Expr:
    """Polars expression of :func:`mask_name`."""
    col = pl.col(column) if isinstance(column, str) else column
    n = col.str.len_chars().cast(pl.Int64)
    middle = _stars(n - 2)
    return (
        pl.when(n < 2)
        .then(col)
        .when(n == 2)
        .then(col.str.slice(0, 1) + pl.lit("*"))
        .otherwise(col.str.slice(0, 1) + middle + col.str.slice(-1))
    )


def mask_phone_expr(column: str | pl.Expr) -> pl.Expr:
    """Polars expression of :func:`mask_phone`."""
    col = pl.col(column) if isinstance(column, str) else column
    n = col.str.len_chars().cast(pl.Int64)
    stars = _stars(n - 4)
    return (
        pl.when(n == 11)
        .then(col.str.slice(0, 3) + pl.lit("****") + col.str.slice(-4))
        .otherwise(stars + col.str.slice(-4))
    )


def find_full_ids(text: str) -> list[str]:
    """Every unmasked 18-character ID number in ``text`` (for leak checks)."""
    return _FULL_ID.findall(text)
