"""Writes ``run_log`` (one row per run) and ``run_stage_log`` (one row per run and stage)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.io.warehouse import connect
from pipelines.settings import TIMEZONE

_DDL = """
CREATE TABLE IF NOT EXISTS run_log (
    run_id VARCHAR PRIMARY KEY, as_of DATE, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
    status VARCHAR, total_seconds DOUBLE, stage_seconds JSON, stage_counts JSON
);
CREATE TABLE IF NOT EXISTS run_stage_log (
    run_id VARCHAR, stage VARCHAR, seconds DOUBLE, counts JSON
);
"""


def write_run_log(
    build: Path, run_id: str, as_of: date, started_at: datetime, stages: list[Any]
) -> None:
    """Record a successful run (a failed run never reaches the published warehouse)."""
    finished_at = datetime.now(ZoneInfo(TIMEZONE))
    seconds = {s.stage: s.seconds for s in stages}
    counts = {s.stage: s.counts for s in stages}
    with connect(build) as con:
        con.execute(_DDL)
        con.execute("DELETE FROM run_log WHERE run_id = ?", [run_id])
        con.execute(
            "INSERT INTO run_log VALUES (?, ?, ?, ?, 'succeeded', ?, ?, ?)",
            [
                run_id, as_of, started_at, finished_at,
                round((finished_at - started_at).total_seconds(), 3),
                json.dumps(seconds), json.dumps(counts, ensure_ascii=False),
            ],
        )
        con.executemany(
            "INSERT INTO run_stage_log VALUES (?, ?, ?, ?)",
            [[run_id, s.stage, s.seconds, json.dumps(s.counts)] for s in stages],
        )
