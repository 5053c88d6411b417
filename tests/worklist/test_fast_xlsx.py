"""The vectorised ``.xlsx`` writer (``pipelines.io.exports``) read back by two independent
readers, openpyxl and fastexcel (calamine), and compared with a cell-by-cell xlsxwriter
reference: what the writer did before it wrote whole columns with polars."""

from __future__ import annotations

import re
import time
import unicodedata
import zipfile
from datetime import date, datetime
from pathlib import Path

import fastexcel
import openpyxl
import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.io import exports
from pipelines.io.exports import (
    HEADER_ROWS,
    MAX_WIDTH,
    SheetFile,
    UnmaskedIdError,
    column_widths,
    display_width,
    display_width_expr,
    write_sheet_xlsx,
    write_sheets_xlsx,
)

LINES = ["全民参保工作清单 · 网格 G1 北山街道", "数据日期: 2028-09-15", "共 4 条: 断保 2, 待续保 2"]
TOP = HEADER_ROWS + 1  # Excel row of the table's header
MASKED = "330106********001X"  # 18 characters, masked: must stay text


def source() -> pl.DataFrame:
    """Every kind of cell the worklist has, and the awkward ones it could have."""
    return pl.DataFrame(
        {
            "优先级": pl.Series([1, 2, None, 5], dtype=pl.Int8),
            "截止日期": [date(2028, 9, 15), None, date(1900, 3, 1), date(2029, 1, 31)],
            "剩余天数": pl.Series([0, -3, 120, None], dtype=pl.Int32),
            "姓名": ["张三", "欧阳娜娜", None, "O'Brien & <Co> \"quoted\""],
            "身份证号": [MASKED, "B:*****1234", "0012345", "110101********123"],
            "联系电话": ["13800000000", "0571-8888", None, "+86 138"],
            "原因": ["断保2年: 今日办理", "a&b<c>d", "x > y && y < z", "新生儿(免等待期)"],
            "断保风险分": [0.5, None, -2.25, 1e-7],
            "code": ["ABCD", "EFGH", "IJKL", "MNOP"],
            "名称": ["中文中文", "汉字汉字", "全角全角", "数据数据"],
        }
    )


def reference_xlsx(path: Path, header_lines: list[str], table: pl.DataFrame) -> Path:
    """The cell-by-cell xlsxwriter writer this module replaced (the oracle)."""
    book = xlsxwriter.Workbook(str(path), {"in_memory": True})
    sheet = book.add_worksheet("工作清单")
    title = book.add_format({"bold": True, "font_size": 14})
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    for row, line in enumerate(header_lines):
        sheet.write_string(row, 0, line, title if row == 0 else None)
    top = HEADER_ROWS
    for col, name in enumerate(table.columns):
        cells = [name] + [str(v) for v in table[name].drop_nulls().to_list()]
        width = min(max(display_width(c) for c in cells) + 2, MAX_WIDTH)
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
                sheet.write_string(r, c, str(value))
    sheet.freeze_panes(top + 1, 0)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(top)
    if table.width:
        sheet.autofilter(top, 0, top + table.height, table.width - 1)
    book.close()
    return path


def cells(path: Path) -> list[tuple]:
    """Every cell as openpyxl reads it: (row, column, value, number format)."""
    sheet = openpyxl.load_workbook(path).active
    return [
        (c.row, c.column, c.value, c.number_format if c.value is not None else None)
        for row in sheet.iter_rows()
        for c in row
    ]


def fast_table(path: Path) -> pl.DataFrame:
    """The table below the header block, as fastexcel (calamine) reads it."""
    return fastexcel.read_excel(path).load_sheet(0, header_row=HEADER_ROWS).to_polars()


