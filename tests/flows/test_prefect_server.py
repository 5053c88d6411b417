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
    import asyncio, sys
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.deployments import run_deployment

    for _ in range(240):  # the served process registers the deployment when it starts
        try:
            run = run_deployment("nightly/nightly", parameters={"settings": {
                "inbox": sys.argv[1], "warehouse": sys.argv[2], "exports": sys.argv[3],
                "as_of": "2026-11-20"}}, timeout=600)
            break
        except Exception as error:
            if "not found" not in str(error).lower():
                raise
            import time; time.sleep(0.5)
    print("STATE", run.state.type.value)

    async def artifacts():
        async with get_client() as client:
            found = await client.read_artifacts(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
            return [a.key for a in found], [a.data for a in found]
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
        served = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "serve"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )
        trigger = subprocess.run(
            [sys.executable, "-c", TRIGGER, str(SAMPLE_INBOX),
             str(tmp_path / "warehouse.duckdb"), str(tmp_path / "exports")],
            env=env, capture_output=True, text=True, timeout=900,
        )
        assert "STATE COMPLETED" in trigger.stdout, trigger.stdout[-2000:] + trigger.stderr[-3000:]
        assert "nightly-run-summary" in trigger.stdout
        assert "| ingest |" in trigger.stdout
        assert (tmp_path / "warehouse.duckdb").exists()
    finally:
        for process in (served, server):
            if process is not None:
                os.killpg(process.pid, 15)
                process.wait(timeout=30)
