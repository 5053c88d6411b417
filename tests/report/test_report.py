"""The run report: self-contained HTML, trend across runs, rendered in headless Chromium (issue 7)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import zlib
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "worklist"))

from marts_fixtures import AS_OF, insert, scenario_marts

from pipelines.flows.tasks_outputs import build_worklist, describe_warehouse, write_report

CHART_BLUE = (0x2F, 0x6D, 0xB5)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    db = scenario_marts(tmp_path / "w.duckdb")
    con = duckdb.connect(str(db))
    try:
        insert(
            con,
            "run_stage_log",
            [
                {"run_id": "20280915T020000-2028-09-15", "stage": "ingest", "seconds": 12.5},
                {"run_id": "20280915T020000-2028-09-15", "stage": "person", "seconds": 3.25},
            ],
        )
    finally:
        con.close()
    build_worklist.fn(db, AS_OF)
    describe_warehouse.fn(db)
    write_report.fn(db, tmp_path / "exports", date(2028, 9, 14), "20280914T020000-2028-09-14")
    return write_report.fn(db, tmp_path / "exports", AS_OF, "20280915T020000-2028-09-15")


def test_report_is_one_self_contained_page(report: Path):
    html = report.read_text("utf-8")
    assert report.name == "report-20280915T020000-2028-09-15.html"
    assert report.parent.name == AS_OF.isoformat()
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", html, re.IGNORECASE)
    assert not re.search(r"(src|href)\s*=", html, re.IGNORECASE)
    external = set(re.findall(r"https?://[^\s'\"]+", html)) - {"http://www.w3.org/2000/svg"}
    assert external == set()
    # coverage, flags, cases, rejects by source, two trends, stage seconds
    assert html.count("<svg") == 7


def test_report_sections_and_figures(report: Path):
    html = report.read_text("utf-8")
    for section in ("coverage", "flags", "rejects", "trend"):
        assert f'id="{section}"' in html
    assert "杭州市 330100" in html and "42.9%" in html  # prefecture chart: 6 of 14 covered
    assert "<td>西湖区</td>" in html and "37.5%" in html  # lowest counties: 3 of 8 covered
    assert "新生儿待参保" in html  # flags in Chinese


def test_trend_has_one_point_per_run(report: Path, tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        runs = con.sql(
            "SELECT run_id, persons, covered FROM main.run_metrics ORDER BY as_of"
        ).fetchall()
    finally:
        con.close()
    assert [r[0] for r in runs] == ["20280914T020000-2028-09-14", "20280915T020000-2028-09-15"]
    assert runs[-1][1:] == (15, 7)
    assert "<polyline" in report.read_text("utf-8")


def test_report_holds_no_person_level_data(report: Path):
    html = report.read_text("utf-8")
    assert not re.search(r"\d{17}[\dX]", html)
    assert "张三" not in html and "李小明" not in html and "1381234" not in html


# ---------------------------------------------------------------------------------------
# Headless Chromium (Debian's package)
# ---------------------------------------------------------------------------------------


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> np.ndarray:
    """PNG scanline filters undone (RFC 2083 section 6): height x width x bpp bytes."""
    stride = width * bpp
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            current = line
        elif kind == 1:
            current = np.cumsum(line.reshape(-1, bpp), axis=0).reshape(-1)
        elif kind == 2:
            current = line + previous
        else:
            current = np.zeros(stride, dtype=np.int32)
            up = previous.astype(np.int32)
            for x in range(stride):
                left = current[x - bpp] if x >= bpp else 0
                corner = up[x - bpp] if x >= bpp else 0
                if kind == 3:
                    current[x] = (line[x] + (left + up[x]) // 2) & 0xFF
                else:
                    p = left + up[x] - corner
                    pa, pb, pc = abs(p - left), abs(p - up[x]), abs(p - corner)
                    pred = left if pa <= pb and pa <= pc else (up[x] if pb <= pc else corner)
                    current[x] = (line[x] + pred) & 0xFF
        previous = (current & 0xFF).astype(np.uint8)
        out[y] = previous
    return out.reshape(height, width, bpp)


def read_png(path: Path) -> np.ndarray:
    """Pixels of an 8-bit, non-interlaced RGB/RGBA PNG (what Chromium writes)."""
    data, pos, idat = path.read_bytes(), 8, b""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0
        elif kind == b"IDAT":
            idat += body
    return _unfilter(zlib.decompress(idat), width, height, 3 if color == 2 else 4)[:, :, :3]


def _run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,  # the caller checks the output (Chromium logs D-Bus noise on stderr)
    )


@pytest.mark.browser
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium: apt-get install -y chromium")
    shot = tmp_path / "report.png"
    result = _run_chromium(
        browser,
        tmp_path / "profile",
        "--window-size=1100,1400",
        f"--screenshot={shot}",
        report.as_uri(),
    )
    assert shot.exists(), result.stderr[-2000:]
    pixels = read_png(shot)
    assert pixels.shape == (1400, 1100, 3)
    ink = (pixels < 200).any(axis=2).mean()
    assert ink > 0.02, f"page looks blank: {ink:.3%} non-white pixels"
    bars = (np.abs(pixels.astype(int) - CHART_BLUE).sum(axis=2) < 30).sum()
    assert bars > 2000, f"chart bars not drawn: {bars} blue pixels"

    dom = _run_chromium(browser, tmp_path / "profile2", "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") == 7 and "20280915T020000-2028-09-15" in dom.stdout


def test_a_failing_section_shows_no_data_instead_of_failing_the_run(tmp_path: Path):
    from pipelines.report.builder import _query

    db = scenario_marts(tmp_path / "w.duckdb")
    con = duckdb.connect(str(db))
    try:
        assert _query(con, "SELECT no_such_column FROM main.person", ["person"]) is None
        assert _query(con, "SELECT 1", ["main.no_such_table"]) is None
    finally:
        con.close()
