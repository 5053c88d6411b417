"""Faults injected into real runs, each with its documented recovery (issue 10).

- SIGKILL at every stage boundary of the nightly flow: the published warehouse (and its
  ``.previous``) stay byte for byte; the next run publishes everything.
- Disk full while writing: the warehouse lives on a small tmpfs (mounted here; we run as root);
  the run fails with one line, the published file is untouched; freeing space is the recovery.
- A corrupted published warehouse: the next run refuses, naming the file and the recovery
  (``mv <warehouse>.previous <warehouse>``), and changes nothing.
- The clock moving backwards between runs, and an as-of date earlier than the last run's:
  runs publish; the marts depend on the inbox and the as-of date only, never on the clock.

Every run is an ``enrol run`` subprocess against the session's Prefect test server.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.io import warehouse as wh
from pipelines.settings import SAMPLE_INBOX

pytestmark = pytest.mark.slow
AS_OF = "2026-11-20"
NIGHTLY = Path(__file__).parents[2] / "pipelines" / "flows" / "nightly.py"
STAGES = re.findall(r'recorder\.stage\("(\w+)"\)', NIGHTLY.read_text(encoding="utf-8"))
MARTS = ("person", "coverage_year", "coverage_flag", "repeat_enrolment", "policy_status",
         "worklist", "contribution_finding", "retirement_readiness")
FAKE_CLOCK = (
    "import datetime as d, sys\n"
    "import pipelines.flows.run_log as r\n"
    "class Clock(d.datetime):\n"
    "    @classmethod\n"
    "    def now(cls, tz=None):\n"
    "        return d.datetime(2020, 1, 1, 3, 0, tzinfo=tz)\n"
    "r.datetime = Clock\n"
    "from pipelines.cli import main\n"
    "sys.argv[0] = 'enrol'\n"
    "main()\n"
)


def _nights() -> list[Path]:
    return sorted(p for p in SAMPLE_INBOX.iterdir() if p.is_dir() and p.name[:2] == "20")


def _inbox(root: Path, nights: int) -> Path:
    inbox = root / "inbox"
    inbox.mkdir(exist_ok=True)
    for folder in [SAMPLE_INBOX / "reference", *_nights()[:nights]]:
        if not (inbox / folder.name).exists():
            shutil.copytree(folder, inbox / folder.name)
    return inbox


def _env(**extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    return env | extra


def _start(warehouse: Path, inbox: Path, as_of: str = AS_OF, *, clock: bool = False,
           exports: Path | None = None, **env: str) -> subprocess.Popen:
    head = [sys.executable, "-c", FAKE_CLOCK] if clock else [sys.executable, "-m", "pipelines.cli"]
    command = [*head, "run", "--inbox", str(inbox), "--warehouse", str(warehouse),
               "--exports", str(exports or warehouse.parent / "exports"), "--as-of", as_of]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(**env), start_new_session=True)


def _run(*args, **kwargs) -> tuple[int, str, str]:
    process = _start(*args, **kwargs)
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def _ok(*args, **kwargs) -> None:
    code, out, err = _run(*args, **kwargs)
    assert code == 0, (out + err)[-3000:]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sql(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _marts(warehouse: Path) -> dict[str, str]:
    """A content hash per mart (row order ignored)."""
    return {t: _sql(warehouse, f"SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) "
                               f"FROM (SELECT CAST(t AS VARCHAR) AS x FROM main.{t} AS t)")[0][0]
            for t in MARTS}


def _nothing_lost(warehouse: Path, inbox: Path) -> None:
    """Every delivered file is logged once and its records are all accepted or rejected."""
    delivered = sorted(p.relative_to(inbox).as_posix() for night in _nights()
                       if (inbox / night.name).exists() for p in (inbox / night.name).iterdir())
    logged = _sql(warehouse, "SELECT file, count(*) FROM main.ingest_log "
                             "WHERE batch_id <> 'reference' GROUP BY file ORDER BY file")
    assert logged == [(f, 1) for f in delivered]
    assert _sql(warehouse, "SELECT count(*) FROM main.ingest_log "
                           "WHERE rows_read <> rows_accepted + rows_rejected") == [(0,)]
    assert _sql(warehouse, "SELECT sum(rows_rejected) FROM main.ingest_log WHERE status = "
                           "'ingested'") == _sql(warehouse, "SELECT count(DISTINCT (file, line)) "
                                                 "FROM main.rejects WHERE line IS NOT NULL")


@pytest.fixture(scope="module")
def published(prefect_harness, tmp_path_factory) -> Path:
    """Nights 1 and 2 published by two runs (so ``.previous`` holds night 1's state)."""
    root = tmp_path_factory.mktemp("faults")
    warehouse = root / "warehouse.duckdb"
    _ok(warehouse, _inbox(root, 1))
    _ok(warehouse, _inbox(root, 2))
    return warehouse


def _copy(published: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in (published, wh.previous_path(published)):
        shutil.copy2(path, target / path.name)
    shutil.copytree(published.parent / "inbox", target / "inbox")
    return target / published.name


def test_killed_at_every_stage_boundary_nothing_changes_10(published, tmp_path) -> None:
    assert len(STAGES) >= 10, STAGES
    warehouse = _copy(published, tmp_path)
    inbox = _inbox(tmp_path, 3)
    before = (_sha(warehouse), _sha(wh.previous_path(warehouse)))
    for stage in STAGES:
        flag = tmp_path / f"paused-{stage}"
        process = _start(warehouse, inbox, ENROL_FAULT_PAUSE_AFTER_STAGE=f"{stage}:{flag}")
        deadline = time.monotonic() + 300
        while not flag.exists():
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, f"the run never reached {stage}"
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert (_sha(warehouse), _sha(wh.previous_path(warehouse))) == before, stage
    _ok(warehouse, inbox)  # recovery: the next run starts again from the published state
    _nothing_lost(warehouse, inbox)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 64 MB tmpfs (we are root); skipped where mounting is not permitted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_while_writing_publishes_nothing_10(published, small_disk, tmp_path) -> None:
    warehouse = _copy(published, small_disk)
    inbox = _inbox(small_disk, 3)
    before = _sha(warehouse)
    free = shutil.disk_usage(small_disk).free
    filler = small_disk / "filler"
    # leave room for the build copy and a little more: the night's writes run out of space
    with open(filler, "wb") as handle:
        handle.truncate(0)
        handle.write(b"\0" * (free - warehouse.stat().st_size - 256 * 1024))
    code, out, err = _run(warehouse, inbox, exports=tmp_path / "exports")
    assert code != 0, (out + err)[-2000:]
    lines = [line for line in err.strip().splitlines() if line.startswith("enrol:")]
    assert len(lines) == 1 and "space" in lines[0].lower() and "stays published" in lines[0], err
    assert _sha(warehouse) == before
    assert not wh.building_path(warehouse).exists()  # the failed build was discarded
    filler.unlink()  # recovery: free space, run again
    _ok(warehouse, inbox, exports=tmp_path / "exports")
    _nothing_lost(warehouse, inbox)


@pytest.mark.parametrize("damage", ["header", "truncated"])
def test_a_corrupt_published_warehouse_is_refused_with_the_recovery_10(
    published, tmp_path, damage
) -> None:
    warehouse = _copy(published, tmp_path)
    if damage == "header":
        with open(warehouse, "r+b") as handle:
            handle.write(os.urandom(8192))
    else:
        with open(warehouse, "r+b") as handle:
            handle.truncate(warehouse.stat().st_size // 3)
    corrupt = _sha(warehouse)
    with pytest.raises(wh.WarehouseCorrupt, match=re.escape(f"mv {wh.previous_path(warehouse)}")):
        wh.start_build(warehouse)
    assert _sha(warehouse) == corrupt and not wh.building_path(warehouse).exists()
    if damage == "header":  # the operator sees the same, in one line, from `enrol run`
        (tmp_path / "inbox").mkdir(exist_ok=True)
        code, _, err = _run(warehouse, tmp_path / "inbox")
        assert code != 0 and "WarehouseCorrupt" in err and str(warehouse) in err
        assert len(err.strip().splitlines()) == 1, err  # Prefect's logs went to stdout
    os.replace(wh.previous_path(warehouse), warehouse)  # the documented recovery
    build = wh.start_build(warehouse)
    assert build.exists()
    wh.discard_build(warehouse)
    nights = _sql(warehouse, "SELECT DISTINCT batch_id FROM main.ingest_log "
                             "WHERE batch_id <> 'reference'")
    assert nights == [(_nights()[0].name,)]  # night 1's state; the next run re-ingests the rest


def test_clock_backwards_and_an_earlier_as_of_publish_deterministically_10(
    published, tmp_path
) -> None:
    warehouse = _copy(published, tmp_path)
    inbox = tmp_path / "inbox"
    _ok(warehouse, inbox)  # nothing new: re-evaluates nights 1-2 as of 2026-11-20
    reference = _marts(warehouse)
    _ok(warehouse, inbox, "2026-11-19", clock=True)  # clock at 2020, as-of one day earlier
    earlier = _marts(warehouse)
    _ok(warehouse, inbox, clock=True)  # clock still at 2020, back to 2026-11-20
    assert _marts(warehouse) == reference  # the clock and the order of as-of dates don't matter
    assert earlier != reference  # the earlier as-of date was really evaluated
    runs = _sql(warehouse, "SELECT run_id, as_of, started_at FROM main.run_log ORDER BY run_id")
    assert len(runs) == len({r[0] for r in runs}) == 5  # every run kept, ids distinct
    assert sum(r[0].startswith("2020") for r in runs) == 2, runs  # run ids from the old clock


def test_a_second_run_of_the_same_warehouse_is_refused_while_one_runs_10(
    published, tmp_path
) -> None:
    """Without the run lock the second run discarded the first's build file as a killed run's
    leftover, and the first then went on in (or published) the second's copy (seen in a
    benchmark: ``Table with name birth does not exist``)."""
    warehouse = _copy(published, tmp_path)
    inbox = _inbox(tmp_path, 3)
    before = (_sha(warehouse), _sha(wh.previous_path(warehouse)))
    flag = tmp_path / "paused-ingest"
    first = _start(warehouse, inbox, ENROL_FAULT_PAUSE_AFTER_STAGE=f"ingest:{flag}")
    deadline = time.monotonic() + 300
    while not flag.exists():
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the first run never reached ingest"
        time.sleep(0.1)
    build = wh.building_path(warehouse)
    building = _sha(build)  # the first run's build, night 3 ingested

    code, _, err = _run(warehouse, inbox)
    assert code != 0 and "RunInProgress" in err and str(warehouse) in err, err
    assert f"pid {first.pid}" in err, err  # names the run that holds the warehouse
    assert len(err.strip().splitlines()) == 1, err
    assert _sha(build) == building  # the first run's build is untouched
    assert (_sha(warehouse), _sha(wh.previous_path(warehouse))) == before
    assert first.poll() is None  # and the first run goes on

    os.killpg(first.pid, signal.SIGKILL)  # the kernel releases the lock with the process
    first.wait()
    _ok(warehouse, inbox)
    _nothing_lost(warehouse, inbox)
