"""Worklist exports read back with an independent reader (openpyxl): issue 7."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest
from marts_fixtures import AS_OF, NEWBORN_ID, pid

from pipelines.flows.tasks_outputs import (
    build_worklist,
    describe_warehouse,
    export_worklists,
    write_report,
)
from pipelines.io.exports import HEADER_ROWS, UnmaskedIdError, assert_masked, write_csv
from pipelines.stages.masking import find_full_ids, mask_id

HEADERS = [
    "优先级",
    "截止日期",
    "剩余天数",
    "网格",
    "姓名",
    "身份证号",
    "联系电话",
    "事项",
    "原因",
    "工作事项",
    "断保风险分",
]
MASKED_ID = re.compile(r"^(\d{6}\*{8}[\dX]{4}|B:\*+\w{4})$")


@pytest.fixture
def exported(scenario_db: Path, tmp_path: Path) -> Path:
    build_worklist.fn(scenario_db, AS_OF)
    export_worklists.fn(scenario_db, tmp_path / "exports", AS_OF)
    return tmp_path / "exports" / AS_OF.isoformat()


def read_sheet(path: Path) -> tuple[list[str], list[str], list[dict]]:
    """(header block lines, table headers, rows as dicts) of an exported workbook."""
    sheet = openpyxl.load_workbook(path, read_only=False).active
    rows = list(sheet.iter_rows(values_only=True))
    block = [r[0] for r in rows[: HEADER_ROWS - 1]]
    headers = [h for h in rows[HEADER_ROWS] if h is not None]
    table = [dict(zip(headers, r)) for r in rows[HEADER_ROWS + 1 :]]
    return block, headers, table


def test_one_file_per_grid_and_school_plus_csv(exported: Path):
    assert sorted(p.name for p in exported.iterdir()) == [
        "grid_G1.xlsx",
        "grid_G2.xlsx",
        "grid_unassigned.xlsx",
        "school_S1.xlsx",
        "school_S2.xlsx",
        "worklist.csv",
    ]


@pytest.mark.parametrize(
    ("file", "people"),
    [
        ("grid_G1.xlsx", {pid(1), pid(2), NEWBORN_ID, pid(9), pid(10)}),
        ("grid_G2.xlsx", {pid(4), pid(8), pid(11), pid(12), pid(16)}),
        ("grid_unassigned.xlsx", {pid(15)}),
        ("school_S1.xlsx", {pid(5), pid(6)}),
        ("school_S2.xlsx", {pid(7)}),
    ],
)
def test_a_file_holds_only_its_own_people(exported: Path, file: str, people: set[str]):
    _, _, rows = read_sheet(exported / file)
    assert {r["身份证号"] for r in rows} == {mask_id(p) for p in people}


def test_grid_file_headers_block_and_frozen_header(exported: Path):
    block, headers, rows = read_sheet(exported / "grid_G1.xlsx")
    assert headers == HEADERS
    assert block[0] == "全民参保工作清单 · 网格 G1 北山街道 曙光社区"
    assert block[1] == "数据日期: 2028-09-15"
    assert block[2].startswith(f"共 {len(rows)} 条: ")
    sheet = openpyxl.load_workbook(exported / "grid_G1.xlsx").active
    assert sheet.freeze_panes == f"A{HEADER_ROWS + 2}"
    widths = {k: v.width for k, v in sheet.column_dimensions.items()}
    assert widths["I"] > widths["A"] >= 8  # the reason column is the widest kind


def test_school_file_groups_students_with_grid_and_school(exported: Path):
    block, headers, rows = read_sheet(exported / "school_S1.xlsx")
    assert block[0] == "全民参保工作清单 · 学校 S1 西湖小学"
    assert "学校" in headers and "网格" in headers
    assert {(r["学校"], r["网格"], r["事项"]) for r in rows} == {
        ("西湖小学", "G1", "学生未参保"),
        ("西湖小学", "G2", "学生未参保"),
    }


def test_ids_masked_and_rows_sorted_by_priority_then_due_date(exported: Path):
    for path in exported.glob("*.xlsx"):
        _, _, rows = read_sheet(path)
        assert all(MASKED_ID.match(r["身份证号"]) for r in rows), path.name
        keys = [(r["优先级"], r["截止日期"]) for r in rows]
        assert keys == sorted(keys), path.name
        assert all(isinstance(r["截止日期"], datetime) for r in rows)


def test_csv_holds_every_case_with_id_name_and_phone_masked(exported: Path):
    raw = (exported / "worklist.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pl.read_csv(raw[3:], infer_schema=False)
    assert table.height == 15
    assert table["身份证号"].str.contains(r"\*{6}").all()
    assert table["联系电话"].str.contains(r"^\d{3}\*{4}\d{4}$").all()
    assert table.filter(pl.col("原因").str.starts_with("断保2年"))["姓名"].to_list() == ["李*明"]


def test_no_full_id_number_in_any_export(scenario_db: Path, tmp_path: Path):
    """Scan every exported file (xlsx via openpyxl, csv, html) for 18-character ID numbers."""
    exports = tmp_path / "exports"
    build_worklist.fn(scenario_db, AS_OF)
    export_worklists.fn(scenario_db, exports, AS_OF)
    describe_warehouse.fn(scenario_db)
    write_report.fn(scenario_db, exports, AS_OF, "20280915T020000-2028-09-15")
    con = duckdb.connect(str(scenario_db))
    try:
        known = {r[0] for r in con.sql("SELECT person_id FROM main.person").fetchall()}
    finally:
        con.close()
    files = list(exports.rglob("*.*"))
    assert {p.suffix for p in files} == {".xlsx", ".csv", ".html"}
    for path in files:
        if path.suffix == ".xlsx":
            cells = openpyxl.load_workbook(path).active.iter_rows(values_only=True)
            text = "\n".join(str(v) for row in cells for v in row if v is not None)
        else:
            text = path.read_text("utf-8")
        assert find_full_ids(text) == [], path.name
        assert not [p for p in known if p in text], path.name


def test_writer_refuses_an_unmasked_id(tmp_path: Path):
    table = pl.DataFrame({"身份证号": ["330106199001010011"]})
    with pytest.raises(UnmaskedIdError, match="unmasked ID"):
        write_csv(tmp_path / "leak.csv", table)
    assert not (tmp_path / "leak.csv").exists()
    assert_masked(pl.DataFrame({"身份证号": [mask_id("330106199001010011")]}), "ok")


def test_empty_worklist_exports_only_the_csv(tmp_path: Path):
    from marts_fixtures import make_marts

    db = make_marts(tmp_path / "empty.duckdb")
    build_worklist.fn(db, date(2028, 9, 15))
    assert export_worklists.fn(db, tmp_path / "out", AS_OF) == {"export_files": 1, "export_rows": 0}
