"""Read one delivered file into a polars DataFrame of text columns, or say why it cannot be read.

Formats: ``.csv``, ``.csv.gz``, ``.parquet``, ``.xlsx`` (first sheet). Every column comes back as
``pl.Utf8`` exactly as delivered (headers untouched except a stripped BOM and surrounding spaces),
plus ``line``: the 1-based physical record number with the header as line 1, so the first data
row is line 2 (for parquet/xlsx the same numbering as if the header were row 1).

Encoding detection (CSV only) is a strict decode-then-fallback, not a statistical detector:
the contract allows exactly two encodings, UTF-8 (with or without BOM) and GB18030/GBK. UTF-8 is
self-validating: a GB18030 file with any Chinese text in it is practically never valid UTF-8,
so "decodes as strict UTF-8" decides the first case with certainty, and "decodes as strict
GB18030" (the superset of GBK, so rare name characters survive) the second. A statistical
detector (charset-normalizer, chardet) guesses among dozens of encodings and can call a short
GBK file Big5 or Shift-JIS; here a wrong guess means silently garbled names. Files are streamed
in 16 MB chunks, so memory stays flat: UTF-8 is validated without decoding (``_is_utf8``),
GB18030 is decoded with Python's incremental decoder, so a failure reports its byte offset.
GB18030 (and gzipped) files are written to a temporary UTF-8 file that polars then scans in
batches (polars and DuckDB scan UTF-8 only), so memory stays bounded.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

CHUNK_BYTES = 16 * 1024 * 1024
LINE = "line"
_BOM = "\ufeff"
_DUPLICATED = re.compile(r"_duplicated_\d+$")


class UnreadableFile(Exception):
    """A delivered file that cannot be read at all; ``check`` is the rejects vocabulary word."""

    def __init__(self, check: str, reason: str, rows: int = 0) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason
        self.rows = rows  # data rows, when the file could be read but not accepted

    def __reduce__(self):
        """Picklable with its fields (a Dask worker hands it back to the flow)."""
        return type(self), (self.check, self.reason, self.rows)


@dataclass(frozen=True)
class ReadResult:
    """A file read as text: the frame (all Utf8 plus ``line``) and the encoding it came in."""

    frame: pl.DataFrame
    encoding: str


@dataclass(frozen=True)
class OpenedDelivery:
    """A delivery opened for reading in batches: text columns plus ``line``, lazily."""

    path: Path
    lazy: pl.LazyFrame
    columns: list[str]  # cleaned header names, without ``line``
    encoding: str

    def batches(self, rows: int) -> Iterator[pl.DataFrame]:
        """Consecutive batches of about ``rows`` records; ``UnreadableFile`` if parsing fails."""
        try:
            yield from self.lazy.collect_batches(chunk_size=rows)
        except pl.exceptions.PolarsError as exc:
            raise UnreadableFile(
                "file_unreadable", f"{self.path.name}: not well-formed ({_first_line(exc)})"
            ) from exc


def file_format(path: Path) -> str | None:
    """``csv``, ``csv.gz``, ``parquet`` or ``xlsx`` from the file name, else None."""
    name = path.name.lower()
    for ext in ("csv.gz", "csv", "parquet", "xlsx"):
        if name.endswith("." + ext):
            return ext
    return None


@dataclass
class PreparedCsv:
    """A delivered CSV made ready to scan: UTF-8 text (the file itself, or a temporary copy
    transcoded or decompressed) and the encoding it came in; ``close`` removes the copy."""

    source: Path
    encoding: str
    scratch: tempfile.TemporaryDirectory

    def close(self) -> None:
        self.scratch.cleanup()


def prepare_csv(path: Path) -> PreparedCsv:
    """The streaming part of reading a CSV (checks, decoding to UTF-8): ``UnreadableFile``
    with the reason if it cannot be read. It needs only the file, so the ingest does it for
    the next file in another thread while this one is checked (``open_delivery(prepared=)``).
    """
    fmt = file_format(path)
    if fmt not in ("csv", "csv.gz"):
        raise ValueError(f"{path.name}: not a CSV delivery")
    _refuse_empty(path)
    scratch = tempfile.TemporaryDirectory(prefix="ingest-")
    try:
        source, encoding = _utf8_source(path, fmt == "csv.gz", Path(scratch.name) / "utf8.csv")
    except BaseException:
        scratch.cleanup()
        raise
    return PreparedCsv(source, encoding, scratch)


def _refuse_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise UnreadableFile("file_empty", f"{path.name}: the file is empty (0 bytes)")


@contextlib.contextmanager
def open_delivery(path: Path, prepared: PreparedCsv | None = None) -> Iterator[OpenedDelivery]:
    """Open a delivered extract for batched reading; raise ``UnreadableFile`` with the reason.

    A GB18030 or gzipped CSV is first decoded, streaming, into a temporary UTF-8 file that
    lives as long as the context. ``prepared`` is that step done before (``prepare_csv``); it
    is closed with the context.
    """
    fmt = file_format(path)
    if fmt is None:
        raise UnreadableFile("file_name", f"{path.name}: not .csv, .csv.gz, .parquet or .xlsx")
    with contextlib.ExitStack() as stack:
        if fmt in ("csv", "csv.gz"):
            prepared = prepared or prepare_csv(path)
            stack.callback(prepared.close)
            lazy = pl.scan_csv(prepared.source, infer_schema=False, raise_if_empty=False)
            encoding = prepared.encoding
        else:
            _refuse_empty(path)
            if fmt == "parquet":
                lazy, encoding = pl.scan_parquet(path), "parquet"
            else:
                lazy, encoding = _read_xlsx(path).lazy(), "xlsx"
        names = _schema_names(lazy, path)
        columns = _clean_headers(names, path)
        lazy = _as_text(lazy.rename(dict(zip(names, columns, strict=True))))
        lazy = lazy.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64))
        yield OpenedDelivery(path, lazy, columns, encoding)


def read_delivery(path: Path) -> ReadResult:
    """Read a whole delivered extract as text columns (tests, reference files)."""
    with open_delivery(path) as opened:
        batches = list(opened.batches(1_000_000))
        frame = pl.concat(batches) if batches else opened.lazy.head(0).collect()
        return ReadResult(frame, opened.encoding)


def read_reference_csv(path: Path) -> pl.DataFrame:
    """A reference CSV as text columns (same encoding rules as extracts, no ``line``)."""
    return read_delivery(path).frame.drop(LINE)


def _open_bytes(path: Path, gzipped: bool) -> Iterator[bytes]:
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise UnreadableFile(
            "file_unreadable", f"{path.name}: compressed stream is corrupt or truncated ({exc})"
        ) from exc


def _transcode(path: Path, gzipped: bool, encoding: str, target: Path | None,
               inspect: Callable[[bytes], None] | None = None) -> tuple[int, int] | None:
    """Stream-decode the whole file strictly (writing UTF-8 to ``target`` if given).

    Returns None when it decodes, else (byte offset, line number) of the first byte that
    does not (line 1 is the header). ``inspect`` sees every raw chunk first and may raise
    ``UnreadableFile``.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset, lines = 0, 1
    out = open(target, "wb") if target else None  # encoding explicitly: faster than a text file
    try:
        for chunk in _open_bytes(path, gzipped):
            if inspect:
                inspect(chunk)
            pending = len(decoder.getstate()[0])  # a character's first bytes, never a newline
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = max(exc.start - pending, 0)
                return offset + at, lines + chunk.count(b"\n", 0, at)
            if out:
                out.write(text.encode("utf-8"))
            offset += len(chunk)
            lines += chunk.count(b"\n")
        if inspect:
            inspect(b"")  # end of file
        try:
            text = decoder.decode(b"", final=True)
        except UnicodeDecodeError:  # the file ends inside a character
            return offset, lines
        if out:
            out.write(text.encode("utf-8"))
    finally:
        if out:
            out.close()
    return None


