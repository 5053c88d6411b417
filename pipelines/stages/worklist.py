"""Outreach worklist: one row per outreach case (grid, person, reason, action, priority, due date).

Built from the marts ``person``, ``coverage_flag``, ``coverage_year``, ``repeat_enrolment``
and ``policy_status``, the live resident payments for this and next year, and the region
rules (policy.md sections 3 and 5). Every policy number (waiting-period months, newborn
window, incentive threshold and step, centralized-period dates) comes from the rule files;
the only numbers here are outreach deadlines and priorities (``OutreachSettings``).

Cases (priority 1 = first):

- ``deceased_covered`` (1): flag ``deceased_covered``; stop and refund.
- ``newborn_pending`` (1): flag ``newborn_pending``; due on the last day of the newborn window.
- ``repeat_enrolment`` (2): a ``repeat_enrolment`` row; refund (``after_death`` rows are the
  deceased case).
- ``newborn_overdue`` (2), ``student_uninsured`` (2, exported per school), ``uninsured`` (3).
- ``lapsed`` (3): flag ``lapsed``, with the lapsed years and what repairing them would save
  on the waiting period.
- ``retirement_shortfall`` (3): ``retirement_readiness`` (employee scheme, issue 11), with its
  own reason and due date.
- ``incentive_near`` (4): resident coverage this year, one year short of the
  continuous-enrolment incentive, not yet paid for next year.
- ``renewal_due`` (4): during the region's centralized period, resident coverage this year and
  not yet paid for next year; likeliest to lapse first (``lapse_risk_score``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from pipelines.rules.loader import RegionRules, region_for_division
from schemas.employee import RetirementReadiness
from schemas.marts import (
    CoverageFlag,
    CoverageYear,
    Person,
    PolicyStatus,
    RegionParameters,
    RepeatEnrolment,
)
from schemas.marts import Worklist as W

OPTIONAL_PERSON_COLUMNS = {
    "school_code": pl.Utf8,
    "school_name": pl.Utf8,
    "phone": pl.Utf8,
    "death_date": pl.Date,
}
"""Person columns the worklist uses when present (null otherwise)."""

MART_INPUTS = {
    "person": [
        Person.person_id, Person.name, Person.birth_date, Person.hukou_division,
        Person.residence_division, Person.grid_code, *OPTIONAL_PERSON_COLUMNS,
    ],
    "coverage_flag": [CoverageFlag.person_id, CoverageFlag.flag],
    "coverage_year": [CoverageYear.person_id, CoverageYear.year, CoverageYear.status],
    "repeat_enrolment": [
        RepeatEnrolment.person_id, RepeatEnrolment.period, RepeatEnrolment.kind,
        RepeatEnrolment.overlap_months,
    ],
    "policy_status": [
        PolicyStatus.person_id, PolicyStatus.year, PolicyStatus.region,
        PolicyStatus.consecutive_years, PolicyStatus.lapsed_years_total, PolicyStatus.wait_months,
    ],
    "retirement_readiness": [
        RetirementReadiness.person_id, RetirementReadiness.reason, RetirementReadiness.due_date,
    ],
}  # fmt: skip
"""The marts :class:`WorklistInputs` holds, besides ``resident_paid``, each with the columns used
here: reading only these keeps the marts' other columns (person has 23) out of memory."""

CASE_COLUMNS = [
    W.person_id,
    W.case,
    W.reason,
    W.action,
    W.priority,
    W.due_date,
    W.lapse_risk_score,
    W.school_code,
    W.school_name,
]


@dataclass(frozen=True)
class OutreachSettings:
    """Working deadlines (days after the as-of date) and priorities: outreach practice, not policy."""

    due_days: dict[str, int] = field(
        default_factory=lambda: {
            "deceased_covered": 15,
            "repeat_enrolment": 30,
            "newborn_overdue": 30,
            "student_uninsured": 30,
            "uninsured": 30,
            "lapsed": 30,
        }
    )
    priority: dict[str, int] = field(
        default_factory=lambda: {
            "deceased_covered": 1,
            "newborn_pending": 1,
            "repeat_enrolment": 2,
            "newborn_overdue": 2,
            "student_uninsured": 2,
            "uninsured": 3,
            "lapsed": 3,
            "retirement_shortfall": 3,
            "incentive_near": 4,
            "renewal_due": 4,
        }
    )


