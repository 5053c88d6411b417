"""The faster ingest paths give exactly the results of the general ones (docs/architecture.md).

- a night arriving in order is appended to ``staging.<source>`` in place (``Incoming.direct``);
  the work-table path must give identical tables for the same deliveries;
- staged rows are validated against the schema and only the checks ``stage_extract`` does not
  apply itself; those still stop the run;
- reading and checking run one batch ahead in a worker thread (``in_background``);
- UTF-8 validation and the mixed-encoding check of GB18030 files scan bytes, not lines;
- the check character comes from partial-sum tables, ``refunded_by`` from the refunds only.
"""

from __future__ import annotations

import gzip
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

import pipelines.flows.tasks_ingest as tasks
from pipelines.flows.tasks_ingest import ingest_deliveries, load_reference
from pipelines.io import readers
from pipelines.io import staging_store as store
from pipelines.io.inbox import sha256_of
from pipelines.stages.normalise_identity import check_character, check_character_of_number
from pipelines.stages.stage_extract import StagedExtract, duplicate_key_sql
from schemas import SOURCES
from schemas._common import empty_frame

from .helpers import (
    HOUSEHOLD_HEADER,
    household_row,
    make_id,
    tax_row,
    write_csv,
    write_night,
)

A = make_id("110105", "19900101", "001")
B = make_id("110105", "19900101", "011")
C = make_id("330106", "19850505", "022")
TABLES = ("main.rejects", "main.ingest_log", "staging.household", "staging.tax_payment",
          "staging.rejected_identity")


def _rows(build: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(build), read_only=True) as con:
        return con.execute(sql).fetchall()


def _snapshot(build: Path) -> dict[str, list[tuple]]:
    return {t: sorted(_rows(build, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def _nights(inbox: Path) -> None:
    """Three nights: parts, duplicates across parts, updates, a broken snapshot part, a refund."""
    write_night(inbox, "2026-01-02", [household_row(A), household_row(B)],
           [tax_row("P1", A), tax_row("P2", B), tax_row("P3", A, amount="x")], part="-01")
    write_night(inbox, "2026-01-02", [household_row(C, birth="1985-05-05"), household_row(A)],
           [tax_row("P1", B, amount="400"), tax_row("P4", C)], part="-02")
    write_night(inbox, "2026-01-03", [household_row(A, status="迁出")],
           [tax_row("P2", B, amount="420"), tax_row("R1", A, kind="退费", refund_of="P1")])
    write_night(inbox, "2026-01-04", [household_row(B, status="注销")], part="-01")
    write_csv(inbox / "2026-01-04" / "household-02.csv", ["id_number", "name"], [[C, "x"]])


def _work_table(con, spec, night):
    """``create_incoming`` that always takes the general path (a work table)."""
    table = store.incoming_table(spec)
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE schema_name = 'staging' AND table_name = ? ORDER BY column_index",
        [spec.name]).fetchall()
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns)})")
    return store.Incoming(spec, night, direct=False)


def test_nights_in_order_are_appended_in_place(inbox: Path, tmp_path: Path, monkeypatch):
    _nights(inbox)
    seen: list[tuple[str, str, bool]] = []
    create = store.create_incoming

    def spy(con, spec, night):
        incoming = create(con, spec, night)
        seen.append((spec.name, night.isoformat(), incoming.direct))
        return incoming

    monkeypatch.setattr(store, "create_incoming", spy)
    build = tmp_path / "w.duckdb"
    load_reference.fn(build, [inbox / "reference"])
    ingest_deliveries.fn(build, inbox, 1.0)
    assert seen and all(direct for _, _, direct in seen)
    # a night arriving late goes through the work table
    write_night(inbox, "2026-01-01", payments=[tax_row("P9", A)])
    seen.clear()
    ingest_deliveries.fn(build, inbox, 1.0)
    assert seen == [("tax_payment", "2026-01-01", False)]


