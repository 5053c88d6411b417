"""The `nightly` deployment: served on a cron schedule in Asia/Shanghai (Prefect defaults to UTC)."""

from __future__ import annotations

from prefect.schedules import Cron

from pipelines.flows.nightly import nightly
from pipelines.settings import TIMEZONE, Settings

DEPLOYMENT_NAME = "nightly"


def nightly_schedule(settings: Settings) -> Cron:
    """The nightly cron, in China's time zone."""
    return Cron(settings.schedule_cron, timezone=TIMEZONE)


def deployment_parameters(settings: Settings) -> dict:
    """Flow parameters as JSON; ``as_of`` stays empty so each run uses its own run date."""
    return {"settings": settings.model_dump(mode="json", exclude={"as_of"})}


def serve_nightly(settings: Settings) -> None:
    """Serve the deployment against the Prefect API in PREFECT_API_URL (blocks until stopped)."""
    nightly.serve(
        name=DEPLOYMENT_NAME,
        schedule=nightly_schedule(settings),
        parameters=deployment_parameters(settings),
        description="全民参保数据库 nightly run: ingest, person, flags, policy status, worklists",
        tags=["enrolment", "nightly"],
    )
