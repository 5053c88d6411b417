"""Prefect tasks around the warehouse file: build aside, publish atomically, promote exports."""

from __future__ import annotations

import shutil
from pathlib import Path

from prefect import task

from pipelines.io import warehouse


def _is_transient_io(task, task_run, state) -> bool:
    """Retry only operating-system I/O errors (a busy disk, a slow share), never data errors."""
    try:
        state.result()
    except OSError:
        return True
    except BaseException:
        return False
    return False


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_is_transient_io)
def start_build(published: Path) -> Path:
    """Copy the published warehouse aside; every later step writes only the copy."""
    return warehouse.start_build(published)


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_is_transient_io)
def publish_warehouse(published: Path) -> None:
    """Swap the finished build in: analysts see the old state or the new one, never a mix."""
    warehouse.publish(published)


def discard_build(published: Path) -> None:
    """Drop an unfinished build; the last good warehouse stays published."""
    warehouse.discard_build(published)


def exports_building(exports: Path) -> Path:
    """A fresh folder beside the exports where this run writes its files before publishing."""
    aside = exports / ".building"
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir(parents=True)
    return aside


def promote_exports(aside: Path, exports: Path, report: Path) -> Path:
    """Move this run's export folders into place once the warehouse is published."""
    for folder in sorted(aside.iterdir()):
        target = exports / folder.name
        if target.exists():
            shutil.rmtree(target)
        folder.replace(target)
    shutil.rmtree(aside, ignore_errors=True)
    return exports / report.relative_to(aside)
