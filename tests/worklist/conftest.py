"""Fixtures of the worklist tests; the helpers live in ``marts_fixtures`` (also used by
tests/io/test_catalog.py and tests/report)."""

from __future__ import annotations

from pathlib import Path

import pytest
from marts_fixtures import scenario_marts


@pytest.fixture
def scenario_db(tmp_path: Path) -> Path:
    """The one-person-per-case scenario of ``marts_fixtures.fill_scenario``, as of AS_OF."""
    return scenario_marts(tmp_path / "build.duckdb")