@dataclass(frozen=True)
class WorklistInputs:
    """The marts the worklist reads, as LazyFrames with (at least) the columns used here.

    ``resident_paid``: (person_id, year) for every live, non-repair resident payment of the
    as-of year and the next (who has already paid for next year).
    ``retirement_readiness``: the employee-scheme outreach cases (issue 11), when built.
    """

    person: pl.LazyFrame
    coverage_flag: pl.LazyFrame
    coverage_year: pl.LazyFrame
    repeat_enrolment: pl.LazyFrame
    policy_status: pl.LazyFrame
    resident_paid: pl.LazyFrame
    retirement_readiness: pl.LazyFrame | None = None


# ---------------------------------------------------------------------------------------
# Region parameters
# ---------------------------------------------------------------------------------------


def _centralized_period(rules: RegionRules, coverage_year: int) -> tuple[date, date]:
    """(first, last day) of the centralized period for ``coverage_year`` (policy.md section 3)."""
    period = rules.centralized_period
    start = date(coverage_year - 1, int(period.start[:2]), int(period.start[3:]))
    end = period.extensions.get(
        coverage_year, date(coverage_year - 1, int(period.end[:2]), int(period.end[3:]))
    )
    return start, end


def region_parameters(rules: dict[str, RegionRules], as_of: date) -> pl.DataFrame:
    """One row per region with resident rules: the parameters the worklist needs on ``as_of``.

    ``renewal_year`` is the coverage year whose centralized period contains ``as_of`` (next
    year, or this year while an extension runs), else null; ``centralized_end`` is the last
    day of that period, or of next year's period when outside one.
    """
    rows = []
    for key, region in rules.items():
        if not region.has_resident:
            continue
        renewal_year, end = None, _centralized_period(region, as_of.year + 1)[1]
        for year in (as_of.year + 1, as_of.year):
            start, stop = _centralized_period(region, year)
            if start <= as_of <= stop:
                renewal_year, end = year, stop
                break
        wait, incentives = region.waiting_period, region.incentives
        rows.append(
            {
                "region": key,
                "policy_start_year": region.coverage.policy_start_year,
                "newborn_window_days": region.exemptions.newborn_window_days,
                "fixed_months": wait.fixed_months,
                "variable_months_per_lapsed_year": wait.variable_months_per_lapsed_year,
                "repair_months_per_year": wait.repair_months_per_year,
                "long_lapse_years": wait.long_lapse_years,
                "long_lapse_min_total_months": wait.long_lapse_min_total_months,
                "incentive_threshold_years": incentives.incentive_threshold_years,
                "continuous_step": incentives.continuous_step,
                "renewal_year": renewal_year,
                "centralized_end": end,
            }
        )
    schema = {name: spec.dtype.type for name, spec in RegionParameters.to_schema().columns.items()}
    return pl.DataFrame(rows, schema=schema, orient="row")


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


def _people(inputs: WorklistInputs, rules: dict[str, RegionRules], as_of: date) -> pl.LazyFrame:
    """Person columns every case needs, with the policy region and its parameters."""
    status_region = (
        inputs.policy_status.filter(pl.col("year") == as_of.year)
        .select("person_id", pl.col("region").alias("status_region"))
        .unique("person_id")
    )
    division = pl.coalesce("residence_division", "hukou_division")
    params = region_parameters(rules, as_of).lazy()
    present = inputs.person.collect_schema().names()
    optional = [
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in OPTIONAL_PERSON_COLUMNS.items()
        if name not in present
    ]
    return (
        inputs.person.with_columns(optional)
        .join(status_region, on="person_id", how="left")
        .with_columns(
            pl.coalesce("status_region", region_for_division(division, rules)).alias(W.region)
        )
        .join(params, on="region", how="left")
    )


def _due_in(days: int, as_of: date) -> pl.Expr:
    return pl.lit(as_of + timedelta(days=days), dtype=pl.Date)


def _due_or_period_end(days: int, as_of: date) -> pl.Expr:
    """During the centralized period the deadline is its last day (pay without a wait)."""
    return (
        pl.when(pl.col("renewal_year").is_not_null())
        .then(pl.col("centralized_end"))
        .otherwise(_due_in(days, as_of))
    )


def _case(frame: pl.LazyFrame, case: str, settings: OutreachSettings) -> pl.LazyFrame:
    """Fill the common case columns left unset by a case builder."""
    defaults = {
        W.lapse_risk_score: pl.lit(None, dtype=pl.Int32),
        W.school_code: pl.lit(None, dtype=pl.Utf8),
        W.school_name: pl.lit(None, dtype=pl.Utf8),
    }
    missing = [
        expr.alias(name) for name, expr in defaults.items() if name not in frame.collect_schema()
    ]
    return frame.with_columns(
        *missing,
        pl.lit(case).alias(W.case),
        pl.lit(settings.priority[case], dtype=pl.Int8).alias(W.priority),
    ).select(CASE_COLUMNS)


