"""Person buckets: results kept past their bucket hold no memory of the bucket (issue 9)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import polars as pl

from pipelines.stages.person_shards import detached

# Ten "buckets" of 100 MB of text each; a 0.1% result of every bucket is kept, as the
# employee checks and the worklist keep their findings. Printed: RSS growth in MiB.
_KEEP_TEN_RESULTS = """
import gc, sys
import polars as pl, psutil
from pipelines.stages.person_shards import detached
process = psutil.Process()
kept, before = [], process.memory_info().rss
for bucket in range(10):
    rows = pl.DataFrame({"id": pl.arange(0, 1_000_000, eager=True).cast(pl.String) + "x" * 90})
    result = rows.filter(pl.col("id").str.ends_with("000" + "x" * 90))
    kept.append(detached(result) if sys.argv[1] == "detached" else result)
    del rows, result
    gc.collect()
print((process.memory_info().rss - before) // 2**20)
"""


def _growth(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _KEEP_TEN_RESULTS, mode], capture_output=True,
                          text=True, check=True)
    return int(done.stdout.strip())


def test_a_kept_result_does_not_hold_its_buckets_text() -> None:
    kept, detached_ = _growth("kept"), _growth("detached")
    assert kept > 700  # each result still points into its bucket's 100 MB
    # what is left is the allocator keeping one bucket's freed memory for reuse
    assert detached_ < 400 and detached_ < kept / 3


def test_detached_keeps_values_and_dtypes() -> None:
    frame = pl.DataFrame({
        "person_id": ["330106199001011234", None, "B:1"],
        "finding": pl.Series(["over_cap", "under_floor", None], dtype=pl.Enum(["over_cap", "under_floor"])),
        "month": pl.Series([1, 2, None], dtype=pl.Int32),
        "on": [date(2026, 1, 1), None, date(2026, 3, 1)],
        "grid": pl.Series(["G1", "G2", "G1"], dtype=pl.Categorical),
    })
    copy = detached(frame.filter(pl.col("month").is_not_null() | pl.col("person_id").is_null()))
    assert copy.schema == frame.schema
    assert copy.equals(frame.head(2))
