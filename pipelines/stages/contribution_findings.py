"""Employee-scheme contribution findings (policy.md section 6): data quality, never rejections.

For every live employee contribution of a region whose rule file sets employee rates:

- `employer_type_rate`: an enterprise paying the institution employer rate, or the reverse
  (the employer share matches the other type's rate, not its own);
- `base_below_minimum`: a flexible worker's base below the minimum base, ratio x the province's
  average monthly wage of the year before the contribution year (全省上年度...月平均工资);
- `amount_mismatch`: any other amount that is not base x rate within the tolerance (employer
  share, personal share and total for employees; 7% or 9% of the base for flexible workers,
  all paid by the person).

One finding per payment, in that order. A contribution in a month before the rates' transition
end (`transition_until`, cities may still phase in) is still reported, with `in_transition`.
Contributions without a base, type or a rule in force for their month are not checked.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.rules.loader import RegionRules, region_for_division

EMPLOYEE = "employee"
LIVE_KINDS = ["normal", "repair"]  # docs/architecture.md: a live payment
ENTERPRISE, INSTITUTION, FLEXIBLE = "enterprise", "institution", "flexible"
FINDINGS = pl.Enum(["employer_type_rate", "base_below_minimum", "amount_mismatch"])

FINDING_COLUMNS = [
    "payment_id", "person_id", "region", "pooling_division", "employer_id", "employer_type",
    "period", "period_year", "period_month", "base", "amount", "employer_amount",
    "person_amount", "expected_amount", "minimum_base", "in_transition", "finding",
]  # fmt: skip
LIVE_PAYMENT_COLUMNS = [
    "id_number", "scheme", "pooling_division", "period_year", "period_month", "kind",
    "refunded_by", "paid_at",
]  # fmt: skip
"""The staged payment columns live_employee_contributions reads (a caller reads no others)."""
PAYMENT_COLUMNS = [
    "payment_id", *LIVE_PAYMENT_COLUMNS, "period", "amount", "base", "employer_amount",
    "person_amount", "employer_id", "employer_type",
]  # fmt: skip
"""The staged payment columns detect_contribution_findings reads."""


def _require_tolerance(key: str, r: RegionRules) -> float:
    if r.employee.amount_tolerance_yuan is None:
        raise ValueError(f"{key}.toml: [employee] sets rates but no amount_tolerance_yuan")
    return r.employee.amount_tolerance_yuan


def employee_rates_frame(rules: dict[str, RegionRules]) -> pl.DataFrame:
    """One row per (region, employee rate row): employer and employee rates and the tolerance."""
    rows = [
        {"region": key, **row.model_dump(), "amount_tolerance_yuan": _require_tolerance(key, r)}
        for key, r in rules.items()
        if r.employee is not None
        for row in r.employee.rates
    ]
    schema = {
        "region": pl.Utf8, "in_force_from": pl.Date, "employer_rate_enterprise": pl.Float64,
        "employer_rate_institution": pl.Float64, "employee_rate": pl.Float64,
        "transition_until": pl.Date, "amount_tolerance_yuan": pl.Float64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema).sort("in_force_from")


def flexible_rates_frame(rules: dict[str, RegionRules]) -> pl.DataFrame:
    """One row per (region, flexible rate row): both rates, the minimum-base ratio, the tolerance."""
    rows = [
        {
            "region": key,
            **row.model_dump(),
            "flexible_minimum_base_ratio": r.employee.flexible_minimum_base_ratio,
            "amount_tolerance_yuan": _require_tolerance(key, r),
        }
        for key, r in rules.items()
        if r.employee is not None
        for row in r.employee.flexible_rates
    ]
    schema = {
        "region": pl.Utf8, "in_force_from": pl.Date, "rate_without_account": pl.Float64,
        "rate_with_account": pl.Float64, "account_share": pl.Float64,
        "transition_until": pl.Date, "flexible_minimum_base_ratio": pl.Float64,
        "amount_tolerance_yuan": pl.Float64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema).sort("in_force_from")


def live_employee_contributions(
    payments: pl.LazyFrame, rules: dict[str, RegionRules], as_of: date
) -> pl.LazyFrame:
    """One row per live employee contribution paid on or before as_of, with region and month start."""
    return payments.filter(
        pl.col("scheme") == EMPLOYEE,
        pl.col("kind").is_in(LIVE_KINDS),
        pl.col("refunded_by").is_null(),
        pl.col("paid_at").dt.date() <= as_of,
    ).with_columns(
        person_id=pl.col("id_number"),
        region=region_for_division("pooling_division", rules, EMPLOYEE),
        period_start=pl.date(pl.col("period_year"), pl.col("period_month"), 1),
    )


def _rule_in_force(contributions: pl.LazyFrame, rates: pl.DataFrame) -> pl.LazyFrame:
    """Attach the latest rate row in force in the contribution's month (inner: unruled are dropped).

    The as-of match runs on the distinct (region, month) pairs and comes back by a hash join:
    sorting millions of wide contribution rows for join_asof took most of the check's time.
    """
    checked = contributions.filter(pl.col("region").is_not_null(), pl.col("base").is_not_null())
    month_rules = (
        checked.select("region", "period_start")
        .unique()
        .sort("period_start")
        .join_asof(
            rates.lazy(),
            left_on="period_start",
            right_on="in_force_from",
            by="region",
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("in_force_from").is_not_null())
    )
    return checked.join(month_rules, on=["region", "period_start"], how="inner").with_columns(
        in_transition=pl.col("transition_until").is_not_null()
        & (pl.col("period_start") < pl.col("transition_until"))
    )


def _off(actual: pl.Expr, expected: pl.Expr) -> pl.Expr:
    """Whether actual differs from expected by more than the tolerance (cents, to drop float noise)."""
    return (actual - expected).abs().round(2) > pl.col("amount_tolerance_yuan")


def check_employer_contributions(contributions: pl.LazyFrame, rates: pl.DataFrame) -> pl.LazyFrame:
    """One row per checked enterprise/institution contribution: expected amount and finding (or null)."""
    is_enterprise = pl.col("employer_type") == ENTERPRISE
    own = (
        pl.when(is_enterprise)
        .then("employer_rate_enterprise")
        .otherwise("employer_rate_institution")
    )
    other = (
        pl.when(is_enterprise)
        .then("employer_rate_institution")
        .otherwise("employer_rate_enterprise")
    )
    base = pl.col("base")
    expected_employer, expected_person = base * own, base * pl.col("employee_rate")
    employer_amount = pl.col("employer_amount")
    type_rate = ~_off(employer_amount, base * other) & _off(employer_amount, expected_employer)
    mismatch = (
        _off(pl.col("amount"), expected_employer + expected_person)
        | _off(employer_amount, expected_employer).fill_null(False)
        | _off(pl.col("person_amount"), expected_person).fill_null(False)
    )
    return (
        contributions.filter(pl.col("employer_type").is_in([ENTERPRISE, INSTITUTION]))
        .pipe(_rule_in_force, rates)
        .with_columns(
            expected_amount=expected_employer + expected_person,
            minimum_base=pl.lit(None, pl.Float64),
            finding=pl.when(type_rate.fill_null(False))
            .then(pl.lit("employer_type_rate"))
            .when(mismatch)
            .then(pl.lit("amount_mismatch")),
        )
    )


def flexible_minimum_base(contributions: pl.LazyFrame, wages: pl.LazyFrame) -> pl.LazyFrame:
    """Add minimum_base: ratio x the province's average monthly wage of the previous year (or null)."""
    previous_year = wages.select(
        province=pl.col("province_code").str.slice(0, 2),
        period_year=(pl.col("year") + 1).cast(pl.Int32),  # 上年度: the wage of year Y-1 rules Y
        average_monthly_wage=pl.col("average_monthly_wage"),
    )
    return (
        contributions.with_columns(province=pl.col("pooling_division").str.slice(0, 2))
        .join(previous_year, on=["province", "period_year"], how="left")
        .with_columns(
            minimum_base=pl.col("flexible_minimum_base_ratio") * pl.col("average_monthly_wage")
        )
    )


