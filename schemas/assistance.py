"""医疗救助对象 medical assistance recipients (civil affairs, snapshot): one row per recipient."""

from __future__ import annotations

from typing import Optional

import polars as pl

from schemas._common import (
    STAGED_CONFIG, LineageMixin, RawBase, date_field, division_field, enum_field, id_field, raw,
    text_field,
)

CATEGORY = {
    "特困": "destitute", "低保": "minimum_living", "低边": "near_poor",
    "因病致贫": "illness_poverty", "其他": "other", "minimum-living": "minimum_living",
    "near-poor": "near_poor", "illness-poverty": "illness_poverty",
}


class AssistanceRaw(RawBase):
    """One row per record as delivered: text columns, English or Chinese headers."""

    id_number: str = raw("公民身份号码")
    name: str = raw("姓名")
    category: str = raw(None)  # the contract gives no Chinese header
    recognized_date: str = raw("认定日期")
    ended_date: Optional[str] = raw("退出日期")
    division: str = raw(None)


class AssistanceStaged(LineageMixin, AssistanceRaw):
    """One row per recipient (key ``id_number``); latest snapshot only."""

    id_number: str = id_field(True)
    name: str = text_field(True)
    category: str = enum_field(CATEGORY, True)
    recognized_date: pl.Date = date_field(True)
    ended_date: pl.Date = date_field()
    division: str = division_field(True)

    class Config:
        strict = STAGED_CONFIG["strict"]
        coerce = STAGED_CONFIG["coerce"]
