"""居住证 residence permits (public security, snapshot): one row per permit holder."""

from __future__ import annotations

from typing import Optional

import polars as pl

from schemas._common import (
    STAGED_CONFIG,
    LineageMixin,
    RawBase,
    date_field,
    division_field,
    grid_field,
    id_field,
    raw,
    text_field,
)


class ResidencePermitRaw(RawBase):
    """One row per record as delivered: text columns, English or Chinese headers."""

    id_number: str = raw("公民身份号码")
    name: str = raw("姓名")
    permit_division: str = raw("居住证签发地")
    grid_code: Optional[str] = raw("网格编码")
    address: Optional[str] = raw("住址")
    phone: Optional[str] = raw("联系电话")
    issued_date: str = raw("签发日期")
    valid_until: Optional[str] = raw("有效期至")


class ResidencePermitStaged(LineageMixin, ResidencePermitRaw):
    """One row per permit holder (key ``id_number``); latest snapshot only."""

    id_number: str = id_field(True)
    name: str = text_field(True)
    permit_division: str = division_field(True, "division that issued the permit")
    grid_code: pl.Utf8 = grid_field("neighbourhood grid of the address")
    address: pl.Utf8 = text_field()
    phone: pl.Utf8 = text_field()
    issued_date: pl.Date = date_field(True)
    valid_until: pl.Date = date_field()

    class Config:
        strict = STAGED_CONFIG["strict"]
        coerce = STAGED_CONFIG["coerce"]