def _flagged(people: pl.LazyFrame, flags: pl.LazyFrame, flag: str) -> pl.LazyFrame:
    return people.join(flags.filter(pl.col("flag") == flag).select("person_id"), on="person_id")


# ---------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------


def deceased_cases(people, inputs, as_of, settings) -> pl.LazyFrame:
    """Paid coverage after death: stop and refund."""
    return _case(
        _flagged(people, inputs.coverage_flag, "deceased_covered").with_columns(
            pl.lit("死亡后仍有参保缴费: 办理停保退费").alias(W.reason),
            pl.lit("停保退费").alias(W.action),
            _due_in(settings.due_days["deceased_covered"], as_of).alias(W.due_date),
        ),
        "deceased_covered",
        settings,
    )


def newborn_cases(people, inputs, as_of, settings) -> pl.LazyFrame:
    """Newborns not covered: inside the window (days left to stay exempt) and past it."""
    age = (pl.lit(as_of) - pl.col("birth_date")).dt.total_days()
    window = pl.col("newborn_window_days")
    days_left = window - age
    pending = _flagged(people, inputs.coverage_flag, "newborn_pending").with_columns(
        pl.when(days_left > 0)
        .then(pl.format("新生儿出生{}天未参保: {}天内办理可免等待期", age, days_left))
        .otherwise(pl.format("新生儿出生{}天未参保: 今日办理可免等待期", age))
        .alias(W.reason),
        pl.lit("动员参保(新生儿免等待期)").alias(W.action),
        (pl.col("birth_date") + pl.duration(days=window)).alias(W.due_date),
    )
    overdue = _flagged(people, inputs.coverage_flag, "newborn_overdue").with_columns(
        pl.format("新生儿出生{}天未参保, 已过{}天免等待期: 动员参保", age, window).alias(W.reason),
        pl.lit("动员参保").alias(W.action),
        _due_or_period_end(settings.due_days["newborn_overdue"], as_of).alias(W.due_date),
    )
    return pl.concat(
        [_case(pending, "newborn_pending", settings), _case(overdue, "newborn_overdue", settings)]
    )


def student_cases(people, inputs, as_of, settings) -> pl.LazyFrame:
    """Enrolled students not covered; the school gets the list (grouped by school)."""
    return _case(
        _flagged(people, inputs.coverage_flag, "student_uninsured").with_columns(
            pl.lit("在校学生未参保: 通过学校动员参保").alias(W.reason),
            pl.lit("动员参保(学校)").alias(W.action),
            _due_or_period_end(settings.due_days["student_uninsured"], as_of).alias(W.due_date),
        ),
        "student_uninsured",
        settings,
    )


def uninsured_cases(people, inputs, as_of, settings) -> pl.LazyFrame:
    """Never covered."""
    return _case(
        _flagged(people, inputs.coverage_flag, "uninsured").with_columns(
            pl.lit("未参保: 动员参保").alias(W.reason),
            pl.lit("动员参保").alias(W.action),
            _due_or_period_end(settings.due_days["uninsured"], as_of).alias(W.due_date),
        ),
        "uninsured",
        settings,
    )


