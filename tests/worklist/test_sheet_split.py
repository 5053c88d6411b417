"""``worklist_sheets`` splits the whole worklist in one sort and one mask pass (issue 9).

The oracle below is the per-sheet implementation it replaced (filter, sort, mask and count
each grid's and school's cases on their own): on a worklist of many grids and schools, with
unassigned grids, schools without a name and several cases per person, both give the same
sheets, header lines and rows.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from pipelines.stages.worklist_export import (
    CASE_LABELS,
    GRID_COLUMNS,
    SCHOOL_COLUMNS,
    _safe,
    _table,
    is_school_case,
    worklist_sheets,
)
from schemas.marts import Worklist as W

AS_OF = date(2026, 11, 20)


def _worklist(rows: int) -> pl.DataFrame:
    cases = list(CASE_LABELS)
    index = pl.int_range(rows, eager=True)
    return pl.DataFrame(
        {
            W.grid_code: [None if i % 17 == 0 else f"G{i % 23:03d}" for i in range(rows)],
            W.school_code: [f"S{i % 7}" if i % 3 == 0 else None for i in range(rows)],
            W.school_name: [None if i % 10 == 0 else f"学校{i % 5}" for i in range(rows)],
            W.person_id: [f"33010619900101{i // 2:04d}" for i in range(rows)],
            W.name: [f"张{i}" for i in range(rows)],
            W.phone: [f"1380000{i:04d}" for i in range(rows)],
            W.case: [cases[i % len(cases)] for i in range(rows)],
            W.reason: ["原因"] * rows,
            W.action: ["动员参保"] * rows,
            W.priority: (index % 4 + 1).cast(pl.Int32),
            W.due_date: [AS_OF + timedelta(days=i % 7) for i in range(rows)],
            W.days_left: (index % 7).cast(pl.Int32),
            W.lapse_risk_score: (index % 11).cast(pl.Float64) / 10,
        }
    )


def _oracle(worklist: pl.DataFrame, grid_names: dict[str, str]) -> list[tuple]:
    sheets = []

    def counts(cases: pl.Series) -> str:
        parts = cases.value_counts().sort(["count", W.case], descending=[True, False])
        text = ", ".join(f"{CASE_LABELS.get(c, c)} {n}" for c, n in parts.iter_rows())
        return f"共 {cases.len()} 条: " + text

    for (grid,), cases in worklist.filter(~is_school_case()).group_by(W.grid_code):
        label = f"网格 {grid} {grid_names.get(grid, '')}".rstrip() if grid else "未分配网格"
        lines = [f"全民参保工作清单 · {label}", f"数据日期: {AS_OF}", counts(cases[W.case])]
        table = _table(cases, GRID_COLUMNS, mask_contact=False)
        sheets.append((f"grid_{_safe(grid)}.xlsx", lines, table))
    for (school,), cases in worklist.filter(is_school_case()).group_by(W.school_code):
        name = cases[W.school_name].drop_nulls().first() or ""
        lines = [
            f"全民参保工作清单 · {f'学校 {school} {name}'.rstrip()}",
            f"数据日期: {AS_OF}",
            counts(cases[W.case]),
        ]
        sheets.append(
            (f"school_{_safe(school)}.xlsx", lines, _table(cases, SCHOOL_COLUMNS, mask_contact=False))
        )
    return sorted(sheets, key=lambda sheet: sheet[0])


def test_split_sheets_equal_the_per_sheet_oracle() -> None:
    worklist = _worklist(2_000)
    names = {"G001": "西湖社区", "G002": "上城社区"}
    got = worklist_sheets(worklist, AS_OF, names)
    expected = _oracle(worklist, names)
    assert [s.file_name for s in got] == [name for name, _, _ in expected]
    assert len(got) == 31  # 23 grids, the unassigned one and 7 schools
    for sheet, (name, lines, table) in zip(got, expected, strict=True):
        assert sheet.header_lines == lines, name
        assert sheet.table.equals(table), name
    assert sum(s.table.height for s in got) == worklist.height


def test_school_without_any_name_keeps_its_code_only() -> None:
    worklist = _worklist(30).with_columns(pl.lit(None, pl.Utf8).alias(W.school_name))
    schools = [s for s in worklist_sheets(worklist, AS_OF) if s.file_name.startswith("school_")]
    assert schools and all(s.header_lines[0].endswith(s.file_name[7:-5]) for s in schools)
