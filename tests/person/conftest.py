"""Tiny staged warehouses for the person-stage tests (issue 5).

``staged_db`` gives a DuckDB file whose ``staging.*`` and ``reference.*`` tables have exactly
the columns of docs/architecture.md, all empty; ``add(con, source, rows)`` inserts rows given
as dicts of only the relevant columns (the lineage columns get harmless defaults).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

LINEAGE = "delivery_date DATE, source_file VARCHAR, line BIGINT"

STAGING_DDL = {
    "household": """id_number VARCHAR, name VARCHAR, sex UTINYINT, birth_date DATE,
        hukou_division VARCHAR, household_id VARCHAR, relation VARCHAR,
        residence_division VARCHAR, grid_code VARCHAR, address VARCHAR, phone VARCHAR,
        status VARCHAR, status_date DATE""",
    "residence_permit": """id_number VARCHAR, name VARCHAR, permit_division VARCHAR,
        grid_code VARCHAR, address VARCHAR, phone VARCHAR, issued_date DATE, valid_until DATE""",
    "birth": """birth_cert_no VARCHAR, child_name VARCHAR, sex UTINYINT, birth_date DATE,
        mother_id_number VARCHAR, father_id_number VARCHAR, birth_division VARCHAR,
        child_id_number VARCHAR""",
    "death": "id_number VARCHAR, name VARCHAR, death_date DATE, reporting_dept VARCHAR",
    "student": """id_number VARCHAR, name VARCHAR, student_no VARCHAR, school_code VARCHAR,
        school_name VARCHAR, school_division VARCHAR, level VARCHAR, status VARCHAR,
        status_date DATE""",
    "tax_payment": """payment_id VARCHAR, id_number VARCHAR, name VARCHAR, scheme VARCHAR,
        pooling_division VARCHAR, period VARCHAR, period_year INTEGER, period_month INTEGER,
        kind VARCHAR, refund_of VARCHAR, amount DOUBLE, base DOUBLE, employer_amount DOUBLE,
        person_amount DOUBLE, employer_id VARCHAR, employer_type VARCHAR, paid_at TIMESTAMP,
        refunded_by VARCHAR""",
    "claims": """id_number VARCHAR, year INTEGER, scheme VARCHAR, fund_paid DOUBLE,
        catastrophic_paid DOUBLE, incentive_used BOOLEAN""",
    "assistance": """id_number VARCHAR, name VARCHAR, category VARCHAR, recognized_date DATE,
        ended_date DATE, division VARCHAR""",
    "status_change": "id_number VARCHAR, kind VARCHAR, event_date DATE, division VARCHAR",
}

REJECTED_IDENTITY_DDL = """source VARCHAR, source_file VARCHAR, line BIGINT,
    id_number_raw VARCHAR, name VARCHAR, sex VARCHAR, birth_date VARCHAR, division VARCHAR,
    "check" VARCHAR"""

REFERENCE_DDL = {
    "divisions": "division_code VARCHAR, name VARCHAR, level VARCHAR, parent_code VARCHAR",
    "base_caps": "pooling_division VARCHAR, effective_from DATE, base_cap DOUBLE",
    "grids": """grid_code VARCHAR, division_code VARCHAR, township VARCHAR, community VARCHAR,
        worker_name VARCHAR, worker_phone VARCHAR""",
    "average_wages": "province_code VARCHAR, year INTEGER, average_monthly_wage DOUBLE",
}

# A few real GB/T 2260 codes: Hangzhou (330100) with two districts, Nanjing, Tianjin.
DIVISIONS = [
    ("330000", "浙江省", "province", None),
    ("330100", "杭州市", "prefecture", "330000"),
    ("330102", "上城区", "county", "330100"),
    ("330106", "西湖区", "county", "330100"),
    ("320000", "江苏省", "province", None),
    ("320100", "南京市", "prefecture", "320000"),
    ("320102", "玄武区", "county", "320100"),
    ("120000", "天津市", "province", None),
    ("120101", "和平区", "county", "120000"),
]


def create_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Create every documented staged and reference table, empty (divisions filled)."""
    for schema in ("staging", "reference"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for source, columns in STAGING_DDL.items():
        con.execute(f"CREATE OR REPLACE TABLE staging.{source} ({columns}, {LINEAGE})")
    con.execute(f"CREATE OR REPLACE TABLE staging.rejected_identity ({REJECTED_IDENTITY_DDL})")
    for table, columns in REFERENCE_DDL.items():
        con.execute(f"CREATE OR REPLACE TABLE reference.{table} ({columns})")
    con.executemany("INSERT INTO reference.divisions VALUES (?, ?, ?, ?)", DIVISIONS)


def add(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    """Insert rows (dicts of the relevant columns) into ``staging.<table>`` or ``schema.table``.

    Staged sources get default lineage (delivery 2026-11-20, line = position + 2).
    """
    qualified = table if "." in table else f"staging.{table}"
    with_lineage = table in STAGING_DDL
    for number, row in enumerate(rows):
        values = dict(row)
        if with_lineage:
            lineage = {"delivery_date": date(2026, 11, 20), "source_file": "test.csv"}
            values = {**lineage, "line": number + 2, **row}
        names = ", ".join(f'"{name}"' for name in values)
        marks = ", ".join("?" for _ in values)
        con.execute(f"INSERT INTO {qualified} ({names}) VALUES ({marks})", list(values.values()))


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A build DuckDB file with empty staged tables."""
    path = tmp_path / "warehouse.duckdb.building"
    con = duckdb.connect(str(path))
    create_staging(con)
    con.close()
    return path


# --- ID numbers and running the stage -------------------------------------------------------

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"
AS_OF = date(2026, 11, 20)


def make_id(birth: date, sex: int = 1, division: str = "330106", serial: int = 1) -> str:
    """A valid GB 11643 number: division, birth date, sequence (odd for men), check character."""
    sequence = serial * 2 + (1 if sex == 1 else 0)
    stem = f"{division}{birth:%Y%m%d}{sequence % 1000:03d}"
    return stem + CHECK[sum(int(d) * w for d, w in zip(stem, WEIGHTS)) % 11]


def resident_payment(payment_id, id_number, year, paid_at, division="330100", **extra) -> dict:
    return {
        "payment_id": payment_id, "id_number": id_number, "name": "x", "scheme": "resident",
        "pooling_division": division, "period": str(year), "period_year": year,
        "period_month": None, "kind": "normal", "amount": 400.0, "paid_at": paid_at, **extra,
    }


def employee_payment(payment_id, id_number, year, month, paid_at=None, division="330100",
                     **extra) -> dict:
    from datetime import datetime

    return {
        "payment_id": payment_id, "id_number": id_number, "name": "x", "scheme": "employee",
        "pooling_division": division, "period": f"{year}-{month:02d}", "period_year": year,
        "period_month": month, "kind": "normal", "amount": 600.0,
        "paid_at": paid_at or datetime(year, month, 15), **extra,
    }


def household(id_number, birth: date, sex: int = 1, **extra) -> dict:
    return {
        "id_number": id_number, "name": extra.pop("name", "张三"), "sex": sex, "birth_date": birth,
        "hukou_division": "330106", "household_id": extra.pop("household_id", id_number),
        "residence_division": "330106", "grid_code": "33010600100100100001",
        "status": "normal", **extra,
    }


def run_person_stage(build: Path, as_of: date = AS_OF, *, coverage: bool = False) -> dict:
    """Run the person tasks in flow order through ``.fn()``; return their counts."""
    from pipelines.flows import tasks_person as tasks

    counts = {"person": tasks.build_person.fn(build, as_of)}
    if coverage:
        counts["coverage"] = tasks.build_coverage.fn(build, as_of)
    counts["repeat"] = tasks.detect_repeat_enrolment.fn(build, as_of)
    counts["flags"] = tasks.flag_coverage.fn(build, as_of)
    return counts


def table(build: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(build), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def con(build: Path):
    """A writable connection to the test build file (closed before the stage runs it)."""
    connection = duckdb.connect(str(build))
    yield connection
    connection.close()
