"""The per-person stages mapped over person shards on a Dask cluster (issue 9).

Persons are independent once keyed by ID number: a stage's inputs are exported partitioned
by a hash of ``person_id``, one Prefect task per shard runs the stage's polars transform on
its slice and writes parquet, and one small publish step loads the union into the warehouse.
The shard tasks run on prefect-dask's ``DaskTaskRunner``: a temporary in-process cluster on a
laptop, or an existing cluster (``enrol run --dask-address tcp://scheduler:8786``). With one
shard and no address each stage runs in the flow's own process, exactly as before.

Sharded: coverage_year (the coverage line), policy_status (the policy engine), the employee
checks (contribution_finding and retirement_readiness, from one export of the employee
payments) and the worklist (from the marts before it). The cross-person work (identity
review, repeat enrolments, publish) stays in DuckDB, unsharded. A sharded run of an encrypted
warehouse is refused (``refuse_unencrypted_shards``): shard files are plain parquet.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import polars as pl
from prefect import flow, task, unmapped

from pipelines.flows.tasks_employee import (
    EMPLOYEE_PAYMENTS,
    PERSON_SCHEMA,
    WAGES_SCHEMA,
    assess_retirement_readiness,
    check_contributions,
    publish_contribution_findings,
    publish_retirement_readiness,
)
from pipelines.flows.tasks_outputs import (
    build_worklist,
    publish_worklist,
    worklist_input_queries,
)
from pipelines.flows.tasks_person import build_coverage
from pipelines.flows.tasks_policy import compute_policy_status
from pipelines.io import shards as shard_io
from pipelines.io.warehouse import ENCRYPTION_KEY_ENV, connect
from pipelines.rules.loader import load_rules
from pipelines.rules.retirement import load_retirement_ages, retirement_age_frame
from pipelines.settings import Settings
from pipelines.stages import contribution_findings, retirement_readiness
from pipelines.stages import worklist as worklist_stage
from pipelines.stages.contribution_findings import detect_contribution_findings
from pipelines.stages.coverage_year import build_coverage_year_by_key
from pipelines.stages.exemption_events import collect_exemption_events
from pipelines.stages.person_shards import combine_shard_counts, shard_of_sql
from pipelines.stages.policy_status import compute_policy_status as compute_status
from pipelines.stages.retirement_readiness import assess_readiness, count_contribution_months


def run_coverage(build: Path, as_of: date, settings: Settings) -> dict:
    """coverage_year in process (one shard, no cluster) or mapped over shards on Dask."""
    if _in_process(settings):
        return build_coverage(build, as_of)
    runner = dask_task_runner(settings.dask_address)
    return coverage_year_shards.with_options(task_runner=runner)(build, as_of, settings.shards)


def run_policy_status(build: Path, as_of: date, settings: Settings) -> dict:
    """policy_status in process (one shard, no cluster) or mapped over shards on Dask."""
    if _in_process(settings):
        return compute_policy_status(build, as_of)
    runner = dask_task_runner(settings.dask_address)
    return policy_status_shards.with_options(task_runner=runner)(build, as_of, settings.shards)


def run_employee_checks(build: Path, as_of: date, settings: Settings) -> dict:
    """contribution_finding and retirement_readiness in process (in person buckets of at most
    ``batch_rows`` payments) or mapped over shards on Dask."""
    if _in_process(settings):
        return check_contributions(build, as_of, batch_rows=settings.batch_rows) | \
            assess_retirement_readiness(build, as_of, batch_rows=settings.batch_rows)
    runner = dask_task_runner(settings.dask_address)
    return employee_check_shards.with_options(task_runner=runner)(build, as_of, settings.shards)


def run_worklist(build: Path, as_of: date, settings: Settings) -> dict:
    """The worklist in process (in person buckets of at most ``batch_rows`` person-years) or
    mapped over shards on Dask."""
    if _in_process(settings):
        return build_worklist(build, as_of, batch_rows=settings.batch_rows)
    runner = dask_task_runner(settings.dask_address)
    return worklist_shards.with_options(task_runner=runner)(build, as_of, settings.shards)


class ShardsWouldBeUnencrypted(RuntimeError):
    """Sharding was asked for while the warehouse is encrypted."""


def refuse_unencrypted_shards(settings: Settings) -> None:
    """Stop before a sharded run of an encrypted warehouse: the shard files (parquet that Dask
    workers read with polars) would hold ID numbers and names unencrypted on shared storage.
    In process, the person buckets are encrypted with the warehouse (``marts.person_buckets``).
    """
    if not _in_process(settings) and os.environ.get(ENCRYPTION_KEY_ENV):
        raise ShardsWouldBeUnencrypted(
            f"{ENCRYPTION_KEY_ENV} is set (an encrypted warehouse) but shards={settings.shards}"
            f"{' and a Dask address' if settings.dask_address else ''} were asked for: shard "
            "files are written unencrypted beside the build file, so a sharded run of an "
            "encrypted warehouse is refused; run with shards = 1 and no --dask-address"
        )


def _in_process(settings: Settings) -> bool:
    return settings.shards == 1 and not settings.dask_address


def dask_task_runner(address: str | None):
    """prefect-dask's runner: the cluster at ``address``; else a temporary in-process cluster
    with one single-threaded worker, so shards run one after another, each on every core
    (polars is multi-threaded): one shard's memory at a time, no worker start-up cost."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": 1,
            "threads_per_worker": 1,
            "processes": False,
            "dashboard_address": ":0",
        }
    )


