"""Person buckets split once into scratch parquet (issue 9): same worklist, no files left.

The scenario has a few persons, so ``SPLIT_FROM_BUCKETS`` is lowered to split at 2 buckets.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from marts_fixtures import AS_OF

from pipelines.flows import tasks_outputs
from pipelines.flows.tasks_outputs import build_worklist
from pipelines.io import warehouse as wh
from pipelines.io.marts import PersonBuckets


@pytest.fixture(autouse=True)
def _split_from_two_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PersonBuckets, "SPLIT_FROM_BUCKETS", 2)


def _worklist(db: Path) -> list[tuple]:
    with wh.connect(db, read_only=True) as con:
        return con.sql("SELECT * FROM main.worklist").fetchall()


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".buckets-" in p.name]


def test_many_buckets_some_empty_give_the_same_worklist_9(scenario_db: Path, tmp_path: Path):
    bucketed = tmp_path / "bucketed.duckdb"
    shutil.copy(scenario_db, bucketed)
    whole = build_worklist.fn(scenario_db, AS_OF)
    # 5 buckets: coverage_year, repeat_enrolment and retirement_readiness (1-2 persons each)
    # have no rows in most of them, so those buckets read no files
    parts = build_worklist.fn(bucketed, AS_OF, batch_rows=1)
    assert parts["worklist_buckets"] == 5 and whole["worklist_cases"] > 0
    assert _worklist(scenario_db) == _worklist(bucketed)
    assert _leftovers(tmp_path) == []


def test_a_failed_bucketed_build_leaves_no_scratch_files_9(scenario_db, tmp_path, monkeypatch):
    def fail(*_args, **_kwargs):
        raise RuntimeError("stage failed")

    monkeypatch.setattr(tasks_outputs.worklist_stage, "build_worklist", fail)
    with pytest.raises(RuntimeError, match="stage failed"):
        build_worklist.fn(scenario_db, AS_OF, batch_rows=2)
    assert _leftovers(tmp_path) == []


def test_an_encrypted_warehouse_gives_the_same_worklist_9(scenario_db, tmp_path, monkeypatch):
    encrypted = tmp_path / "encrypted.duckdb"
    monkeypatch.setenv(wh.ENCRYPTION_KEY_ENV, "bucket test key")
    monkeypatch.setenv(wh.UNSAFE_MBEDTLS_ENV, "1")
    with wh.connect(encrypted) as con:
        con.execute(f"ATTACH '{scenario_db}' AS plain (READ_ONLY)")
        con.execute(f"COPY FROM DATABASE plain TO {wh.ALIAS}")
        con.execute("DETACH plain")
    parts = build_worklist.fn(encrypted, AS_OF, batch_rows=2)
    monkeypatch.delenv(wh.ENCRYPTION_KEY_ENV)
    build_worklist.fn(scenario_db, AS_OF)
    assert parts["worklist_buckets"] == 3
    monkeypatch.setenv(wh.ENCRYPTION_KEY_ENV, "bucket test key")
    bucketed = _worklist(encrypted)
    monkeypatch.delenv(wh.ENCRYPTION_KEY_ENV)
    assert bucketed == _worklist(scenario_db) and len(bucketed) > 0
    assert _leftovers(tmp_path) == []
