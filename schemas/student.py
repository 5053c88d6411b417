"""学籍 student registrations (education, snapshot): one row per student."""

from __future__ import annotations

from typing import Optional

import polars as pl

from schemas._common import (
    STAGED_CONFIG, LineageMixin, RawBase, date_field, division_field, enum_field, id_field, raw,
    text_field,
)

LEVEL = {
    "幼儿园": "kindergarten", "小学": "primary", "初中": "junior", "高中": "senior",
    "职业院校": "vocational", "高等院校": "higher",
}
STUDENT_STATUS = {"在籍": "enrolled", "毕业": "graduated", "退学": "withdrawn"}


class StudentRaw(RawBase):
    """One row per record as delivered: text columns, English or Chinese headers."""

    id_number: str = raw("公民身份号码")
    name: str = raw("姓名")
    student_no: str = raw("学籍号")
    school_code: str = raw("学校代码")
    school_name: str = raw("学校名称")
    school_division: str = raw("学校所在区划")
    level: str = raw("学段")
    status: str = raw("学籍状态")
    status_date: Optional[str] = raw("变动日期")


class StudentStaged(LineageMixin, StudentRaw):
    """One row per student (key ``id_number``); latest snapshot only."""

    id_number: str = id_field(True)
    name: str = text_field(True)
    student_no: str = text_field(True)
    school_code: str = text_field(True)
    school_name: str = text_field(True)
    school_division: str = division_field(True)
    level: str = enum_field(LEVEL, True)
    status: str = enum_field(STUDENT_STATUS, True)
    status_date: pl.Date = date_field()

    class Config:
        strict = STAGED_CONFIG["strict"]
        coerce = STAGED_CONFIG["coerce"]