def _refuse_nul_bytes(path: Path) -> Callable[[bytes], None]:
    """NUL never occurs in a text export: a UTF-16 file or a corrupt one (issue 10)."""
    def inspect(chunk: bytes) -> None:
        if b"\0" in chunk:
            raise UnreadableFile("file_encoding", f"{path.name}: contains NUL bytes (UTF-16 or "
                                 f"a corrupt export), not UTF-8 or GB18030/GBK text")
    return inspect


def _refuse_utf8_lines(path: Path) -> Callable[[bytes], None]:
    """In a GB18030 file, a line that is valid UTF-8 with Chinese in it means mixed encodings.

    A UTF-8 line appended to a GBK export would be garbled silently by decoding it as GB18030,
    so the file is rejected instead (issue 10). GBK text is rarely valid UTF-8 by chance, but
    a short line can be (女 is C5 AE in GBK, a valid 2-byte UTF-8 sequence), so a line counts
    only with at least ``_MIXED_MIN_HANZI`` Chinese characters in its UTF-8 reading: for GBK
    bytes that needs 5 or more characters to align by chance (about 1e-9 per line). A UTF-8
    line with fewer Chinese characters in a GBK file is not detected.

    Only lines that contain the byte shape of a UTF-8 Chinese character are decoded
    (``_utf8_hanzi_candidates``); trying every non-ASCII line cost a failed decode, and a
    Python exception, per line of the file.
    """
    nul = _refuse_nul_bytes(path)
    carry = b""

    def inspect(chunk: bytes) -> None:
        nonlocal carry
        nul(chunk)
        data = carry + chunk
        end = data.rfind(b"\n") + 1 if chunk else len(data)  # unfinished line waits
        carry = data[end:]
        for line in _utf8_hanzi_candidates(data[:end]):
            if _utf8_hanzi(line) >= _MIXED_MIN_HANZI:
                raise UnreadableFile("file_encoding", f"{path.name}: mixed encodings: GB18030 "
                                     f"text with UTF-8 lines in it")
    return inspect


