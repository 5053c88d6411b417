"""Nightly operations: a killed run publishes nothing, analysts never see a mix (issue 8)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.settings import SAMPLE_INBOX

AS_OF = "2026-11-20"
PROBE = "select count(*), count(distinct person_id) from person"


def _nights() -> list[Path]:
    return sorted(p for p in SAMPLE_INBOX.iterdir() if p.is_dir() and p.name[:2] == "20")


def _inbox(root: Path, nights: int) -> Path:
    """A copy of the sample inbox holding the reference files and the first ``nights`` nights."""
    inbox = root / "inbox"
    inbox.mkdir(exist_ok=True)
    for folder in [SAMPLE_INBOX / "reference", *_nights()[:nights]]:
        if folder.exists() and not (inbox / folder.name).exists():
            shutil.copytree(folder, inbox / folder.name)
    return inbox


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = PREFECT_API_URL.value()  # the session's test server
    return env | (extra or {})


def _enrol_run(root: Path, inbox: Path, **popen) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "pipelines.cli", "run", "--inbox", str(inbox),
        "--warehouse", str(root / "warehouse.duckdb"), "--exports", str(root / "exports"),
        "--as-of", AS_OF,
    ]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, **popen,
    )


def _finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return output


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _probe(warehouse: Path) -> tuple:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(PROBE).fetchone()


@pytest.mark.slow
def test_killed_run_leaves_the_published_warehouse_unchanged(prefect_harness, tmp_path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    _finish(_enrol_run(tmp_path, _inbox(tmp_path, 2)))
    before, before_answer = _sha256(warehouse), _probe(warehouse)

    inbox = _inbox(tmp_path, 3)
    flag = tmp_path / "paused"
    env = _env({"ENROL_FAULT_PAUSE_AFTER_STAGE": f"person:{flag}"})
    process = _enrol_run(tmp_path, inbox, env=env)
    deadline = time.monotonic() + 300
    while not flag.exists():
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "the run never reached the person stage"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    assert _sha256(warehouse) == before
    assert _probe(warehouse) == before_answer
    _finish(_enrol_run(tmp_path, inbox, env=_env()))  # the next run picks up the third night
    assert _probe(warehouse)[0] >= before_answer[0]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        nights = "select count(distinct batch_id) from ingest_log where batch_id like '20%'"
        assert con.execute(nights).fetchone()[0] == len(_nights()[:3])


@pytest.mark.slow
def test_analysts_see_the_old_or_the_new_state_never_a_mix(prefect_harness, tmp_path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    _finish(_enrol_run(tmp_path, _inbox(tmp_path, 1), env=_env()))
    old = _probe(warehouse)
    answers: list[tuple] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def analyst() -> None:
        while not stop.is_set():
            try:
                answers.append(_probe(warehouse))
            except BaseException as error:  # noqa: BLE001 - every failure is a test failure
                failures.append(error)

    reader = threading.Thread(target=analyst)
    reader.start()
    try:
        _finish(_enrol_run(tmp_path, _inbox(tmp_path, 3), env=_env()))
    finally:
        time.sleep(0.5)
        stop.set()
        reader.join()
    new = _probe(warehouse)
    assert failures == []
    assert len(answers) > 10
    assert set(answers) <= {old, new}
    assert new != old
