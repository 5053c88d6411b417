"""Published employee-scheme tables and view (issue 11): contribution findings, retirement readiness.

Same conventions as ``schemas/marts.py`` (docstring first line and ``Field(description=...)``
become the warehouse COMMENTs through ``pipelines.io.catalog``); ``TABLES`` and ``VIEWS`` here are
meant to be merged into the registries of ``schemas/marts.py``.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

FINDINGS = ["employer_type_rate", "base_below_minimum", "amount_mismatch"]


class _Mart(pa.DataFrameModel):
    class Config:
        strict = True


class ContributionFinding(_Mart):
    """职工医保缴费数据质量问题: 每笔有问题的缴费一行 / Employee contribution findings: one row
    per live employee contribution whose amount, base or rate is inconsistent (not a rejection)."""

    payment_id: str = pa.Field(unique=True, description="缴费流水号 / payment id")
    person_id: str = pa.Field(description="人员编号(身份证号) / person id (ID number)")
    region: str = pa.Field(description="适用政策地区 / policy region")
    pooling_division: str = pa.Field(description="统筹区划代码 / pooling division")
    employer_id: str = pa.Field(
        nullable=True,
        description="单位统一社会信用代码(灵活就业为空) / employer id (null for flexible workers)",
    )
    employer_type: str = pa.Field(
        isin=["enterprise", "institution", "flexible"],
        description="单位类型: enterprise 企业, institution 机关事业, flexible 灵活就业 / employer type",
    )
    period: str = pa.Field(description="费款所属期 YYYY-MM / contribution month")
    period_year: pl.Int32 = pa.Field(description="所属年度 / year of the contribution month")
    period_month: pl.Int32 = pa.Field(description="所属月份 / month of the contribution month")
    base: float = pa.Field(description="缴费基数(元) / contribution base, yuan")
    amount: float = pa.Field(description="缴费金额(元) / amount paid, yuan")
    employer_amount: float = pa.Field(
        nullable=True, description="单位缴费(元) / employer share, yuan"
    )
    person_amount: float = pa.Field(
        nullable=True, description="个人缴费(元) / personal share, yuan"
    )
    expected_amount: float = pa.Field(
        description="按基数×费率应缴金额(元; 灵活就业取较接近的7%或9%) / expected amount, base x rate "
        "(yuan; flexible workers: the nearer of the two rates)"
    )
    minimum_base: float = pa.Field(
        nullable=True,
        description="灵活就业最低缴费基数(元, 上年度全省月平均工资×比例) / flexible workers' minimum base, yuan",
    )
    in_transition: bool = pa.Field(
        description="费率过渡期内(各市可分步调整到位) / in the rates' transition period (cities may phase in)"
    )
    finding: str = pa.Field(
        isin=FINDINGS,
        description="问题: employer_type_rate 单位类型与费率不符, base_below_minimum 基数低于最低标准, "
        "amount_mismatch 金额与基数×费率不符(±1元) / finding",
    )


class RetirementReadiness(_Mart):
    """临近退休缴费年限不足: 每人一行 / Retirement readiness: one row per person within the window
    before statutory retirement age whose employee contribution months are short of the minimum."""

    grid_code: str = pa.Field(nullable=True, description="网格编码 / grid code")
    person_id: str = pa.Field(unique=True, description="人员编号(身份证号) / person id (ID number)")
    name: str = pa.Field(nullable=True, description="姓名 / name")
    region: str = pa.Field(
        description="最近缴费地的政策地区 / policy region of the latest contribution"
    )
    sex: pl.UInt8 = pa.Field(isin=[1, 2], description="性别: 1男 2女 / sex: 1 male, 2 female")
    birth_date: pl.Date = pa.Field(description="出生日期 / date of birth")
    retirement_age_months: pl.Int32 = pa.Field(
        description="法定退休年龄(月) / statutory retirement age, months"
    )
    retirement_date: pl.Date = pa.Field(
        description="达到法定退休年龄日期 / statutory retirement date"
    )
    contribution_months: pl.Int32 = pa.Field(
        ge=0, description="已见职工医保缴费月数(自数据起始年) / employee contribution months seen"
    )
    required_months: pl.Int32 = pa.Field(
        description="最低缴费年限(月) / minimum contribution months"
    )
    shortfall_months: pl.Int32 = pa.Field(gt=0, description="差缺月数 / months short")
    reason: str = pa.Field(description="原因及工作事项(中文) / reason and action in plain Chinese")
    due_date: pl.Date = pa.Field(description="办理截止日期(到龄日) / due date: the retirement date")


class ContributionFindingsByEmployer(_Mart):
    """缴费问题汇总(按单位) / Contribution findings by employer (flexible workers: one row per
    pooling division, employer_id null)."""

    employer_id: str = pa.Field(nullable=True, description="单位统一社会信用代码 / employer id")
    employer_type: str = pa.Field(description="单位类型 / employer type")
    pooling_division: str = pa.Field(description="统筹区划代码 / pooling division")
    findings: pl.Int64 = pa.Field(description="问题缴费笔数 / contributions with a finding")
    employer_type_rate: pl.Int64 = pa.Field(
        description="单位类型与费率不符笔数 / employer type vs rate"
    )
    base_below_minimum: pl.Int64 = pa.Field(description="基数低于最低标准笔数 / base below minimum")
    amount_mismatch: pl.Int64 = pa.Field(description="金额不符笔数 / amount mismatches")
    persons: pl.Int64 = pa.Field(description="涉及人数 / persons concerned")
    first_period: str = pa.Field(description="最早所属期 / first contribution month")
    last_period: str = pa.Field(description="最晚所属期 / last contribution month")
    amount_difference: float = pa.Field(
        description="实缴减应缴合计(元) / amount paid minus expected, total, yuan"
    )
    in_transition: pl.Int64 = pa.Field(description="过渡期内笔数 / in the transition period")


TABLES: dict[str, type[pa.DataFrameModel]] = {
    "contribution_finding": ContributionFinding,
    "retirement_readiness": RetirementReadiness,
}
VIEWS: dict[str, type[pa.DataFrameModel]] = {
    "v_contribution_findings_by_employer": ContributionFindingsByEmployer,
}
