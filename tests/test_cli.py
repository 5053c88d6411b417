"""`enrol` refuses unusable arguments and settings with one line on stderr (outputs.md,
"Command line": non-zero with a one-line reason), before any flow or Prefect server starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _enrol(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, capture_output=True, text=True,
        check=False,
        timeout=120, env=dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false") | env,
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["run", "--as-of", "2026/03/02"], {}, "--as-of '2026/03/02' is not a date"),
        (["run", "--inbox", "no-such-inbox"], {}, "inbox no-such-inbox is not a folder"),
        (["run", "--max-reject-rate", "5"], {}, "invalid settings: max_reject_rate"),
        (["run"], {"ENROL_MAX_REJECT_RATE": "lots"}, "invalid settings: max_reject_rate"),
        (["run", "--config", "broken.toml"], {}, "invalid settings: config file broken.toml"),
        (["query", "select 1", "--config", "missing.toml"], {}, "config file missing.toml"),
        (["sample", "--out", "x", "--end-date", "20-11-2026"], {}, "--end-date '20-11-2026'"),
    ],
)
def test_unusable_arguments_fail_in_one_line(tmp_path: Path, args, env, says) -> None:
    (tmp_path / "broken.toml").write_text("inbox = [unclosed\n")
    done = _enrol(*args, cwd=tmp_path, **env)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("enrol: ") and says in lines[0], done.stderr
    assert not (tmp_path / "var").exists()  # nothing was run, nothing written
