"""Write worklist exports: one ``.xlsx`` per grid or school, and ``worklist.csv`` for all.

The frames arrive masked (``pipelines.stages.worklist_export``); as a last line of defence
every file is refused if a cell still holds a full 18-character ID number.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path

import polars as pl
import xlsxwriter

HEADER_ROWS = 4
"""Lines above the table: title, as-of date, counts, and one blank row."""

MAX_WIDTH = 60
_FULL_ID_IN_CELL = r"(^|[^0-9A-Za-z])\d{17}[\dXx]($|[^0-9A-Za-z])"


class UnmaskedIdError(ValueError):
    """An export would contain a full ID number."""


def assert_masked(frame: pl.DataFrame, where: str) -> None:
    """Refuse a frame with any full 18-character ID number in a text cell."""
    text = [c for c, dtype in frame.schema.items() if dtype == pl.Utf8]
    if not text or frame.is_empty():
        return
    hits = frame.select(pl.col(text).str.contains(_FULL_ID_IN_CELL).fill_null(False).sum()).row(
        0, named=True
    )
    leaking = {column: n for column, n in hits.items() if n}
    if leaking:
        raise UnmaskedIdError(f"{where}: unmasked ID number(s) in columns {leaking}")


def display_width(text: str) -> int:
    """Columns a string takes in Excel: CJK and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _widths(table: pl.DataFrame) -> list[int]:
    widths = []
    for column in table.columns:
        cells = [column] + [str(v) for v in table[column].drop_nulls().to_list()]
        widths.append(min(max(display_width(c) for c in cells) + 2, MAX_WIDTH))
    return widths


def write_sheet_xlsx(path: Path, header_lines: list[str], table: pl.DataFrame) -> Path:
    """One workbook: header block, then the table with a frozen, filtered header row."""
    assert_masked(table, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    # in_memory: no temporary file per XML part (removing them dominated the run time)
    workbook = xlsxwriter.Workbook(str(path), {"in_memory": True})
    try:
        sheet = workbook.add_worksheet("工作清单")
        title = workbook.add_format({"bold": True, "font_size": 14})
        head = workbook.add_format(
            {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True}
        )
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        for row, line in enumerate(header_lines):
            sheet.write_string(row, 0, line, title if row == 0 else None)
        top = HEADER_ROWS
        for col, (name, width) in enumerate(zip(table.columns, _widths(table))):
            sheet.write_string(top, col, name, head)
            sheet.set_column(col, col, width)
        for r, values in enumerate(table.iter_rows(), start=top + 1):
            for c, value in enumerate(values):
                if value is None:
                    continue
                if isinstance(value, date):
                    sheet.write_datetime(r, c, value, day)
                elif isinstance(value, (int, float)):
                    sheet.write_number(r, c, value)
                else:
                    sheet.write_string(r, c, str(value))  # IDs stay text, never numbers
        sheet.freeze_panes(top + 1, 0)
        # printed lists: landscape, one page wide, the header row on every page
        sheet.set_landscape()
        sheet.fit_to_pages(1, 0)
        sheet.repeat_rows(top)
        if table.width:
            sheet.autofilter(top, 0, top + table.height, table.width - 1)
    finally:
        workbook.close()
    return path


def write_csv(path: Path, table: pl.DataFrame) -> Path:
    """UTF-8 with BOM so that Excel shows the Chinese headers."""
    assert_masked(table, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbf" + table.write_csv().encode("utf-8"))
    return path


def exports_folder(exports: Path, as_of: date) -> Path:
    """``<exports>/<as-of>/``: the folder of one run date's files."""
    return exports / as_of.isoformat()
