"""The employee tasks on a tiny warehouse, called through `.fn()` (issue 11)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines.flows.tasks_employee import assess_retirement_readiness, check_contributions
from pipelines.io.warehouse import connect
from tests.employee.conftest import MAN_1966, contribution, monthly, payments

AS_OF = date(2026, 3, 1)


@pytest.fixture
def build(tmp_path: Path, wages: pl.LazyFrame) -> Path:
    path = tmp_path / "warehouse.duckdb.building"
    rows = monthly(MAN_1966, "2024-01", 12) + [
        contribution("BAD1", employer_amount=365.0, period="2025-06"),
        contribution(
            "BAD2", "flexible", base=1000.0, period="2025-06", id_number="370102199001010011"
        ),
    ]
    with connect(path) as con:
        con.register("tax_payment_frame", payments(*rows).collect())
        con.register("wages_frame", wages.collect())
        con.execute("CREATE TABLE staging.tax_payment AS SELECT * FROM tax_payment_frame")
        con.execute("CREATE TABLE reference.average_wages AS SELECT * FROM wages_frame")
    return path


def test_check_contributions_writes_table_and_view_11(build: Path) -> None:
    counts = check_contributions.fn(build, AS_OF)
    assert counts == {
        "contribution_finding": 2, "employee_buckets": 1, "finding_base_below_minimum": 1,
        "finding_employer_type_rate": 1,
    }  # fmt: skip
    with connect(build, read_only=True) as con:
        table = con.sql(
            "SELECT payment_id, finding FROM main.contribution_finding ORDER BY 1"
        ).fetchall()
        view = con.sql(
            "SELECT employer_type, findings, employer_type_rate, base_below_minimum "
            "FROM main.v_contribution_findings_by_employer ORDER BY 1"
        ).fetchall()
    assert table == [("BAD1", "employer_type_rate"), ("BAD2", "base_below_minimum")]
    assert view == [("enterprise", 1, 1, 0), ("flexible", 1, 0, 1)]


def test_readiness_without_person_table_leaves_grid_null_11(build: Path) -> None:
    assert assess_retirement_readiness.fn(build, AS_OF)["retirement_readiness"] == 1
    with connect(build, read_only=True) as con:
        rows = con.sql(
            "SELECT person_id, grid_code, contribution_months FROM main.retirement_readiness"
        ).fetchall()
    assert rows == [(MAN_1966, None, 13)]  # 2024-01..12 and BAD1 (2025-06): findings still count


def test_readiness_reads_grid_from_person_11(build: Path) -> None:
    with connect(build) as con:
        con.execute(
            "CREATE TABLE main.person AS SELECT ? AS person_id, '370102001001001' AS grid_code, "
            "'张三' AS name, NULL::DATE AS death_date, 1::UTINYINT AS sex",
            [MAN_1966],
        )
    assess_retirement_readiness.fn(build, AS_OF)
    with connect(build, read_only=True) as con:
        rows = con.sql("SELECT grid_code, name, due_date FROM main.retirement_readiness").fetchall()
    assert rows == [("370102001001001", "张三", date(2026, 7, 15))]
