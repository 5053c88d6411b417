"""The run lock: one run per warehouse at a time (tests/reliability covers real runs)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.io import warehouse as wh


def test_a_second_holder_is_refused_and_the_lock_is_free_again_after(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with wh.run_lock(warehouse):
        holder = wh.lock_path(warehouse).read_text(encoding="utf-8")
        assert holder.startswith(f"pid {os.getpid()} since ")
        # flock is per open file: a second open in this process conflicts like another process
        with (pytest.raises(wh.RunInProgress, match=f"pid {os.getpid()} since") as refused,
              wh.run_lock(warehouse)):
            pytest.fail("two holders of one warehouse's lock")
        assert str(warehouse) in str(refused.value)
        assert wh.lock_path(warehouse).read_text(encoding="utf-8") == holder
    with wh.run_lock(warehouse):  # released on exit
        pass


def test_an_exception_inside_releases_the_lock(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with pytest.raises(ZeroDivisionError), wh.run_lock(warehouse):
        raise ZeroDivisionError
    with wh.run_lock(warehouse):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    ready = tmp_path / "ready"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from pipelines.io import warehouse as wh\n"
        f"with wh.run_lock(Path({str(warehouse)!r})):\n"
        f"    Path({str(ready)!r}).touch(); time.sleep(60)\n")])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(wh.RunInProgress, match=f"pid {holder.pid} since"), \
                wh.run_lock(warehouse):
            pass
    finally:
        holder.kill()
        holder.wait()
    with wh.run_lock(warehouse):  # the kernel released it with the process
        pass
