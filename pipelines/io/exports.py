"""Write worklist exports: one ``.xlsx`` per grid or school, and ``worklist.csv`` for all.

The frames arrive masked (``pipelines.stages.worklist_export``); as a last line of defence
the writers refuse every file if a cell still holds a full 18-character ID number.

Why the ``.xlsx`` writer is not plain xlsxwriter
------------------------------------------------
A 1M-person run writes ~8,600 workbooks holding ~0.5M rows. Writing them cell by cell
through xlsxwriter took 85-115 s on one core: per-cell ``write_*`` calls, a Python XML
writer, a per-cell ``unicodedata`` loop for the column widths, and ~2 ms of fixed cost per
workbook (ten XML parts, zip) that alone is ~17 s for 8,600 files. So the work is split:

* **xlsxwriter writes the shell once per column count** (``_shell``): styles, theme,
  content types, relationships, document properties, the sheet's views, frozen pane,
  print setup and the defined names. That workbook is cut where files differ: the
  ``<dimension>``, ``<cols>``, ``<sheetData>`` and ``<autoFilter>`` of the sheet and the
  filter range of ``workbook.xml``. The style index (``s=``) of the title, header and date
  formats is read back from the cells xlsxwriter wrote, so it is whatever xlsxwriter
  assigned; the other parts are deflated once and reused by every file.
* **polars renders the tables' rows** (``_render``), ~50k rows of many sheets per query:
  text as inline strings (``t="inlineStr"``) escaped the way xlsxwriter escapes them,
  numbers as ``<v>``, dates as Excel serial numbers in the date style; a null is no cell.
  The same query gives each column's widest display width (CJK / full-width count 2).
* **Each file is zipped by hand** (``_zip_bytes``): the shell's parts deflated once, the
  sheet deflated for that file; two threads zip and write a batch's files (zlib and file
  I/O release the GIL) while polars renders the next batch.

Read back with openpyxl and calamine, the cells, formats, widths, frozen pane, filter and
print titles equal the cell-by-cell writer's (``tests/worklist/test_fast_xlsx.py`` keeps it
as the oracle). Differences, on purpose: strings are inline rather than shared, text that
looks like ``<r>...</r>`` is written as text (xlsxwriter spliced it in as rich-text XML),
and a datetime on 1900-01-01 is that date (xlsxwriter took it for a time of day).

The shell layout is checked when it is cut (one element of each kind where expected), so a
future xlsxwriter that writes it differently fails loudly rather than writing bad files.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_range, xl_range_abs

HEADER_ROWS = 4
"""Lines above the table: title, as-of date, counts, and one blank row."""

MAX_WIDTH = 60
SHEET_NAME = "工作清单"
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_STRING = 32_767
"""Excel refuses a cell with more characters; xlsxwriter truncates to it, so do we."""

_FULL_ID_IN_CELL = r"(^|[^0-9A-Za-z])\d{17}[\dXx]($|[^0-9A-Za-z])"

BATCH_ROWS = 50_000
"""Rows rendered per polars query: large enough to amortise the query, small enough that
a batch's XML (~1 kB a row) stays in the tens of MB."""

DEFLATE_LEVEL = 1
"""zlib level of the per-file parts. Measured on the 1M worklist's sheets (small, ~13 kB
of XML each): level 1 deflates at ~240 MB/s to files ~14% larger than zlib's default
level 6 (xlsxwriter's) at ~120 MB/s; deflate is then no longer the largest cost."""


class UnmaskedIdError(ValueError):
    """An export would contain a full ID number."""


# --------------------------------------------------------------------------------------
# masking check


_NARROW_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32)
"""At most 10 digits: such a column cannot hold an ID number, so it is not scanned."""


def _id_hits(frame: pl.DataFrame) -> dict[str, int]:
    """Cells per column that hold a full ID number; text and integer columns are checked
    (an 18-digit integer is an ID number written as a number)."""
    checked = [
        c
        for c, dtype in frame.schema.items()
        if _is_text(dtype) or (dtype.is_integer() and dtype not in _NARROW_INTEGERS)
    ]
    if not checked or frame.is_empty():
        return {}
    hits = frame.select(
        pl.col(c).cast(pl.String).str.contains(_FULL_ID_IN_CELL).fill_null(False).sum()
        for c in checked
    ).row(0, named=True)
    return {column: n for column, n in hits.items() if n}


def assert_masked(frame: pl.DataFrame, where: str) -> None:
    """Refuse a frame with any full 18-character ID number in a cell."""
    leaking = _id_hits(frame)
    if leaking:
        raise UnmaskedIdError(f"{where}: unmasked ID number(s) in columns {leaking}")


@dataclass(frozen=True)
class SheetFile:
    """One workbook to write: where, the lines above the table, and the table."""

    path: Path
    header_lines: list[str]
    table: pl.DataFrame