def test_in_place_and_work_table_paths_give_identical_tables(inbox, tmp_path, monkeypatch):
    _nights(inbox)
    direct, general = tmp_path / "direct.duckdb", tmp_path / "general.duckdb"
    for build in (direct, general):
        load_reference.fn(build, [inbox / "reference"])
    ingest_deliveries.fn(direct, inbox, 1.0)
    with monkeypatch.context() as patch:
        patch.setattr(store, "create_incoming", _work_table)
        ingest_deliveries.fn(general, inbox, 1.0)
    assert _snapshot(direct) == _snapshot(general)
    # 01-03 replaced the snapshot; 01-04 lost a part, so it is merged, not replacing
    assert _rows(direct, "SELECT id_number, status FROM staging.household ORDER BY 1") == sorted(
        [(A, "moved_out"), (B, "cancelled")])
    assert _rows(direct, "SELECT payment_id, amount, refunded_by FROM staging.tax_payment "
                         "ORDER BY 1") == [("P1", 380.0, "R1"), ("P2", 420.0, None),
                                           ("P4", 380.0, None), ("R1", 380.0, None)]
    assert _rows(direct, 'SELECT file, line, "check" FROM main.rejects '
                         "WHERE \"check\" = 'duplicate_key' ORDER BY 1, 2") == [
        ("2026-01-02/household-02.csv", 3, "duplicate_key"),
        ("2026-01-02/tax_payment-02.csv", 2, "duplicate_key")]


def test_key_hashes_moved_to_duckdb_give_identical_tables(inbox, tmp_path, monkeypatch):
    """Every night's key hashes past the memory bound (here: all of them) in DuckDB: the same
    duplicate rejects and staged tables as hashes kept in memory."""
    _nights(inbox)
    kept, moved = tmp_path / "kept.duckdb", tmp_path / "moved.duckdb"
    for build in (kept, moved):
        load_reference.fn(build, [inbox / "reference"])
    ingest_deliveries.fn(kept, inbox, 1.0)
    spilled = []
    spill = store.KeyHashes._spill

    def spy(self, con):
        spilled.append(self.table)
        spill(self, con)

    with monkeypatch.context() as patch:
        patch.setattr(store, "KEY_HASH_MEMORY_ROWS", 0)
        patch.setattr(store.KeyHashes, "_spill", spy)
        ingest_deliveries.fn(moved, inbox, 1.0)
    assert {"temp.key_hashes_household", "temp.key_hashes_tax_payment"} <= set(spilled)
    assert _snapshot(kept) == _snapshot(moved)
    assert _rows(moved, "SELECT count(*) FROM main.rejects WHERE \"check\" = 'duplicate_key'"
                 ) == [(2,)]


def test_late_and_repeated_nights_match_the_work_table_path(inbox, tmp_path, monkeypatch):
    """Runs where staged rows of the night or later exist: both paths, same result."""
    builds = {"auto": tmp_path / "auto.duckdb", "general": tmp_path / "general.duckdb"}
    for build in builds.values():
        load_reference.fn(build, [inbox / "reference"])

    def run_all():
        ingest_deliveries.fn(builds["auto"], inbox, 1.0)
        with monkeypatch.context() as patch:
            patch.setattr(store, "create_incoming", _work_table)
            ingest_deliveries.fn(builds["general"], inbox, 1.0)

    write_night(inbox, "2026-01-03", [household_row(A)], [tax_row("P1", A, amount="400")])
    run_all()
    write_night(inbox, "2026-01-02", [household_row(B)], [tax_row("P1", A), tax_row("P2", B)])
    run_all()  # an older night arriving late
    write_night(inbox, "2026-01-03", [household_row(C, birth="1985-05-05")],
           [tax_row("P3", C)], part="-02")
    run_all()  # another part of a night already staged
    assert _snapshot(builds["auto"]) == _snapshot(builds["general"])
    assert _rows(builds["auto"], "SELECT payment_id, amount FROM staging.tax_payment "
                                 "ORDER BY 1") == [("P1", 400.0), ("P2", 380.0), ("P3", 380.0)]


def test_refunded_by_is_cleared_when_the_refund_goes_and_takes_the_first_refund(inbox,
                                                                                  tmp_path):
    build = tmp_path / "w.duckdb"
    load_reference.fn(build, [inbox / "reference"])
    write_night(inbox, "2026-01-02", payments=[
        tax_row("P1", A), tax_row("R2", A, kind="退费", refund_of="P1"),
        tax_row("R1", A, kind="退费", refund_of="P1")])
    ingest_deliveries.fn(build, inbox, 1.0)
    assert _rows(build, "SELECT refunded_by FROM staging.tax_payment WHERE payment_id = 'P1'"
                 ) == [("R1",)]
    write_night(inbox, "2026-01-03", payments=[tax_row("R1", A), tax_row("R2", A)])
    ingest_deliveries.fn(build, inbox, 1.0)  # both re-delivered as normal payments
    assert _rows(build, "SELECT refunded_by FROM staging.tax_payment WHERE payment_id = 'P1'"
                 ) == [(None,)]


