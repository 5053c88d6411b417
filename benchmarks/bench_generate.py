"""Benchmark: synthetic inbox generation, persons/second and peak memory (RSS).

Usage: .venv/bin/python benchmarks/bench_generate.py [--persons 1000000] [--workers 2]
    [--out /tmp/bench_inbox]
The output folder is deleted first; keep it outside the repository.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
from pathlib import Path

from pipelines.synthetic import generate_inbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_inbox"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    t0 = time.perf_counter()
    manifest = generate_inbox(
        args.out, args.persons, args.seed, days=args.days, workers=args.workers
    )
    seconds = time.perf_counter() - t0
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the chunk worker processes
    cpu = own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime
    # Peak of this process plus the largest worker times the number of workers: an upper bound
    # of the memory the run held at once.
    peak_mib = (own.ru_maxrss + args.workers * workers.ru_maxrss) / 1024
    size_mib = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file()) / 2**20
    print(
        f"persons={args.persons} seconds={seconds:.1f} persons_per_s={args.persons / seconds:,.0f} "
        f"cpu_s={cpu:.1f} workers={args.workers} peak_rss_mib<={peak_mib:,.0f} "
        f"(main {own.ru_maxrss / 1024:,.0f}, largest worker {workers.ru_maxrss / 1024:,.0f}) "
        f"files={manifest['counts']['files']} "
        f"output_mib={size_mib:,.0f} load_avg_1m={os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