def assert_sheets_masked(
    sheets: Sequence[SheetFile], groups: Sequence[_Group] | None = None
) -> None:
    """Refuse the whole set if any file would hold a full ID number, before any is written.

    One polars pass per table layout (the tables are concatenated without copying) instead
    of one query per file, and one over all header lines; only on a hit is each file
    checked, to name the ones that leak.
    """
    for group in groups if groups is not None else _by_schema(sheets):
        if _id_hits(group.frame):
            for sheet in group.sheets:
                assert_masked(sheet.table, str(sheet.path))
    lines = pl.Series([line for s in sheets for line in s.header_lines], dtype=pl.String)
    if _id_hits(lines.to_frame("header_lines")):
        for sheet in sheets:
            assert_masked(
                pl.Series(sheet.header_lines, dtype=pl.String).to_frame("header_lines"),
                str(sheet.path),
            )


# --------------------------------------------------------------------------------------
# cell text


_CONTROL = [c for c in range(0x20) if c not in (0x09, 0x0A)]
_XML_AND_CONTROL = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    **{chr(c): f"_x{c:04X}_" for c in _CONTROL},
    "\ufffe": "_xFFFE_",
    "\uffff": "_xFFFF_",
}
"""XML escapes and Excel's ``_xHHHH_`` escapes of characters XML cannot hold, as
xlsxwriter writes them. A literal ``_xHHHH_`` is first escaped as ``_x005F_xHHHH_``."""
_LITERAL_ESCAPE = r"(_x[0-9a-fA-F]{4}_)"
_PRESERVE = r"^\s|\s$"
_PRESERVE_RE = re.compile(_PRESERVE)
_XML_AND_CONTROL_RE = re.compile("|".join(re.escape(k) for k in _XML_AND_CONTROL))
_LITERAL_ESCAPE_RE = re.compile(_LITERAL_ESCAPE)
_SPECIAL_RE = re.compile(f"{_LITERAL_ESCAPE}|{_XML_AND_CONTROL_RE.pattern}|{_PRESERVE}")


def _cell_text(text: str) -> str:
    """One string as the body of an inline-string cell (Python twin of ``_cell_text_expr``)."""
    if len(text) <= EXCEL_MAX_STRING and not _SPECIAL_RE.search(text):
        return f"<is><t>{text}</t></is>"
    text = _LITERAL_ESCAPE_RE.sub(r"_x005F\1", text[:EXCEL_MAX_STRING])
    text = _XML_AND_CONTROL_RE.sub(lambda m: _XML_AND_CONTROL[m.group(0)], text)
    space = ' xml:space="preserve"' if _PRESERVE_RE.search(text) else ""
    return f'<is><t{space}>{text}</t></is>'


@dataclass(frozen=True)
class _TextNeeds:
    """Which steps of ``_cell_text`` a text column needs at all.

    Found in one scan per table layout (``_text_needs``); the row renderer then leaves out
    the steps no cell needs (worklist text has no ``&<>``, control characters or edge
    spaces), which halves its cost. The output is the same as with every step.
    """

    truncate: bool = True
    literal_escape: bool = True
    escape: bool = True
    preserve: bool = True
    width_by_bytes: bool = False
    """See ``display_width_expr``."""


_NEEDS_ALL = _TextNeeds()


_XML_OR_CONTROL = r"[&<>\x00-\x08\x0B-\x1F\x{FFFE}\x{FFFF}]"
"""A regex of the keys of ``_XML_AND_CONTROL``."""


def _text_needs(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, _TextNeeds]:
    """``_TextNeeds`` of each of ``columns`` (text) of ``frame``.

    One regex of everything special finds the columns that need a closer look (none, in
    the worklist), so the common case is a single scan of the text.
    """
    if not columns or frame.is_empty():
        return {c: _TextNeeds(False, False, False, False, True) for c in columns}
    special = f"{_LITERAL_ESCAPE}|{_XML_OR_CONTROL}|{_PRESERVE}|{_width_not_by_bytes_class()}"
    text = {c: pl.col(c).cast(pl.String) for c in columns}
    first = frame.select(
        *[t.str.len_bytes().max().fill_null(0).alias(f"{c}\x00len") for c, t in text.items()],
        *[t.str.contains(special).any().alias(f"{c}\x00any") for c, t in text.items()],
    ).row(0)
    longest = dict(zip(columns, first[: len(columns)], strict=True))
    plain = _TextNeeds(False, False, False, False, True)
    needs = {c: plain for c, hit in zip(columns, first[len(columns) :], strict=True) if not hit}
    closer = [c for c in columns if c not in needs]
    if closer:
        checks: dict[str, Callable[[pl.Expr], pl.Expr]] = {
            "literal_escape": lambda t: t.str.contains(_LITERAL_ESCAPE).any(),
            "escape": lambda t: t.str.contains(_XML_OR_CONTROL).any(),
            "preserve": lambda t: t.str.contains(_PRESERVE).any(),
            "width_by_bytes": lambda t: ~t.str.contains(_width_not_by_bytes_class()).any(),
        }
        flags = frame.select(
            check(text[c]).fill_null(False).alias(f"{c}\x00{n}")
            for c in closer
            for n, check in checks.items()
        ).row(0, named=True)
        for c in closer:
            needs[c] = _TextNeeds(truncate=False, **{n: bool(flags[f"{c}\x00{n}"]) for n in checks})
    # a cut can leave a space at the end
    return {
        c: replace(n, truncate=True, preserve=True) if longest[c] > EXCEL_MAX_STRING else n
        for c, n in ((c, needs[c]) for c in columns)
    }


