"""医保费缴费 tax-bureau contribution payments (events): one row per payment."""

from __future__ import annotations

from typing import Optional

import pandera.polars as pa
import polars as pl

from schemas._common import (
    STAGED_CONFIG,
    LineageMixin,
    RawBase,
    _staged,
    code_field,
    division_field,
    enum_field,
    id_field,
    number_field,
    raw,
    text_field,
)

SCHEME = {"职工医保": "employee", "居民医保": "resident"}
PAYMENT_KIND = {"正常": "normal", "修复补缴": "repair", "退费": "refund"}
EMPLOYER_TYPE = {"企业": "enterprise", "机关事业": "institution", "灵活就业": "flexible"}


class TaxPaymentRaw(RawBase):
    """One row per payment record as delivered: text columns, English or Chinese headers."""

    payment_id: str = raw("缴费流水号")
    id_number: str = raw("公民身份号码")
    name: str = raw("姓名")
    scheme: str = raw("险种")
    pooling_division: str = raw("统筹区划代码")
    period: str = raw("费款所属期")
    kind: str = raw("缴费类型")
    refund_of: Optional[str] = raw("原缴费流水号")
    amount: str = raw("金额")
    base: Optional[str] = raw("缴费基数")
    employer_amount: Optional[str] = raw("单位缴费")
    person_amount: Optional[str] = raw("个人缴费")
    employer_id: Optional[str] = raw("单位统一社会信用代码")
    employer_type: Optional[str] = raw("单位类型")
    paid_at: str = raw("缴费时间")


class TaxPaymentStaged(LineageMixin, TaxPaymentRaw):
    """One row per payment (key ``payment_id``), typed; ``refunded_by`` recomputed every run."""

    payment_id: str = text_field(True, "unique payment key")
    id_number: str = id_field(True)
    name: str = text_field(True)
    scheme: str = enum_field(SCHEME, True)
    pooling_division: str = division_field(True)
    period: str = _staged(
        "period", True, "resident: YYYY coverage year; employee: YYYY-MM month",
        str_matches=r"^[0-9]{4}(-[0-9]{2})?$", metadata={"scheme": "scheme"},
    )
    period_year: pl.Int32 = pa.Field(
        nullable=False, description="year of period", metadata={"kind": "derived"}
    )
    period_month: pl.Int32 = pa.Field(
        nullable=True, in_range={"min_value": 1, "max_value": 12},
        description="month of period (employee only)", metadata={"kind": "derived"},
    )
    kind: str = enum_field(PAYMENT_KIND, True)
    refund_of: pl.Utf8 = text_field(description="payment_id a refund cancels")
    amount: pl.Float64 = number_field(
        True, "yuan, never negative (a refund carries the refunded amount)"
    )
    base: pl.Float64 = number_field(description="contribution base, yuan")
    employer_amount: pl.Float64 = number_field(description="yuan")
    person_amount: pl.Float64 = number_field(description="yuan")
    employer_id: pl.Utf8 = code_field(18, description="unified social credit code")
    employer_type: pl.Utf8 = enum_field(EMPLOYER_TYPE)
    paid_at: pl.Datetime = pa.Field(
        nullable=False, metadata={"kind": "timestamp"}
    )
    refunded_by: pl.Utf8 = pa.Field(
        nullable=True, description="payment_id of the refund cancelling this payment",
        metadata={"kind": "derived"},
    )

    class Config:
        strict = STAGED_CONFIG["strict"]
        coerce = STAGED_CONFIG["coerce"]
