"""Time one stage of the nightly flow on a warehouse a full run built, and check its output.

    .venv/bin/python benchmarks/bench_stage.py coverage --warehouse /tmp/enrol-bench/run-1000000-1/warehouse.duckdb

The warehouse is copied once to ``--work`` (a stage rewrites its tables); the stage's task
runs there through ``.fn`` (no Prefect server) in this process, ``--repeat`` times. Printed:
wall and CPU seconds and the process's peak RSS, then per output table its row count and an
order-independent fingerprint, compared with the same table in the warehouse it was copied
from: ``same`` means the stage still builds exactly what the full run published.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = date(2026, 11, 20)  # the as-of date of run_benchmarks.py's runs


def _stages() -> dict:
    """stage name -> (callable taking the build path, its output tables)."""
    from pipelines.flows import tasks_employee as employee
    from pipelines.flows import tasks_outputs as outputs
    from pipelines.flows import tasks_person as person
    from pipelines.flows import tasks_policy as policy

    return {
        "person": (lambda b: person.build_person.fn(b, AS_OF), ["person", "newborn_link"]),
        "coverage": (lambda b: person.build_coverage.fn(b, AS_OF), ["coverage_year"]),
        "repeat_enrolment": (lambda b: person.detect_repeat_enrolment.fn(b, AS_OF),
                             ["repeat_enrolment"]),
        "flags": (lambda b: person.flag_coverage.fn(b, AS_OF), ["coverage_flag"]),
        "identity_review": (lambda b: person.review_identities.fn(b), ["identity_review"]),
        "policy_status": (lambda b: policy.compute_policy_status.fn(b, AS_OF), ["policy_status"]),
        "contributions": (lambda b: employee.check_contributions.fn(b, AS_OF),
                          ["contribution_finding"]),
        "retirement": (lambda b: employee.assess_retirement_readiness.fn(b, AS_OF),
                       ["retirement_readiness"]),
        "worklist": (lambda b: outputs.build_worklist.fn(b, AS_OF), ["worklist"]),
        # workbooks and worklist.csv under <work>.exports/<as-of>/ (no table to compare)
        "exports": (lambda b: outputs.export_worklists.fn(b, b.with_name(b.name + ".exports"),
                                                         AS_OF), []),
    }


def fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int, int]:
    """(rows, xor and sum of the row hashes): independent of row order."""
    return tuple(con.execute(
        f"SELECT count(*), bit_xor(hash(t)), sum(hash(t) % 1000003) FROM main.{table} AS t"
    ).fetchall()[0])


def main() -> None:
    stages = _stages()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=sorted(stages))
    parser.add_argument("--warehouse", type=Path,
                        default=Path("/tmp/enrol-bench/run-1000000-1/warehouse.duckdb"))
    parser.add_argument("--work", type=Path, help="the copy (default: <warehouse>.stage)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    work = args.work or args.warehouse.with_name(args.warehouse.name + ".stage")
    if not work.exists():
        shutil.copyfile(args.warehouse, work)
    run, tables = stages[args.stage]
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run(work)
        print(f"{args.stage}: wall {time.perf_counter() - wall:.2f} s, "
              f"CPU {time.process_time() - cpu:.2f} s, "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    with duckdb.connect(str(args.warehouse), read_only=True) as published, \
            duckdb.connect(str(work), read_only=True) as built:
        for table in tables:
            now, before = fingerprint(built, table), fingerprint(published, table)
            print(f"  {table}: {now[0]:,} rows, {'same' if now == before else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
