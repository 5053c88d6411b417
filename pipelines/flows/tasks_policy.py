"""Prefect task: the policy engine over everyone with resident coverage in the as-of year."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import task

from pipelines.io.policy_inputs import read_policy_inputs, write_policy_status
from pipelines.rules.loader import load_rules
from pipelines.stages.exemption_events import collect_exemption_events
from pipelines.stages.policy_status import compute_policy_status as compute_status


@task
def compute_policy_status(build: Path, as_of: date) -> dict:
    """Write ``policy_status``: waiting period, incentives and caps per resident member."""
    inputs = read_policy_inputs(build)
    events = collect_exemption_events(
        inputs.status_changes, inputs.assistance, inputs.permits, inputs.payments, as_of
    )
    status = compute_status(
        inputs.payments, inputs.persons, events, inputs.claims, inputs.base_caps,
        load_rules(), as_of,
    ).collect()
    write_policy_status(build, status)
    return {
        "policy_status": status.height,
        "in_waiting_period": int(status["in_waiting_period"].sum()),
    }
