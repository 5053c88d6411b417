"""`enrol`: the command line of the enrolment pipeline (outputs.md, "Command line")."""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, NoReturn, Optional

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no network here
# The embedded (temporary) Prefect server needs more than its 20 s default on a busy 2-core box.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# Prefect's run logs go to stdout with the run's summary: stderr keeps the one-line reason of a
# run that could not publish (outputs.md, "Command line"), which scripts and cron mail read.
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_STREAM", "ext://sys.stdout")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402

from pipelines.settings import load_settings  # noqa: E402

app = typer.Typer(
    help="全民参保数据库 nightly pipeline: ingest extracts, build one file per person, publish.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

ConfigOption = Annotated[
    Optional[Path], typer.Option("--config", help="TOML settings file (see pipelines/settings.py)")
]


def _parse_date(value: str | None, option: str = "--as-of") -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        _fail(f"{option} {value!r} is not a date in the form YYYY-MM-DD", USAGE)


RUN_FAILED, USAGE = 1, 2  # exit statuses: the run could not publish; the command was wrong


def _fail(message: str, status: int = RUN_FAILED) -> NoReturn:
    """One line on stderr and a non-zero exit status (outputs.md: a run that could not
    publish; also settings or arguments that cannot be used)."""
    line = escape(" ".join(message.split()))  # the reason may hold [brackets]: not markup
    errors.print(f"[bold red]enrol:[/] {line}", soft_wrap=True, highlight=False)
    raise typer.Exit(status)


def _settings(config: Path | None, **flags):
    """``load_settings``, with a one-line reason instead of a traceback when they are invalid."""
    from pydantic import ValidationError

    try:
        return load_settings(config, **flags)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
            for e in error.errors()
        )
        _fail(f"invalid settings: {problems}", USAGE)
    except (OSError, ValueError) as error:  # an unreadable or malformed --config file
        _fail(f"invalid settings: {error}", USAGE)