def _cell_text_expr(text: pl.Expr, needs: _TextNeeds = _NEEDS_ALL) -> pl.Expr:
    """``_cell_text`` for a whole column: ``<is><t>escaped</t></is>``, null stays null."""
    if needs.truncate:
        text = text.str.slice(0, EXCEL_MAX_STRING)
    if needs.literal_escape:
        text = text.str.replace_all(_LITERAL_ESCAPE, "_x005F$1")
    if needs.escape:
        text = text.str.replace_many(_XML_AND_CONTROL)
    start: pl.Expr = pl.lit("<is><t>")
    if needs.preserve:
        start = (
            pl.when(text.str.contains(_PRESERVE))
            .then(pl.lit('<is><t xml:space="preserve">'))
            .otherwise(start)
        )
    return pl.concat_str([start, text, pl.lit("</t></is>")])


def _inline_cell(ref: str, text: str, style: int | None) -> str:
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}"{s} t="inlineStr">{_cell_text(text)}</c>'


# --------------------------------------------------------------------------------------
# column widths


def _is_wide(ch: str) -> bool:
    # Unassigned code points count 1: unicodedata reports some of them as "F"/"W".
    return unicodedata.category(ch) != "Cn" and unicodedata.east_asian_width(ch) in "WF"


def display_width(text: str) -> int:
    """Columns a string takes in Excel: CJK and full-width characters count double."""
    return sum(2 if _is_wide(ch) else 1 for ch in text)


@functools.cache
def _wide_ranges() -> tuple[tuple[int, int], ...]:
    """Code point ranges of every wide (East Asian W/F) assigned character, taken from
    unicodedata once a process (~0.1 s), so that polars counts what ``display_width`` does."""
    ranges: list[tuple[int, int]] = []
    eaw = unicodedata.east_asian_width
    for code in range(0x1100, 0x110000):
        if eaw(chr(code)) in "WF" and _is_wide(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return tuple(ranges)


def _char_class(ranges: Sequence[tuple[int, int]]) -> str:
    """A regex character class (Rust syntax) of code point ranges."""
    return "[" + "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges) + "]"


@functools.cache
def _wide_class() -> str:
    return _char_class(_wide_ranges())


@functools.cache
def _width_not_by_bytes_class() -> str:
    """Non-ASCII characters whose UTF-8 length does not give their width: all but the
    wide ones of three bytes (U+0800-U+FFFF, where CJK text lives)."""
    others = [(0x80, 0x7FF)]
    at = 0x800
    for first, last in _wide_ranges():
        if first > 0xFFFF:
            break
        if first > at:
            others.append((at, first - 1))
        at = max(at, min(last, 0xFFFF) + 1)
    others.append((at, 0x10FFFF))
    # no surrogates in a regex class (nor in UTF-8 text)
    split = [(a, min(b, 0xD7FF)) for a, b in others if a <= 0xD7FF]
    split += [(max(a, 0xE000), b) for a, b in others if b >= 0xE000]
    return _char_class(split)


def display_width_expr(text: pl.Expr, *, by_bytes: bool = False) -> pl.Expr:
    """``display_width`` as a polars expression over a whole column (null stays null).

    Counting the wide characters with a regex finds one match per CJK character, which
    made it as slow as rendering the rows. When a column holds no character of
    ``_width_not_by_bytes_class`` (checked once per layout, by ``_text_needs``), every
    non-ASCII character has 3 bytes and counts 2, so ``bytes = chars + 2 * wide`` gives
    the same number by arithmetic: pass ``by_bytes=True``.
    """
    chars = text.str.len_chars()
    if by_bytes:
        return chars + (text.str.len_bytes() - chars) // 2
    return chars + text.str.count_matches(_wide_class())


def _width_expr(column: str, dtype: pl.DataType, needs: _TextNeeds) -> pl.Expr:
    """Display width of each cell of a column; numbers and dates are ASCII."""
    if _is_text(dtype):
        return display_width_expr(pl.col(column).cast(pl.String), by_bytes=needs.width_by_bytes)
    return pl.col(column).cast(pl.String).str.len_bytes()


def _column_width(header: str, widest_cell: int | None) -> int:
    """Characters of the column: its widest cell or header, plus 2, at most MAX_WIDTH."""
    return min(max(_header_width(header), widest_cell or 0) + 2, MAX_WIDTH)


