"""医保结算汇总 claims summaries (medical insurance, events): one row per person-year, latest wins
(extracts.md; ``scheme`` is a column of the record, not part of its key)."""

from __future__ import annotations

from typing import Optional

import polars as pl

from schemas._common import (
    STAGED_CONFIG, LineageMixin, RawBase, boolean_field, enum_field, id_field, integer_field,
    number_field, raw,
)
from schemas.tax_payment import SCHEME


class ClaimsRaw(RawBase):
    """One row per record as delivered: text columns, English or Chinese headers."""

    id_number: str = raw("公民身份号码")
    year: str = raw(None)  # the contract gives no Chinese header
    scheme: str = raw("险种")
    fund_paid: str = raw("基金支付总额")
    catastrophic_paid: Optional[str] = raw("大病保险支付")
    incentive_used: Optional[str] = raw("是否使用激励额度")


class ClaimsStaged(LineageMixin, ClaimsRaw):
    """One row per person-year (key: id_number, year), latest delivery wins."""

    id_number: str = id_field(True)
    year: pl.Int32 = integer_field(
        True, "claims year", in_range={"min_value": 1900, "max_value": 2999}
    )
    scheme: str = enum_field(SCHEME, True)
    fund_paid: pl.Float64 = number_field(True, "fund paid, yuan")
    catastrophic_paid: pl.Float64 = number_field(description="catastrophic insurance paid, yuan")
    incentive_used: pl.Boolean = boolean_field(description="incentive allowance used")

    class Config:
        strict = STAGED_CONFIG["strict"]
        coerce = STAGED_CONFIG["coerce"]