def lapse_run_years(coverage_year: pl.LazyFrame, people: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """(person_id, lapse_years): consecutive lapsed years ending last year, from the region's
    ``policy_start_year`` on (the ``lapse_run_years`` a payment made now would carry)."""
    years = coverage_year.join(
        people.select("person_id", "policy_start_year"), on="person_id"
    ).filter((pl.col("year") < as_of.year) & (pl.col("year") >= pl.col("policy_start_year")))
    last_not_lapsed = (
        years.filter(pl.col("status") == "covered").group_by("person_id").agg(pl.col("year").max())
    )
    return (
        years.filter(pl.col("status") == "lapsed")
        .join(last_not_lapsed, on="person_id", how="left", suffix="_covered")
        .filter(pl.col("year_covered").is_null() | (pl.col("year") > pl.col("year_covered")))
        .group_by("person_id")
        .agg(pl.len().cast(pl.Int32).alias("lapse_years"))
    )


def _wait_months(lapse_years: pl.Expr, repaired_years: pl.Expr) -> pl.Expr:
    """Waiting months of a payment after ``lapse_years`` lapsed years, ``repaired_years`` repaired
    (policy.md section 3, 2: fixed + variable, floor after a long lapse)."""
    variable = (
        pl.col("variable_months_per_lapsed_year") * lapse_years
        - pl.col("repair_months_per_year") * repaired_years
    ).clip(lower_bound=0)
    total = pl.col("fixed_months") + variable
    return (
        pl.when(lapse_years >= pl.col("long_lapse_years"))
        .then(pl.max_horizontal(total, pl.col("long_lapse_min_total_months")))
        .otherwise(total)
    )


def lapsed_cases(people, inputs, as_of, settings) -> pl.LazyFrame:
    """Lapsed: how many years, and how much shorter the waiting period gets after repair."""
    years = pl.col("lapse_years")
    now, repaired = _wait_months(years, pl.lit(0)), _wait_months(years, years)
    reason = (
        pl.when(years == 0)
        .then(pl.lit("断保(本年度未参保): 动员续保"))
        .when(now > repaired)
        .then(
            pl.format(
                "断保{}年: 动员续保, 补缴{}年可将等待期由{}个月缩短至{}个月",
                years,
                years,
                now,
                repaired,
            )
        )
        .otherwise(pl.format("断保{}年: 动员续保", years))
    )
    lapsed = _flagged(people, inputs.coverage_flag, "lapsed")
    return _case(
        lapsed.join(
            lapse_run_years(inputs.coverage_year, lapsed, as_of), on="person_id", how="left"
        )
        .with_columns(years.fill_null(0))
        .with_columns(
            reason.alias(W.reason),
            pl.when(now > repaired)
            .then(pl.lit("动员续保, 可补缴修复等待期"))
            .otherwise(pl.lit("动员续保"))
            .alias(W.action),
            _due_or_period_end(settings.due_days["lapsed"], as_of).alias(W.due_date),
        ),
        "lapsed",
        settings,
    )


def repeat_cases(people, inputs, as_of, settings) -> pl.LazyFrame:
    """Repeat enrolments to refund (``after_death`` rows are the deceased case)."""
    repeats = inputs.repeat_enrolment.filter(pl.col("kind") != "after_death").select(
        "person_id", "period", "kind", "overlap_months"
    )
    reason = (
        pl.when(pl.col("kind") == "employee_and_resident")
        .then(
            pl.format(
                "重复参保({}年职工医保与居民医保重叠{}个月): 办理居民医保退费",
                "period",
                pl.col("overlap_months").fill_null(0),
            )
        )
        .otherwise(pl.format("重复参保({}年居民医保重复缴费): 办理退费", "period"))
    )
    return _case(
        people.join(repeats, on="person_id").with_columns(
            reason.alias(W.reason),
            pl.lit("办理退费").alias(W.action),
            _due_in(settings.due_days["repeat_enrolment"], as_of).alias(W.due_date),
        ),
        "repeat_enrolment",
        settings,
    )


def retirement_cases(people, inputs, as_of, settings) -> pl.LazyFrame:
    """Near retirement with too few employee-scheme months: reason and due date as built."""
    if inputs.retirement_readiness is None:
        return _case(
            people.head(0).with_columns(
                pl.lit(None, dtype=pl.Utf8).alias(W.reason),
                pl.lit(None, dtype=pl.Utf8).alias(W.action),
                pl.lit(None, dtype=pl.Date).alias(W.due_date),
            ),
            "retirement_shortfall",
            settings,
        )
    cases = inputs.retirement_readiness.select("person_id", "reason", "due_date")
    return _case(
        cases.with_columns(pl.lit("一次性补缴或延缴").alias(W.action)),
        "retirement_shortfall",
        settings,
    )


def _renewal_pool(people: pl.LazyFrame, inputs: WorklistInputs, as_of: date) -> pl.LazyFrame:
    """Alive people with resident coverage this year who have not paid for next year."""
    paid_next = inputs.resident_paid.filter(pl.col("year") == as_of.year + 1).select("person_id")
    status = inputs.policy_status.filter(pl.col("year") == as_of.year).select(
        "person_id", "consecutive_years", "lapsed_years_total", "wait_months"
    )
    return (
        people.filter(pl.col("death_date").is_null() | (pl.col("death_date") > pl.lit(as_of)))
        .join(status.unique("person_id"), on="person_id")
        .join(paid_next, on="person_id", how="anti")
    )


def incentive_cases(people, inputs, as_of, settings) -> pl.LazyFrame:
    """One year short of the continuous-enrolment incentive and not yet paid for next year."""
    near = _renewal_pool(people, inputs, as_of).filter(
        pl.col("consecutive_years") == pl.col("incentive_threshold_years")
    )
    return _case(
        near.with_columns(
            pl.format(
                "已连续参保{}年, 续保{}年度可获连续参保激励(大病保险封顶线提高{}元): 动员按时续保",
                "consecutive_years",
                pl.lit(as_of.year + 1),
                pl.col("continuous_step").round(0).cast(pl.Int64),
            ).alias(W.reason),
            pl.lit("动员续保").alias(W.action),
            pl.col("centralized_end").alias(W.due_date),
        ),
        "incentive_near",
        settings,
    )


def lapse_risk_score() -> pl.Expr:
    """Points for how likely a member is to let coverage lapse; higher first.

    3 per earlier lapsed year (at most 3 years), 2 when the last enrolment carried a waiting
    period (paid late or after a lapse), 2 for a first year of coverage, 1 for a second.
    """
    return (
        3 * pl.col("lapsed_years_total").clip(upper_bound=3)
        + pl.when(pl.col("wait_months") > 0).then(2).otherwise(0)
        + pl.when(pl.col("consecutive_years") <= 1)
        .then(2)
        .when(pl.col("consecutive_years") == 2)
        .then(1)
        .otherwise(0)
    ).cast(pl.Int32)


def renewal_cases(people, inputs, as_of, settings) -> pl.LazyFrame:
    """During the centralized period: everyone with coverage this year not yet paid for next."""
    pool = _renewal_pool(people, inputs, as_of).filter(
        (pl.col("renewal_year") == as_of.year + 1)
        & (pl.col("consecutive_years") != pl.col("incentive_threshold_years"))
    )
    return _case(
        pool.with_columns(
            pl.format(
                "尚未缴纳{}年度居民医保(集中参保期截至{}): 动员续保",
                pl.lit(as_of.year + 1),
                pl.col("centralized_end").dt.strftime("%Y-%m-%d"),
            ).alias(W.reason),
            pl.lit("动员续保").alias(W.action),
            pl.col("centralized_end").alias(W.due_date),
            lapse_risk_score().alias(W.lapse_risk_score),
        ),
        "renewal_due",
        settings,
    )


CASE_BUILDERS = (
    deceased_cases,
    newborn_cases,
    repeat_cases,
    student_cases,
    uninsured_cases,
    lapsed_cases,
    retirement_cases,
    incentive_cases,
    renewal_cases,
)


WORKLIST_ORDER = [
    W.priority, W.due_date, W.lapse_risk_score, W.grid_code, W.person_id, W.case, W.reason,
]  # fmt: skip
"""The worklist's order: priority, due date, likeliest to lapse first, then grid, person, case
and reason (a total order, so that the same cases always come out in the same order: a person
can have two cases of one kind, e.g. repeat enrolments in two years, told apart by reason)."""
WORKLIST_SORT = {"descending": [False, False, True, False, False, False, False], "nulls_last": True}


def build_worklist(
    inputs: WorklistInputs,
    rules: dict[str, RegionRules],
    as_of: date,
    settings: OutreachSettings | None = None,
) -> pl.LazyFrame:
    """One row per outreach case, sorted by priority, due date, then likeliest to lapse."""
    settings = settings or OutreachSettings()
    # every case builder reads people with its own projection, which polars' common-subplan
    # elimination then misses: without the explicit cache, the person joins ran five times
    people = _people(inputs, rules, as_of).cache()
    cases = pl.concat([build(people, inputs, as_of, settings) for build in CASE_BUILDERS])
    person = people.select(
        "person_id",
        W.grid_code,
        W.name,
        W.phone,
        W.region,
        pl.col("school_code").alias("person_school_code"),
        pl.col("school_name").alias("person_school_name"),
    )
    return (
        cases.join(person, on="person_id", how="left")
        .with_columns(
            pl.coalesce(
                W.school_code,
                pl.when(pl.col(W.case) == "student_uninsured").then("person_school_code"),
            ).alias(W.school_code),
            pl.coalesce(
                W.school_name,
                pl.when(pl.col(W.case) == "student_uninsured").then("person_school_name"),
            ).alias(W.school_name),
            (pl.col(W.due_date) - pl.lit(as_of)).dt.total_days().cast(pl.Int32).alias(W.days_left),
            pl.lit(as_of, dtype=pl.Date).alias(W.as_of),
        )
        .select(list(W.to_schema().columns))
        .sort(WORKLIST_ORDER, **WORKLIST_SORT)
    )