@functools.lru_cache(maxsize=1024)
def _header_width(header: str) -> int:
    return display_width(header)


def column_widths(table: pl.DataFrame) -> list[int]:
    """Width of every column of ``table`` (see ``_column_width``), as the writer sets it."""
    if not table.height:
        return [_column_width(c, None) for c in table.columns]
    needs = _text_needs(table, [c for c, dtype in table.schema.items() if _is_text(dtype)])
    widest = table.select(
        _width_expr(c, dtype, needs.get(c, _NEEDS_ALL)).max() for c, dtype in table.schema.items()
    ).row(0)
    return [_column_width(c, w) for c, w in zip(table.columns, widest, strict=True)]


def _col_width_xml(width: float, max_digit_width: int = 7, padding: int = 5) -> str:
    """``width`` characters as xlsxwriter writes it in ``<col width=...>`` (Calibri 11:
    pixels = 7 per digit + 5 padding, stored in 1/256 of a character)."""
    if width < 1:
        pixels = int(width * (max_digit_width + padding) + 0.5)
    else:
        pixels = int(width * max_digit_width + 0.5) + padding
    return f"{(pixels * 256 // max_digit_width) / 256.0:.16g}"


# --------------------------------------------------------------------------------------
# cell values by type


_EXCEL_EPOCH_DAYS = 25_568
"""Days from Excel's day 0 (1899-12-31) to 1970-01-01."""


def _excel_serial(days: pl.Expr) -> pl.Expr:
    """Days since 1970-01-01 → Excel serial date. Serial 60 is Excel's phantom 1900-02-29,
    so days from 1900-03-01 on are one more (as xlsxwriter counts)."""
    serial = days + _EXCEL_EPOCH_DAYS
    return pl.when(serial > 59).then(serial + 1).otherwise(serial)


def _check_finite(table: pl.DataFrame, where: str) -> None:
    """NaN / infinity have no Excel number (xlsxwriter refuses them too)."""
    floats = [c for c, dtype in table.schema.items() if dtype.is_float()]
    if floats and table.height:
        bad = table.select(pl.col(floats).is_infinite() | pl.col(floats).is_nan()).select(
            pl.all().any()
        ).row(0, named=True)
        if any(bad.values()):
            columns = [c for c, b in bad.items() if b]
            raise ValueError(f"{where}: NaN or infinite values in {columns}")


# --------------------------------------------------------------------------------------
# the shell that xlsxwriter writes


_SENTINEL_ROW = EXCEL_MAX_ROWS - 1
"""The template's filter runs to the last Excel row, so that its per-file end is found."""
_SHEET_PART = "xl/worksheets/sheet1.xml"
_WORKBOOK_PART = "xl/workbook.xml"


@dataclass(frozen=True)
class _Member:
    """One deflated zip member."""

    name: bytes
    data: bytes
    crc: int
    size: int


def _deflate(name: str, parts: Sequence[bytes]) -> _Member:
    """Deflate ``parts`` (concatenated) as one raw-deflate zip member, without joining them."""
    packer = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
    crc = size = 0
    out = []
    for part in parts:
        crc = zlib.crc32(part, crc)
        size += len(part)
        out.append(packer.compress(part))
    out.append(packer.flush())
    return _Member(name.encode("ascii"), b"".join(out), crc, size)


@dataclass(frozen=True)
class _Shell:
    """A workbook that xlsxwriter wrote for a table of ``width`` columns, cut into the parts
    every file shares (deflated once) and the sheet and workbook XML around the holes that
    differ per file."""

    width: int
    members: tuple[_Member | str, ...]
    """Zip members in xlsxwriter's order; the per-file ones by name."""
    sheet: tuple[bytes | str, ...]
    """sheet1.xml: literal bytes and hole names (dim, cols, data, filter) in turn."""
    workbook: tuple[bytes | str, ...]
    """workbook.xml: literal bytes and the hole name filterdb (none without columns)."""
    title_style: int
    head_style: int
    day_style: int
    filter_db_sheet: str
    """The sheet name in front of the filter's range in workbook.xml, as xlsxwriter quotes it."""


def _cut(xml: str, holes: dict[str, str], part: str) -> tuple[bytes | str, ...]:
    """Split ``xml`` around group 1 of the one match of each pattern; refuse other layouts."""
    spans = []
    for name, pattern in holes.items():
        found = list(re.finditer(pattern, xml, flags=re.DOTALL))
        if len(found) != 1:
            raise RuntimeError(
                f"xlsxwriter {xlsxwriter.__version__} wrote {part} unlike the layout this "
                f"writer knows: {len(found)} matches of {pattern!r}"
            )
        spans.append((found[0].start(1), found[0].end(1), name))
    pieces: list[bytes | str] = []
    at = 0
    for start, end, name in sorted(spans):
        pieces += [xml[at:start].encode("utf-8"), name]
        at = end
    return (*pieces, xml[at:].encode("utf-8"))


