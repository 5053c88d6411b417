"""Typed run parameters, in one place, and nothing else.

Precedence, highest first:

1. command-line flags (``enrol run --inbox ...``), passed as keyword arguments;
2. environment variables ``ENROL_<NAME>`` (``ENROL_INBOX``, ``ENROL_MAX_REJECT_RATE`` ...);
3. a TOML config file: ``--config FILE``, else ``$ENROL_CONFIG``, else ``./enrol.toml`` if present;
4. the defaults below, which run the bundled synthetic sample on a fresh checkout.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_INBOX = PROJECT_ROOT / "data" / "sample" / "inbox"
DEFAULT_REFERENCE = PROJECT_ROOT / "data" / "reference"
TIMEZONE = "Asia/Shanghai"


def today_in_china() -> date:
    """The run date: today in China, whatever the machine's clock zone."""
    from datetime import datetime

    return datetime.now(ZoneInfo(TIMEZONE)).date()


DEFAULT_BATCH_ROWS = 3_000_000
"""Rows a bucketed per-person stage holds at once unless ``batch_rows`` says otherwise."""


class Settings(BaseSettings):
    """Parameters of one nightly run."""

    model_config = SettingsConfigDict(env_prefix="ENROL_", extra="forbid")

    inbox: Path = Field(SAMPLE_INBOX, description="folder of nightly deliveries")
    warehouse: Path = Field(
        PROJECT_ROOT / "var" / "warehouse.duckdb", description="published DuckDB warehouse"
    )
    exports: Path = Field(PROJECT_ROOT / "var" / "exports", description="worklists and reports")
    reference: Path = Field(DEFAULT_REFERENCE, description="default reference files")
    as_of: date | None = Field(None, description="evaluation date; default: today in China")
    max_reject_rate: float = Field(
        0.2, ge=0, le=1, description="a source rejecting more than this share fails the run"
    )
    schedule_cron: str = Field("0 2 * * *", description="nightly schedule, Asia/Shanghai")
    shards: int = Field(
        1, ge=1, description="person shards of the per-person stages; 1 runs them in process"
    )
    batch_rows: int = Field(
        DEFAULT_BATCH_ROWS,
        ge=1_000,
        description="most payment rows the employee checks and the worklist hold in memory at "
        "once; a larger population is processed in person buckets, one after another",
    )
    dask_address: str | None = Field(
        None, description="Dask scheduler (tcp://host:8786) for the shard tasks and the "
        "ingest's reading and checks; default: local (the ingest in process)"
    )

    def run_date(self) -> date:
        """The as-of date of this run."""
        return self.as_of or today_in_china()


def _config_file(explicit: Path | None) -> dict[str, Any]:
    path = explicit or (Path(os.environ["ENROL_CONFIG"]) if "ENROL_CONFIG" in os.environ else None)
    if path is None and Path("enrol.toml").exists():
        path = Path("enrol.toml")
    if path is None:
        return {}
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"config file {path}: {error}") from error


def load_settings(config: Path | None = None, **flags: Any) -> Settings:
    """Settings from flags > environment > config file > defaults (flags set to None are unset)."""
    from_file = _config_file(config)
    from_env = Settings().model_dump(exclude_unset=True)
    given = {name: value for name, value in flags.items() if value is not None}
    return Settings.model_validate({**from_file, **from_env, **given})
