"""The employee checks against the synthetic generator's truth, end to end (issue 11).

Generate ~1500 persons, load the reference files and ingest every night, run both tasks and
compare with truth/contribution_findings.csv and truth/employee_history.csv exactly. The
readiness truth is recomputed here from employee_history with the reform's own arithmetic
(not the rule file's table), so the table is checked too.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines.flows.tasks_employee import assess_retirement_readiness, check_contributions
from pipelines.flows.tasks_ingest import ingest_deliveries, load_reference
from pipelines.io.marts import PersonBuckets
from pipelines.io.warehouse import connect
from pipelines.synthetic import generate_inbox

END = date(2026, 11, 20)
MINIMUM_MONTHS = {("37", 1): 360, ("37", 2): 300, ("33", 1): 240, ("33", 2): 240}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("employee_truth")
    inbox = root / "inbox"
    generate_inbox(inbox, persons=1500, seed=11, start_year=2023, days=3, end_date=END)
    build = root / "warehouse.duckdb"
    load_reference.fn(build, [inbox / "reference"])
    ingest_deliveries.fn(build, inbox)
    check_contributions.fn(build, END)
    assess_retirement_readiness.fn(build, END)
    return build, inbox / "truth"


def _read(con, sql: str) -> pl.DataFrame:
    return con.sql(sql).pl()


def test_findings_match_truth_11(warehouse) -> None:
    build, truth = warehouse
    expected = pl.read_csv(truth / "contribution_findings.csv", infer_schema=False)
    with connect(build, read_only=True) as con:
        got = _read(con, "SELECT payment_id, finding FROM main.contribution_finding")
    assert expected.height > 0, "the generator should inject contribution findings"
    assert sorted(got.rows()) == sorted(expected.select("payment_id", "finding").rows())
    assert set(expected["finding"]) == {
        "amount_mismatch",
        "base_below_minimum",
        "employer_type_rate",
    }


def test_contribution_months_match_truth_11(warehouse) -> None:
    build, truth = warehouse
    history = pl.read_csv(truth / "employee_history.csv", schema_overrides={"person_id": pl.Utf8})
    with connect(build, read_only=True) as con:
        got = _read(
            con,
            "SELECT id_number AS person_id, count(DISTINCT period) AS months FROM staging.tax_payment "
            "WHERE scheme = 'employee' AND kind = 'normal' AND refunded_by IS NULL GROUP BY 1",
        )
    expected = history.select("person_id", months="contribution_months")
    assert sorted(got.rows()) == sorted(expected.rows())


def _reform_age_months(sex: int, born: date) -> int:
    """Retirement age in months by the 2024 decision (men 60, women the 55-based cadre track)."""
    base, first_year = (720, 1965) if sex == 1 else (660, 1970)
    offset = born.year * 12 + born.month - 1 - first_year * 12
    return base + (0 if offset < 0 else min(36, offset // 4 + 1))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = (date(year + (month == 11), (month + 1) % 12 + 1, 1) - date(year, month + 1, 1)).days
    return date(year, month + 1, min(day.day, last))


def test_readiness_matches_truth_11(warehouse) -> None:
    build, truth = warehouse
    history = pl.read_csv(
        truth / "employee_history.csv",
        schema_overrides={"person_id": pl.Utf8, "sex": pl.Int64, "birth_date": pl.Date},
    )
    with connect(build, read_only=True) as con:
        province = dict(
            con.sql(
                "SELECT id_number, arg_max(left(pooling_division, 2), period) FROM staging.tax_payment "
                "WHERE scheme = 'employee' GROUP BY 1"
            ).fetchall()
        )
        got = _read(
            con,
            "SELECT person_id, retirement_date, shortfall_months FROM main.retirement_readiness",
        )
    expected = []
    for person_id, sex, born, months in history.iter_rows():
        required = MINIMUM_MONTHS.get((province[person_id], sex))
        retires = _add_months(born, _reform_age_months(sex, born))
        if required and END <= retires <= _add_months(END, 12) and months < required:
            expected.append((person_id, retires, required - months))
    assert expected, "the generator should produce short-history near-retirees"
    assert sorted(got.rows()) == sorted(expected)


def test_person_buckets_give_identical_results_9(warehouse, tmp_path: Path) -> None:
    """Read in person buckets (issue 9), both tables equal the one-pass tables row for row."""
    import shutil

    build, _ = warehouse
    bucketed = tmp_path / "bucketed.duckdb"
    shutil.copy(build, bucketed)
    counts = check_contributions.fn(bucketed, END, batch_rows=1000)
    assess_retirement_readiness.fn(bucketed, END, batch_rows=1000)
    assert counts["employee_buckets"] > 3
    for table in ("contribution_finding", "retirement_readiness"):
        frames = []
        for path in (build, bucketed):
            with connect(path, read_only=True) as con:
                frames.append(con.sql(f"SELECT * FROM main.{table}").pl())
        assert frames[0].height > 0, table
        assert frames[0].equals(frames[1]), table


def test_split_person_buckets_give_identical_results_9(warehouse, tmp_path, monkeypatch) -> None:
    """Split once into scratch parquet (from 2 buckets here), both tables equal too (issue 9)."""
    monkeypatch.setattr(PersonBuckets, "SPLIT_FROM_BUCKETS", 2)
    test_person_buckets_give_identical_results_9(warehouse, tmp_path)
    assert [p for p in tmp_path.iterdir() if ".buckets-" in p.name] == []