def _style_of(sheet_xml: str, ref: str) -> int:
    found = re.search(rf'<c r="{ref}" s="(\d+)"', sheet_xml)
    if not found:
        raise RuntimeError(f"xlsxwriter {xlsxwriter.__version__}: template cell {ref} has no style")
    return int(found.group(1))


_CREATED = datetime(1980, 1, 1, tzinfo=UTC)
"""The document's created and modified time: the zip entries' date (``_DOS_DATE``).
xlsxwriter would stamp the time of writing into ``docProps/core.xml``, and a re-run of a
night would write every workbook byte for byte different, with the same rows."""


@functools.cache
def _shell(width: int) -> _Shell:
    """Let xlsxwriter write the workbook around a table of ``width`` columns, once a process.

    The template's cells are numbers in the title, header and date formats, so that
    xlsxwriter gives each a style index and writes no shared-string part; its filter runs
    to the last Excel row. The per-file values are computed with xlsxwriter's own range
    helpers and checked against what it wrote here.
    """
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.set_properties({"created": _CREATED})
    sheet = book.add_worksheet(SHEET_NAME)
    title = book.add_format({"bold": True, "font_size": 14})
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    top = HEADER_ROWS
    sheet.write_number(0, 0, 0, title)
    sheet.write_number(top, 0, 0, head)
    sheet.write_number(top + 1, 0, 0, day)
    for col in range(width):
        sheet.set_column(col, col, 10)
    sheet.freeze_panes(top + 1, 0)
    # printed lists: landscape, one page wide, the header row on every page
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(top)
    if width:
        sheet.autofilter(top, 0, _SENTINEL_ROW, width - 1)
    book.close()

    members: list[_Member | str] = []
    with zipfile.ZipFile(buffer) as package:
        for info in package.infolist():
            if info.filename in (_SHEET_PART, _WORKBOOK_PART):
                members.append(info.filename)
            else:
                members.append(_deflate(info.filename, [package.read(info)]))
        sheet_xml = package.read(_SHEET_PART).decode("utf-8")
        workbook_xml = package.read(_WORKBOOK_PART).decode("utf-8")

    filter_ref = r'<autoFilter ref="([^"]*)"/>'
    filter_db = r'<definedName name="_xlnm._FilterDatabase"[^>]*>([^<]*)</definedName>'
    holes = {"dim": r'<dimension ref="([^"]*)"/>', "data": r"(<sheetData>.*</sheetData>)"}
    if width:
        holes |= {"cols": r"(<cols>.*</cols>)", "filter": filter_ref}
    filter_db_sheet = ""
    if width:
        written_filter = re.search(filter_ref, sheet_xml)
        written_db = re.search(filter_db, workbook_xml)
        filter_db_sheet = written_db.group(1).partition("!")[0] + "!" if written_db else ""
        if (
            not written_filter
            or not written_db
            or written_filter.group(1) != _filter_ref(width, _SENTINEL_ROW - top)
            or written_db.group(1) != _filter_db_ref(filter_db_sheet, width, _SENTINEL_ROW - top)
        ):
            raise RuntimeError(f"xlsxwriter {xlsxwriter.__version__}: unexpected filter ranges")
    return _Shell(
        width=width,
        members=tuple(members),
        sheet=_cut(sheet_xml, holes, _SHEET_PART),
        workbook=_cut(workbook_xml, {"filterdb": filter_db} if width else {}, _WORKBOOK_PART),
        title_style=_style_of(sheet_xml, "A1"),
        head_style=_style_of(sheet_xml, f"A{top + 1}"),
        day_style=_style_of(sheet_xml, f"A{top + 2}"),
        filter_db_sheet=filter_db_sheet,
    )


def _filter_ref(width: int, height: int) -> str:
    """The autofilter over the header row and ``height`` rows below it."""
    return xl_range(HEADER_ROWS, 0, HEADER_ROWS + height, width - 1)


def _filter_db_ref(sheet: str, width: int, height: int) -> str:
    return sheet + xl_range_abs(HEADER_ROWS, 0, HEADER_ROWS + height, width - 1)


def _dimension(lines: int, width: int, height: int) -> str:
    """The used range, as xlsxwriter computes it from the cells written."""
    last_row = HEADER_ROWS + height if width else lines - 1
    if last_row < 0:
        return "A1"
    first_row = 0 if lines else HEADER_ROWS
    return xl_range(first_row, 0, last_row, max(width - 1, 0))


def _fill(pieces: tuple[bytes | str, ...], values: dict[str, list[bytes]]) -> list[bytes]:
    out: list[bytes] = []
    for piece in pieces:
        if isinstance(piece, bytes):
            out.append(piece)
        else:
            out += values[piece]
    return out


# --------------------------------------------------------------------------------------
# the table's rows, rendered by polars


_ROW = "\x00row"
_SHEET = "\x00sheet"
_XML = "\x00xml"