# --- validation of staged rows -------------------------------------------------------------


def _claims(year: int, **changes) -> StagedExtract:
    row = {"id_number": A, "year": year, "scheme": "resident", "fund_paid": 10.0,
           "catastrophic_paid": None, "incentive_used": None,
           "delivery_date": date(2026, 1, 2), "source_file": "f", "line": 2, **changes}
    frame = pl.DataFrame([row], schema=empty_frame(SOURCES["claims"].staged).schema)
    return StagedExtract(frame, pl.DataFrame(), pl.DataFrame(), rows_read=1)


def test_staged_checks_stage_extract_does_not_apply_still_stop_the_run():
    tasks._validate_staged(SOURCES["claims"], _claims(2026))
    # claims.year's in_range is a record check of stage_extract (a reject, not a stop)
    tasks._validate_staged(SOURCES["claims"], _claims(1800))
    with pytest.raises(RuntimeError, match="pipeline defect"):
        tasks._validate_staged(SOURCES["claims"], _claims(2026, line=1))  # lineage ge=2


def test_staged_schema_is_validated_in_full():
    frame = _claims(2026).staged.with_columns(pl.col("fund_paid").cast(pl.Utf8))
    staged = StagedExtract(frame, pl.DataFrame(), pl.DataFrame(), rows_read=1)
    with pytest.raises(RuntimeError, match="pipeline defect"):
        tasks._validate_staged(SOURCES["claims"], staged)


def test_value_checks_of_stage_extract_are_not_run_again_unless_not_implied():
    # id_number's str_matches and scheme's isin are stage_extract's record checks: not re-run
    tasks._validate_staged(SOURCES["claims"], _claims(2026, id_number="not an id",
                                                      scheme="private"))
    household = SOURCES["household"]
    frame = pl.DataFrame([{
        "id_number": A, "name": "张三", "sex": 1, "birth_date": date(1990, 1, 1),
        "hukou_division": "1101", "household_id": "H1", "status": "normal",
        "delivery_date": date(2026, 1, 2), "source_file": "f", "line": 2,
    }], schema=empty_frame(household.staged).schema)
    staged = StagedExtract(frame, pl.DataFrame(), pl.DataFrame(), rows_read=1)
    tasks._validate_staged(household, staged, division_implied=True)
    # a reference code that is not 6 digits: membership no longer implies the schema rule
    with pytest.raises(RuntimeError, match="pipeline defect"):
        tasks._validate_staged(household, staged, division_implied=False)


# --- the worker thread ----------------------------------------------------------------------


def test_in_background_keeps_order_and_raises_the_workers_exception_in_place():
    def events():
        yield from range(5)
        raise ValueError("broken in the worker")

    got = []
    with pytest.raises(ValueError, match="broken in the worker"):
        for item in tasks.in_background(events()):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_in_background_stops_the_worker_when_the_consumer_stops():
    closed = []

    def events():
        try:
            yield from range(1000)
        finally:
            closed.append(True)

    staged = tasks.in_background(events())
    assert [next(staged) for _ in range(3)] == [0, 1, 2]
    staged.close()
    assert closed == [True]


def test_in_background_bounds_the_weight_ahead_not_the_items():
    """Items weigh what they carry (the ingest: rows): weightless ones (a small file's counts)
    pass the bound, heavy ones wait for room, and one heavier than the bound goes alone."""
    produced = []
    items = ["a", "b", "c", "R2", "d", "R1", "e", "R1", "f", "R9", "g"]

    def events():
        for item in items:
            produced.append(item)
            yield item

    def weight(item: str) -> int:
        return int(item[1:]) if item.startswith("R") else 0

    staged = tasks.in_background(events(), ahead=3, weight=weight)
    assert next(staged) == "a"
    deadline = time.monotonic() + 5
    while len(produced) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # room for a wrong extra step to happen
    # R2 and R1 fill the room of 3; the second R1 was produced and waits for it
    assert produced == items[:8]
    assert list(staged) == items[1:]


