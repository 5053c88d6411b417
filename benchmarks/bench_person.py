"""Benchmark: the person stage (issue 5) on N persons: seconds per task and peak memory (RSS).

Usage:
  .venv/bin/python benchmarks/bench_person.py [--persons 1000000] [--work /tmp/bench_person]
  .venv/bin/python benchmarks/bench_person.py --inbox /tmp/bench_inbox   # a generated inbox

Without --inbox, staged tables are synthesised directly in DuckDB (deterministic, ~10 payments
per person: 30% employees paying monthly, residents paying yearly, 1% twice, 2% refunded,
newborns with and without numbers, deaths with payments after them, 0.5% rejected numbers).
With --inbox, the inbox is ingested first (not timed). Either way the staged warehouse is
prepared in a child process, so the reported peak RSS is the stage's own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

AS_OF = date(2026, 11, 20)

# County codes of the four provinces (GB/T 2260), weighted by repetition.
COUNTIES = [
    "330106",
    "330102",
    "330110",
    "330203",
    "320102",
    "320106",
    "320505",
    "370102",
    "370202",
    "120101",
    "120104",
    "120116",
]

SYNTHESIS_SQL = """
CREATE OR REPLACE MACRO rnd(i, salt) AS (hash(i, salt) % 1000000) / 1000000.0;
CREATE OR REPLACE MACRO id_weighted_sum(stem) AS list_sum(list_transform(range(1, 18),
    lambda k: (ascii(substr(stem, k, 1)) - 48)
              * [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2][k]));

CREATE OR REPLACE MACRO id_check(stem) AS
    substr('10X98765432', (id_weighted_sum(stem) % 11)::BIGINT + 1, 1);

CREATE OR REPLACE TEMP TABLE people AS
WITH base AS (
    SELECT i,
           $counties[1 + (hash(i, 'div') % len($counties))::INTEGER] AS division,
           CASE WHEN rnd(i, 'newborn') < 0.015
                THEN DATE '2026-11-20' - (hash(i, 'nbage') % 420)::INTEGER
                ELSE DATE '1940-01-01' + (hash(i, 'age') % 30000)::INTEGER END AS birth_date,
           1 + (hash(i, 'sex') % 2)::INTEGER AS sex
    FROM range($persons) AS t(i)
)
SELECT *, stem || id_check(stem) AS id_number
FROM (SELECT *, division || strftime(birth_date, '%Y%m%d')
                || lpad(((i % 499) * 2 + CASE WHEN sex = 1 THEN 1 ELSE 0 END)::VARCHAR, 3, '0')
                AS stem
      FROM base)
-- the staged sources are keyed by the number: drop the rare synthetic collisions
QUALIFY row_number() OVER (PARTITION BY stem ORDER BY i) = 1;