def _row_xml_expr(
    schema: pl.Schema, day_style: int, needs: dict[str, _TextNeeds] | None = None
) -> pl.Expr:
    """One ``<row>`` element per table row; a null value is no ``<c>`` at all.

    Each cell is ``<c r="B6" [t="inlineStr" | s="<date style>"]>`` + value + ``</c>``;
    ``concat_str`` is null when the value is, and the row's ``concat_str`` skips nulls.
    """
    cells = []
    for index, (column, dtype) in enumerate(schema.items()):
        value = _cell_value_expr(column, dtype, day_style, (needs or {}).get(column, _NEEDS_ALL))
        if value is None:
            continue
        body, attributes = value
        cells.append(
            pl.concat_str(
                [pl.lit(f'<c r="{xl_col_to_name(index)}'), pl.col(_ROW), pl.lit(f'"{attributes}>'),
                 body, pl.lit("</c>")]
            )
        )
    return pl.concat_str(
        [pl.lit('<row r="'), pl.col(_ROW), pl.lit('">'), *cells, pl.lit("</row>")],
        ignore_nulls=True,
    ).alias(_XML)


def _cell_value_expr(
    column: str, dtype: pl.DataType, day_style: int, needs: _TextNeeds = _NEEDS_ALL
) -> tuple[pl.Expr, str] | None:
    """(the ``<v>`` / ``<is>`` of each cell, the ``<c>`` attributes after ``r``) of a
    column, or None for a column that holds only nulls. Like the cell-by-cell writer this
    replaces: text (IDs too) stays text, numbers and booleans are numbers, dates and
    datetimes are Excel dates in the yyyy-mm-dd style."""
    col = pl.col(column)
    if _is_text(dtype):
        return _cell_text_expr(col.cast(pl.String), needs), ' t="inlineStr"'
    if dtype == pl.Boolean:
        return _v(col.cast(pl.Int8)), ""
    if dtype.is_integer():
        return _v(col), ""
    if dtype.is_float() or dtype.is_decimal():
        return _v(col.cast(pl.Float64)), ""
    if dtype == pl.Date:
        return _v(_excel_serial(col.cast(pl.Int32))), f' s="{day_style}"'
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        days = col.dt.epoch("us").cast(pl.Float64) / 86_400_000_000
        return _v(_excel_serial(days)), f' s="{day_style}"'
    if dtype == pl.Null:
        return None
    raise TypeError(f"{column}: cannot write a {dtype} column to a worksheet")


def _is_text(dtype: pl.DataType) -> bool:
    """Written as text: strings, categoricals and times (as ``12:30:00``)."""
    return dtype in (pl.String, pl.Time) or isinstance(dtype, (pl.Categorical, pl.Enum))


def _v(number: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit("<v>"), number.cast(pl.String), pl.lit("</v>")])


@dataclass(frozen=True)
class _Rendered:
    """A table's ``<row>`` elements and the display width of its widest cell per column."""

    rows: bytes
    widest: list[int | None]


def _render(
    tables: Sequence[pl.DataFrame], row_xml: pl.Expr, widths: Sequence[pl.Expr]
) -> list[_Rendered]:
    """Render tables of one schema in one polars query: rows XML and widest cells.

    The tables are stacked (no copy) with the sheet each row belongs to and its Excel row
    number; the rows' XML is joined per sheet, and the widths maxed per sheet.
    """
    out = [_Rendered(b"", [None] * len(widths)) for _ in tables]
    filled = [i for i, table in enumerate(tables) if table.height]
    if not filled:
        return out
    heights = pl.Series([tables[i].height for i in filled], dtype=pl.UInt32)
    sheet = pl.select(
        pl.int_range(len(filled), dtype=pl.UInt32).repeat_by(heights).explode()
    ).to_series()
    starts = heights.cum_sum() - heights
    first = HEADER_ROWS + 2  # Excel's number of a table's first row
    row = pl.int_range(0, len(sheet), dtype=pl.UInt32, eager=True) - starts.gather(sheet) + first
    names = [f"\x00w{j}" for j in range(len(widths))]
    rendered = (
        pl.concat([tables[i] for i in filled], rechunk=False)
        # columns, not literals in the select: a literal series there made it 2x slower
        .with_columns(sheet.alias(_SHEET), row.cast(pl.String).alias(_ROW))
        .select(_SHEET, row_xml, *[w.alias(n) for w, n in zip(widths, names, strict=True)])
        .group_by(_SHEET, maintain_order=True)
        .agg(pl.col(_XML).str.join("").cast(pl.Binary), pl.col(names).max())
        .sort(_SHEET)
    )
    xml = rendered[_XML].to_list()
    widest = rendered.select(names).rows()
    for k, i in enumerate(filled):
        out[i] = _Rendered(xml[k], list(widest[k]))
    return out


# --------------------------------------------------------------------------------------
# one file


