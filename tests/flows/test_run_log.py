"""The run recorder: run ids, stage timings and counts (issue 8)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pipelines.flows.run_log import RunRecorder

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_runs_started_in_the_same_second_get_different_ids() -> None:
    night = date(2026, 11, 20)
    first = RunRecorder(night, started_at=datetime(2026, 11, 21, 2, 0, 0, 1000, tzinfo=SHANGHAI))
    second = RunRecorder(night, started_at=datetime(2026, 11, 21, 2, 0, 0, 2000, tzinfo=SHANGHAI))
    assert first.run_id != second.run_id
    assert first.run_id < second.run_id  # ids sort by start time
    assert first.run_id.endswith("-2026-11-20")


def test_stage_keeps_its_integer_counts() -> None:
    recorder = RunRecorder(date(2026, 11, 20))
    with recorder.stage("ingest"):
        recorder.count({"rows": 3, "note": "text is not a count"})
    assert recorder.stages[0].stage == "ingest"
    assert recorder.stages[0].counts == {"rows": 3}
    assert recorder.stages[0].seconds >= 0
