"""Region rule files (policy.md) and their validated loader.

One TOML file per region key; `global.toml` holds what every region shares. A bureau changes
a number by editing a file; a bad file fails on load with a message naming file and field.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

RULES_DIR = Path(__file__).parent
GLOBAL_FILE = "global.toml"
PARAMETER_FILES = ("retirement_age.toml",)  # not region files: pipelines/rules/retirement.py
FALLBACK_REGION = "national"

NonNegInt = Annotated[int, Field(ge=0)]
Ratio = Annotated[float, Field(ge=0, le=1)]
Yuan = Annotated[float, Field(ge=0)]
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


class RuleFileError(ValueError):
    """A rule file is missing, unreadable or invalid; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionInfo(_Strict):
    key: str
    name: str
    in_force_from: date
    province_prefixes: list[Annotated[str, Field(pattern=r"^\d{2,6}$")]]


class CoverageRules(_Strict):
    """policy.md section 2: gaps, switching tolerance and the counting start."""

    policy_start_year: Annotated[int, Field(ge=2000, le=2100)]
    switch_gap_tolerance_months: NonNegInt
    switch_min_prior_months: NonNegInt
    never_covered_counts_as_lapse: bool
    employee_years_count_for_continuity: bool


class CentralizedPeriod(_Strict):
    """policy.md section 3: (Y-1)-start .. (Y-1)-end inclusive, per coverage year Y."""

    start: str
    end: str
    extensions: dict[int, date] = {}

    @field_validator("start", "end")
    @classmethod
    def _month_day(cls, value: str) -> str:
        if not _MONTH_DAY.match(value):
            raise ValueError(f"must be 'MM-DD', got {value!r}")
        date(2000, int(value[:2]), int(value[3:]))  # rejects 02-30 (2000 is a leap year)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> CentralizedPeriod:
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        for year, end in self.extensions.items():
            if end < date(year - 1, int(self.end[:2]), int(self.end[3:])):
                raise ValueError(f"extension for {year} ends {end}, before the normal end")
        return self


class WaitingPeriodRules(_Strict):
    """policy.md section 3: trigger, fixed and variable parts, repair and the long-lapse floor."""

    trigger: Literal["outside_or_lapsed", "outside_only"]
    fixed_months: NonNegInt
    variable_months_per_lapsed_year: NonNegInt
    repair_months_per_year: NonNegInt
    long_lapse_years: Annotated[int, Field(ge=1)]
    long_lapse_min_total_months: NonNegInt
    inside_period_waits_from_jan1: bool  # Interpretation: the wait of an in-period payment


BenefitStart = Literal["day_after_payment", "first_of_next_month"]


class ExemptionRules(_Strict):
    """policy.md section 4: windows (inclusive, counted from the event) and benefit starts."""

    newborn_window_days: NonNegInt
    assistance_window_days: NonNegInt | None = None  # None: any recipient at the payment date
    assistance_benefit_start: BenefitStart
    transition_window_days: NonNegInt | None = None
    transition_window_months: NonNegInt | None = None
    transition_benefit_start: BenefitStart

    @model_validator(mode="after")
    def _one_transition_window(self) -> ExemptionRules:
        if (self.transition_window_days is None) == (self.transition_window_months is None):
            raise ValueError("set exactly one of transition_window_days, transition_window_months")
        return self


class IncentiveRules(_Strict):
    """policy.md section 5: incentives, caps and penalties (yuan)."""

    incentive_threshold_years: NonNegInt
    continuous_step: Yuan
    zero_claim_step: Yuan
    incentive_cap_ratio: Ratio
    continuous_kept_on_lapse: bool
    zero_claim_reset_on_incentive_use: bool
    lapse_penalty_step: Yuan
    penalty_cap_ratio: Ratio | None = None  # None: no cap on the penalty
    outpatient_step: Yuan


class BaseCapRow(_Strict):
    effective_from: date
    base_cap: Yuan


