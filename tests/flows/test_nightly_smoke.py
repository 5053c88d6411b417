"""The whole nightly flow on the bundled sample, end to end, under one Prefect test server."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.settings import SAMPLE_INBOX, Settings

AS_OF = date(2026, 11, 20)
MARTS = ("person", "coverage_year", "repeat_enrolment", "coverage_flag", "policy_status", "worklist")


@pytest.fixture(scope="module")
def published(prefect_harness, tmp_path_factory) -> tuple[Path, dict]:
    from pipelines.flows.nightly import nightly

    root = tmp_path_factory.mktemp("night")
    settings = Settings(
        inbox=SAMPLE_INBOX, warehouse=root / "warehouse.duckdb", exports=root / "exports", as_of=AS_OF
    )
    summary = nightly(settings)
    return settings.warehouse, summary | {"exports": settings.exports}


def test_every_mart_is_published(published) -> None:
    warehouse, _ = published
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()}
        assert set(MARTS) <= tables
        assert con.execute("select count(*) from person").fetchone()[0] > 1000


def test_counts_reconcile_per_file(published) -> None:
    """Nothing is lost: every row read is accepted or rejected."""
    warehouse, _ = published
    with duckdb.connect(str(warehouse), read_only=True) as con:
        bad = con.sql(
            "select file from ingest_log where status = 'ingested' "
            "and rows_read <> rows_accepted + rows_rejected"
        ).fetchall()
        assert bad == []
        assert con.execute("select count(*) from ingest_log where status = 'ingested'").fetchone()[0] > 0


def test_summary_and_exports(published) -> None:
    _, summary = published
    assert [s["stage"] for s in summary["stages"]][:2] == ["reference", "ingest"]
    assert summary["report"] and Path(summary["report"]).exists()
    assert (summary["exports"] / AS_OF.isoformat() / "worklist.csv").exists()
    assert not (summary["exports"] / ".building").exists()


def test_run_log_records_the_run(published) -> None:
    warehouse, summary = published
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select run_id, status from run_log").fetchall()
    assert (summary["run_id"], "succeeded") in rows


def test_every_published_table_and_column_has_a_comment_in_chinese_and_english(
    published,
) -> None:
    """outputs.md: every table and column, in every schema of the published file (the marts,
    the staged and reference tables, the analysts' masked views)."""
    from pipelines.io.catalog import DESCRIBED_SCHEMAS, undescribed

    warehouse, _ = published
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert undescribed(con) == []
        comments = con.execute(
            "SELECT schema_name || '.' || table_name, comment FROM duckdb_tables() "
            "UNION ALL SELECT schema_name || '.' || view_name, comment FROM duckdb_views() "
            "WHERE NOT internal UNION ALL SELECT schema_name || '.' || table_name || '.' || "
            "column_name, comment FROM duckdb_columns() WHERE NOT internal"
        ).fetchall()
    published_comments = [(name, text) for name, text in comments
                          if name.split(".")[0] in DESCRIBED_SCHEMAS]
    assert {name.split(".")[0] for name, _ in published_comments} == set(DESCRIBED_SCHEMAS)
    for name, text in published_comments:
        assert re.search(r"[\u4e00-\u9fff]", text) and re.search(r"[A-Za-z]{2,}", text), name


def _snapshot(warehouse: Path) -> dict[str, list]:
    """Every published table and staged table, sorted, except the logs that record each run."""
    skip = {"run_log", "run_stage_log", "run_metrics"}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where table_name not in "
            "(select unnest(?::varchar[]))", [sorted(skip)]
        ).fetchall()
        return {
            f"{schema}.{table}": sorted(
                con.execute(f'select * from "{schema}"."{table}"').fetchall(), key=repr
            )
            for schema, table in tables
        }


def test_rerunning_the_same_night_changes_nothing(published) -> None:
    """Re-running a night is harmless: same inputs, identical tables (issue 8)."""
    from pipelines.flows.nightly import nightly

    warehouse, summary = published
    before, files_before = _snapshot(warehouse), _files(summary["exports"])
    nightly(Settings(inbox=SAMPLE_INBOX, warehouse=warehouse, exports=summary["exports"], as_of=AS_OF))
    after = _snapshot(warehouse)
    assert after.keys() == before.keys()
    changed = [name for name in before if before[name] != after[name]]
    assert changed == []
    assert files_before and _files(summary["exports"]) == files_before  # the same bytes


def _files(exports: Path) -> dict[str, bytes]:
    """Every worklist file exported, by path under ``exports`` (each run adds its own report,
    named by its run id)."""
    return {str(f.relative_to(exports)): f.read_bytes() for f in exports.rglob("*")
            if f.is_file() and not f.name.startswith("report-")}
