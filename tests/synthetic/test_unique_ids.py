"""ID numbers are unique over the whole generated population, across the generator's chunks.

A real 18-character number belongs to one person. With few (division, birth date, sex) buckets
many people share a bucket, so a sequence drawn per person would collide; the ingest would then
reject both records as `duplicate_key` although the truth lists no such reject.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from stdnum.cn import ric

from pipelines.flows.tasks_ingest import ingest_deliveries, load_reference
from pipelines.synthetic import generate_inbox, population, reference


def _always_valid_code() -> str:
    """One Zhejiang county code valid in every birth year (passes the ingest's id_division)."""
    codes = reference._loc_codes().filter(
        pl.col("code").str.starts_with("33"), pl.col("start") <= 1900, pl.col("end") >= 2100
    )
    return codes["code"][0]


def test_assign_ids_is_unique_in_crowded_buckets() -> None:
    """2 divisions x 3 dates x 2 sexes, up to 500 people in a bucket: all numbers distinct."""
    rng = np.random.default_rng(5)
    n = 5000
    df = pl.DataFrame(
        {
            "id_division": rng.choice(["330106", "370102"], n),
            "birth_date": pl.Series(
                [date(1990, 1, 1), date(1985, 6, 30), date(2024, 2, 29)], dtype=pl.Date
            ).gather(rng.integers(0, 3, n)),
            "sex": rng.choice(np.array([1, 2], dtype=np.int8), n),
        }
    )
    assert df.group_by("id_division", "birth_date", "sex").len()["len"].max() > 300
    ids = population._assign_ids(df, np.random.default_rng(1))["id_number"]
    assert ids.n_unique() == n
    assert all(ric.is_valid(i) for i in ids)
    sex_digit = ids.str.slice(16, 1).cast(pl.Int8) % 2
    assert (sex_digit == (df["sex"] == 1).cast(pl.Int8)).all()
    with pytest.raises(ValueError, match="500"):
        population._assign_ids(
            pl.DataFrame(
                {
                    "id_division": ["330106"] * 501,
                    "birth_date": [date(1990, 5, 1)] * 501,
                    "sex": pl.Series([1] * 501, dtype=pl.Int8),
                }
            ),
            np.random.default_rng(1),
        )


def test_ids_are_unique_across_chunks_and_ingest_has_no_duplicate_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One division and birth dates on 1 January: ~6 people per bucket, 4 chunks of households."""
    code = _always_valid_code()
    real_assign = population._assign_ids
    seen: list[pl.DataFrame] = []

    def crowded(df: pl.DataFrame, rng) -> pl.DataFrame:
        df = df.with_columns(
            id_division=pl.lit(code), birth_date=pl.col("birth_date").dt.truncate("1y")
        )
        out = real_assign(df, rng)
        seen.append(out)
        return out

    monkeypatch.setattr(population, "_assign_ids", crowded)
    inbox = tmp_path / "inbox"
    generate_inbox(inbox, 1200, 3, days=2, chunk_persons=300, workers=1)

    (pop,) = seen
    shared = pop.group_by("id_division", "birth_date", "sex").len().filter(pl.col("len") > 1)
    assert shared["len"].sum() > 600  # a per-person random sequence would collide here
    assert pop["id_number"].n_unique() == pop.height
    night = sorted(p for p in inbox.glob("20*") if p.is_dir())[0]
    assert len(list(night.glob("household-*"))) >= 4  # several chunks, one part each

    truth = pl.read_csv(inbox / "truth" / "rejects.csv", infer_schema=False)
    persons = pl.read_csv(inbox / "truth" / "persons.csv", infer_schema=False)
    assert persons["person_id"].n_unique() == persons.height
    build = tmp_path / "w.duckdb"
    load_reference.fn(build, [inbox / "reference"])
    ingest_deliveries.fn(build, inbox)
    con = duckdb.connect(str(build), read_only=True)
    try:
        (ours,) = con.execute(
            """select count(*) from main.rejects where "check" = 'duplicate_key'"""
        ).fetchone()
    finally:
        con.close()
    assert ours == truth.filter(pl.col("check") == "duplicate_key").height == 0
