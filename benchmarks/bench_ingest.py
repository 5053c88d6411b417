"""Ingest throughput on a generated inbox (default 1M persons), with the scan floor beside it.

    .venv/bin/python benchmarks/bench_ingest.py                       # 1M persons, /tmp
    .venv/bin/python benchmarks/bench_ingest.py --persons 100000 --inbox /tmp/ingest_bench_100k

The inbox is generated once (outside the repository) and reused. Reported:
- ``floor``: every delivered file read as text by the faster of polars and DuckDB, per file
  (``run_benchmarks.measure_floor``'s ``best_s``, GB18030 transcoded first, the generator's
  broken copies skipped), i.e. what no ingest can beat;
- ``ingest``: ``load_reference`` + ``ingest_deliveries`` into a fresh DuckDB file, wall and CPU;
- ``rerun``: the same night again (every file skipped by sha256);
- precision / recall of ``main.rejects`` against the generator's ``truth/rejects.csv``;
- peak resident memory of the ingest (measured before the floor, which reads whole files).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import duckdb
import polars as pl
from run_benchmarks import measure_floor  # this folder, beside this script

from pipelines.flows.tasks_ingest import ingest_deliveries, load_reference
from pipelines.synthetic import generate_inbox


def _generate(inbox: Path, persons: int, seed: int) -> float:
    if (inbox / "truth" / "manifest.json").exists():
        return 0.0
    started = time.perf_counter()
    generate_inbox(inbox, persons=persons, seed=seed)
    return time.perf_counter() - started


def _timed(fn, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _precision_recall(build: Path, inbox: Path) -> tuple[float, float, int, int]:
    con = duckdb.connect(str(build), read_only=True)
    ours = con.sql('SELECT file, line, "column", "check" FROM main.rejects').pl()
    con.close()
    truth = (
        pl.read_csv(inbox / "truth" / "rejects.csv", infer_schema=False)
        .with_columns(pl.col("line").cast(pl.Int64))
        .select("file", "line", "column", "check")
    )
    hits = ours.join(truth, on=["file", "line", "column", "check"], how="semi").height
    return hits / max(ours.height, 1), hits / max(truth.height, 1), ours.height, truth.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--inbox", type=Path, default=Path("/tmp/ingest_bench_inbox_1m"))
    parser.add_argument("--build", type=Path, default=Path("/tmp/ingest_bench.duckdb"))
    parser.add_argument("--max-reject-rate", type=float, default=0.2)
    args = parser.parse_args()

    generated_s = _generate(args.inbox, args.persons, args.seed)
    for stale in (args.build, args.build.with_name(args.build.name + ".wal")):
        stale.unlink(missing_ok=True)
    refs = [Path(__file__).resolve().parents[1] / "data" / "reference", args.inbox / "reference"]
    _, ref_s, _ = _timed(load_reference.fn, args.build, refs)
    summary, ingest_s, ingest_cpu = _timed(
        ingest_deliveries.fn, args.build, args.inbox, args.max_reject_rate
    )
    ingest_peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rerun, rerun_s, _ = _timed(ingest_deliveries.fn, args.build, args.inbox, args.max_reject_rate)
    floor = measure_floor(args.inbox)  # after the ingest: its peak memory is its own
    floor_s, floor_rows = floor["best_s"], floor["rows"]
    precision, recall, ours, truth = _precision_recall(args.build, args.inbox)
    rows = sum(c.rows_read for c in summary.sources.values())
    result = {
        "persons": args.persons,
        "rows_read": rows,
        "files": summary.files_ingested,
        "generate_s": round(generated_s, 1),
        "floor_s": round(floor_s, 2),
        "floor_rows": floor_rows,
        "reference_s": round(ref_s, 2),
        "ingest_wall_s": round(ingest_s, 2),
        "ingest_cpu_s": round(ingest_cpu, 2),
        "rows_per_s": round(rows / ingest_s),
        "ingest_over_floor": round(ingest_s / floor_s, 1),
        "rerun_s": round(rerun_s, 2),
        "rerun_files_skipped": rerun.files_skipped,
        "rejects": ours,
        "truth_rejects": truth,
        "precision": precision,
        "recall": recall,
        "ingest_peak_rss_mib": round(ingest_peak_mib),
        "peak_rss_mib_with_floor": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(summary.table())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
