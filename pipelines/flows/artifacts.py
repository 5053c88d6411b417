"""The Prefect artifact that summarises a run in the UI: counts per stage, no personal data."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact


def run_summary_markdown(summary: dict) -> str:
    """A markdown table of the run's stages, seconds and counts."""
    lines = [
        f"# Nightly run {summary['run_id']}",
        "",
        f"As of **{summary['as_of']}**. Report: `{summary.get('report') or '-'}`",
        "",
        "| stage | seconds | counts |",
        "|---|---:|---|",
    ]
    for stage in summary["stages"]:
        counts = ", ".join(
            f"{key} {value:,}" for key, value in stage.items() if key not in ("stage", "seconds")
        )
        lines.append(f"| {stage['stage']} | {stage['seconds']:.2f} | {counts} |")
    return "\n".join(lines) + "\n"


def publish_run_artifact(summary: dict) -> None:
    """Attach the run summary to the flow run (visible under Artifacts in the Prefect UI)."""
    create_markdown_artifact(
        markdown=run_summary_markdown(summary),
        key="nightly-run-summary",
        description="全民参保数据库 nightly run summary",
    )