_MIXED_MIN_HANZI = 3
_HANZI = re.compile(r"[\u3400-\u9fff]")
# Byte classes of a UTF-8 Chinese character U+3400-U+9FFF: E3 90-BF 80-BF or E4-E9 80-BF 80-BF.
_LEAD, _CONTINUATION = b"L", b"C"
_HANZI_BYTE_CLASSES = bytes(
    (_LEAD[0] if 0xE3 <= b <= 0xE9 else _CONTINUATION[0] if 0x80 <= b <= 0xBF else ord("."))
    for b in range(256)
)


def _utf8_hanzi_candidates(data: bytes) -> Iterator[bytes]:
    """The lines of ``data`` (split at ``\n``) that hold a lead and two continuation bytes.

    Every line with a UTF-8 Chinese character has one, so no line ``_utf8_hanzi`` would count
    is missed; a GBK export has a few hundred such byte triples in 16 MB. The search runs in
    C (``bytes.translate`` and ``bytes.find``); only the candidate lines reach Python.
    """
    classes = data.translate(_HANZI_BYTE_CLASSES)
    shape = _LEAD + _CONTINUATION + _CONTINUATION
    at = classes.find(shape)
    while at >= 0:
        start = data.rfind(b"\n", 0, at) + 1
        stop = data.find(b"\n", at)
        stop = len(data) if stop < 0 else stop
        yield data[start:stop]
        at = classes.find(shape, stop)


def _utf8_hanzi(line: bytes) -> int:
    """Chinese characters in ``line`` read as UTF-8 (0 when it is not valid UTF-8)."""
    try:
        return len(_HANZI.findall(line.decode("utf-8")))
    except UnicodeDecodeError:
        return 0


def _is_utf8(data: bytes) -> bool:
    """Strict UTF-8 validation (the same rules as Python's strict decoder), without decoding.

    polars' binary-to-text cast validates in Rust (SIMD), several times faster than building
    a Python string that is thrown away.
    """
    try:
        pl.Series([data], dtype=pl.Binary).cast(pl.Utf8, strict=True)
    except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError):  # invalid utf8
        return False
    return True