@app.command()
def run(
    inbox: Annotated[Optional[Path], typer.Option(help="folder of nightly deliveries")] = None,
    warehouse: Annotated[Optional[Path], typer.Option(help="published DuckDB file")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="evaluation date YYYY-MM-DD")] = None,
    exports: Annotated[Optional[Path], typer.Option(help="folder for worklists and reports")] = None,
    max_reject_rate: Annotated[Optional[float], typer.Option(help="reject-rate threshold")] = None,
    shards: Annotated[
        Optional[int], typer.Option(min=1, help="person shards for the per-person stages")
    ] = None,
    dask_address: Annotated[
        Optional[str], typer.Option(
            "--dask-address",
            help="Dask scheduler, tcp://host:8786: shard tasks and the ingest's checks run there")
    ] = None,
    batch_rows: Annotated[
        Optional[int],
        typer.Option(
            "--batch-rows", min=1000,
            help="most rows the employee checks and the worklist hold at once (person buckets)",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run the nightly flow once on every delivery not yet ingested, then publish."""
    from pipelines.flows.nightly import nightly
    from pipelines.io.errors import describe_failure

    settings = _settings(
        config, inbox=inbox, warehouse=warehouse, as_of=_parse_date(as_of),
        exports=exports, max_reject_rate=max_reject_rate, shards=shards,
        dask_address=dask_address, batch_rows=batch_rows,
    )
    if not settings.inbox.is_dir():  # before Prefect starts: a typo must not publish a night
        _fail(f"inbox {settings.inbox} is not a folder (--inbox, ENROL_INBOX or the config "
              "file); nothing was run", USAGE)
    try:
        summary = nightly(settings)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - a Rust panic is a BaseException too
        _flush_run_logs()
        _fail(describe_failure(error) + " (the last good warehouse stays published)")
    _print_summary(summary, settings.warehouse)


def _flush_run_logs() -> None:
    """Send the failed run's logs to Prefect's API while its temporary server still runs:
    flushed at exit instead, they fail ("Error logging to API") after the reason line."""
    from prefect.logging.handlers import APILogWorker

    try:
        APILogWorker.drain_all(timeout=10)
    except Exception as error:  # noqa: BLE001 - the logs are also on stdout; the reason matters
        console.print(f"run logs not sent to Prefect's API: {escape(str(error))}")


def _print_summary(summary: dict, warehouse: Path) -> None:
    table = Table(title=f"run {summary['run_id']} (as of {summary['as_of']})")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("counts")
    for stage in summary["stages"]:
        counts = ", ".join(f"{k}={v:,}" for k, v in stage.items() if k not in ("stage", "seconds"))
        table.add_row(stage["stage"], f"{stage['seconds']:.2f}", counts)
    console.print(table)
    console.print(f"published [bold]{warehouse}[/]")
    if summary.get("report"):
        console.print(f"report    [bold]{summary['report']}[/]")


@app.command()
def sample(
    out: Annotated[Path, typer.Option(help="inbox folder to write")],
    persons: Annotated[int, typer.Option(min=1, help="number of persons")] = 3000,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same bytes")] = 20261122,
    start_year: Annotated[int, typer.Option("--start-year", help="first year of history")] = 2023,
    days: Annotated[int, typer.Option(min=1, help="number of nightly deliveries")] = 3,
    end_date: Annotated[
        Optional[str], typer.Option("--end-date", help="date of the last delivery YYYY-MM-DD")
    ] = None,
    truth: Annotated[
        Optional[Path], typer.Option(help="where to write the ground truth (default OUT/truth)")
    ] = None,
) -> None:
    """Write a synthetic inbox with realistic defects, plus its ground truth."""
    from pipelines.synthetic import generate_inbox

    options = {"truth_dir": truth} if truth else {}
    if end_date:
        options["end_date"] = _parse_date(end_date, "--end-date")
    with console.status(f"generating {persons:,} persons"):
        manifest = generate_inbox(
            out=out, persons=persons, seed=seed, start_year=start_year, days=days, **options
        )
    console.print(f"wrote {out} ({manifest.get('persons', persons):,} persons, {days} nights)")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="read-only SQL")],
    warehouse: Annotated[Optional[Path], typer.Option(help="published DuckDB file")] = None,
    csv: Annotated[bool, typer.Option("--csv", help="print CSV instead of a table")] = False,
    limit: Annotated[int, typer.Option(help="rows to print in table mode")] = 100,
    restricted: Annotated[bool, typer.Option(
        "--restricted", help="resolve names in main (full ID numbers, names, phones)")] = False,
    config: ConfigOption = None,
) -> None:
    """Run read-only SQL against the published warehouse and print the result.

    Unqualified names resolve to the masked ``analyst`` views first (issue 10); ``--restricted``
    or a ``main.`` prefix reads the full values, for the staff cleared to see them."""
    import duckdb

    from pipelines.io.warehouse import WarehouseCorrupt, WarehouseNotPublished, query_published

    settings = _settings(config, warehouse=warehouse)
    try:
        columns, rows = query_published(
            settings.warehouse, sql, search_path=None if restricted else "analyst,main")
    except (WarehouseNotPublished, WarehouseCorrupt) as error:
        _fail(str(error))
    except duckdb.Error as error:
        _fail(str(error).splitlines()[0])
    if csv:
        import csv as csv_module

        writer = csv_module.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return
    table = Table(*columns, caption=f"{len(rows):,} rows" + (f" (first {limit})" if len(rows) > limit else ""))
    for row in rows[:limit]:
        table.add_row(*("" if value is None else str(value) for value in row))
    console.print(table)


@app.command()
def serve(
    cron: Annotated[Optional[str], typer.Option(help="cron in Asia/Shanghai, default 0 2 * * *")] = None,
    config: ConfigOption = None,
) -> None:
    """Serve the `nightly` deployment on its cron schedule (needs a Prefect API)."""
    from pipelines.flows.deployment import serve_nightly

    settings = _settings(config, schedule_cron=cron)
    serve_nightly(settings)


def main() -> None:
    """Console entry point: run the app, then leave without interpreter teardown.

    DuckDB 2.0's nanobind bindings print pages of "leaked instance" warnings when the
    interpreter tears down after a Prefect flow has run in-process; the run itself is
    complete and flushed by then, so the process exits directly with the app's status.
    """
    import atexit
    import logging

    try:
        app()
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    atexit._run_exitfuncs()  # stops Prefect's temporary server, flushes its log workers
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