INSERT INTO staging.household
SELECT id_number, 'P' || i, sex, birth_date, division, 'H' || (i // 3), NULL,
       CASE WHEN rnd(i, 'res') < 0.2 THEN $counties[1 + (hash(i, 'rdiv') % len($counties))::INTEGER]
            ELSE division END,
       division || lpad((i % 97)::VARCHAR, 14, '0'), NULL, NULL,
       CASE WHEN rnd(i, 'st') < 0.02 THEN 'moved_out' WHEN rnd(i, 'st') < 0.03 THEN 'cancelled'
            ELSE 'normal' END, NULL, DATE '2026-11-20', 'bench.csv', i + 2
FROM people
WHERE NOT (birth_date > DATE '2026-08-01' AND rnd(i, 'unreg') < 0.5);

INSERT INTO staging.residence_permit
SELECT id_number, 'P' || i, $counties[1 + (hash(i, 'pdiv') % len($counties))::INTEGER], NULL, NULL,
       NULL, DATE '2024-01-01', CASE WHEN rnd(i, 'pv') < 0.8 THEN DATE '2028-01-01'
                                     ELSE DATE '2026-06-30' END,
       DATE '2026-11-20', 'bench.csv', i + 2
FROM people WHERE rnd(i, 'permit') < 0.05;

INSERT INTO staging.student
SELECT id_number, 'P' || i, 'S' || i, 'SC' || (i % 500), 'school', division, 'primary',
       CASE WHEN rnd(i, 'grad') < 0.1 THEN 'graduated' ELSE 'enrolled' END, NULL,
       DATE '2026-11-20', 'bench.csv', i + 2
FROM people WHERE birth_date BETWEEN DATE '2004-09-01' AND DATE '2020-08-31';

INSERT INTO staging.birth
SELECT 'BC' || i, 'P' || i, sex, birth_date,
       (SELECT id_number FROM people AS m WHERE m.i = p.i - 1),
       NULL, division, CASE WHEN rnd(i, 'cid') < 0.4 THEN id_number END,
       DATE '2026-11-20', 'bench.csv', i + 2
FROM people AS p WHERE birth_date > DATE '2025-10-01';

INSERT INTO staging.death
SELECT id_number, 'P' || i, DATE '2023-01-01' + (hash(i, 'dd') % 1400)::INTEGER, 'civil',
       DATE '2026-11-20', 'bench.csv', i + 2
FROM people WHERE rnd(i, 'dead') < 0.007 AND birth_date < DATE '2000-01-01';

-- employees: 30% of adults, monthly from a start month to Nov 2026
INSERT INTO staging.tax_payment
SELECT 'E' || i || '-' || m, id_number, 'P' || i, 'employee', left(division, 4) || '00',
       (2023 + m // 12) || '-' || lpad((m % 12 + 1)::VARCHAR, 2, '0'), 2023 + m // 12, m % 12 + 1,
       'normal', NULL, 600.0, 6000.0, 480.0, 120.0, NULL, 'enterprise',
       make_timestamp(2023 + m // 12, m % 12 + 1, 15, 10, 0, 0),
       NULL, DATE '2026-11-20', 'bench.csv', i + 2
FROM people, range(47) AS r(m)
WHERE rnd(i, 'emp') < 0.3 AND birth_date < DATE '2004-01-01' AND m >= (hash(i, 'es') % 30);

-- residents: yearly in the centralised period before the year; some twice, some refunded
INSERT INTO staging.tax_payment
SELECT 'R' || i || '-' || y || '-' || copy, id_number, 'P' || i, 'resident',
       CASE WHEN copy = 1 THEN '320100' ELSE left(division, 4) || '00' END,
       y::VARCHAR, y, NULL, 'normal', NULL, 400.0, NULL, NULL, 400.0, NULL, NULL,
       make_timestamp(y - 1, 10 + copy, 1 + (hash(i, y) % 28)::INTEGER, 9, 0, 0),
       CASE WHEN rnd(i * 7 + y, 'ref') < 0.02 THEN 'F' || i || '-' || y END,
       DATE '2026-11-20', 'bench.csv', i + 2
FROM people, range(2023, 2028) AS r(y), range(2) AS c(copy)
WHERE (rnd(i, 'emp') >= 0.3 OR rnd(i, 'both') < 0.03) AND rnd(i * 13 + y, 'pay') < 0.9
  AND (copy = 0 OR rnd(i * 5 + y, 'twice') < 0.01)
  AND (y < 2027 OR rnd(i, 'next') < 0.3)
  AND y >= year(birth_date);

INSERT INTO staging.rejected_identity
SELECT 'household', 'bench.csv', i + 2, left(id_number, 17) || 'Z', 'P' || i, sex::VARCHAR,
       birth_date::VARCHAR, division, 'id_check_char'
FROM people WHERE rnd(i, 'rej') < 0.004
UNION ALL
SELECT 'household', 'bench.csv', i + 2, '12345', 'P' || i, sex::VARCHAR, birth_date::VARCHAR,
       division, 'id_format'
FROM people WHERE rnd(i, 'rej2') < 0.001;
"""


def synthesise(build: Path, persons: int) -> None:
    """Staged tables for ``persons`` people, written straight into the build file."""
    import duckdb

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.person.conftest import create_staging

    with duckdb.connect(str(build)) as con:
        create_staging(con)
        for statement in SYNTHESIS_SQL.split(";\n\n"):
            if "$persons" in statement or "$counties" in statement:
                params = {
                    k: v
                    for k, v in {"persons": persons, "counties": COUNTIES}.items()
                    if f"${k}" in statement
                }
                con.execute(statement, params)
            else:
                con.execute(statement)


def ingest(build: Path, inbox: Path) -> None:
    """Stage a generated inbox (pipelines.synthetic) with the ingest tasks."""
    from pipelines.flows.tasks_ingest import ingest_deliveries, load_reference

    load_reference.fn(build, [inbox / "reference"])
    ingest_deliveries.fn(build, inbox, 1.0)


def run_stage(build: Path) -> dict:
    """Run the person tasks in flow order; seconds, peak RSS so far and counts per task."""
    from pipelines.flows import tasks_person as tasks

    steps = [
        ("build_person", lambda: tasks.build_person.fn(build, AS_OF)),
        ("build_coverage", lambda: tasks.build_coverage.fn(build, AS_OF)),
        ("detect_repeat_enrolment", lambda: tasks.detect_repeat_enrolment.fn(build, AS_OF)),
        ("flag_coverage", lambda: tasks.flag_coverage.fn(build, AS_OF)),
        ("review_identities", lambda: tasks.review_identities.fn(build)),
    ]
    report: dict = {}
    began = time.perf_counter()
    for name, step in steps:
        t0 = time.perf_counter()
        counts = step()
        seconds = round(time.perf_counter() - t0, 2)
        print(f"{name}: {seconds} s", file=sys.stderr, flush=True)
        report[name] = {
            "seconds": seconds,
            "peak_rss_mib_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "counts": {k: v for k, v in counts.items() if isinstance(v, int)},
        }
    report["total_seconds"] = round(time.perf_counter() - began, 2)
    report["load_average_1_5_15"] = [round(x, 1) for x in os.getloadavg()]
    report["cpu_count"] = os.cpu_count()
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--inbox", type=Path, default=None, help="a generated inbox to ingest")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_person"))
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="reuse an existing staged file")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    staged = args.work / f"staged-{args.inbox.name if args.inbox else args.persons}.duckdb"
    build = args.work / "build.duckdb"
    if args.prepare_only:
        ingest(staged, args.inbox) if args.inbox else synthesise(staged, args.persons)
        return
    if not (args.keep and staged.exists()):
        staged.unlink(missing_ok=True)
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--prepare-only",
                "--persons",
                str(args.persons),
                "--work",
                str(args.work),
            ]
            + (["--inbox", str(args.inbox)] if args.inbox else []),
            check=True,
        )
        print(f"staged in {time.perf_counter() - t0:.1f} s (not part of the stage)", flush=True)
    build.write_bytes(staged.read_bytes())
    report = run_stage(build)
    import duckdb

    with duckdb.connect(str(build), read_only=True) as con:
        sizes = {
            t: con.execute(f"SELECT count(*) FROM staging.{t}").fetchone()[0]
            for t in ("household", "tax_payment", "birth", "rejected_identity")
        }
    print(json.dumps({"persons": args.persons, "staged_rows": sizes, **report}, indent=1))


if __name__ == "__main__":
    main()