# --- coverage_year ----------------------------------------------------------------------------


@flow(name="coverage_year_shards")
def coverage_year_shards(build: Path, as_of: date, shards: int) -> dict:
    """Export the coverage inputs by shard, build coverage_year per shard, publish the union."""
    return _export_map_publish(
        build, as_of, shards, "coverage_year", compute_coverage_shard, publish_coverage_year
    )


@task
def compute_coverage_shard(work: Path, shard: int, as_of: date) -> dict:
    """One shard of ``coverage_year``: the coverage line on the shard's persons only."""
    inputs = shard_io.read_shard_inputs(work, shard_io.COVERAGE_SHARD_QUERIES, shard)
    years = build_coverage_year_by_key(
        inputs["payments"], inputs["persons"], load_rules(), as_of)
    frame = years.collect()
    shard_io.write_shard_output(work, shard, frame)
    return {"coverage_year": frame.height}


@task
def publish_coverage_year(build: Path, work: Path) -> dict:
    """Load every shard's coverage_year into ``main.coverage_year``; drop the shard files."""
    rows = shard_io.publish_shard_outputs(
        build, work, "coverage_year", "person_id, year", shard_io.COVERAGE_YEAR_COLUMNS
    )
    shard_io.remove_shard_work(work)
    by_status = shard_io.count_by(build, "coverage_year", "status")
    return {"coverage_year": rows, **{f"years_{k}": v for k, v in by_status.items()}}


# --- policy_status ----------------------------------------------------------------------------


@flow(name="policy_status_shards")
def policy_status_shards(build: Path, as_of: date, shards: int) -> dict:
    """Export the engine inputs by shard, run the engine per shard, publish the union."""
    return _export_map_publish(
        build, as_of, shards, "policy_status", compute_policy_shard, publish_policy_status
    )


@task
def compute_policy_shard(work: Path, shard: int, as_of: date) -> dict:
    """One shard of ``policy_status``: the polars engine on the shard's persons only."""
    inputs = shard_io.read_policy_shard(work, shard)
    events = collect_exemption_events(
        inputs.status_changes, inputs.assistance, inputs.permits, inputs.payments, as_of
    )
    status = compute_status(
        inputs.payments,
        inputs.persons,
        events,
        inputs.claims,
        inputs.base_caps,
        load_rules(),
        as_of,
    ).collect()
    shard_io.write_shard_output(work, shard, status)
    return {"in_waiting_period": int(status["in_waiting_period"].sum())}


@task
def publish_policy_status(build: Path, work: Path) -> dict:
    """Load every shard's policy_status into ``main.policy_status``; drop the shard files."""
    rows = shard_io.publish_shard_outputs(build, work, "policy_status", "person_id")
    shard_io.remove_shard_work(work)
    return {"policy_status": rows}


# --- employee checks --------------------------------------------------------------------------

# Both checks read the employee payments: one export serves both (in process, each splits them).
_EMPLOYEE_PAYMENT_COLUMNS = list(dict.fromkeys(
    [*contribution_findings.PAYMENT_COLUMNS, *retirement_readiness.PAYMENT_COLUMNS]
))
EMPLOYEE_SHARD_QUERIES: shard_io.ShardQueries = {
    "payments": (
        f"SELECT {', '.join(_EMPLOYEE_PAYMENT_COLUMNS)} FROM {EMPLOYEE_PAYMENTS}", "id_number"
    ),
    "persons": (f"SELECT {', '.join(PERSON_SCHEMA)} FROM main.person", "person_id"),
    "wages": (f"SELECT {', '.join(WAGES_SCHEMA)} FROM reference.average_wages", None),
}
EMPLOYEE_OUTPUTS = ("contribution_finding", "retirement_readiness")


@flow(name="employee_check_shards")
def employee_check_shards(build: Path, as_of: date, shards: int) -> dict:
    """Export the employee payments and persons by shard, check each shard, publish both."""
    return _export_map_publish(
        build, as_of, shards, "employee_checks", compute_employee_shard, publish_employee_checks
    )


