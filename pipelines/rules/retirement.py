"""Statutory retirement age table (retirement_age.toml) and its validated loader.

The 2024 gradual retirement-age reform is data: per track (men, women cadres, women workers) a
list of contiguous birth-cohort month ranges, each with the retirement age in months. A bad file
fails on load with a message naming file and field, like the region rule files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.rules.loader import RULES_DIR, RuleFileError, _describe, _read_toml

RETIREMENT_FILE = "retirement_age.toml"
_YEAR_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _month_index(value: str) -> int:
    return int(value[:4]) * 12 + int(value[5:]) - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cohort(_Strict):
    """People born in [born_from, born_to] (inclusive months, open where absent) retire at age_months."""

    born_from: str | None = None
    born_to: str | None = None
    age_months: Annotated[int, Field(gt=0)]

    @field_validator("born_from", "born_to")
    @classmethod
    def _year_month(cls, value: str | None) -> str | None:
        if value is not None and not _YEAR_MONTH.match(value):
            raise ValueError(f"must be 'YYYY-MM', got {value!r}")
        return value


class Track(_Strict):
    """One retirement-age track: the sex it applies to and its cohort rows, oldest first."""

    sex: Annotated[int, Field(ge=1, le=2)]
    cohorts: Annotated[list[Cohort], Field(min_length=1)]

    @model_validator(mode="after")
    def _contiguous(self) -> Track:
        first, last = self.cohorts[0], self.cohorts[-1]
        if first.born_from is not None or last.born_to is not None:
            raise ValueError("the first cohort needs no born_from and the last no born_to")
        for before, after in zip(self.cohorts, self.cohorts[1:]):
            if before.born_to is None or after.born_from is None:
                raise ValueError("only the first cohort may omit born_from, the last born_to")
            if _month_index(after.born_from) != _month_index(before.born_to) + 1:
                raise ValueError(f"cohorts not contiguous: {before.born_to} then {after.born_from}")
        for cohort in self.cohorts[1:-1]:
            if _month_index(cohort.born_to) < _month_index(cohort.born_from):
                raise ValueError(f"cohort {cohort.born_from}..{cohort.born_to} is empty")
        return self


class RetirementAges(_Strict):
    """retirement_age.toml: the tracks, the default women's track and the outreach window."""

    female_track: str
    outreach_window_months: Annotated[int, Field(ge=0)]
    tracks: dict[str, Track]

    @model_validator(mode="after")
    def _tracks(self) -> RetirementAges:
        if self.female_track not in self.tracks or self.tracks[self.female_track].sex != 2:
            raise ValueError(f"female_track {self.female_track!r} is not a women's track")
        if sorted({t.sex for t in self.tracks.values()}) != [1, 2]:
            raise ValueError("need at least one track for each sex (1 male, 2 female)")
        return self


def load_retirement_ages(path: Path | str | None = None) -> RetirementAges:
    """Load and validate the retirement-age table (default: pipelines/rules/retirement_age.toml)."""
    file = Path(path) if path is not None else RULES_DIR / RETIREMENT_FILE
    try:
        return RetirementAges.model_validate(_read_toml(file))
    except ValidationError as exc:
        raise _describe(file, exc) from None


def retirement_age_frame(ages: RetirementAges, female_track: str | None = None) -> pl.DataFrame:
    """One row per (sex, cohort) of the chosen tracks: sex, born_from_index, age_months.

    Men use the (only) men's track; women the `female_track` argument, else the file's default.
    `born_from_index` is the first birth month (year * 12 + month - 1; the open first cohort
    starts at 0), so an as-of join on the birth month finds the cohort.
    """
    chosen = female_track or ages.female_track
    if chosen not in ages.tracks or ages.tracks[chosen].sex != 2:
        raise RuleFileError(f"unknown women's retirement track {chosen!r}: {sorted(ages.tracks)}")
    male = [t for t in ages.tracks.values() if t.sex == 1]
    if len(male) != 1:
        raise RuleFileError(f"{RETIREMENT_FILE}: expected exactly one men's track")
    rows = [
        {
            "sex": track.sex,
            "born_from_index": _month_index(c.born_from) if c.born_from else 0,
            "age_months": c.age_months,
        }
        for track in (male[0], ages.tracks[chosen])
        for c in track.cohorts
    ]
    schema = {"sex": pl.UInt8, "born_from_index": pl.Int32, "age_months": pl.Int32}
    return pl.DataFrame(rows, schema=schema).sort("sex", "born_from_index")
