"""Prefect task of the privacy layer: the analysts' masked views (issue 10)."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from pipelines.io.analyst_views import create_analyst_views
from pipelines.io.warehouse import connect


@task
def create_masked_views(build: Path) -> dict[str, int]:
    """``analyst.<name>`` over every published relation; count of views and masked columns."""
    with connect(build) as con:
        masked = create_analyst_views(con)
    return {"analyst_views": len(masked),
            "masked_columns": sum(len(columns) for columns in masked.values())}
