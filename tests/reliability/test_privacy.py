"""Personal data only where needed (issue 10): masked exports and analyst views, no ID numbers
in logs, Prefect artifacts, rejects or error messages; the warehouse encrypted at rest.

One sample run (module scope) with encryption on; its console output at INFO, the Prefect logs
and artifacts on the session's test server, the exports and the analyst views are scanned.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest
from stdnum.cn import ric

from pipelines.io import warehouse as wh
from pipelines.io.analyst_views import ID_COLUMNS, NAME_COLUMNS, PHONE_COLUMNS
from pipelines.io.errors import describe_failure
from pipelines.settings import SAMPLE_INBOX
from pipelines.stages.masking import find_full_ids

pytestmark = pytest.mark.slow
AS_OF = "2026-11-20"
KEY = "bureau-key-for-tests"
PERSONAL = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")  # as errors.py masks


def _env(**extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="INFO")
    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    return env | extra


def _enrol(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def sample_run(prefect_harness, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("privacy")
    warehouse, exports = root / "warehouse.duckdb", root / "exports"
    env = _env(ENROL_ENCRYPTION_KEY=KEY, ENROL_ENCRYPTION_ALLOW_MBEDTLS="1")
    done = _enrol("run", "--inbox", str(SAMPLE_INBOX), "--warehouse", str(warehouse),
                  "--exports", str(exports), "--as-of", AS_OF, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {"warehouse": warehouse, "exports": exports, "env": env,
            "console": done.stdout + done.stderr}


@pytest.fixture(scope="module")
def restricted(sample_run) -> dict[str, set[str]]:
    """Full ID numbers, names and phones of the published persons (the values to look for)."""
    os.environ[wh.ENCRYPTION_KEY_ENV] = KEY
    try:
        _, rows = wh.query_published(sample_run["warehouse"],
                                     "SELECT person_id, name, phone FROM main.person")
        _, cases = wh.query_published(
            sample_run["warehouse"],
            "SELECT grid_code, school_code, name, phone FROM main.worklist")
        _, staff = wh.query_published(  # grid workers' names and phones are shown on purpose
            sample_run["warehouse"], "SELECT worker_name, worker_phone FROM reference.grids")
    finally:
        del os.environ[wh.ENCRYPTION_KEY_ENV]
    contacts: dict[str, set[str]] = {}
    for grid, school, name, phone in cases:
        for unit in {grid or "unassigned", school} - {None}:
            contacts.setdefault(str(unit), set()).update({name, phone} - {None})
    staff_values = {v for row in staff for v in row}
    return {"ids": {r[0] for r in rows if r[0] and len(r[0]) == 18},
            "names": {r[1] for r in rows if r[1] and len(r[1]) >= 3} - staff_values,
            "phones": {r[2] for r in rows if r[2] and len(r[2]) == 11} - staff_values,
            "contacts": contacts}


def _is_id_number(text: str) -> bool:
    """An 18-character match that is a real ID number (not an employer's credit code)."""
    try:
        ric.get_birth_date(text)
    except Exception:  # noqa: BLE001 - python-stdnum says: no real birth date inside
        return False
    return ric.calc_check_digit(text[:17] + "0") == text[17].upper()


def _leaks(text: str, restricted: dict[str, set[str]]) -> list[str]:
    found = [m for m in PERSONAL.findall(text) if _is_id_number(m)]
    found += [n for n in restricted["names"] if n in text]
    found += [p for p in restricted["phones"] if p in text]
    return found[:10]


def _export_text(path: Path) -> str:
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as book:
            return "\n".join(book.read(n).decode("utf-8", "replace") for n in book.namelist())
    return path.read_bytes().decode("utf-8", "replace")


def test_exports_show_no_full_id_name_or_phone_10(sample_run, restricted) -> None:
    """ID numbers are masked in every export; names and phones in every export except a grid's
    (or school's) own sheet, where its worker needs them to make the call, and then only the
    contacts of that grid's own cases."""
    files = [p for p in sample_run["exports"].rglob("*") if p.is_file()]
    sheets = [p for p in files if p.suffix == ".xlsx"]
    assert sheets and any(p.name == "worklist.csv" for p in files)
    for path in files:
        text = _export_text(path)
        leaks = _leaks(text, restricted)
        if path in sheets:
            unit = path.stem.split("_", 1)[-1]
            own = restricted["contacts"].get(unit, set())
            assert own, path.name
            leaks = [x for x in leaks if x not in own]
        assert leaks == [], path.name


def test_console_log_and_prefect_logs_and_artifacts_are_clean_10(sample_run, restricted) -> None:
    assert "ingest" in sample_run["console"]  # the INFO log was captured
    assert _leaks(sample_run["console"], restricted) == []

    async def read_back() -> tuple[list[str], list[str]]:
        from prefect.client.orchestration import get_client

        logs = []
        async with get_client() as client:
            while page := await client.read_logs(limit=200, offset=len(logs)):
                logs += page
            response = await client._client.post("/artifacts/filter", json={
                "limit": 200, "offset": 0, "sort": "CREATED_DESC"})
            artifacts = response.json()
        return [log.message for log in logs], [str(a.get("data")) for a in artifacts]

    logs, artifacts = asyncio.run(read_back())
    assert logs and any("Nightly run" in a for a in artifacts)
    assert _leaks("\n".join(logs), restricted) == []
    assert _leaks("\n".join(artifacts), restricted) == []


def test_rejects_hold_no_full_id_number_10(sample_run) -> None:
    os.environ[wh.ENCRYPTION_KEY_ENV] = KEY
    try:
        _, rows = wh.query_published(
            sample_run["warehouse"], "SELECT value, message FROM main.rejects")
        _, raw = wh.query_published(
            sample_run["warehouse"], "SELECT count(*) FROM staging.rejected_identity "
            "WHERE id_number_raw IS NOT NULL")
    finally:
        del os.environ[wh.ENCRYPTION_KEY_ENV]
    assert rows and raw[0][0] > 0  # the full raw values stay in the restricted staging layer
    leaks = [r for r in rows if any(_is_id_number(m) for m in PERSONAL.findall(f"{r[0]} {r[1]}"))]
    assert leaks == []


def test_analyst_views_mask_every_personal_column_10(sample_run, restricted) -> None:
    os.environ[wh.ENCRYPTION_KEY_ENV] = KEY
    try:
        _, views = wh.query_published(
            sample_run["warehouse"],
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'analyst'")
        _, tables = wh.query_published(
            sample_run["warehouse"], "SELECT table_name FROM duckdb_tables() "
            "WHERE schema_name = 'main' AND table_name NOT LIKE 'run_%'")
        names = {v for (v,) in views}
        assert {t for (t,) in tables} <= names
        for name in sorted(names):
            columns, rows = wh.query_published(sample_run["warehouse"],
                                               f'SELECT * FROM analyst."{name}"')
            assert _leaks(repr(rows), restricted) == [], name
        # ``enrol query`` resolves unqualified names in the masked views by default
        _, masked = wh.query_published(sample_run["warehouse"], "SELECT person_id FROM person",
                                       search_path="analyst,main")
        assert masked and all("********" in p for (p,) in masked if len(p) == 18)
    finally:
        del os.environ[wh.ENCRYPTION_KEY_ENV]
    assert ID_COLUMNS and NAME_COLUMNS and PHONE_COLUMNS


def test_enrol_query_defaults_to_masked_and_restricted_shows_full_10(sample_run) -> None:
    args = ("query", "SELECT person_id FROM person ORDER BY person_id LIMIT 3", "--csv",
            "--warehouse", str(sample_run["warehouse"]))
    masked = _enrol(*args, env=sample_run["env"])
    full = _enrol(*args, "--restricted", env=sample_run["env"])
    assert masked.returncode == 0 and full.returncode == 0, masked.stderr + full.stderr
    assert not PERSONAL.search(masked.stdout) and "********" in masked.stdout
    assert PERSONAL.search(full.stdout)


def test_the_published_file_is_encrypted_10(sample_run, restricted) -> None:
    data = sample_run["warehouse"].read_bytes()
    assert not any(i.encode() in data for i in list(restricted["ids"])[:200])
    assert not any(n.encode() in data for n in list(restricted["names"])[:200])
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(sample_run["warehouse"]), read_only=True).sql("SELECT 1 FROM person")
    no_key = {k: v for k, v in sample_run["env"].items() if k != wh.ENCRYPTION_KEY_ENV}
    refused = _enrol("query", "SELECT 1", "--warehouse", str(sample_run["warehouse"]), env=no_key)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr


def test_a_failing_run_says_why_without_personal_data_10(sample_run, tmp_path) -> None:
    """A night whose payments are mostly bad stops on the reject rate; stderr stays clean."""
    from .corpus import TAX, build_inbox, CASES, csv_text, tax

    inbox = build_inbox(tmp_path, next(c for c in CASES if c.name == "extra column"))
    night = next(p for p in inbox.iterdir() if p.name[:2] == "20")
    bad = [tax(f"Q{i}", f"33010619900101{i:03d}0") for i in range(20)]  # wrong check characters
    (night / "tax_payment-01.csv").write_text(csv_text(TAX, bad), encoding="utf-8")
    failed = _enrol("run", "--inbox", str(inbox), "--warehouse", str(tmp_path / "w.duckdb"),
                    "--exports", str(tmp_path / "exports"), "--as-of", AS_OF, env=_env())
    assert failed.returncode != 0
    assert "RejectRateExceeded" in failed.stderr or "rejected" in failed.stderr
    assert not [m for m in PERSONAL.findall(failed.stdout + failed.stderr) if _is_id_number(m)]
    message = describe_failure(ValueError("person 330106199001010018 broke it"))
    assert find_full_ids(message) == [] and "330106********0018" in message