# --- reading --------------------------------------------------------------------------------


def _scratch(tmp_path: Path, monkeypatch) -> Path:
    """Where prepared (decoded) CSV copies go during the test."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(readers.tempfile, "tempdir", str(scratch))
    return scratch


def test_files_are_prepared_ahead_and_unused_copies_removed(inbox, tmp_path, monkeypatch):
    """Hash and GB18030 decoding run a file ahead; what the consumer never used is removed."""
    from pipelines.io.inbox import discover

    scratch = _scratch(tmp_path, monkeypatch)
    for part in range(4):
        write_csv(inbox / "2026-01-02" / f"household-0{part}.csv", HOUSEHOLD_HEADER,
                  [household_row(A, name="王五", household=f"H{part}")], encoding="gb18030")
    (inbox / "2026-01-02" / "household-09.csv").write_bytes(b"")
    deliveries = list(discover(inbox, SOURCES))
    made, three_made = [], threading.Event()

    def recorded(path):
        made.append(path.name)
        prepared = readers.prepare_csv(path)
        if len(made) == 3:
            three_made.set()
        return prepared

    monkeypatch.setattr(tasks, "prepare_csv", recorded)
    ahead = tasks._prepared_ahead(deliveries, set(), set())
    delivery, sha, prepared = next(ahead)
    assert delivery.file == "2026-01-02/household-00.csv" and len(sha) == 64
    assert prepared.encoding == "gb18030" and prepared.source.read_text().count("王五") == 1
    assert three_made.wait(timeout=30)  # this file's and the next two, before they are asked
    assert made == ["household-00.csv", "household-01.csv", "household-02.csv"]
    assert len(list(scratch.iterdir())) == 3
    prepared.close()
    ahead.close()
    assert list(scratch.iterdir()) == []
    # files ingested before are not decoded again; an unreadable one carries its reason
    known = {sha256_of(d.path) for d in deliveries[:2]}
    results = list(tasks._prepared_ahead(deliveries, set(), known))
    assert [p is None for _, _, p in results[:2]] == [True, True]
    assert isinstance(results[-1][2], readers.UnreadableFile)
    assert results[-1][2].check == "file_empty"
    for _, _, prepared in results[2:4]:
        prepared.close()
    assert list(scratch.iterdir()) == []


def test_a_night_leaves_no_prepared_copies_behind(inbox, tmp_path, monkeypatch):
    """Duplicates within the night, a file rejected whole, an empty file: nothing left over."""
    scratch = _scratch(tmp_path, monkeypatch)
    rows = [household_row(A, name="王五")]
    for name in ("household-01.csv", "household-02.csv"):  # the same bytes twice
        write_csv(inbox / "2026-01-02" / name, HOUSEHOLD_HEADER, rows, encoding="gb18030")
    write_csv(inbox / "2026-01-02" / "household-03.csv", ["id_number", "name"], [[A, "x"]])
    (inbox / "2026-01-02" / "household-04.csv").write_bytes(b"")
    build = tmp_path / "w.duckdb"
    load_reference.fn(build, [inbox / "reference"])
    summary = ingest_deliveries.fn(build, inbox, max_reject_rate=1.0)
    assert (summary.files_ingested, summary.files_skipped, summary.files_rejected) == (1, 1, 2)
    assert list(scratch.iterdir()) == []


_GBK_TEXT = st.text(alphabet="王李张刘陈杨黄赵吴周女男省市区街道路号,0123456789 ", max_size=30)
_LINES = st.lists(
    st.one_of(
        _GBK_TEXT.map(lambda t: t.encode("gb18030")),
        _GBK_TEXT.map(lambda t: t.encode("utf-8")),
        st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
    ),
    max_size=25,
)


def _old_flagged(data: bytes) -> list[bytes]:
    """The lines the per-line check counted (every line decoded on its own)."""
    return [line for line in data.split(b"\n")
            if not line.isascii() and readers._utf8_hanzi(line) >= readers._MIXED_MIN_HANZI]


@settings(max_examples=300, deadline=None)
@given(_LINES)
def test_byte_scan_flags_exactly_the_lines_the_per_line_check_flagged(lines):
    data = b"\n".join(lines)
    new = [line for line in readers._utf8_hanzi_candidates(data)
           if readers._utf8_hanzi(line) >= readers._MIXED_MIN_HANZI]
    assert new == _old_flagged(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=60), st.text(max_size=30).map(
    lambda t: t.encode("utf-8", "surrogatepass"))))
def test_utf8_validation_agrees_with_pythons_strict_decoder(data):
    try:
        data.decode("utf-8")
        expected = True
    except UnicodeDecodeError:
        expected = False
    assert readers._is_utf8(data) is expected


@pytest.mark.parametrize("gz", [False, True])
def test_utf8_line_after_a_chunk_boundary_is_found(tmp_path, monkeypatch, gz):
    monkeypatch.setattr(readers, "CHUNK_BYTES", 64)  # many chunks, lines cut across them
    rows = [["330106199001011234", "王小明", "浙江省杭州市西湖区"]] * 20
    path = write_csv(tmp_path / ("x.csv.gz" if gz else "x.csv"), ["a", "b", "c"], rows,
                     "gb18030", gz)
    assert readers.read_delivery(path).encoding == "gb18030"
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(_plain(path, gz) + "1,张三丰,北京市朝阳区\n".encode())
    with pytest.raises(readers.UnreadableFile, match="mixed encodings"):
        readers.read_delivery(mixed)


def _plain(path: Path, gz: bool) -> bytes:
    return gzip.decompress(path.read_bytes()) if gz else path.read_bytes()


def test_utf8_file_split_mid_character_is_still_utf8(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_BYTES", 7)  # cuts 3-byte characters in two
    path = write_csv(tmp_path / "x.csv", ["姓名", "住址"], [["王小明", "浙江省杭州市"]] * 5)
    result = readers.read_delivery(path)
    assert result.encoding == "utf-8" and result.frame["姓名"].to_list() == ["王小明"] * 5


# --- identity and duplicates ----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_of_number_matches_python_stdnum(first17):
    ours = pl.select(check_character_of_number(pl.lit(int(first17), dtype=pl.Int64))).item()
    assert ours == ric.calc_check_digit(first17 + "0")


def test_check_character_is_null_for_what_is_not_17_digits():
    values = ["1234", None, "1101051949123100X", "-1101051949123100", "+1101051949123100",
              "110105194912310000"]
    frame = pl.DataFrame({"f": values}).select(check_character(pl.col("f")))
    assert frame.to_series().to_list() == [None] * len(values)
    numbers = pl.DataFrame({"n": [-1, 10**17, None]}, schema={"n": pl.Int64})
    assert numbers.select(check_character_of_number(pl.col("n"))).to_series().to_list() == [
        None, None, None]


def test_duplicate_key_sql_numbers_repeats_in_file_and_line_order_with_null_keys():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('g', 5, 'k', 1), ('f', 9, 'k', 1), "
                "('f', 3, 'k', 1), ('f', 4, 'k', NULL), ('f', 6, 'k', NULL), ('f', 7, 'j', 1)) "
                "v(source_file, line, id_number, year)")
    every = "(SELECT source_file, line FROM t)"
    rows = con.execute(duplicate_key_sql("t", ("id_number", "year"), set(), every)).fetchall()
    assert sorted(r[:2] for r in rows) == [("f", 6), ("f", 9), ("g", 5)]


@pytest.mark.parametrize("candidates", [
    [("g", 5), ("f", 9), ("f", 3), ("f", 4), ("f", 6)],  # the rows of repeated keys
    [("g", 5), ("f", 9), ("f", 3), ("f", 4), ("f", 6), ("f", 7)],  # and a hash collision
])
def test_duplicate_key_sql_on_candidates_finds_what_every_row_finds(candidates):
    """Numbering only the candidate rows gives the rejects of numbering every row, also when
    a candidate's key is unique (two keys that share a hash are never duplicates)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('g', 5, 'k', 1), ('f', 9, 'k', 1), "
                "('f', 3, 'k', 1), ('f', 4, 'k', NULL), ('f', 6, 'k', NULL), ('f', 7, 'j', 1)) "
                "v(source_file, line, id_number, year)")
    con.register("maybe", pl.DataFrame(candidates, orient="row",
                                       schema={"source_file": pl.Utf8, "line": pl.Int64}))
    every = "(SELECT source_file, line FROM t)"
    whole = con.execute(duplicate_key_sql("t", ("id_number", "year"), set(), every)).fetchall()
    only = con.execute(duplicate_key_sql("t", ("id_number", "year"), set(), "maybe")).fetchall()
    assert sorted(only) == sorted(whole)
    assert sorted(r[:2] for r in only) == [("f", 6), ("f", 9), ("g", 5)]