def check_flexible_contributions(
    contributions: pl.LazyFrame, rates: pl.DataFrame, wages: pl.LazyFrame
) -> pl.LazyFrame:
    """One row per checked flexible-worker contribution: expected amount and finding (or null)."""
    base, amount = pl.col("base"), pl.col("amount")
    without, with_account = (
        base * pl.col("rate_without_account"),
        base * pl.col("rate_with_account"),
    )
    nearer = pl.when((amount - without).abs() <= (amount - with_account).abs())
    below = base.round(2) < pl.col("minimum_base").round(2)
    mismatch = (_off(amount, without) & _off(amount, with_account)) | _off(
        pl.col("person_amount"), amount
    ).fill_null(False)
    return (
        contributions.filter(pl.col("employer_type") == FLEXIBLE)
        .pipe(_rule_in_force, rates)
        .pipe(flexible_minimum_base, wages)
        .with_columns(
            expected_amount=nearer.then(without).otherwise(with_account),
            finding=pl.when(below.fill_null(False))
            .then(pl.lit("base_below_minimum"))
            .when(mismatch)
            .then(pl.lit("amount_mismatch")),
        )
    )


def detect_contribution_findings(
    payments: pl.LazyFrame,
    rules: dict[str, RegionRules],
    wages: pl.LazyFrame,
    as_of: date,
) -> pl.LazyFrame:
    """One row per live employee contribution with a finding (FINDING_COLUMNS), by payment_id."""
    contributions = live_employee_contributions(payments, rules, as_of)
    employer = check_employer_contributions(contributions, employee_rates_frame(rules))
    flexible = check_flexible_contributions(contributions, flexible_rates_frame(rules), wages)
    return (
        pl.concat([employer.select(FINDING_COLUMNS), flexible.select(FINDING_COLUMNS)])
        .filter(pl.col("finding").is_not_null())
        .with_columns(pl.col("finding").cast(FINDINGS))
        .sort("payment_id")
    )
