"""Comments, views and the data dictionary, all from schemas/marts.py (issue 7)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.io import catalog
from pipelines.io.warehouse import run_sql_file
from schemas.marts import TABLES, VIEWS

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "worklist"))

from marts_fixtures import AS_OF, fill_scenario, make_marts

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]{2,}")


@pytest.mark.parametrize("name", list({**TABLES, **VIEWS}))
def test_every_table_and_column_is_described_in_chinese_and_english(name):
    model = {**TABLES, **VIEWS}[name]
    texts = {"(table)": catalog.table_comment(model), **catalog.column_comments(model)}
    for column, text in texts.items():
        assert " / " in text and CJK.search(text) and LATIN.search(text), (
            f"{name}.{column}: {text!r}"
        )


@pytest.fixture
def described(tmp_path: Path) -> Path:
    from pipelines.flows.tasks_outputs import build_worklist, describe_warehouse, write_report

    db = make_marts(tmp_path / "w.duckdb")
    con = duckdb.connect(str(db))
    try:
        fill_scenario(con)
        for other_views in ("views_coverage", "views_employee"):  # issues 5 and 11
            run_sql_file(con, other_views)
    finally:
        con.close()
    build_worklist.fn(db, AS_OF)
    describe_warehouse.fn(db)
    write_report.fn(db, tmp_path / "exports", AS_OF, "run-1")
    return db


def test_every_column_of_every_published_main_table_has_a_comment(described: Path):
    con = duckdb.connect(str(described), read_only=True)
    try:
        assert catalog.uncommented_columns(con) == []
        relations = catalog._relations(con, "main")
        comment = con.sql(
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'worklist' AND column_name = 'reason'"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert set(relations) == set(TABLES) | set(VIEWS)
    assert comment == TABLES["worklist"].to_schema().columns["reason"].description


def test_staged_and_reference_tables_are_described_in_chinese_and_english(tmp_path: Path):
    """Beside the marts: every staged source, the identity rejects and the reference tables,
    each column with its contract header (status_change.kind says what it is)."""
    from pipelines.io import staging_store

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        for schema in ("staging", "reference"):
            con.execute(f"CREATE SCHEMA {schema}")
        staging_store.ensure_tables(con)
        result = catalog.describe(con)
        rows = con.execute(
            "SELECT schema_name || '.' || table_name, column_name, comment FROM duckdb_columns() "
            "WHERE schema_name IN ('staging', 'reference')").fetchall()
        tables = con.execute("SELECT schema_name || '.' || table_name, comment FROM duckdb_tables() "
                             "WHERE schema_name IN ('staging', 'reference')").fetchall()
    finally:
        con.close()
    assert result["uncommented"] == [] and len(tables) >= 15
    for name, text in tables + [(f"{t}.{c}", text) for t, c, text in rows]:
        assert text and " / " in text and CJK.search(text) and LATIN.search(text), name
    comment = {(t, c): text for t, c, text in rows}
    assert comment[("staging.tax_payment", "payment_id")].startswith("缴费流水号 / payment_id")
    assert comment[("staging.status_change", "kind")].startswith("变动类型 / kind")


def test_an_undescribed_column_is_reported(described: Path):
    con = duckdb.connect(str(described))
    try:
        con.execute("ALTER TABLE main.person ADD COLUMN nickname VARCHAR")
        assert catalog.describe(con)["uncommented"] == ["person.nickname"]
    finally:
        con.close()


def test_views_answer_the_common_questions(described: Path):
    con = duckdb.connect(str(described), read_only=True)
    try:
        lapses = con.sql("SELECT year, lapsed FROM v_lapses_by_year WHERE year = 2027").fetchall()
        incentives = con.sql(
            "SELECT region, persons FROM v_incentive_totals_by_region ORDER BY region"
        ).fetchall()
        waits = con.sql("SELECT sum(persons) FROM v_waiting_period_counts").fetchall()
        summary = con.sql(
            """SELECT cases FROM v_worklist_summary WHERE grid_code = 'G1' AND "case" = 'renewal_due'"""
        ).fetchall()
    finally:
        con.close()
    assert lapses == [(2027, 1)]
    assert incentives == [("jiangsu", 1), ("zhejiang", 5)]
    assert waits == [(6,)]
    assert summary == [(1,)]


def test_a_view_whose_table_is_missing_is_skipped(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "partial.duckdb"))
    try:
        con.execute(catalog.create_table_sql("policy_status", TABLES["policy_status"]))
        assert sorted(catalog.create_views(con)) == [
            "v_incentive_totals_by_region",
            "v_waiting_period_counts",
        ]
    finally:
        con.close()


def test_data_dictionary_is_up_to_date():
    page = (ROOT / "docs" / "data-dictionary.md").read_text("utf-8")
    assert page == catalog.data_dictionary_markdown(), (
        "regenerate: python -m pipelines.io.catalog --markdown docs/data-dictionary.md"
    )
