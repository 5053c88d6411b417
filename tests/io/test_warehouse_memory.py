"""DuckDB's memory limit on build connections (issue 9: 10M persons peaked at 21 GiB)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.io import warehouse
from pipelines.io.warehouse import connect


def _limit(con) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def _mib(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"MiB": 1, "GiB": 1024, "TiB": 1024**2}[unit]


def test_build_connections_get_a_share_of_physical_memory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(warehouse.MEMORY_LIMIT_ENV, raising=False)
    physical_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    with connect(tmp_path / "w.duckdb") as con:
        limit = _mib(_limit(con))
    # DuckDB's default would be 80%; the build's is BUILD_MEMORY_SHARE (floor 1 GiB)
    expected = max(physical_mib * warehouse.BUILD_MEMORY_SHARE, 1024)
    assert limit == pytest.approx(expected, rel=0.02)
    assert limit < physical_mib * 0.8


def test_the_limit_can_be_set_and_read_only_connections_keep_duckdbs(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv(warehouse.MEMORY_LIMIT_ENV, "700MB")
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        assert _mib(_limit(con)) == pytest.approx(700 * 1000**2 / 2**20, rel=0.01)
    monkeypatch.setenv(warehouse.MEMORY_LIMIT_ENV, "not a size")
    with connect(path, read_only=True) as con:  # analysts' queries: not the build's setting
        assert _mib(_limit(con)) > 700
