"""出生医学证明 birth certificates (health commission, events): one row per newborn."""

from __future__ import annotations

from typing import Optional

import polars as pl

from schemas._common import (
    STAGED_CONFIG, LineageMixin, RawBase, date_field, division_field, id_field, raw, sex_field,
    text_field,
)


class BirthRaw(RawBase):
    """One row per record as delivered: text columns, English or Chinese headers."""

    birth_cert_no: str = raw("出生医学证明编号")
    child_name: Optional[str] = raw("新生儿姓名")
    sex: str = raw("性别")
    birth_date: str = raw("出生日期")
    mother_id_number: str = raw("母亲身份证号")
    father_id_number: Optional[str] = raw("父亲身份证号")
    birth_division: str = raw("出生地区划代码")
    child_id_number: Optional[str] = raw("新生儿身份证号")


class BirthStaged(LineageMixin, BirthRaw):
    """One row per birth certificate (key ``birth_cert_no``), latest delivery wins."""

    birth_cert_no: str = text_field(True, "birth certificate number, the newborn's key")
    child_name: pl.Utf8 = text_field()
    sex: pl.UInt8 = sex_field()
    birth_date: pl.Date = date_field(True)
    mother_id_number: str = id_field(True)
    father_id_number: pl.Utf8 = id_field(False)
    birth_division: str = division_field(True)
    child_id_number: pl.Utf8 = id_field(
        False, "the child's number once issued", birth_date="birth_date", sex="sex"
    )

    class Config:
        strict = STAGED_CONFIG["strict"]
        coerce = STAGED_CONFIG["coerce"]
