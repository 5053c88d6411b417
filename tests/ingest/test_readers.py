"""Reading delivered files (pipelines/io/readers.py): formats, encodings, unreadable files."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from pipelines.io import readers
from pipelines.io.readers import UnreadableFile, read_delivery

from .helpers import write_csv

HEADER = ["公民身份号码", "姓名", "出生日期"]
ROWS = [["11010519491231002X", "王䶮", "1949-12-31"], ["110105491231002", "李𠮷", "19491231"]]


def _expect(frame: pl.DataFrame) -> None:
    assert frame.columns == ["line", *HEADER]
    assert frame["line"].to_list() == [2, 3]
    assert frame["姓名"].to_list() == ["王䶮", "李𠮷"]
    assert all(dtype == pl.Utf8 for name, dtype in frame.schema.items() if name != "line")


@pytest.mark.parametrize(
    ("encoding", "gz", "detected"),
    [
        ("utf-8", False, "utf-8"),
        ("utf-8-sig", False, "utf-8"),  # BOM stripped from the first header
        ("gb18030", False, "gb18030"),  # 䶮 and 𠮷 exist only in GB18030, not GBK
        ("utf-8", True, "utf-8"),
        ("gb18030", True, "gb18030"),
    ],
)
def test_csv_encodings_detected(tmp_path: Path, encoding, gz, detected):
    path = write_csv(tmp_path / ("x.csv.gz" if gz else "x.csv"), HEADER, ROWS, encoding, gz)
    result = read_delivery(path)
    assert result.encoding == detected
    _expect(result.frame)


def test_gbk_file_read_as_gb18030(tmp_path: Path):
    path = write_csv(tmp_path / "x.csv", HEADER, [["1", "王小明", "1990-01-01"]], "gbk")
    assert read_delivery(path).frame["姓名"].to_list() == ["王小明"]


def test_quoted_field_with_comma_and_newline_keeps_record_numbering(tmp_path: Path):
    path = write_csv(tmp_path / "x.csv", ["a", "b"], [["1", "x,\ny"], ["2", "z"]])
    frame = read_delivery(path).frame
    assert frame["b"].to_list() == ["x,\ny", "z"] and frame["line"].to_list() == [2, 3]


def test_parquet_and_xlsx_read_as_text(tmp_path: Path):
    frame = pl.DataFrame({"公民身份号码": ["11010519491231002X", "110105491231002"],
                          "姓名": ["王䶮", "李𠮷"], "出生日期": ["1949-12-31", "19491231"]})
    frame.write_parquet(tmp_path / "x.parquet")
    frame.write_excel(tmp_path / "x.xlsx")
    for name in ("x.parquet", "x.xlsx"):
        _expect(read_delivery(tmp_path / name).frame)


def test_parquet_typed_columns_become_contract_text(tmp_path: Path):
    from datetime import date, datetime

    pl.DataFrame({"d": [date(2026, 1, 2)], "t": [datetime(2026, 1, 2, 3, 4, 5)], "n": [380.5]}) \
        .write_parquet(tmp_path / "x.parquet")
    row = read_delivery(tmp_path / "x.parquet").frame.row(0, named=True)
    assert (row["d"], row["t"], row["n"]) == ("2026-01-02", "2026-01-02 03:04:05", "380.5")


@pytest.mark.parametrize(
    ("name", "content", "check"),
    [
        ("empty.csv", b"", "file_empty"),
        ("utf16.csv", "姓名,出生日期\n王,1990-01-01\n".encode("utf-16"), "file_encoding"),
        ("latin.csv", b"name\n\xff\xfe\x80\n", "file_encoding"),
        ("trunc.csv.gz", gzip.compress("a,b\n1,2\n".encode() * 1000)[:-40], "file_unreadable"),
        ("notgz.csv.gz", b"a,b\n1,2\n", "file_unreadable"),
        ("bad.parquet", b"PAR1 not really parquet", "file_unreadable"),
        ("bad.xlsx", b"PK\x03\x04 not a workbook", "file_unreadable"),
        ("x.txt", b"a\n1\n", "file_name"),
    ],
)
def test_unreadable_files_rejected_with_reason(tmp_path: Path, name, content, check):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as caught:
        read_delivery(path)
    assert caught.value.check == check
    assert name in caught.value.reason


@pytest.mark.parametrize("chunk", [3, 7, 16 * 2**20])
@pytest.mark.parametrize("gzipped", [False, True])
def test_an_undecodable_byte_is_reported_with_its_line(tmp_path: Path, monkeypatch, gzipped,
                                                       chunk):
    """GBK text with a byte that starts no UTF-8 or GB18030 character on line 4: the reason
    names the line and the byte offset, also when chunks split characters and lines."""
    monkeypatch.setattr(readers, "CHUNK_BYTES", chunk)
    head = "姓名,出生日期\n".encode("gb18030") + "王芳,1990-01-01\n".encode("gb18030") * 2
    data = head + b"\xff,1990-01-01\n" + "李,1990-01-01\n".encode("gb18030") * 3
    path = tmp_path / ("bad.csv.gz" if gzipped else "bad.csv")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    with pytest.raises(UnreadableFile) as caught:
        read_delivery(path)
    assert caught.value.check == "file_encoding"
    assert f"line 4, byte offset {len(head)})" in caught.value.reason


def test_a_file_ending_inside_a_character_is_reported_on_its_last_line(tmp_path: Path):
    path = tmp_path / "cut.csv"
    path.write_bytes("姓名\n王芳\n".encode("gb18030") + "李".encode("gb18030")[:1])
    with pytest.raises(UnreadableFile) as caught:
        read_delivery(path)
    assert "line 3, byte offset" in caught.value.reason


def test_xlsx_date_cells_read_as_excel_shows_them(tmp_path: Path):
    """A date cell under a date format is a date (not ``2024-01-05 00:00:00``, which a date
    column rejects); under a date-time format it keeps its time, midnight included."""
    from datetime import date, datetime

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id_number", "death_date", "paid_at"])
    sheet.append(["330106199001011234", date(2024, 1, 5), datetime(2024, 1, 5, 10, 30)])
    sheet.append(["330106199001011234", date(2024, 1, 6), datetime(2024, 1, 6, 0, 0)])
    sheet.append(["330106199001011234", "2024-01-07 00:00:00", "2024-01-07 08:00:00"])
    sheet.append(["330106199001011234", datetime(2024, 1, 8, 9, 15), None])
    sheet["B3"].number_format = 'yyyy"年"m"月"d"日"'  # a Chinese date format: still a date
    sheet["B5"].number_format = "yyyy-mm-dd"  # a time Excel does not show
    book.save(tmp_path / "death-01.xlsx")
    frame = read_delivery(tmp_path / "death-01.xlsx").frame
    assert frame["death_date"].to_list() == [
        "2024-01-05", "2024-01-06", "2024-01-07 00:00:00", "2024-01-08"]
    assert frame["paid_at"].to_list() == [
        "2024-01-05 10:30:00", "2024-01-06 00:00:00", "2024-01-07 08:00:00", None]


@pytest.mark.parametrize(("number_format", "time"), [
    ("yyyy-mm-dd", False), ('yyyy"年"m"月"d"日"', False), ("mm-dd-yy", False),
    ("yyyy-mm-dd h:mm:ss", True), ("[$-409]m/d/yy h:mm AM/PM", True), ("mm:ss", True),
    ('yyyy-mm-dd "h"', False),
])
def test_which_excel_formats_show_a_time(number_format: str, time: bool):
    assert readers._shows_time(number_format) is time


@pytest.mark.parametrize(("cells", "numeric"), [
    (["330106199001009984", "330106199001011234", None], False),  # ID numbers typed as text
    (["330106199001011234", 330106199001009984.0], True),  # one typed as a number, later
    ([330106199001009984.0, 330106199001011234.0], True),
])
def test_only_columns_with_numeric_cells_are_scanned_cell_by_cell(tmp_path: Path, cells,
                                                                 numeric):
    import xlsxwriter

    from pipelines.io.readers import _has_numeric_cells

    path = tmp_path / "death-01.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["id_number", "name"])
    for row, cell in enumerate(cells, start=1):
        if cell is not None:
            sheet.write(row, 0, cell)
        sheet.write(row, 1, "张三")
    book.close()
    assert _has_numeric_cells(path, "id_number") is numeric
    assert _has_numeric_cells(path, "name") is False
