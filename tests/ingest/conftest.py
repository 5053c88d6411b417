"""Fixtures of the ingest tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import DIVISIONS, write_csv


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """An empty inbox with the test reference divisions."""
    root = tmp_path / "inbox"
    write_csv(root / "reference" / "divisions.csv",
              ["division_code", "name", "level", "parent_code"], [list(d) for d in DIVISIONS])
    return root