def _claims_rows(file: str, keys: list[tuple[str, int]], first_line: int = 2) -> pl.DataFrame:
    return pl.DataFrame({
        "source_file": [file] * len(keys), "line": range(first_line, first_line + len(keys)),
        "id_number": [k for k, _ in keys], "year": [y for _, y in keys],
        "delivery_date": [date(2026, 1, 2)] * len(keys),
    }, schema={"source_file": pl.Utf8, "line": pl.Int64, "id_number": pl.Utf8,
               "year": pl.Int32, "delivery_date": pl.Date})


def _claims_night() -> tuple[duckdb.DuckDBPyConnection, store.Incoming]:
    """A night of claims staged in a work table (only the key and lineage columns)."""
    incoming = store.Incoming(SOURCES["claims"], date(2026, 1, 2), direct=False)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    con.execute(f"CREATE TABLE {incoming.table} (source_file VARCHAR, line BIGINT, "
                "id_number VARCHAR, year INTEGER, delivery_date DATE)")
    return con, incoming


@pytest.mark.parametrize("spill", [False, True], ids=["in memory", "spilled to DuckDB"])
def test_duplicate_candidates_are_every_row_of_a_repeated_key_across_appends(monkeypatch, spill):
    """Keys hashed as rows are appended: a key repeated in a later part (or batch) makes both
    rows candidates; unique keys never are; a file discarded half-way leaves none behind. The
    same when the hashes have moved to DuckDB (``KEY_HASH_MEMORY_ROWS``)."""
    if spill:
        monkeypatch.setattr(store, "KEY_HASH_MEMORY_ROWS", 2)  # the second append spills
    con, incoming = _claims_night()
    store.append_incoming(con, incoming, _claims_rows("a.csv", [(A, 2025), (B, 2025)]))
    store.append_incoming(con, incoming, _claims_rows("b.csv", [(A, 2024), (A, 2025)]))
    store.append_incoming(con, incoming, _claims_rows("c.csv", [(C, 2025)]))
    assert incoming.key_hashes.spilled is spill
    assert sorted(store.duplicate_candidates(con, incoming).rows()) == [
        ("a.csv", 2), ("b.csv", 3)]
    store.discard_incoming_file(con, incoming, "b.csv")
    assert store.duplicate_candidates(con, incoming).height == 0
    assert store.duplicate_candidates(con, store.Incoming(SOURCES["claims"], date(2026, 1, 2),
                                                          direct=False)).height == 0
    incoming.key_hashes.clear(con)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone() == (0,)


