"""户籍 household registration (public security, snapshot): one row per registered person."""

from __future__ import annotations

from typing import Optional

import polars as pl

from schemas._common import (
    STAGED_CONFIG,
    LineageMixin,
    RawBase,
    date_field,
    division_field,
    enum_field,
    grid_field,
    id_field,
    raw,
    sex_field,
    text_field,
)

HOUSEHOLD_STATUS = {"正常": "normal", "迁出": "moved_out", "注销": "cancelled"}


class HouseholdRaw(RawBase):
    """One row per record as delivered: text columns, English or Chinese headers."""

    id_number: str = raw("公民身份号码")
    name: str = raw("姓名")
    sex: str = raw("性别")
    birth_date: str = raw("出生日期")
    hukou_division: str = raw("户籍地区划代码")
    household_id: str = raw("户号")
    relation: Optional[str] = raw("与户主关系")
    residence_division: Optional[str] = raw("居住地区划代码")
    grid_code: Optional[str] = raw("网格编码")
    address: Optional[str] = raw("住址")
    phone: Optional[str] = raw("联系电话")
    status: str = raw("户籍状态")
    status_date: Optional[str] = raw("变动日期")


class HouseholdStaged(LineageMixin, HouseholdRaw):
    """One row per person (key ``id_number``), typed and normalised; latest snapshot only."""

    id_number: str = id_field(
        True, "normalised 18-character ID", birth_date="birth_date", sex="sex"
    )
    name: str = text_field(True)
    sex: pl.UInt8 = sex_field()
    birth_date: pl.Date = date_field(True)
    hukou_division: str = division_field(True, "division of the hukou registration")
    household_id: str = text_field(True)
    relation: pl.Utf8 = text_field()
    residence_division: pl.Utf8 = division_field(description="where the person actually lives")
    grid_code: pl.Utf8 = grid_field("neighbourhood grid of the residence address")
    address: pl.Utf8 = text_field()
    phone: pl.Utf8 = text_field()
    status: str = enum_field(HOUSEHOLD_STATUS, True)
    status_date: pl.Date = date_field()

    class Config:
        strict = STAGED_CONFIG["strict"]
        coerce = STAGED_CONFIG["coerce"]
