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
GBK file Big5 or Shift-JIS; here a wrong guess means silently garbled names. Decoding is
streamed with Python's incremental decoder in 16 MB chunks, so memory stays flat and a failure
reports its byte offset. GB18030 (and gzipped) files are decoded to a temporary UTF-8 file that
polars then scans in batches (polars and DuckDB scan UTF-8 only), so memory stays bounded.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

CHUNK_BYTES = 16 * 1024 * 1024
LINE = "line"
_BOM = "\ufeff"


class UnreadableFile(Exception):
    """A delivered file that cannot be read at all; ``check`` is the rejects vocabulary word."""

    def __init__(self, check: str, reason: str, rows: int = 0) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason
        self.rows = rows  # data rows, when the file could be read but not accepted


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


@contextlib.contextmanager
def open_delivery(path: Path) -> Iterator[OpenedDelivery]:
    """Open a delivered extract for batched reading; raise ``UnreadableFile`` with the reason.

    A GB18030 or gzipped CSV is first decoded, streaming, into a temporary UTF-8 file that
    lives as long as the context.
    """
    fmt = file_format(path)
    if fmt is None:
        raise UnreadableFile("file_name", f"{path.name}: not .csv, .csv.gz, .parquet or .xlsx")
    if path.stat().st_size == 0:
        raise UnreadableFile("file_empty", f"{path.name}: the file is empty (0 bytes)")
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
        if fmt in ("csv", "csv.gz"):
            source, encoding = _utf8_source(path, fmt == "csv.gz", Path(tmp) / "utf8.csv")
            lazy = pl.scan_csv(source, infer_schema=False, raise_if_empty=False)
        elif fmt == "parquet":
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


def _transcode(path: Path, gzipped: bool, encoding: str, target: Path | None) -> int:
    """Stream-decode the whole file strictly (writing UTF-8 to ``target`` if given).

    Returns -1 when it decodes, else the byte offset of the first byte that does not.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    out = open(target, "w", encoding="utf-8", newline="") if target else None
    try:
        for chunk in _open_bytes(path, gzipped):
            text = decoder.decode(chunk)
            if out:
                out.write(text)
            offset += len(chunk)
        text = decoder.decode(b"", final=True)
        if out:
            out.write(text)
    except UnicodeDecodeError as exc:
        return offset + exc.start  # approximate by the few bytes a decoder buffers
    finally:
        if out:
            out.close()
    return -1


def _utf8_source(path: Path, gzipped: bool, target: Path) -> tuple[Path, str]:
    """A UTF-8 file with the CSV's text (the file itself when it already is) and its encoding."""
    if not gzipped and _transcode(path, False, "utf-8", None) < 0:
        return path, "utf-8"
    if gzipped and _transcode(path, True, "utf-8", target) < 0:
        return target, "utf-8"
    bad_at = _transcode(path, gzipped, "gb18030", target)
    if bad_at >= 0:
        raise UnreadableFile(
            "file_encoding",
            f"{path.name}: neither UTF-8 nor GB18030/GBK (undecodable byte at offset {bad_at})",
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
    if len(set(cleaned)) != len(cleaned):
        dupes = sorted({n for n in cleaned if cleaned.count(n) > 1})
        raise UnreadableFile("file_unreadable", f"{path.name}: duplicate header(s) {dupes}")
    return cleaned


def _contains_control(text: str) -> bool:
    return any(ord(ch) < 32 and ch not in "\t\r\n" for ch in text)


def _read_xlsx(path: Path) -> pl.DataFrame:
    import fastexcel

    try:
        reader = fastexcel.read_excel(path)
        sheet = reader.load_sheet(0, dtypes="string", skip_rows=0)
        return sheet.to_polars()
    except Exception as exc:  # fastexcel raises its own hierarchy for corrupt workbooks
        text = _first_line(exc)
        if "empty" in text.lower() or "no rows" in text.lower():
            raise UnreadableFile("file_empty", f"{path.name}: the first sheet is empty") from exc
        raise UnreadableFile(
            "file_unreadable", f"{path.name}: not a readable XLSX workbook ({text})"
        ) from exc


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
