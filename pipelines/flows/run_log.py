"""Timing and counts of one run, written to ``run_log`` and ``run_stage_log``."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.io.run_store import write_run_log
from pipelines.settings import TIMEZONE


PAUSE_AFTER_STAGE = "ENROL_FAULT_PAUSE_AFTER_STAGE"


def _pause_for_fault_injection(stage: str) -> None:
    """Test hook: after ``stage``, touch ``<flag file>`` and sleep, so a test can SIGKILL the run
    at a known stage boundary. Set ``ENROL_FAULT_PAUSE_AFTER_STAGE=<stage>:<flag file>``."""
    wanted, _, flag = os.environ.get(PAUSE_AFTER_STAGE, "").partition(":")
    if wanted == stage and flag:
        Path(flag).touch()
        time.sleep(600)


@dataclass
class StageRecord:
    stage: str
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class RunRecorder:
    """Collects per-stage wall seconds and row counts while the flow runs."""

    as_of: date
    started_at: datetime = field(default_factory=lambda: datetime.now(ZoneInfo(TIMEZONE)))
    stages: list[StageRecord] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """Start time to the microsecond, then the as-of date: unique per run, sorts by start.

        (Seconds alone let two runs of the same night started in the same second share an id,
        and the second overwrote the first's run_log row.)
        """
        return f"{self.started_at:%Y%m%dT%H%M%S%f}-{self.as_of.isoformat()}"

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[StageRecord]:
        record = StageRecord(name)
        self.stages.append(record)
        began = time.perf_counter()
        try:
            yield record
        finally:
            record.seconds = round(time.perf_counter() - began, 3)
        _pause_for_fault_injection(name)

    def count(self, result: Any) -> None:
        """Keep the integer counts a task returned (a dict, or an object with ``counts()``)."""
        counts = result.counts() if hasattr(result, "counts") else (result or {})
        self.stages[-1].counts.update(
            {key: int(value) for key, value in counts.items() if isinstance(value, int)}
        )

    def write(self, build: Path) -> None:
        write_run_log(build, self.run_id, self.as_of, self.started_at, self.stages)

    def summary(self, report: Path | None = None) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "report": str(report) if report else None,
            "stages": [
                {"stage": s.stage, "seconds": s.seconds, **s.counts} for s in self.stages
            ],
        }
