"""The nightly schedule is in China's time zone (Prefect defaults to UTC)."""

from __future__ import annotations

from pipelines.flows.deployment import deployment_parameters, nightly_schedule
from pipelines.settings import Settings


def test_schedule_defaults_to_two_in_the_morning_in_shanghai() -> None:
    schedule = nightly_schedule(Settings())
    assert schedule.cron == "0 2 * * *"
    assert schedule.timezone == "Asia/Shanghai"


def test_schedule_is_configurable() -> None:
    assert nightly_schedule(Settings(schedule_cron="30 1 * * *")).cron == "30 1 * * *"


def test_each_scheduled_run_uses_its_own_run_date() -> None:
    parameters = deployment_parameters(Settings())
    assert "as_of" not in parameters["settings"]
    assert parameters["settings"]["inbox"].endswith("data/sample/inbox")
