"""Settings precedence: flags > environment > config file > defaults."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipelines.settings import SAMPLE_INBOX, load_settings


def test_defaults_run_the_bundled_sample(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENROL_CONFIG", raising=False)
    settings = load_settings()
    assert settings.inbox == SAMPLE_INBOX
    assert settings.max_reject_rate == 0.2


def test_precedence(monkeypatch, tmp_path: Path) -> None:
    config = tmp_path / "enrol.toml"
    config.write_text('max_reject_rate = 0.3\nschedule_cron = "0 3 * * *"\nas_of = 2026-03-01\n')
    monkeypatch.setenv("ENROL_MAX_REJECT_RATE", "0.5")
    assert load_settings(config).schedule_cron == "0 3 * * *"  # file over default
    assert load_settings(config).as_of == date(2026, 3, 1)
    assert load_settings(config).max_reject_rate == 0.5  # environment over file
    assert load_settings(config, max_reject_rate=0.1).max_reject_rate == 0.1  # flag over all
    assert load_settings(config, max_reject_rate=None).max_reject_rate == 0.5  # unset flag


def test_bad_values_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="max_reject_rate"):
        load_settings(max_reject_rate=1.5)
    config = tmp_path / "bad.toml"
    config.write_text("max_reject_rate = ")
    with pytest.raises(ValueError, match="bad.toml"):
        load_settings(config)
    config.write_text("unknown_setting = 1\n")
    with pytest.raises(ValidationError, match="unknown_setting"):
        load_settings(config)
