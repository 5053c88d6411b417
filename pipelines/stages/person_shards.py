"""Person shards: which shard a person's rows go to, and how shard results add up (issue 9).

Persons are independent once keyed by ID number, so every per-person stage can run on a
slice of the population chosen by a hash of ``person_id``; the union of the slices' outputs
is the whole output. Rows keyed by ``id_number`` (status changes, assistance, permits) hash
the same string, so a person's rows of every source land in the same shard.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import polars as pl


def shard_of_sql(column: str, shards: int) -> str:
    """DuckDB expression: the shard (0 .. shards-1) of the key in ``column``.

    DuckDB's ``hash`` is stable within one DuckDB version; shards live for one run only, so
    stability across versions is not needed. A NULL key goes to shard 0 (it joins no one).
    """
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    return f'coalesce(hash("{column}") % {shards}, 0)::INTEGER'


def combine_shard_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Run-log counts of the whole population: the per-shard counts added key by key."""
    total: dict[str, int] = {}
    for shard_counts in counts:
        for key, value in shard_counts.items():
            total[key] = total.get(key, 0) + int(value)
    return total


def bucket_count(rows: int, batch_rows: int) -> int:
    """How many person buckets keep a stage's input at or under ``batch_rows`` rows each.

    Buckets are shards processed one after another in the flow's own process: a stage whose
    input would not fit in memory at once splits it by ``shard_of_sql(key, buckets)`` in one
    pass, runs on each bucket ``b`` and concatenates the (small) results. Hash buckets are not
    exactly equal, so this is a target, not a bound.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    return max(1, math.ceil(rows / batch_rows))


def detached(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` copied into buffers of its own: a bucket's (small) result kept past the bucket.

    polars' text columns are views into shared buffers, so a filtered or grouped result keeps
    alive every buffer of the frame it was cut from: at 10M persons each of the 28 buckets'
    contribution findings held ~0.6 GiB of payments, 21 GiB by the last bucket. Arrow's oldest
    layout (offsets, no views) copies the values; the cast restores dtypes Arrow maps
    differently (an Enum comes back Categorical).
    """
    return pl.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest())).cast(
        dict(frame.schema)
    )