def part(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as package:
        return package.read(name).decode("utf-8")


@pytest.fixture
def written(tmp_path: Path) -> Path:
    return write_sheet_xlsx(tmp_path / "out" / "grid_G1.xlsx", LINES, source())


def test_openpyxl_reads_every_cell_as_in_the_frame(written: Path):
    sheet = openpyxl.load_workbook(written).active
    frame = source()
    assert [c.value for c in sheet[TOP]] == frame.columns
    for r, expected in enumerate(frame.iter_rows(), start=TOP + 1):
        got = [c.value for c in sheet[r]]
        for value, want, name in zip(got, expected, frame.columns, strict=True):
            if isinstance(want, date):
                assert value == datetime(want.year, want.month, want.day), (r, name)
            else:
                assert value == want, (r, name)
                assert type(value) is type(want), (r, name)  # "0012345" stays text
    assert sheet.max_row == TOP + frame.height


def test_dates_are_real_dates_in_the_date_format(written: Path):
    sheet = openpyxl.load_workbook(written).active
    dated = [sheet.cell(r, 2) for r in range(TOP + 1, TOP + 5)]
    assert [c.is_date for c in dated] == [True, False, True, True]
    assert {c.number_format for c in dated if c.value is not None} == {"yyyy-mm-dd"}
    assert sheet.cell(TOP + 1, 1).number_format == "General"  # numbers are not dates


def test_fastexcel_reads_the_same_table(written: Path):
    frame = source()
    table = fast_table(written)
    assert table.columns == frame.columns
    for name in frame.columns:
        want, got = frame[name], table[name]
        if want.dtype == pl.String:
            assert got.dtype == pl.String, name
            assert got.to_list() == want.to_list(), name
        elif want.dtype == pl.Date:
            assert got.dtype.is_temporal(), name
            assert got.cast(pl.Date).to_list() == want.to_list(), name
        else:
            assert got.dtype.is_numeric(), name
            assert got.to_list() == want.cast(pl.Float64).to_list(), name


def test_header_block_styles_freeze_filter_and_print_setup(written: Path):
    sheet = openpyxl.load_workbook(written).active
    assert sheet.title == "工作清单"
    assert [sheet.cell(r, 1).value for r in range(1, TOP)] == [*LINES, None]
    assert sheet["A1"].font.b and sheet["A1"].font.sz == 14
    assert not sheet["A2"].font.b
    assert all(c.font.b and c.fill.fgColor.rgb.endswith("DDEBF7") for c in sheet[TOP])
    assert sheet.freeze_panes == f"A{TOP + 1}"
    last = TOP + source().height
    assert sheet.auto_filter.ref == f"A{TOP}:J{last}"
    assert sheet.print_title_rows == f"${TOP}:${TOP}"
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert f"工作清单!$A${TOP}:$J${last}</definedName>" in part(written, "xl/workbook.xml")
    assert f'<dimension ref="A1:J{last}"/>' in part(written, "xl/worksheets/sheet1.xml")
    assert openpyxl.load_workbook(written, read_only=True).active.calculate_dimension() == (
        f"A1:J{last}"
    )


def test_column_widths(written: Path):
    dimensions = openpyxl.load_workbook(written).active.column_dimensions
    widths = {k: v.width for k, v in dimensions.items()}
    # "code" and "名称" hold 4 characters each; CJK counts double
    assert widths["J"] > widths["I"]
    assert widths["I"] == pytest.approx(len("ABCD") + 2, abs=1)
    assert widths["J"] == pytest.approx(2 * len("名称名称") + 2, abs=1)
    # the widest cell or the header, +2, capped
    frame = source()
    assert column_widths(frame) == [
        min(max(display_width(str(v)) for v in [name, *frame[name].drop_nulls()]) + 2, MAX_WIDTH)
        for name in frame.columns
    ]
    assert column_widths(frame)[-4:] == [19, 12, 6, 10]
    long = pl.DataFrame({"x": ["中" * 100]})
    assert column_widths(long) == [MAX_WIDTH]


def test_same_cells_and_widths_as_the_cell_by_cell_writer(written: Path, tmp_path: Path):
    oracle = reference_xlsx(tmp_path / "oracle.xlsx", LINES, source())
    assert cells(written) == cells(oracle)
    mine, theirs = (
        {k: v.width for k, v in openpyxl.load_workbook(p).active.column_dimensions.items()}
        for p in (written, oracle)
    )
    assert mine == theirs


AWKWARD = pl.DataFrame(
    {
        "text": [
            "a\x01b\x1fc",  # control characters: _x0001_ escapes
            "literal _x0041_ stays",  # Excel's escape, escaped itself
            " leading and trailing ",
            "tab\tand\nnewline\r",
            "",
            "中" * 40_000,  # over Excel's 32,767 characters: cut, as xlsxwriter does
            "\ufffe\uffff",
        ],
        "flag": [True, False, None, True, False, True, False],
        "category": pl.Series(["甲", "乙", None, "甲", "乙", "甲", "乙"], dtype=pl.Categorical),
        "when": [datetime(2028, 9, 15, 13, 45), None, *[datetime(1999, 12, 31, 23, 59, 59)] * 5],
        "big": pl.Series([2**53, -1, 0, None, 7, 8, 9], dtype=pl.Int64),
    }
)


def test_awkward_text_and_types_match_the_cell_by_cell_writer(tmp_path: Path):
    mine = write_sheet_xlsx(tmp_path / "mine.xlsx", LINES, AWKWARD)
    oracle = reference_xlsx(tmp_path / "oracle.xlsx", LINES, AWKWARD)
    # calamine decodes Excel's _xHHHH_ escapes in inline and shared strings alike
    assert fast_table(mine).equals(fast_table(oracle))
    assert fast_table(mine)["text"].str.len_chars().to_list() == [5, 21, 22, 16, 0, 32_767, 14]
    # openpyxl decodes them only in shared strings (Excel, in both): compare the rest
    plain = [c for c in cells(mine) if c[1] > 1 or c[0] < TOP + 1]
    assert plain == [c for c in cells(oracle) if c[1] > 1 or c[0] < TOP + 1]


def test_text_that_looks_like_rich_text_stays_text(tmp_path: Path):
    # the cell-by-cell writer passed "<r>...</r>" through as raw XML (and lost it)
    frame = pl.DataFrame({"text": ["<r>not rich text</r>", "<r><t>x</t></r>"]})
    path = write_sheet_xlsx(tmp_path / "rich.xlsx", [], frame)
    assert fast_table(path)["text"].to_list() == frame["text"].to_list()
    assert [c[2] for c in cells(path) if c[0] > TOP] == frame["text"].to_list()


def test_header_lines_and_names_are_escaped_too(tmp_path: Path):
    lines = ["网格 A&B <北区>", " 前后空格 ", "控制\x01字符"]
    frame = pl.DataFrame({"a<b>&c": ["x"], "_x0041_": ["y"]})
    mine = write_sheet_xlsx(tmp_path / "mine.xlsx", lines, frame)
    oracle = reference_xlsx(tmp_path / "oracle.xlsx", lines, frame)
    assert fast_table(mine).equals(fast_table(oracle))
    assert fast_table(mine).columns == frame.columns
    sheet = openpyxl.load_workbook(mine).active
    assert [sheet.cell(r, 1).value for r in (1, 2)] == lines[:2]
    whole = fastexcel.read_excel(mine).load_sheet(0, header_row=None).to_polars()
    assert whole[:, 0].head(3).to_list() == lines


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(st.characters(exclude_categories=["Cs"]), max_size=12), min_size=1))
def test_any_text_reads_back_as_the_cell_by_cell_writer_wrote_it(tmp_path: Path, texts):
    frame = pl.DataFrame({"text": texts})
    mine = write_sheet_xlsx(tmp_path / "mine.xlsx", [], frame)
    oracle = reference_xlsx(tmp_path / "oracle.xlsx", [], frame)
    assert fast_table(mine).equals(fast_table(oracle))


