"""The nightly flow: one line per step, in the order the data moves.

discover and ingest deliveries -> person and coverage -> repeat enrolments and flags
-> policy status -> worklists -> describe -> exports and report (aside) -> publish.

Every step works on the build copy of the warehouse (``<warehouse>.building``); only
``publish`` touches the published file, and only when every step before it succeeded. The
run holds ``<warehouse>.lock`` throughout: a second run of the same warehouse stops at once.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow, get_run_logger

from pipelines.flows.artifacts import publish_run_artifact
from pipelines.flows.ingest_on_dask import run_ingest
from pipelines.flows.run_log import RunRecorder
from pipelines.flows.sharded import (
    refuse_unencrypted_shards,
    run_coverage,
    run_employee_checks,
    run_policy_status,
    run_worklist,
)
from pipelines.flows.tasks_ingest import load_reference
from pipelines.flows.tasks_outputs import (
    describe_warehouse,
    export_worklists,
    write_report,
)
from pipelines.flows.tasks_person import (
    build_person,
    detect_repeat_enrolment,
    flag_coverage,
    review_identities,
)
from pipelines.flows.tasks_privacy import create_masked_views
from pipelines.flows.tasks_warehouse import (
    discard_build,
    exports_building,
    promote_exports,
    publish_warehouse,
    start_build,
)
from pipelines.io.warehouse import run_lock
from pipelines.settings import Settings


@flow(name="nightly", log_prints=True)
def nightly(settings: Settings | None = None) -> dict:
    """Run one night: ingest what is new, rebuild every mart, publish atomically."""
    settings = settings or Settings()
    refuse_unencrypted_shards(settings)
    with run_lock(settings.warehouse):  # one run per warehouse at a time, or none at all
        return _build_and_publish(settings)


def _build_and_publish(settings: Settings) -> dict:
    as_of: date = settings.run_date()
    recorder = RunRecorder(as_of)
    build: Path = start_build(settings.warehouse)
    try:
        with recorder.stage("reference"):
            recorder.count(load_reference(build, [settings.reference, settings.inbox / "reference"]))
        with recorder.stage("ingest"):
            recorder.count(run_ingest(build, settings.inbox, settings.max_reject_rate,
                                      settings.dask_address))
        with recorder.stage("person"):
            recorder.count(build_person(build, as_of))
        with recorder.stage("coverage"):
            recorder.count(run_coverage(build, as_of, settings))
        with recorder.stage("repeat_enrolment"):
            recorder.count(detect_repeat_enrolment(build, as_of))
        with recorder.stage("flags"):
            recorder.count(flag_coverage(build, as_of))
        with recorder.stage("identity_review"):
            recorder.count(review_identities(build))
        with recorder.stage("policy_status"):
            recorder.count(run_policy_status(build, as_of, settings))
        with recorder.stage("employee_checks"):
            recorder.count(run_employee_checks(build, as_of, settings))
        with recorder.stage("worklist"):
            recorder.count(run_worklist(build, as_of, settings))
        with recorder.stage("describe"):
            describe_warehouse(build)
            create_masked_views(build)
        exports_aside = exports_building(settings.exports)
        with recorder.stage("exports"):
            recorder.count(export_worklists(build, exports_aside, as_of))
        recorder.write(build)
        report = write_report(build, exports_aside, as_of, recorder.run_id)
        publish_warehouse(settings.warehouse)
    except BaseException:
        discard_build(settings.warehouse)
        raise
    published_report = promote_exports(exports_aside, settings.exports, report)
    summary = recorder.summary(published_report)
    publish_run_artifact(summary)
    get_run_logger().info("run %s published; report %s", recorder.run_id, published_report)
    return summary