def _copy_if_utf8(path: Path, gzipped: bool, target: Path | None,
                  inspect: Callable[[bytes], None]) -> bool:
    """Whether the whole file is strict UTF-8 (its bytes copied to ``target`` if given).

    Validated a run of whole lines at a time: ``\n`` never occurs inside a multi-byte
    character, so a chunk cut mid-character is never judged. ``inspect`` sees every raw
    chunk first and may raise ``UnreadableFile``.
    """
    carry = b""
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(target, "wb")) if target else None
        for chunk in _open_bytes(path, gzipped):
            inspect(chunk)
            data = carry + chunk
            end = data.rfind(b"\n") + 1
            carry = data[end:]
            if not _is_utf8(data[:end]):
                return False
            if out:
                out.write(data[:end])
        inspect(b"")  # end of file
        if not _is_utf8(carry):
            return False
        if out:
            out.write(carry)
    return True


def _utf8_source(path: Path, gzipped: bool, target: Path) -> tuple[Path, str]:
    """A UTF-8 file with the CSV's text (the file itself when it already is) and its encoding."""
    nul = _refuse_nul_bytes(path)
    if _copy_if_utf8(path, gzipped, target if gzipped else None, nul):
        return (target if gzipped else path), "utf-8"
    bad = _transcode(path, gzipped, "gb18030", target, _refuse_utf8_lines(path))
    if bad is not None:
        offset, line = bad
        raise UnreadableFile(
            "file_encoding",
            f"{path.name}: neither UTF-8 nor GB18030/GBK (undecodable byte on line {line}, "
            f"byte offset {offset})",
        )
    return target, "gb18030"


def _schema_names(lazy: pl.LazyFrame, path: Path) -> list[str]:
    try:
        return lazy.collect_schema().names()
    except pl.exceptions.NoDataError as exc:
        raise UnreadableFile("file_empty", f"{path.name}: the file is empty") from exc
    except Exception as exc:  # polars/arrow raise several kinds for a corrupt file
        raise UnreadableFile(
            "file_unreadable", f"{path.name}: not readable ({_first_line(exc)})"
        ) from exc


def _clean_headers(names: list[str], path: Path) -> list[str]:
    cleaned = [str(name).lstrip(_BOM).strip() for name in names]
    if not cleaned or cleaned == [""]:
        raise UnreadableFile("file_empty", f"{path.name}: no header row")
    if any(_contains_control(name) for name in cleaned):
        raise UnreadableFile("file_encoding", f"{path.name}: header contains control characters")
    # polars renames a repeated CSV header to ``<name>_duplicated_<n>``: still a duplicate
    originals = [_DUPLICATED.sub("", n) if _DUPLICATED.sub("", n) in cleaned else n
                 for n in cleaned]
    if len(set(originals)) != len(originals):
        dupes = sorted({n for n in originals if originals.count(n) > 1})
        raise UnreadableFile("file_unreadable", f"{path.name}: duplicate header(s) {dupes}")
    return cleaned


def _contains_control(text: str) -> bool:
    return any(ord(ch) < 32 and ch not in "\t\r\n" for ch in text)


def _read_xlsx(path: Path) -> pl.DataFrame:
    import fastexcel

    try:
        reader = fastexcel.read_excel(path)
        sheet = reader.load_sheet(0, dtypes="string", skip_rows=0)
        frame = sheet.to_polars()
    except Exception as exc:  # fastexcel raises its own hierarchy for corrupt workbooks
        text = _first_line(exc)
        if "empty" in text.lower() or "no rows" in text.lower():
            raise UnreadableFile("file_empty", f"{path.name}: the first sheet is empty") from exc
        raise UnreadableFile(
            "file_unreadable", f"{path.name}: not a readable XLSX workbook ({text})"
        ) from exc
    return _show_dates_as_excel_does(path, _show_long_numbers_as_excel_does(path, frame))


_LONG_DIGITS = r"^[0-9]{16,}$"
_EXCEL_DIGITS = 15  # Excel keeps 15 significant digits of a number


