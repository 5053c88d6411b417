"""Region rule files and their loader (issue 6)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines.rules.loader import (
    RULES_DIR,
    RuleFileError,
    history_start_year,
    load_rules,
    region_for_division,
    resident_rules_frame,
)


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped rule files."""
    for path in RULES_DIR.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_shipped_rules_load_with_policy_parameters():
    rules = load_rules()
    assert sorted(rules) == ["jiangsu", "national", "shandong", "tianjin", "zhejiang"]
    assert history_start_year(rules) == 2023
    assert rules["zhejiang"].waiting_period.trigger == "outside_only"
    assert rules["jiangsu"].centralized_period.start == "10-01"
    assert rules["tianjin"].coverage.switch_min_prior_months == 24
    assert rules["jiangsu"].incentives.lapse_penalty_step == 3000
    assert rules["zhejiang"].exemptions.transition_window_months == 3
    assert rules["zhejiang"].exemptions.assistance_window_days is None
    assert not rules["shandong"].has_resident
    assert rules["shandong"].employee.minimum_contribution_years.female == 25
    assert rules["shandong"].employee.rates[0].employer_rate_institution == 0.073
    assert rules["zhejiang"].employee.minimum_contribution_years.male == 20
    frame = resident_rules_frame(rules)
    assert sorted(frame["region"]) == ["jiangsu", "national", "tianjin", "zhejiang"]
    assert all(frame["policy_start_year"] == 2025)


def test_region_for_division_by_province_prefix():
    rules = load_rules()
    codes = pl.DataFrame({"d": ["330102", "320581", "120101", "370102", "110101", None]})
    out = codes.select(
        resident=region_for_division("d", rules),
        employee=region_for_division("d", rules, "employee"),
    )
    assert out["resident"].to_list() == [
        "zhejiang",
        "jiangsu",
        "tianjin",
        "national",
        "national",
        "national",
    ]
    assert out["employee"].to_list() == ["zhejiang", None, None, "shandong", None, None]


def test_edited_number_is_picked_up(rules_copy):
    path = rules_copy / "tianjin.toml"
    path.write_text(
        path.read_text("utf-8").replace("outpatient_step = 1000", "outpatient_step = 1500"), "utf-8"
    )
    assert load_rules(rules_copy)["tianjin"].incentives.outpatient_step == 1500


def test_extension_is_loaded(rules_copy):
    path = rules_copy / "jiangsu.toml"
    text = path.read_text("utf-8").replace(
        "[centralized_period.extensions]", "[centralized_period.extensions]\n2026 = 2026-02-28"
    )
    path.write_text(text, "utf-8")
    assert load_rules(rules_copy)["jiangsu"].centralized_period.extensions == {
        2026: date(2026, 2, 28)
    }


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "zhejiang.toml",
            "fixed_months = 3",
            "fixed_months = -1",
            r"zhejiang\.toml.*waiting_period\.fixed_months",
        ),
        (
            "jiangsu.toml",
            "incentive_cap_ratio = 0.20",
            "incentive_cap_ratio = 20",
            r"jiangsu\.toml.*incentive_cap_ratio",
        ),
        (
            "tianjin.toml",
            'trigger = "outside_or_lapsed"',
            'trigger = "sometimes"',
            r"tianjin\.toml.*waiting_period\.trigger",
        ),
        (
            "national.toml",
            'start = "09-01"',
            'start = "9/1"',
            r"national\.toml.*centralized_period\.start",
        ),
        (
            "national.toml",
            "outpatient_step = 0",
            "outpatient_step = 0\nbonus = 5",
            r"national\.toml.*incentives\.bonus",
        ),
        (
            "tianjin.toml",
            "long_lapse_years = 4\n",
            "",
            r"tianjin\.toml.*long_lapse_years.*Field required",
        ),
        ("zhejiang.toml", 'key = "zhejiang"', 'key = "jiangsu"', r"zhejiang\.toml.*file name"),
        (
            "jiangsu.toml",
            "transition_window_days = 90",
            "transition_window_months = 3\ntransition_window_days = 90",
            r"jiangsu\.toml.*exactly one",
        ),
        ("shandong.toml", "male = 30", "male = thirty", r"shandong\.toml.*not valid TOML"),
        ("tianjin.toml", 'province_prefixes = ["12"]', 'province_prefixes = ["33"]', r"prefix 33"),
    ],
)
def test_bad_rule_file_names_file_and_field(rules_copy, file, old, new, message):
    path = rules_copy / file
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")
    with pytest.raises(RuleFileError, match="(?s)" + message):
        load_rules(rules_copy)


def test_missing_national_file_is_an_error(rules_copy):
    (rules_copy / "national.toml").unlink()
    with pytest.raises(RuleFileError, match="national.toml"):
        load_rules(rules_copy)


def test_other_rule_files_in_the_folder_are_not_regions(rules_copy):
    (rules_copy / "retirement_age.toml").write_text("outreach_window_months = 12\n", "utf-8")
    assert "retirement_age" not in load_rules(rules_copy)
