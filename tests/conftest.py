"""Shared fixtures: no network, one Prefect test server for the whole session."""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI replays the same examples every time (a red build must be reproducible) and never fails
# on timing alone: a loaded 2-core machine makes hypothesis' 200 ms deadline meaningless.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for every flow test (it takes ~20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


_exit_status = {"code": 0}


def pytest_sessionfinish(session, exitstatus) -> None:
    _exit_status["code"] = int(exitstatus)


def pytest_unconfigure(config) -> None:
    """Leave without interpreter teardown, after pytest printed its summary.

    DuckDB 2.0's nanobind bindings print pages of "leaked instance" warnings at teardown once a
    Prefect flow ran in-process; they would bury pytest's closing line. Same as `enrol` (cli.main).
    """
    import atexit
    import sys

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status["code"])