_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_DOS_DATE = (1 << 5) | 1
"""1980-01-01: xlsxwriter stamps every part with it, so equal content gives equal files."""
_UNIX_RW = 0o600 << 16


def _zip_bytes(members: Sequence[_Member]) -> list[bytes]:
    """A zip archive of deflated members, as chunks (stdlib ``zipfile`` cannot take data
    that is already deflated, and the shell's parts are deflated once for all files)."""
    out: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for m in members:
        local = _LOCAL.pack(b"PK\x03\x04", 20, 0, 8, 0, _DOS_DATE, m.crc, len(m.data), m.size,
                            len(m.name), 0)
        central.append(
            _CENTRAL.pack(b"PK\x01\x02", (3 << 8) | 20, 20, 0, 8, 0, _DOS_DATE, m.crc,
                          len(m.data), m.size, len(m.name), 0, 0, 0, 0, _UNIX_RW, offset)
            + m.name
        )
        out += [local, m.name, m.data]
        offset += len(local) + len(m.name) + len(m.data)
    directory = b"".join(central)
    if offset + len(directory) >= 0xFFFFFFFF:
        raise ValueError("workbook over 4 GiB: zip64 is not supported")
    out += [directory, _END.pack(b"PK\x05\x06", 0, 0, len(members), len(members),
                                 len(directory), offset, 0)]
    return out


# What is the same in many files is made once (these ran per file and were a third of
# the writer threads' time).


@functools.lru_cache(maxsize=64)
def _header_row(columns: tuple[str, ...], style: int) -> bytes:
    """The table's header row: each column name in the header style."""
    top = HEADER_ROWS + 1
    cells = "".join(
        _inline_cell(f"{xl_col_to_name(c)}{top}", name, style) for c, name in enumerate(columns)
    )
    return f'<row r="{top}">{cells}</row>'.encode()


@functools.lru_cache(maxsize=4096)
def _col_xml(index: int, width: int) -> bytes:
    n = index + 1
    return f'<col min="{n}" max="{n}" width="{_col_width_xml(width)}" customWidth="1"/>'.encode()


@functools.lru_cache(maxsize=4096)
def _workbook_member(width: int, height: int) -> _Member:
    """workbook.xml, deflated: it differs between files only by the filter's last row."""
    shell = _shell(width)
    values = {}
    if width:
        values["filterdb"] = [_filter_db_ref(shell.filter_db_sheet, width, height).encode()]
    return _deflate(_WORKBOOK_PART, _fill(shell.workbook, values))


def _header_lines(shell: _Shell, lines: list[str]) -> bytes:
    """Rows 1-3: the title in the title style, then the plain lines."""
    return "".join(
        f'<row r="{r}">{_inline_cell(f"A{r}", line, shell.title_style if r == 1 else None)}</row>'
        for r, line in enumerate(lines, start=1)
    ).encode()


def _write_workbook(sheet: SheetFile, shell: _Shell, rendered: _Rendered) -> Path:
    """Assemble one workbook from its shell and rendered rows, and write it."""
    table = sheet.table
    columns = tuple(table.columns)
    widths = [_column_width(c, w) for c, w in zip(columns, rendered.widest, strict=True)]
    values = {
        "dim": [_dimension(len(sheet.header_lines), table.width, table.height).encode()],
        "cols": [b"<cols>", *(_col_xml(c, w) for c, w in enumerate(widths)), b"</cols>"],
        "data": [
            b"<sheetData>",
            _header_lines(shell, sheet.header_lines),
            _header_row(columns, shell.head_style) if columns else b"",
            rendered.rows,
            b"</sheetData>",
        ],
    }
    if table.width:
        values["filter"] = [_filter_ref(table.width, table.height).encode()]
    parts = {
        _SHEET_PART: _deflate(_SHEET_PART, _fill(shell.sheet, values)),
        _WORKBOOK_PART: _workbook_member(table.width, table.height),
    }
    members = [parts[m] if isinstance(m, str) else m for m in shell.members]
    with open(sheet.path, "wb") as fh:
        fh.writelines(_zip_bytes(members))
    return sheet.path


# --------------------------------------------------------------------------------------
# writers


@dataclass
class _Group:
    """Sheets whose tables share one schema (grid and school sheets differ)."""

    sheets: list[SheetFile]
    schema: pl.Schema
    needs: dict[str, _TextNeeds] = field(default_factory=dict)

    @functools.cached_property
    def frame(self) -> pl.DataFrame:
        """All the group's tables as one frame, without copying them."""
        return pl.concat([s.table for s in self.sheets], rechunk=False)


def _by_schema(sheets: Sequence[SheetFile]) -> list[_Group]:
    """Sheets grouped by table schema, order kept."""
    groups: dict[tuple[tuple[str, ...], tuple[pl.DataType, ...]], _Group] = {}
    for sheet in sheets:
        key = (tuple(sheet.table.columns), tuple(sheet.table.dtypes))
        if key not in groups:
            groups[key] = _Group([], sheet.table.schema)
        groups[key].sheets.append(sheet)
    return list(groups.values())