def test_empty_table_keeps_its_header_row(tmp_path: Path):
    empty = source().clear()
    path = write_sheet_xlsx(tmp_path / "empty.xlsx", LINES, empty)
    sheet = openpyxl.load_workbook(path).active
    assert sheet.max_row == TOP
    assert [c.value for c in sheet[TOP]] == empty.columns
    assert sheet.auto_filter.ref == f"A{TOP}:J{TOP}"
    assert sheet.freeze_panes == f"A{TOP + 1}"
    assert fast_table(path).height == 0
    assert cells(path) == cells(reference_xlsx(tmp_path / "oracle.xlsx", LINES, empty))


def test_a_table_without_columns(tmp_path: Path):
    path = write_sheet_xlsx(tmp_path / "bare.xlsx", LINES[:1], pl.DataFrame())
    sheet = openpyxl.load_workbook(path).active
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [[LINES[0]]]
    assert sheet.auto_filter.ref is None


def test_a_rerun_writes_the_same_bytes(tmp_path: Path):
    """A later run (a fresh shell, as in a new process) writes the same rows byte for byte:
    no time of writing in the document properties."""
    first = write_sheet_xlsx(tmp_path / "first.xlsx", LINES, source()).read_bytes()
    exports._shell.cache_clear()
    exports._workbook_member.cache_clear()
    time.sleep(1.1)  # xlsxwriter stamps to the second
    assert write_sheet_xlsx(tmp_path / "again.xlsx", LINES, source()).read_bytes() == first


