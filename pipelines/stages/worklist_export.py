"""What the worklist exports hold: one sheet per grid (students: per school), masked.

Pure: turns the ``worklist`` mart into sheets with Chinese headers and a header block;
``pipelines.io.exports`` writes them. A grid's sheet holds only that grid's cases; student
cases go to their school's sheet instead. ID numbers are masked everywhere; the per-grid and
per-school sheets keep name and phone (the worker has to reach the person), the all-grid
``worklist.csv`` masks them too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import polars as pl

from pipelines.stages.masking import mask_id_expr, mask_name_expr, mask_phone_expr
from schemas.marts import Worklist as W

CASE_LABELS = {
    "deceased_covered": "死亡后仍参保",
    "newborn_pending": "新生儿待参保",
    "newborn_overdue": "新生儿逾期未参保",
    "repeat_enrolment": "重复参保",
    "student_uninsured": "学生未参保",
    "uninsured": "未参保",
    "lapsed": "断保",
    "retirement_shortfall": "临近退休缴费年限不足",
    "incentive_near": "临近连续参保激励",
    "renewal_due": "待续保",
}

HEADERS = {
    W.priority: "优先级",
    W.due_date: "截止日期",
    W.days_left: "剩余天数",
    W.grid_code: "网格",
    W.school_name: "学校",
    W.name: "姓名",
    W.person_id: "身份证号",
    W.phone: "联系电话",
    W.case: "事项",
    W.reason: "原因",
    W.action: "工作事项",
    W.lapse_risk_score: "断保风险分",
}
GRID_COLUMNS = [c for c in HEADERS if c != W.school_name]
SCHOOL_COLUMNS = list(HEADERS)
SORT = [W.priority, W.due_date, W.lapse_risk_score, W.person_id]
SORT_DESCENDING = [False, False, True, False]


@dataclass(frozen=True)
class Sheet:
    """One export file: its name, the lines above the table, and the table (Chinese headers)."""

    file_name: str
    header_lines: list[str]
    table: pl.DataFrame


def _safe(code: str | None) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", code) if code else "unassigned"


def _counts_line(cases: pl.Series) -> str:
    counts = cases.value_counts(sort=True)
    parts = [f"{CASE_LABELS.get(c, c)} {n}" for c, n in counts.iter_rows()]
    return f"共 {cases.len()} 条: " + ", ".join(parts)


def _table(cases: pl.DataFrame, columns: list[str], *, mask_contact: bool) -> pl.DataFrame:
    contact = (
        [mask_name_expr(W.name).alias(W.name), mask_phone_expr(W.phone).alias(W.phone)]
        if mask_contact
        else []
    )
    return (
        cases.sort(SORT, descending=SORT_DESCENDING, nulls_last=True)
        .with_columns(
            mask_id_expr(W.person_id).alias(W.person_id),
            pl.col(W.case).replace_strict(CASE_LABELS, default=pl.col(W.case)),
            *contact,
        )
        .select(columns)
        .rename(HEADERS, strict=False)
    )


def is_school_case() -> pl.Expr:
    """Student cases with a known school go to the school, not the grid."""
    return (pl.col(W.case) == "student_uninsured") & pl.col(W.school_code).is_not_null()


def worklist_sheets(
    worklist: pl.DataFrame, as_of: date, grid_names: dict[str, str] | None = None
) -> list[Sheet]:
    """One sheet per grid and one per school, each with only its own cases, sorted."""
    grid_names = grid_names or {}
    sheets = []
    by_grid = worklist.filter(~is_school_case())
    for (grid,), cases in by_grid.group_by(W.grid_code, maintain_order=True):
        label = f"网格 {grid} {grid_names.get(grid, '')}".rstrip() if grid else "未分配网格"
        sheets.append(_sheet(f"grid_{_safe(grid)}.xlsx", label, as_of, cases, GRID_COLUMNS))
    by_school = worklist.filter(is_school_case())
    for (school,), cases in by_school.group_by(W.school_code, maintain_order=True):
        name = cases[W.school_name].drop_nulls().first() or ""
        label = f"学校 {school} {name}".rstrip()
        sheets.append(_sheet(f"school_{_safe(school)}.xlsx", label, as_of, cases, SCHOOL_COLUMNS))
    return sorted(sheets, key=lambda sheet: sheet.file_name)


def _sheet(
    file_name: str, label: str, as_of: date, cases: pl.DataFrame, columns: list[str]
) -> Sheet:
    lines = [
        f"全民参保工作清单 · {label}",
        f"数据日期: {as_of.isoformat()}",
        _counts_line(cases[W.case]),
    ]
    return Sheet(file_name, lines, _table(cases, columns, mask_contact=False))


def worklist_csv_table(worklist: pl.DataFrame) -> pl.DataFrame:
    """Every case of every grid and school for ``worklist.csv``: ID, name and phone masked."""
    return _table(worklist, SCHOOL_COLUMNS, mask_contact=True)
