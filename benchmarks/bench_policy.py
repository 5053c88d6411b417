"""Benchmark of the policy engine (issue 6): 1M persons with 4 years of history.

    .venv/bin/python benchmarks/bench_policy.py --persons 1000000 --reference-persons 100000

Generates a synthetic population (numpy, fixed seed) as parquet in a temporary folder, then runs
`compute_policy_status` in a fresh subprocess (so its peak RSS is the engine's: inputs + work),
then the engine and the row-by-row reference of tests/property on the same first N persons.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 6, 30)  # history 2023-2026: four years
DIVISIONS = [
    "330100",
    "330200",
    "330300",
    "320100",
    "320200",
    "320500",
    "120100",
    "110100",
    "370100",
    "440100",
]


def generate(persons: int, seed: int = 6) -> dict[str, pl.DataFrame]:
    """A synthetic population: resident payers with lapses, employees and switchers."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:08d}" for i in range(persons)])
    kind = rng.choice(3, size=persons, p=[0.80, 0.12, 0.08])  # resident, employee, switcher
    division = rng.choice(DIVISIONS, size=persons)
    birth = np.datetime64("1940-01-01") + rng.integers(0, 365 * 86, size=persons).astype(
        "timedelta64[D]"
    )
    death = np.where(
        rng.random(persons) < 0.01,
        np.datetime64("2024-03-01") + rng.integers(0, 800, persons).astype("timedelta64[D]"),
        np.datetime64("NaT"),
    )
    people = pl.DataFrame(
        {"person_id": ids, "birth_date": birth, "death_date": death}
    ).with_columns(pl.col("birth_date", "death_date").cast(pl.Date))
    frames = [_resident(rng, ids, kind, division), _employee(rng, ids, kind, division)]
    payments = (
        pl.concat(frames)
        .with_row_index("n")
        .with_columns(payment_id=pl.format("T{}", "n"))
        .drop("n")
    )
    return {
        "payments": payments,
        "persons": people,
        "events": _events(rng, ids),
        "claims": _claims(rng, ids),
        "base_caps": pl.DataFrame(
            {
                "pooling_division": DIVISIONS,
                "effective_from": [date(2024, 1, 1)] * len(DIVISIONS),
                "base_cap": [400000.0] * len(DIVISIONS),
            }
        ),
    }


def _resident(rng, ids, kind, division) -> pl.DataFrame:
    rows = []
    for year in range(2023, AS_OF.year + 1):
        pays = (kind != 1) & (rng.random(len(ids)) < (0.97 if year == AS_OF.year else 0.85))
        n = int(pays.sum())
        inside = rng.random(n) < 0.8  # 80% inside the centralized period
        offset = np.where(inside, rng.integers(0, 120, n), rng.integers(122, 400, n)).astype(
            "timedelta64[D]"
        )
        paid = np.datetime64(f"{year - 1}-09-01") + offset
        paid = np.minimum(paid, np.datetime64(AS_OF.isoformat()))
        kinds = np.where(rng.random(n) < 0.03, "repair", "normal")
        rows.append(
            pl.DataFrame(
                {
                    "person_id": ids[pays],
                    "scheme": "resident",
                    "period_year": year,
                    "period_month": None,
                    "kind": kinds,
                    "pooling_division": division[pays],
                    "paid_at": paid.astype("datetime64[us]"),
                }
            )
        )
    return pl.concat(rows, how="vertical_relaxed").with_columns(
        pl.col("period_year", "period_month").cast(pl.Int32)
    )


