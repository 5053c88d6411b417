"""Nightly operations: a killed run publishes nothing, analysts never see a mix (issue 8)."""

from __future__ import annotations

import hashlib
import json
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
# what analysts ask: a state that changes with every published run, and its content
STATE = "select (select max(run_id) from run_log), (select count(*) from ingest_log), (select count(*) from person)"
CONTENT = "select flag, count(*) from coverage_flag group by flag order by flag"


KEPT_OPEN = """
import json, sys, pathlib, duckdb
warehouse, sql, stop = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
answers, errors, queries = set(), [], 0
with duckdb.connect(warehouse, read_only=True) as con:
    while not stop.exists():
        try:
            answers.add(tuple(con.execute(sql).fetchall())); queries += 1
        except Exception as error:
            errors.append(str(error))
print(json.dumps({"answers": sorted(answers), "errors": errors, "queries": queries}))
"""


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


def _probe(warehouse: Path, sql: str = STATE) -> tuple:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return tuple(con.execute(sql).fetchall())


@pytest.mark.slow
def test_killed_run_leaves_the_published_warehouse_unchanged(prefect_harness, tmp_path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    _finish(_enrol_run(tmp_path, _inbox(tmp_path, 2), env=_env()))
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
    # ... and ends exactly where a run that was never killed ends
    undisturbed = tmp_path / "undisturbed"
    undisturbed.mkdir()
    _finish(_enrol_run(undisturbed, _inbox(undisturbed, 2), env=_env()))
    _finish(_enrol_run(undisturbed, _inbox(undisturbed, 3), env=_env()))
    assert _probe(warehouse, CONTENT) == _probe(undisturbed / "warehouse.duckdb", CONTENT)
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
        """An analyst who opens a fresh read-only connection for every query."""
        while not stop.is_set():
            try:
                answers.append(_probe(warehouse))
            except BaseException as error:  # noqa: BLE001 - every failure is a test failure
                failures.append(error)

    # Another analyst, in another process (DuckDB shares one database instance per file
    # inside a process), keeps one connection open through the publish.
    stop_file = tmp_path / "stop-session"
    session = subprocess.Popen(
        [sys.executable, "-c", KEPT_OPEN, str(warehouse), STATE, str(stop_file)],
        stdout=subprocess.PIPE, text=True,
    )
    reader = threading.Thread(target=analyst)
    reader.start()
    try:
        _finish(_enrol_run(tmp_path, _inbox(tmp_path, 3), env=_env()))
        new = _probe(warehouse)
        deadline = time.monotonic() + 10
        while new not in answers[-5:] and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        reader.join()
        stop_file.touch()
    kept_open = json.loads(session.communicate(timeout=60)[0])
    assert failures == []
    assert len(answers) > 10
    assert set(answers) <= {old, new}
    assert new != old and new in answers  # the analyst who reconnects sees the new state
    assert kept_open["errors"] == [] and kept_open["queries"] > 10
    assert {tuple(map(tuple, a)) for a in kept_open["answers"]} == {old}  # an open session keeps its state
