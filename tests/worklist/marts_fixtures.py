"""Tiny published warehouses for the worklist, catalog and report tests (issue 7).

``make_marts(path)`` creates every mart of ``schemas.marts.TABLES`` empty (DDL generated from
the models), plus ``reference.divisions``, ``reference.grids`` and ``staging.tax_payment``;
``insert(con, table, rows)`` adds rows given as dicts of only the relevant columns.
``scenario_db`` holds one person per worklist case, as of 2028-09-15: inside Zhejiang's
centralized period for 2029 (from 09-01), before Jiangsu's (from 10-01).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.io.catalog import create_table_sql
from schemas.marts import TABLES

AS_OF = date(2028, 9, 15)

TAX_PAYMENT_DDL = """payment_id VARCHAR, id_number VARCHAR, name VARCHAR, scheme VARCHAR,
    pooling_division VARCHAR, period VARCHAR, period_year INTEGER, period_month INTEGER,
    kind VARCHAR, refund_of VARCHAR, amount DOUBLE, paid_at TIMESTAMP, refunded_by VARCHAR"""


def pid(n: int, birth: str = "19900101") -> str:
    """A well-formed 18-character ID number for test person ``n`` (Hangzhou Xihu)."""
    return f"330106{birth}{n:03d}{n % 10}"


def make_marts(path: Path) -> Path:
    con = duckdb.connect(str(path))
    try:
        for schema in ("reference", "staging"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for name, model in TABLES.items():
            con.execute(create_table_sql(name, model))
        con.execute(
            "CREATE TABLE reference.divisions (division_code VARCHAR, name VARCHAR, level VARCHAR, parent_code VARCHAR)"
        )
        con.execute(
            """CREATE TABLE reference.grids (grid_code VARCHAR, division_code VARCHAR,
            township VARCHAR, community VARCHAR, worker_name VARCHAR, worker_phone VARCHAR)"""
        )
        con.execute(f"CREATE TABLE staging.tax_payment ({TAX_PAYMENT_DDL})")
        con.executemany(
            "INSERT INTO reference.divisions VALUES (?, ?, ?, ?)",
            [
                ("330100", "杭州市", "prefecture", "330000"),
                ("320100", "南京市", "prefecture", "320000"),
                ("330106", "西湖区", "county", "330100"),
                ("330102", "上城区", "county", "330100"),
                ("320102", "玄武区", "county", "320100"),
            ],
        )
        con.executemany(
            "INSERT INTO reference.grids VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("G1", "330106", "北山街道", "曙光社区", "李网格", "13900000001"),
                ("G2", "330102", "湖滨街道", "东坡社区", "王网格", "13900000002"),
                ("G3", "320102", "玄武门街道", "百子亭社区", "赵网格", "13900000003"),
            ],
        )
    finally:
        con.close()
    return path


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts of some columns) into ``main.<table>`` or ``schema.table``."""
    frame = pl.DataFrame(rows, infer_schema_length=None)
    con.register("_rows", frame.to_arrow())
    try:
        target = table if "." in table else f"main.{table}"
        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _rows")
    finally:
        con.unregister("_rows")


def person(n: int, name: str, grid: str, **extra) -> dict:
    division = "320102" if grid == "G3" else ("330102" if grid == "G2" else "330106")
    return {
        "person_id": extra.pop("person_id", pid(n)),
        "name": name,
        "sex": 1,
        "birth_date": extra.pop("birth_date", date(1990, 1, 1)),
        "hukou_division": division,
        "residence_division": division,
        "grid_code": grid,
        "is_student": extra.pop("is_student", False),
        "phone": f"1381234{n:04d}",
        **extra,
    }


def policy(n: int, consecutive: int, region: str = "zhejiang", **extra) -> dict:
    return {
        "person_id": pid(n),
        "year": AS_OF.year,
        "pooling_division": "320102" if region == "jiangsu" else "330106",
        "region": region,
        "consecutive_years": consecutive,
        "lapse_run_years": 0,
        "lapsed_years_total": extra.pop("lapsed_years_total", 0),
        "repaired_years": 0,
        "fixed_wait_months": 0,
        "variable_wait_months": 0,
        "wait_months": extra.pop("wait_months", 0),
        "in_waiting_period": False,
        "continuous_incentive": 0.0,
        "zero_claim_incentive": 0.0,
        "total_incentive": 0.0,
        "lapse_penalty": 0.0,
        "outpatient_incentive": 0.0,
        **extra,
    }


def flag(n: int, value: str, **extra) -> dict:
    return {"person_id": extra.pop("person_id", pid(n)), "flag": value, **extra}


NEWBORN_ID = "B:Q330106280702"


