"""死亡 deaths (civil affairs / public security / health, events): one row per deceased."""

from __future__ import annotations

from typing import Optional

import polars as pl

from schemas._common import (
    STAGED_CONFIG, LineageMixin, RawBase, date_field, id_field, raw, text_field,
)


class DeathRaw(RawBase):
    """One row per record as delivered: text columns, English or Chinese headers."""

    id_number: str = raw("公民身份号码")
    name: str = raw("姓名")
    death_date: str = raw("死亡日期")
    reporting_dept: Optional[str] = raw("报送部门")


class DeathStaged(LineageMixin, DeathRaw):
    """One row per deceased person (key ``id_number``), latest delivery wins."""

    id_number: str = id_field(True)
    name: str = text_field(True)
    death_date: pl.Date = date_field(True)
    reporting_dept: pl.Utf8 = text_field()

    class Config:
        strict = STAGED_CONFIG["strict"]
        coerce = STAGED_CONFIG["coerce"]