class EmployeeRates(_Strict):
    in_force_from: date
    employer_rate_enterprise: Ratio
    employer_rate_institution: Ratio
    employee_rate: Ratio
    transition_until: date | None = None  # cities may phase in until this date (调整到位)


class FlexibleRates(_Strict):
    in_force_from: date
    rate_without_account: Ratio
    rate_with_account: Ratio
    account_share: Ratio
    transition_until: date | None = None  # cities may phase in until this date (过渡到位)


class MinimumYears(_Strict):
    male: NonNegInt
    female: NonNegInt
    in_force_from: date | None = None


class EmployeeRules(_Strict):
    """policy.md section 6: employee-scheme rates and minimum contribution years."""

    minimum_contribution_years: MinimumYears
    flexible_minimum_base_ratio: Ratio | None = None
    amount_tolerance_yuan: Yuan | None = None  # amount vs base x rate (policy.md section 6)
    rates: list[EmployeeRates] = []
    flexible_rates: list[FlexibleRates] = []


class RegionRules(_Strict):
    """One region's rule file. Resident sections are all present or all absent (employee-only)."""

    history_start_year: int  # from global.toml, the same for every region
    region: RegionInfo
    coverage: CoverageRules | None = None
    centralized_period: CentralizedPeriod | None = None
    waiting_period: WaitingPeriodRules | None = None
    exemptions: ExemptionRules | None = None
    incentives: IncentiveRules | None = None
    base_caps: list[BaseCapRow] = []
    employee: EmployeeRules | None = None

    @property
    def has_resident(self) -> bool:
        return self.coverage is not None

    @model_validator(mode="after")
    def _complete(self) -> RegionRules:
        sections = ["coverage", "centralized_period", "waiting_period", "exemptions", "incentives"]
        present = [s for s in sections if getattr(self, s) is not None]
        if present and len(present) != len(sections):
            missing = sorted(set(sections) - set(present))
            raise ValueError(f"resident rules incomplete, missing sections: {missing}")
        if not present and self.employee is None:
            raise ValueError("neither resident sections nor [employee]")
        if self.coverage and self.coverage.policy_start_year < self.history_start_year:
            raise ValueError("coverage.policy_start_year is before global history_start_year")
        return self


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise RuleFileError(f"{path}: rule file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RuleFileError(f"{path}: not valid TOML: {exc}") from exc


def _describe(path: Path, exc: ValidationError) -> RuleFileError:
    lines = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "(file)"
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
        lines.append(f"  {field}: {err['msg']}{shown}")
    return RuleFileError(f"{path}: invalid rule file\n" + "\n".join(lines))


def load_rules(directory: Path | str | None = None) -> dict[str, RegionRules]:
    """Load and validate every region file in `directory`: one RegionRules per region key.

    A region file is a `<key>.toml` with a [region] table; other TOML files of the folder
    belong to other stages and are skipped. `global.toml` supplies history_start_year.
    """
    folder = Path(directory) if directory is not None else RULES_DIR
    global_data = _read_toml(folder / GLOBAL_FILE)
    history_start = global_data.get("history_start_year")
    if not isinstance(history_start, int) or isinstance(history_start, bool):
        raise RuleFileError(f"{folder / GLOBAL_FILE}: history_start_year must be an integer")
    rules: dict[str, RegionRules] = {}
    for path in sorted(folder.glob("*.toml")):
        if path.name == GLOBAL_FILE or path.name in PARAMETER_FILES:
            continue
        data = _read_toml(path)
        if "region" not in data:
            continue  # another rule file of this folder (e.g. retirement ages), not a region
        try:
            region = RegionRules.model_validate({"history_start_year": history_start, **data})
        except ValidationError as exc:
            raise _describe(path, exc) from None
        if region.region.key != path.stem:
            raise RuleFileError(f"{path}: region.key {region.region.key!r} != file name")
        rules[region.region.key] = region
    _check_set(folder, rules)
    return rules


def _check_set(folder: Path, rules: dict[str, RegionRules]) -> None:
    if FALLBACK_REGION not in rules or not rules[FALLBACK_REGION].has_resident:
        raise RuleFileError(f"{folder}: {FALLBACK_REGION}.toml with resident rules is required")
    seen: dict[tuple[str, bool], str] = {}
    for key, region in rules.items():
        for prefix in region.region.province_prefixes:
            for scheme_key in [
                (prefix, region.has_resident),
                (prefix, region.employee is not None),
            ]:
                if scheme_key[1] and scheme_key in seen and seen[scheme_key] != key:
                    raise RuleFileError(
                        f"{folder}: province prefix {prefix} claimed by {seen[scheme_key]} and {key}"
                    )
                seen.setdefault(scheme_key, key)


def history_start_year(rules: dict[str, RegionRules]) -> int:
    """The global first year of the coverage line (global.toml)."""
    return rules[FALLBACK_REGION].history_start_year


def region_for_division(
    division: pl.Expr | str, rules: dict[str, RegionRules], scheme: str = "resident"
) -> pl.Expr:
    """Region key for a 6-digit division code, by the files' province prefixes.

    Resident scheme: a region with resident rules, else `national` (also for a null code).
    Employee scheme: a region with an [employee] table, else null.
    """
    code = pl.col(division) if isinstance(division, str) else division
    eligible = [
        r
        for r in rules.values()
        if (r.has_resident if scheme == "resident" else r.employee is not None)
    ]
    default = FALLBACK_REGION if scheme == "resident" else None
    expr = pl.lit(default, dtype=pl.Utf8)
    # Longer prefixes first so that a city-level file would win over its province.
    pairs = sorted(
        ((p, r.region.key) for r in eligible for p in r.region.province_prefixes),
        key=lambda pair: len(pair[0]),
    )
    for prefix, key in pairs:
        expr = pl.when(code.str.starts_with(prefix)).then(pl.lit(key)).otherwise(expr)
    return expr


def _month_day_parts(value: str) -> tuple[int, int]:
    return int(value[:2]), int(value[3:])


def resident_rules_frame(rules: dict[str, RegionRules]) -> pl.DataFrame:
    """One row per resident-scheme region: every parameter as a flat column, for joins."""
    rows = []
    for key, r in rules.items():
        if not r.has_resident:
            continue
        start_m, start_d = _month_day_parts(r.centralized_period.start)
        end_m, end_d = _month_day_parts(r.centralized_period.end)
        rows.append(
            {
                "region": key,
                **r.coverage.model_dump(),
                "centralized_start_month": start_m,
                "centralized_start_day": start_d,
                "centralized_end_month": end_m,
                "centralized_end_day": end_d,
                **r.waiting_period.model_dump(),
                **r.exemptions.model_dump(),
                **r.incentives.model_dump(),
            }
        )
    schema_overrides = {
        "assistance_window_days": pl.Int64,
        "transition_window_days": pl.Int64,
        "transition_window_months": pl.Int64,
        "penalty_cap_ratio": pl.Float64,
    }
    return pl.DataFrame(rows, schema_overrides=schema_overrides, infer_schema_length=None)


def centralized_extensions_frame(rules: dict[str, RegionRules]) -> pl.DataFrame:
    """One row per (region, coverage year) whose centralized period was extended."""
    rows = [
        {"region": key, "year": year, "centralized_end": end}
        for key, r in rules.items()
        if r.has_resident
        for year, end in r.centralized_period.extensions.items()
    ]
    schema = {"region": pl.Utf8, "year": pl.Int32, "centralized_end": pl.Date}
    return pl.DataFrame(rows, schema=schema)


def region_base_caps_frame(rules: dict[str, RegionRules]) -> pl.DataFrame:
    """One row per province-wide base cap row of a rule file (region, effective_from, base_cap)."""
    rows = [{"region": key, **row.model_dump()} for key, r in rules.items() for row in r.base_caps]
    schema = {"region": pl.Utf8, "effective_from": pl.Date, "base_cap": pl.Float64}
    return pl.DataFrame(rows, schema=schema)