def fill_scenario(con: duckdb.DuckDBPyConnection) -> None:
    """One person per case; comments say what each is there for."""
    people = [
        person(1, "张三", "G1"),  # uninsured
        person(2, "李小明", "G1"),  # lapsed 2026-2027 (2025 covered): 断保2年
        person(3, "王宝宝", "G1", person_id=NEWBORN_ID, birth_date=date(2028, 7, 2)),  # 75 days
        person(4, "赵大宝", "G2", birth_date=date(2028, 3, 1)),  # newborn past the window
        person(5, "钱同学", "G1", is_student=True, school_code="S1", school_name="西湖小学"),
        person(6, "孙同学", "G2", is_student=True, school_code="S1", school_name="西湖小学"),
        person(7, "周同学", "G2", is_student=True, school_code="S2", school_name="上城中学"),
        person(8, "吴故", "G2", death_date=date(2028, 3, 10)),  # paid after death
        person(9, "郑重", "G1"),  # resident twice in 2028
        person(10, "冯连续", "G1"),  # 4 consecutive years: one short of the incentive
        person(11, "陈风险", "G2"),  # renewal, lapsed before: high risk
        person(12, "褚稳定", "G2"),  # renewal, steady: low risk
        person(13, "卫已缴", "G1"),  # already paid for 2029: no case
        person(14, "蒋江苏", "G3", hukou_division="320102"),  # jiangsu: period not open yet
        person(15, "沈欧阳明", None),  # uninsured without a grid
        person(16, "韩退休", "G2", birth_date=date(1966, 1, 5)),  # employee months short
    ]
    insert(con, "person", people)
    insert(
        con,
        "coverage_flag",
        [
            flag(1, "uninsured"),
            flag(2, "lapsed"),
            flag(3, "newborn_pending", person_id=NEWBORN_ID),
            flag(4, "newborn_overdue"),
            flag(5, "student_uninsured"),
            flag(6, "student_uninsured"),
            flag(7, "student_uninsured"),
            flag(8, "deceased_covered"),
            flag(9, "repeat_enrolled"),
            flag(10, "insured"),
            flag(11, "insured"),
            flag(12, "insured"),
            flag(13, "insured"),
            flag(14, "insured"),
            flag(15, "uninsured"),
            flag(16, "insured"),
        ],
    )
    insert(
        con,
        "retirement_readiness",
        [
            {
                "grid_code": "G2",
                "person_id": pid(16),
                "name": "韩退休",
                "region": "zhejiang",
                "shortfall_months": 200,
                "due_date": date(2029, 1, 5),
                "reason": "距法定退休年龄不足12个月, 职工医保缴费年限不足: 一次性补缴或继续缴费至满足年限",
            },
        ],
    )
    insert(
        con,
        "coverage_year",
        [
            {"person_id": pid(2), "year": y, "status": s}
            for y, s in [
                (2024, "lapsed"),
                (2025, "covered"),
                (2026, "lapsed"),
                (2027, "lapsed"),
                (2028, "lapsed"),
            ]
        ],
    )
    insert(
        con,
        "repeat_enrolment",
        [
            {
                "person_id": pid(9),
                "period": "2028",
                "kind": "resident_twice",
                "payment_ids": "P1;P2",
                "keep_payment_id": "P1",
                "action": "refund",
            },
            {
                "person_id": pid(8),
                "period": "2028",
                "kind": "after_death",
                "payment_ids": "P3",
                "action": "stop",
            },
        ],
    )
    insert(
        con,
        "policy_status",
        [
            policy(9, 2),
            policy(10, 4),
            policy(11, 1, lapsed_years_total=1, wait_months=4),
            policy(12, 3),
            policy(13, 3),
            policy(14, 2, region="jiangsu"),
        ],
    )
    insert(
        con,
        "rejects",
        [  # the value of an identity reject is a raw ID number: it must never reach an export
            {
                "batch_id": "2028-09-14",
                "source": "household",
                "file": "2028-09-14/household.csv",
                "line": 7,
                "column": "id_number",
                "check": "id_check_char",
                "value": "330106199001010999",
                "message": "check character",
            },
            {
                "batch_id": "2028-09-14",
                "source": "household",
                "file": "2028-09-14/household.csv",
                "line": 9,
                "column": "birth_date",
                "check": "date",
                "value": "2028-02-30",
            },
            {
                "batch_id": "2028-09-14",
                "source": "tax_payment",
                "file": "2028-09-14/tax_payment.csv",
                "line": 3,
                "column": "amount",
                "check": "number",
                "value": "-5",
            },
        ],
    )
    insert(
        con,
        "staging.tax_payment",
        [
            {
                "payment_id": "P9",
                "id_number": pid(13),
                "scheme": "resident",
                "pooling_division": "330106",
                "period": "2029",
                "period_year": 2029,
                "kind": "normal",
                "amount": 400.0,
                "paid_at": datetime(2028, 9, 2, 10),
            },
        ],
    )


def scenario_marts(path: Path) -> Path:
    """A marts file at ``path`` filled with :func:`fill_scenario`."""
    make_marts(path)
    con = duckdb.connect(str(path))
    try:
        fill_scenario(con)
    finally:
        con.close()
    return path
