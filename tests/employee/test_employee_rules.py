"""The employee-scheme numbers of the rule files (policy.md section 6, 鲁政字〔2023〕184号) (issue 11)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines.rules.loader import RuleFileError
from pipelines.rules.retirement import load_retirement_ages, retirement_age_frame
from pipelines.stages.contribution_findings import employee_rates_frame, flexible_rates_frame
from pipelines.stages.retirement_readiness import minimum_months_frame


def test_shandong_employer_and_employee_rates_11(rules) -> None:
    row = employee_rates_frame(rules).filter(pl.col("region") == "shandong").row(0, named=True)
    assert row["employer_rate_enterprise"] == 0.08  # incl. 1% maternity
    assert row["employer_rate_institution"] == 0.073
    assert row["employee_rate"] == 0.02
    assert row["amount_tolerance_yuan"] == 1.0
    assert row["in_force_from"] == date(2024, 1, 1)  # 自2024年1月起
    assert row["transition_until"] == date(2025, 1, 1)  # 于2025年1月调整到位


def test_shandong_flexible_rates_and_minimum_base_11(rules) -> None:
    row = flexible_rates_frame(rules).filter(pl.col("region") == "shandong").row(0, named=True)
    assert (row["rate_without_account"], row["rate_with_account"]) == (0.07, 0.09)
    assert row["account_share"] == 0.02
    assert row["flexible_minimum_base_ratio"] == 0.60
    assert row["in_force_from"] == date(2024, 1, 1)
    assert row["transition_until"] == date(2026, 1, 1)  # 于2026年1月过渡到位


def test_zhejiang_sets_no_rates_11(rules) -> None:
    assert employee_rates_frame(rules).filter(pl.col("region") == "zhejiang").is_empty()
    assert flexible_rates_frame(rules).filter(pl.col("region") == "zhejiang").is_empty()


@pytest.mark.parametrize(
    ("region", "sex", "months", "in_force_from"),
    [
        ("shandong", 1, 360, date(2024, 1, 1)),  # men 30 years, with the region (policy.md 1)
        ("shandong", 2, 300, date(2024, 1, 1)),  # women 25 years
        ("zhejiang", 1, 240, None),
        ("zhejiang", 2, 240, None),
    ],
)
def test_minimum_contribution_months_11(rules, region, sex, months, in_force_from) -> None:
    row = minimum_months_frame(rules).filter(region=region, sex=sex).row(0, named=True)
    assert (row["required_months"], row["in_force_from"]) == (months, in_force_from)


def _age(frame: pl.DataFrame, sex: int, born: str) -> int:
    index = int(born[:4]) * 12 + int(born[5:]) - 1
    return frame.filter(pl.col("sex") == sex, pl.col("born_from_index") <= index).sort(
        "born_from_index"
    )["age_months"][-1]


@pytest.mark.parametrize(
    ("track", "sex", "born", "age_months"),
    [  # 渐进式延迟法定退休年龄 appendix tables: (birth month) -> age
        ("female_cadre", 1, "1964-12", 720),
        ("female_cadre", 1, "1965-01", 721),
        ("female_cadre", 1, "1965-04", 721),
        ("female_cadre", 1, "1965-05", 722),
        ("female_cadre", 1, "1976-08", 755),
        ("female_cadre", 1, "1976-09", 756),
        ("female_cadre", 1, "1990-06", 756),
        ("female_cadre", 2, "1969-12", 660),
        ("female_cadre", 2, "1970-01", 661),
        ("female_cadre", 2, "1981-09", 696),
        ("female_worker", 2, "1974-12", 600),
        ("female_worker", 2, "1975-01", 601),
        ("female_worker", 2, "1975-03", 602),
        ("female_worker", 2, "1984-10", 659),
        ("female_worker", 2, "1984-11", 660),
    ],
)
def test_retirement_age_by_cohort_11(ages, track, sex, born, age_months) -> None:
    assert _age(retirement_age_frame(ages, track), sex, born) == age_months


def test_default_women_track_is_the_55_based_one_11(ages) -> None:
    assert ages.female_track == "female_cadre"
    assert ages.outreach_window_months == 12
    assert _age(retirement_age_frame(ages), 2, "1960-01") == 55 * 12


def test_unknown_women_track_fails_11(ages) -> None:
    with pytest.raises(RuleFileError, match="unknown women's retirement track 'nurse'"):
        retirement_age_frame(ages, "nurse")


def test_gap_between_cohorts_fails_on_load_11(tmp_path: Path) -> None:
    bad = tmp_path / "retirement_age.toml"
    bad.write_text(
        'female_track = "f"\noutreach_window_months = 12\n'
        '[tracks.m]\nsex = 1\ncohorts = [{ born_to = "1964-12", age_months = 720 },'
        ' { born_from = "1965-02", age_months = 721 }]\n'
        "[tracks.f]\nsex = 2\ncohorts = [{ age_months = 660 }]\n",
        "utf-8",
    )
    with pytest.raises(RuleFileError, match="cohorts not contiguous: 1964-12 then 1965-02"):
        load_retirement_ages(bad)