@task
def compute_employee_shard(work: Path, shard: int, as_of: date) -> dict:
    """One shard's contribution findings and retirement-readiness cases (the same transforms
    as the in-process tasks, on the shard's persons only)."""
    inputs = shard_io.read_shard_inputs(work, EMPLOYEE_SHARD_QUERIES, shard)
    rules, ages = load_rules(), load_retirement_ages()
    payments, persons = inputs["payments"], inputs["persons"].cast(PERSON_SCHEMA)
    findings = detect_contribution_findings(
        payments.select(contribution_findings.PAYMENT_COLUMNS), rules,
        inputs["wages"].cast(WAGES_SCHEMA), as_of,
    ).collect()
    months = count_contribution_months(
        payments.select(retirement_readiness.PAYMENT_COLUMNS), rules, as_of
    ).collect()
    cases = assess_readiness(
        months.lazy(), persons, rules, retirement_age_frame(ages, None),
        ages.outreach_window_months, as_of,
    ).collect()
    # text, not the Enum: every shard's file must read back with one schema
    findings = findings.with_columns(pl.col("finding").cast(pl.Utf8))
    for name, frame in zip(EMPLOYEE_OUTPUTS, (findings, cases), strict=True):
        shard_io.write_shard_output(work / name, shard, frame)
    return {"employee_persons": months.height}


@task
def publish_employee_checks(build: Path, work: Path) -> dict:
    """Validate and write every shard's findings and cases; drop the shard files."""
    findings, cases = (
        pl.read_parquet(work / name / "output" / "shard-*.parquet") for name in EMPLOYEE_OUTPUTS
    )
    with connect(build) as con:
        counts = publish_contribution_findings(con, findings)
        counts |= publish_retirement_readiness(con, cases)
    shard_io.remove_shard_work(work)
    return counts


# --- worklist ---------------------------------------------------------------------------------


def worklist_shard_queries(build: Path, as_of: date) -> shard_io.ShardQueries:
    """The worklist's inputs (the queries its in-process buckets split), keyed by person."""
    with connect(build) as con:
        queries = worklist_input_queries(con, as_of)
    return {name: (sql, "person_id") for name, sql in queries.items()}


@flow(name="worklist_shards")
def worklist_shards(build: Path, as_of: date, shards: int) -> dict:
    """Export the marts by shard, build each shard's cases, publish them in worklist order."""
    queries = worklist_shard_queries(build, as_of)
    work = export_shards(build, "worklist", shards, queries)
    futures = compute_worklist_shard.map(
        unmapped(work), range(shards), unmapped(as_of), unmapped(queries)
    )
    for future in futures:
        future.result()
    return publish_worklist_shards(build, work, as_of) | {"shards": shards}


@task
def compute_worklist_shard(
    work: Path, shard: int, as_of: date, queries: shard_io.ShardQueries
) -> dict:
    """One shard's outreach cases (the in-process transform, on the shard's persons)."""
    inputs = shard_io.read_shard_inputs(work, queries, shard)
    cases = worklist_stage.build_worklist(
        worklist_stage.WorklistInputs(**inputs), load_rules(), as_of
    ).collect()
    shard_io.write_shard_output(work, shard, cases)
    return {"worklist_cases": cases.height}


@task
def publish_worklist_shards(build: Path, work: Path, as_of: date) -> dict:
    """Validate and write every shard's cases in worklist order; drop the shard files."""
    cases = pl.read_parquet(work / "output" / "shard-*.parquet")
    with connect(build) as con:
        counts = publish_worklist(con, cases, load_rules(), as_of)
    shard_io.remove_shard_work(work)
    return counts


# --- shared -----------------------------------------------------------------------------------

_QUERIES = {
    "coverage_year": shard_io.COVERAGE_SHARD_QUERIES,
    "policy_status": shard_io.POLICY_SHARD_QUERIES,
    "employee_checks": EMPLOYEE_SHARD_QUERIES,
}


def _export_map_publish(build: Path, as_of: date, shards: int, stage: str, compute, publish
                        ) -> dict:
    """The shape of a sharded stage: export its inputs by shard, ``compute(work, shard, as_of)``
    mapped over the shards, ``publish(build, work)``; the shards' counts added up."""
    work = export_shards(build, stage, shards)
    futures = compute.map(unmapped(work), range(shards), unmapped(as_of))
    counts = combine_shard_counts(future.result() for future in futures)
    return publish(build, work) | counts | {"shards": shards}


@task
def export_shards(
    build: Path, stage: str, shards: int, queries: shard_io.ShardQueries | None = None
) -> Path:
    """The stage's inputs (``queries``, else the stage's fixed ones) as parquet partitioned by
    person shard, beside the build file."""
    work = shard_io.reset_shard_work(build, stage)
    shard_io.export_shard_inputs(build, work, queries or _QUERIES[stage], shards, shard_of_sql)
    return work
