"""身份变动 status changes (HR, veterans, justice, education, public security; events)."""

from __future__ import annotations

from typing import Optional

import polars as pl

from schemas._common import (
    STAGED_CONFIG, LineageMixin, RawBase, date_field, division_field, enum_field, id_field, raw,
)

CHANGE_KIND = {
    "职工医保停保": "employee_stop", "退役": "military_discharge", "毕业": "graduation",
    "户籍迁入": "hukou_move_in", "取得居住证": "residence_permit", "取得学籍": "student_status",
    "刑满释放": "prison_release",
}


class StatusChangeRaw(RawBase):
    """One row per record as delivered: text columns, English or Chinese headers."""

    id_number: str = raw("公民身份号码")
    # The contract names each column's Chinese header once and reuses the column names across
    # sources (residence_permit's `name` is 姓名 without repeating it), so `kind` takes the one
    # alias the contract gives it (tax_payment's 缴费类型); event_date and division have none.
    kind: str = raw("缴费类型")
    event_date: str = raw(None)
    division: Optional[str] = raw(None)


class StatusChangeStaged(LineageMixin, StatusChangeRaw):
    """One row per person, kind and event date (key), latest delivery wins."""

    id_number: str = id_field(True)
    kind: str = enum_field(CHANGE_KIND, True)
    event_date: pl.Date = date_field(True)
    division: pl.Utf8 = division_field()

    class Config:
        strict = STAGED_CONFIG["strict"]
        coerce = STAGED_CONFIG["coerce"]