def _batches(sheets: list[SheetFile], rows: int) -> Iterator[list[SheetFile]]:
    """Consecutive sheets of at most ``rows`` table rows together (or one larger sheet)."""
    batch: list[SheetFile] = []
    total = 0
    for sheet in sheets:
        if batch and total + sheet.table.height > rows:
            yield batch
            batch, total = [], 0
        batch.append(sheet)
        total += sheet.table.height
    if batch:
        yield batch


def _prepare(sheets: Sequence[SheetFile]) -> list[_Group]:
    """Group the sheets and check everything that could make a file fail, before the
    first file is written: unmasked IDs, paths, sizes, column types, NaN."""
    groups = _by_schema(sheets)
    assert_sheets_masked(sheets, groups)
    paths = [s.path for s in sheets]
    if len(set(paths)) != len(paths):
        twice = sorted({str(p) for p in paths if paths.count(p) > 1})
        raise ValueError(f"two sheets would be written to the same file: {twice}")
    for sheet in sheets:
        if len(sheet.header_lines) > HEADER_ROWS - 1:
            raise ValueError(f"{sheet.path}: more than {HEADER_ROWS - 1} header lines")
        if HEADER_ROWS + 1 + sheet.table.height > EXCEL_MAX_ROWS:
            raise ValueError(f"{sheet.path}: {sheet.table.height} rows do not fit a worksheet")
    for group in groups:
        for column, dtype in group.schema.items():
            _cell_value_expr(column, dtype, 0)  # raises on a type with no cell form
        frame = group.frame
        if any(dtype.is_float() for dtype in group.schema.values()):
            _check_finite(frame, str(group.sheets[0].path))
        group.needs = _text_needs(frame, [c for c, d in group.schema.items() if _is_text(d)])
    return groups


def _rendered_batches(
    groups: Sequence[_Group], batch_rows: int
) -> Iterator[list[tuple[SheetFile, _Shell, _Rendered]]]:
    """Every sheet with its shell and rendered rows, a batch of sheets at a time."""
    for group in groups:
        shell = _shell(len(group.schema))
        row_xml = _row_xml_expr(group.schema, shell.day_style, group.needs)
        widths = [
            _width_expr(c, dtype, group.needs.get(c, _NEEDS_ALL))
            for c, dtype in group.schema.items()
        ]
        for batch in _batches(group.sheets, batch_rows):
            rendered = _render([s.table for s in batch], row_xml, widths)
            yield [(sheet, shell, r) for sheet, r in zip(batch, rendered, strict=True)]


def write_sheets_xlsx(
    sheets: Sequence[SheetFile], *, threads: int = 2, batch_rows: int = BATCH_ROWS
) -> list[Path]:
    """Write one workbook per sheet: header block, then the table with a frozen, filtered
    header row (see the module docstring for how).

    All sheets are checked first (masking, sizes, types), so a refused set writes nothing.
    With ``threads`` > 0, that many threads zip and write a batch's files while the main
    thread renders the next batch (at most two batches are held at once); with 0, all is
    done in the calling thread.
    """
    groups = _prepare(sheets)
    for folder in {s.path.parent for s in sheets}:
        folder.mkdir(parents=True, exist_ok=True)
    if threads <= 0:
        for jobs in _rendered_batches(groups, batch_rows):
            _write_workbooks(jobs)
        return [s.path for s in sheets]
    with ThreadPoolExecutor(threads, thread_name_prefix="xlsx") as pool:
        writing: list[Future[None]] = []
        for jobs in _rendered_batches(groups, batch_rows):
            for future in writing:
                future.result()
            # one task per thread, every threads-th file (sizes vary along a batch): a
            # future per file (~8,600 at 1M persons) set off ~150 more runs of the cyclic
            # garbage collector, ~0.5 s of CPU
            writing = [pool.submit(_write_workbooks, jobs[k::threads]) for k in range(threads)]
        for future in writing:
            future.result()
    return [s.path for s in sheets]


def _write_workbooks(jobs: Sequence[tuple[SheetFile, _Shell, _Rendered]]) -> None:
    for job in jobs:
        _write_workbook(*job)


def write_sheet_xlsx(path: Path, header_lines: list[str], table: pl.DataFrame) -> Path:
    """One workbook: header block, then the table with a frozen, filtered header row."""
    return write_sheets_xlsx([SheetFile(path, header_lines, table)], threads=0)[0]


def write_csv(path: Path, table: pl.DataFrame) -> Path:
    """UTF-8 with BOM so that Excel shows the Chinese headers."""
    assert_masked(table, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    table.write_csv(path, include_bom=True)
    return path


def exports_folder(exports: Path, as_of: date) -> Path:
    """``<exports>/<as-of>/``: the folder of one run date's files."""
    return exports / as_of.isoformat()
