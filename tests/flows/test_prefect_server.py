"""`enrol serve` against a real Prefect server on loopback: deploy, trigger, complete, artifact."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.settings import SAMPLE_INBOX

PREFECT = str(Path(sys.executable).with_name("prefect"))

TRIGGER = textwrap.dedent(
    """
    import asyncio, sys, time
    from prefect.exceptions import ObjectNotFound
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    for _ in range(240):  # the served process registers the deployment when it starts
        try:
            run = run_deployment("nightly/nightly", parameters={"settings": {
                "inbox": sys.argv[1], "warehouse": sys.argv[2], "exports": sys.argv[3],
                "as_of": "2026-11-20"}}, timeout=600)
            break
        except ObjectNotFound:
            time.sleep(0.5)
    print("STATE", run.state.type.value)

    async def artifacts():
        async with get_client() as client:  # the REST filter: 3.8.8's typed client sends nulls
            response = await client._client.post("/artifacts/filter", json={
                "flow_runs": {"id": {"any_": [str(run.id)]}}, "limit": 10, "offset": 0})
            found = response.json()
            return [a["key"] for a in found], [a["data"] for a in found]
    keys, data = asyncio.run(artifacts())
    print("ARTIFACTS", keys)
    print("DATA", data[0] if data else "")
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, "prefect server exited"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("prefect server did not become healthy")


@pytest.mark.server
@pytest.mark.slow
def test_served_deployment_runs_and_publishes_its_artifact(tmp_path: Path) -> None:
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")
    } | {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )
    served = None
    try:
        _wait_healthy(api, server)
        served_log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed with the process
        served = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "serve"], env=env,
            stdout=served_log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        trigger = subprocess.run(
            [sys.executable, "-c", TRIGGER, str(SAMPLE_INBOX),
             str(tmp_path / "warehouse.duckdb"), str(tmp_path / "exports")],
            env=env, capture_output=True, text=True, timeout=900,
        )
        served_output = (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
        assert "STATE COMPLETED" in trigger.stdout, (
            trigger.stdout[-2000:] + trigger.stderr[-2000:] + served_output
        )
        assert "nightly-run-summary" in trigger.stdout, trigger.stderr[-1500:]
        assert "| ingest |" in trigger.stdout
        assert (tmp_path / "warehouse.duckdb").exists()
    finally:
        for process in (served, server):
            if process is not None:
                os.killpg(process.pid, 15)
                process.wait(timeout=30)