def test_many_sheets_in_small_batches_each_get_only_their_rows(tmp_path: Path):
    frame = source()
    sheets = [
        SheetFile(tmp_path / f"s{n}.xlsx", [f"sheet {n}"], frame.slice(n % 4, n % 5))
        for n in range(23)
    ]
    write_sheets_xlsx(sheets, threads=2, batch_rows=3)
    for sheet in sheets:
        got = fast_table(sheet.path)
        assert got.height == sheet.table.height, sheet.path.name
        assert got["身份证号"].to_list() == sheet.table["身份证号"].to_list(), sheet.path.name
        book = openpyxl.load_workbook(sheet.path).active
        assert book["A1"].value == sheet.header_lines[0]
        assert book.auto_filter.ref == f"A{TOP}:J{TOP + sheet.table.height}"
        with zipfile.ZipFile(sheet.path) as package:
            assert package.testzip() is None


def test_a_leak_in_one_sheet_refuses_the_whole_set(tmp_path: Path):
    frame = source()
    leaking = frame.with_columns(pl.lit("330106199001010011").alias("身份证号"))
    sheets = [
        SheetFile(tmp_path / "ok.xlsx", LINES, frame),
        SheetFile(tmp_path / "leak.xlsx", LINES, leaking),
    ]
    with pytest.raises(UnmaskedIdError, match=r"leak\.xlsx"):
        write_sheets_xlsx(sheets)
    assert not list(tmp_path.glob("*.xlsx"))
    in_title = [SheetFile(tmp_path / "title.xlsx", ["户主 330106199001010011"], frame)]
    with pytest.raises(UnmaskedIdError, match=r"title\.xlsx"):
        write_sheets_xlsx(in_title)
    as_number = pl.DataFrame({"id": pl.Series([330106199001010011], dtype=pl.Int64)})
    with pytest.raises(UnmaskedIdError):
        write_sheet_xlsx(tmp_path / "number.xlsx", [], as_number)
    assert not list(tmp_path.glob("*.xlsx"))


def test_refuses_what_it_cannot_write(tmp_path: Path):
    with pytest.raises(ValueError, match="same file"):
        write_sheets_xlsx([SheetFile(tmp_path / "a.xlsx", [], source())] * 2)
    with pytest.raises(ValueError, match="NaN"):
        write_sheet_xlsx(tmp_path / "nan.xlsx", [], pl.DataFrame({"x": [1.0, float("nan")]}))
    with pytest.raises(ValueError, match="header lines"):
        write_sheet_xlsx(tmp_path / "lines.xlsx", ["1", "2", "3", "4"], source())
    with pytest.raises(TypeError, match="cannot write"):
        write_sheet_xlsx(tmp_path / "list.xlsx", [], pl.DataFrame({"x": [[1, 2]]}))
    assert not list(tmp_path.glob("*.xlsx"))


SAMPLES = [
    "",
    "abc",
    "中文",
    "全角ＡＢＣ",
    "半角ｱｲｳ",  # half-width katakana: narrow
    "·—…“”",  # narrow punctuation of 2 and 3 bytes
    "𠀀𠀁",  # CJK extension B: 4 bytes, wide
    "😀 emoji",
    "한국어",
    "\u0378",  # unassigned: 1
]


@pytest.mark.parametrize("by_bytes", [False, True])
def test_display_width_in_polars_equals_python(by_bytes: bool):
    frame = pl.DataFrame({"t": SAMPLES})
    if by_bytes:  # only valid where no character of that class occurs, as the writer checks
        pattern = exports._width_not_by_bytes_class()
        frame = frame.filter(~pl.col("t").str.contains(pattern))
        assert frame.height >= 4
    got = frame.select(display_width_expr(pl.col("t"), by_bytes=by_bytes))["t"].to_list()
    assert got == [display_width(t) for t in frame["t"]]


def test_wide_class_is_exactly_unicodedata():
    chars = [chr(c) for c in range(0x80, 0x40000) if not 0xD800 <= c <= 0xDFFF]
    found = pl.Series(chars).str.contains(exports._wide_class()).to_list()
    wide = [
        unicodedata.category(ch) != "Cn" and unicodedata.east_asian_width(ch) in "WF"
        for ch in chars
    ]
    assert found == wide


def test_col_width_is_what_xlsxwriter_writes(tmp_path: Path):
    book = xlsxwriter.Workbook(str(tmp_path / "w.xlsx"))
    sheet = book.add_worksheet()
    for width in range(1, MAX_WIDTH + 1):
        sheet.set_column(width, width, width)
    book.close()
    xml = part(tmp_path / "w.xlsx", "xl/worksheets/sheet1.xml")
    written = re.findall(r'<col min="(\d+)" max="\d+" width="([^"]+)"', xml)
    assert [(int(c) - 1, w) for c, w in written] == [
        (width, exports._col_width_xml(width)) for width in range(1, MAX_WIDTH + 1)
    ]