def test_spilled_key_hashes_of_a_large_night_in_one_transaction(monkeypatch):
    """More than a row group of hashes moved to DuckDB inside the night's transaction (DuckDB
    2.0 once scanned such a table as empty): the candidates are those kept in memory."""
    keys = [(make_id("110105", "19900101", f"{i % 1000:03d}"), 1900 + i // 1000)
            for i in range(300_000)]
    keys[250_000] = keys[7]  # one key repeated across the two files
    found = {}
    for limit in (1 << 30, 100_000):
        monkeypatch.setattr(store, "KEY_HASH_MEMORY_ROWS", limit)
        con, incoming = _claims_night()
        con.begin()
        store.append_incoming(con, incoming, _claims_rows("a.csv", keys[:200_000]))
        store.append_incoming(con, incoming, _claims_rows("b.csv", keys[200_000:]))
        found[incoming.key_hashes.spilled] = sorted(store.duplicate_candidates(con, incoming).rows())
        con.commit()
    assert found[True] == found[False] == [("a.csv", 9), ("b.csv", 50_002)]


def test_spilled_key_hashes_miss_no_row(monkeypatch):
    """Grouped in DuckDB after the move: a night where every key comes twice makes every row a
    candidate, whichever part of the night it was moved with."""
    monkeypatch.setattr(store, "KEY_HASH_MEMORY_ROWS", 4)
    keys = [(make_id("110105", "19900101", f"{i:03d}"), 2025) for i in range(150)]
    con, incoming = _claims_night()
    store.append_incoming(con, incoming, _claims_rows("a.csv", keys))
    store.append_incoming(con, incoming, _claims_rows("b.csv", keys[::-1]))
    found = store.duplicate_candidates(con, incoming)
    assert incoming.key_hashes.spilled
    assert found.height == 300 and found.unique().height == 300


def test_a_night_without_candidates_runs_no_duplicate_query():
    con, incoming = _claims_night()
    store.append_incoming(con, incoming, _claims_rows("a.csv", [(A, 2025), (B, 2025)]))

    def never(candidates: str) -> str:
        raise AssertionError("the duplicate query ran on a night with unique keys")

    store.reject_duplicates(con, incoming, "2026-01-02", never, "repeated")
    assert con.execute(f"SELECT count(*) FROM {incoming.table}").fetchone()[0] == 2
    assert incoming.key_hashes.frames == [] and incoming.key_hashes.files == {}


def test_small_files_checked_together_keep_their_own_counts_and_rejects(inbox, tmp_path):
    """Files of one source are checked in one batch; each keeps its failures and counts, and a
    file rejected whole in the middle takes nothing of its neighbours with it."""
    night = inbox / "2026-01-02"
    ids = [make_id("110105", "19900101", f"{i:03d}") for i in range(1, 60, 2)]
    for part in range(1, 5):
        rows = [household_row(n) for n in ids[part * 6:part * 6 + 6]]
        rows[part % 3][3] = "1990-02-30"  # a bad date in every part, at another line
        write_csv(night / f"household-0{part}.csv", HOUSEHOLD_HEADER, rows)
    broken = (night / "household-02.csv").read_text().splitlines()
    (night / "household-02.csv").write_text("\n".join([*broken, "1,2,3,4,5,6,7,8,9"]) + "\n")
    builds = {rows: tmp_path / f"b{rows}.duckdb" for rows in (1_000, 1)}
    for rows, build in builds.items():
        load_reference.fn(build, [inbox / "reference"])
        ingest_deliveries.fn(build, inbox, 1.0, batch_rows=rows)
    together, alone = (_snapshot(b) for b in builds.values())
    assert together == alone
    log = _rows(builds[1_000], "SELECT file, status, rows_read, rows_accepted, rows_rejected "
                               "FROM main.ingest_log WHERE source = 'household' ORDER BY 1")
    assert log == [("2026-01-02/household-01.csv", "ingested", 6, 5, 1),
                   ("2026-01-02/household-02.csv", "rejected", 0, 0, 0),
                   ("2026-01-02/household-03.csv", "ingested", 6, 5, 1),
                   ("2026-01-02/household-04.csv", "ingested", 6, 5, 1)]
    assert _rows(builds[1_000], 'SELECT file, line, "check" FROM main.rejects ORDER BY 1, 2') == [
        ("2026-01-02/household-01.csv", 3, "date"),
        ("2026-01-02/household-02.csv", None, "file_unreadable"),
        ("2026-01-02/household-03.csv", 2, "date"),
        ("2026-01-02/household-04.csv", 3, "date")]


def test_merges_get_more_memory_then_the_ingest_limit_returns(monkeypatch) -> None:
    """The keyed DELETE of a merge cannot spill: it runs with a share of physical memory (at
    10M persons 1.5 GB ran out), and the ingest's own limit is restored afterwards."""
    import duckdb

    from pipelines.flows import tasks_ingest

    def limit(con: duckdb.DuckDBPyConnection) -> str:
        return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]

    monkeypatch.delenv("ENROL_DUCKDB_MEMORY_LIMIT", raising=False)
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{tasks_ingest.DUCKDB_MEMORY_LIMIT}'")
    ingest_limit = limit(con)
    with tasks_ingest._roomy(con):
        roomy = limit(con)
    assert limit(con) == ingest_limit
    assert roomy != ingest_limit
    con.close()