def _show_long_numbers_as_excel_does(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    """Numeric cells too long for a double come back as Excel shows them (``3.30106E+17``).

    An ID number typed into Excel as a number loses its last digits; read as text it looks
    like a plausible 18-digit number (``330106199001009984``) that passes the check character
    one time in eleven. Shown in Excel's notation it is rejected as ``id_format`` (issue 10).
    Only columns with a 16+ digit value that hold a numeric cell are scanned (openpyxl knows
    the cell types, cell by cell in Python: 0.15 s for a workbook of a thousand rows, which
    nearly every workbook with ID numbers paid when every such column was scanned).
    """
    def as_shown(cell) -> str | None:
        value = cell.value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 1e15:
            return f"{float(value):.{_EXCEL_DIGITS - 10}E}"
        return None

    return _rewrite_cells(path, frame, _LONG_DIGITS, as_shown)


_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
_FORMAT_LITERALS = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')


def _show_dates_as_excel_does(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    """Date cells come back as Excel shows them: ``2024-01-05`` under a date format, with the
    time under a date-time one.

    fastexcel renders every date cell as a timestamp (``2024-01-05 00:00:00``), which a date
    column would reject as not a date: a department's workbook with real date cells (not
    text) is the common case. Only columns with a timestamp-looking value and a cell that is
    not text are scanned (openpyxl reads each cell's number format).
    """
    def as_shown(cell) -> str | None:
        value = cell.value
        if not isinstance(value, datetime) or _shows_time(cell.number_format or ""):
            return None
        return value.strftime("%Y-%m-%d")

    return _rewrite_cells(path, frame, _TIMESTAMP, as_shown)


def _shows_time(number_format: str) -> bool:
    """Whether an Excel number format displays a time (hours or seconds codes)."""
    codes = _FORMAT_LITERALS.sub("", number_format.lower())
    return "h" in codes or "s" in codes or "am/pm" in codes


def _rewrite_cells(path: Path, frame: pl.DataFrame, pattern: str,
                   as_shown: Callable[[object], str | None]) -> pl.DataFrame:
    """``frame`` (fastexcel's text of the first sheet) with the cells of the columns that hold
    a value matching ``pattern`` and a cell that is not text replaced by ``as_shown(cell)``
    (openpyxl's cell) where that is not None."""
    chosen = [c for c in frame.columns if frame[c].str.contains(pattern).any()]
    chosen = [c for c in chosen if _has_numeric_cells(path, c)]
    if not chosen:
        return frame
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        header, *rows = book.worksheets[0].iter_rows()
        names = [str(h.value).lstrip(_BOM).strip() if h.value is not None else None
                 for h in header]
        columns = {}
        for name in chosen:
            if name.strip() not in names:
                continue
            index = names.index(name.strip())
            values = frame[name].to_list()
            for row, cells in enumerate(rows[: len(values)]):
                if index < len(cells) and (shown := as_shown(cells[index])) is not None:
                    values[row] = shown
            columns[name] = pl.Series(name, values, dtype=pl.Utf8)
    finally:
        book.close()
    return frame.with_columns(**columns) if columns else frame


def _has_numeric_cells(path: Path, column: str) -> bool:
    """Whether the first sheet's ``column`` holds any cell that is not text (or empty).

    fastexcel types every cell of the column (strict coercion, all rows sampled): a column of
    text cells comes back as strings, and a number anywhere in it either types the column or
    raises on the mix. Anything but a clean text column is scanned.
    """
    import fastexcel

    try:
        sheet = fastexcel.read_excel(path).load_sheet(
            0, use_columns=[column], dtype_coercion="strict", schema_sample_rows=None
        )
        return [c.dtype for c in sheet.selected_columns] != ["string"]
    except Exception:  # noqa: BLE001  (the mix of types raises; let openpyxl decide)
        return True


def _as_text(lazy: pl.LazyFrame) -> pl.LazyFrame:
    """Cast every column to Utf8; dates and timestamps in the contract's ISO forms."""
    exprs = []
    for name, dtype in lazy.collect_schema().items():
        col = pl.col(name)
        if dtype == pl.Date:
            exprs.append(col.dt.strftime("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime):
            exprs.append(col.dt.strftime("%Y-%m-%d %H:%M:%S"))
        elif dtype != pl.Utf8:
            exprs.append(col.cast(pl.Utf8))
    return lazy.with_columns(exprs) if exprs else lazy


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


__all__ = [
    "OpenedDelivery", "ReadResult", "UnreadableFile", "file_format", "open_delivery",
    "read_delivery", "read_reference_csv",
]
