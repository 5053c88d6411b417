"""The benchmark's memory sampler: cheap per sample, yet it still sees child processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from run_benchmarks import TreeSampler

ALLOCATE_MIB = 300
CHILD = (
    f"import sys, time; block = bytearray({ALLOCATE_MIB} * 2**20); "
    "sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(30)"
)


@pytest.fixture
def big_child():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        yield child
    finally:
        child.kill()
        child.wait()


def _beyond_self(sampler: TreeSampler, total: int) -> int:
    """Bytes of a sample beyond this (test) process's own RSS, whatever the suite loaded."""
    return total - sampler.me.memory_info().rss


def test_a_child_started_after_the_sampler_is_counted_once_rediscovered(big_child):
    sampler = TreeSampler(set(), discover_every=0.2)
    assert _beyond_self(sampler, sampler.rss(fresh=False)) >= ALLOCATE_MIB * 2**20
    sampler.known = [sampler.me]  # as if the child had started after the last lookup
    assert _beyond_self(sampler, sampler.rss(fresh=False)) < ALLOCATE_MIB * 2**20
    time.sleep(0.25)
    assert _beyond_self(sampler, sampler.rss(fresh=False)) >= ALLOCATE_MIB * 2**20


def test_excluded_children_are_not_counted(big_child):
    sampler = TreeSampler({big_child.pid})
    assert _beyond_self(sampler, sampler.rss()) < ALLOCATE_MIB * 2**20


def test_a_sample_between_lookups_reads_no_process_table(big_child, monkeypatch):
    sampler = TreeSampler(set(), discover_every=60)
    sampler.rss(fresh=False)
    monkeypatch.setattr(sampler.me, "children", lambda **_: pytest.fail("looked up again"))
    for _ in range(20):
        sampler.rss(fresh=False)