def _employee(rng, ids, kind, division) -> pl.DataFrame:
    workers = kind != 0
    n = int(workers.sum())
    first = 2023 * 12 + rng.integers(0, 12, n)
    last = np.where(
        kind[workers] == 2, first + rng.integers(3, 30, n), AS_OF.year * 12 + AS_OF.month - 1
    )
    frame = pl.DataFrame(
        {
            "person_id": ids[workers],
            "pooling_division": division[workers],
            "m": [list(range(a, b + 1)) for a, b in zip(first, last, strict=True)],
        }
    )
    return frame.explode("m").select(
        "person_id",
        scheme=pl.lit("employee"),
        period_year=(pl.col("m") // 12).cast(pl.Int32),
        period_month=(pl.col("m") % 12 + 1).cast(pl.Int32),
        kind=pl.lit("normal"),
        pooling_division="pooling_division",
        paid_at=pl.datetime(pl.col("m") // 12, pl.col("m") % 12 + 1, 15),
    )


def _events(rng, ids) -> pl.DataFrame:
    has = rng.random(len(ids)) < 0.05
    n = int(has.sum())
    when = np.datetime64("2025-06-01") + rng.integers(0, 390, n).astype("timedelta64[D]")
    return pl.DataFrame(
        {
            "person_id": ids[has],
            "event": rng.choice(
                ["assistance", "employee_stop", "graduation", "residence_permit"], n
            ),
            "event_date": when,
            "end_date": np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"),
        }
    ).with_columns(pl.col("event_date", "end_date").cast(pl.Date))


def _claims(rng, ids) -> pl.DataFrame:
    years = pl.DataFrame({"person_id": ids}).join(
        pl.DataFrame({"year": list(range(2023, AS_OF.year))}, schema={"year": pl.Int32}),
        how="cross",
    )
    n = years.height
    return years.with_columns(
        fund_paid=pl.Series(np.where(rng.random(n) < 0.6, 0.0, rng.gamma(2.0, 800.0, n))),
        incentive_used=pl.Series(rng.random(n) < 0.01),
    )


def run_engine(folder: Path) -> dict:
    """In this (fresh) process: read the inputs, run the engine, report time and peak RSS."""
    from pipelines.rules.loader import load_rules
    from pipelines.stages.policy_status import compute_policy_status

    inputs = {
        name: pl.read_parquet(folder / f"{name}.parquet")
        for name in ["payments", "persons", "events", "claims", "base_caps"]
    }
    rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rules = load_rules()
    start = time.perf_counter()
    out = compute_policy_status(
        **{k: v.lazy() for k, v in inputs.items()}, rules=rules, as_of=AS_OF
    ).collect()
    seconds = time.perf_counter() - start
    return {
        "rows": out.height,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_after_reading_inputs_mb": round(rss_inputs),
        "payment_rows": inputs["payments"].height,
    }


def compare_reference(folder: Path, persons: int) -> dict:
    """Engine vs row-by-row reference on the first `persons` persons: seconds each, ratio."""
    sys.path.insert(0, str(ROOT / "tests" / "property"))
    from reference_policy import reference_policy_status

    from pipelines.rules.loader import load_rules
    from pipelines.stages.policy_status import compute_policy_status

    keep = pl.read_parquet(folder / "persons.parquet").head(persons).select("person_id")
    inputs = {
        name: pl.read_parquet(folder / f"{name}.parquet")
        for name in ["payments", "persons", "events", "claims", "base_caps"]
    }
    inputs = {
        k: (v.join(keep, on="person_id", how="semi") if "person_id" in v.columns else v)
        for k, v in inputs.items()
    }
    rules = load_rules()
    engine_s = float("inf")
    for _ in range(3):  # best of three: the machine is shared
        start = time.perf_counter()
        engine = compute_policy_status(
            **{k: v.lazy() for k, v in inputs.items()}, rules=rules, as_of=AS_OF
        ).collect()
        engine_s = min(engine_s, time.perf_counter() - start)
    rows = {k: v.to_dicts() for k, v in inputs.items()}
    start = time.perf_counter()
    reference = reference_policy_status(**rows, rules=rules, as_of=AS_OF)
    reference_s = time.perf_counter() - start
    same = engine.sort("person_id").to_dicts() == reference
    return {
        "persons": persons,
        "engine_seconds": round(engine_s, 2),
        "reference_seconds": round(reference_s, 1),
        "speed_ratio": round(reference_s / engine_s),
        "identical": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--reference-persons", type=int, default=100_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_engine(Path(args.child))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        for name, frame in generate(args.persons).items():
            frame.write_parquet(folder / f"{name}.parquet")
        print(f"generated {args.persons} persons in {time.perf_counter() - start:.1f}s", flush=True)
        env = {**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2")}
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(folder)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        print("engine:", child.stdout.strip(), flush=True)
        if args.reference_persons:
            print(
                "reference:",
                json.dumps(compare_reference(folder, args.reference_persons)),
                flush=True,
            )


if __name__ == "__main__":
    main()
