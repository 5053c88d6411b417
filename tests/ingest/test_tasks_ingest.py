"""The ingest tasks end to end through ``.fn()`` (no Prefect server): staging, logs, rejects."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.flows import tasks_ingest as tasks
from pipelines.flows.tasks_ingest import (
    RejectRateExceeded,
    ingest_deliveries,
    load_reference,
)

from .helpers import (
    HOUSEHOLD_HEADER,
    household_row,
    make_id,
    tax_row,
    write_csv,
    write_night,
)

TABLES = ("main.rejects", "main.ingest_log", "staging.household", "staging.tax_payment",
          "staging.rejected_identity", "reference.divisions", "reference.versions")

A = make_id("110105", "19900101", "001")
B = make_id("110105", "19900101", "011")
C = make_id("330106", "19850505", "022")


def _run(build: Path, inbox: Path, max_reject_rate: float = 1.0):
    load_reference.fn(build, [inbox / "reference"])
    return ingest_deliveries.fn(build, inbox, max_reject_rate)


def _rows(build: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(build), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _snapshot(build: Path) -> dict[str, list[tuple]]:
    return {t: sorted(_rows(build, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def test_night_staged_with_counts_reconciled(inbox: Path, tmp_path: Path):
    bad = household_row(id_number="110105199001010011")
    write_night(inbox, "2026-01-02", [household_row(A), bad],
           [tax_row("P1", A), tax_row("P2", B, amount="x")])
    summary = _run(tmp_path / "w.duckdb", inbox)
    hh, tax = summary.sources["household"], summary.sources["tax_payment"]
    assert (hh.rows_read, hh.rows_accepted, hh.rows_rejected) == (2, 1, 1)
    assert (tax.rows_read, tax.rows_accepted, tax.rows_rejected) == (2, 1, 1)
    build = tmp_path / "w.duckdb"
    assert _rows(build, "SELECT sum(rows_read) = sum(rows_accepted + rows_rejected) "
                        "FROM main.ingest_log") == [(True,)]
    assert _rows(build, 'SELECT file, line, "column", "check" FROM main.rejects ORDER BY file') == [
        ("2026-01-02/household.csv", 3, "id_number", "id_check_char"),
        ("2026-01-02/tax_payment.csv", 3, "amount", "number"),
    ]
    assert _rows(build, "SELECT count(*) FROM staging.household") == [(1,)]
    assert "household" in summary.table() and "tax_payment" in summary.table()
    counts = summary.counts()
    assert counts["rows_read"] == 4 and counts["household_rows_rejected"] == 1


def test_rerunning_the_same_night_leaves_every_table_identical(inbox: Path, tmp_path: Path):
    write_night(inbox, "2026-01-02", [household_row(A), household_row(id_number="1")],
           [tax_row("P1", A)])
    (inbox / "2026-01-02" / "notes.txt").write_text("not a delivery")
    build = tmp_path / "w.duckdb"
    _run(build, inbox)
    before = _snapshot(build)
    summary = _run(build, inbox)
    assert _snapshot(build) == before
    assert summary.files_ingested == 0 and summary.files_skipped == 3


def test_file_delivered_twice_changes_nothing(inbox: Path, tmp_path: Path):
    write_night(inbox, "2026-01-02", payments=[tax_row("P1", A)])
    build = tmp_path / "w.duckdb"
    _run(build, inbox)
    before = _snapshot(build)
    (inbox / "2026-01-03").mkdir()
    shutil.copy(inbox / "2026-01-02" / "tax_payment.csv", inbox / "2026-01-03" / "tax_payment.csv")
    _run(build, inbox)
    after = _snapshot(build)
    assert {t: r for t, r in after.items() if t != "main.ingest_log"} == \
        {t: r for t, r in before.items() if t != "main.ingest_log"}
    assert _rows(build, "SELECT file, status FROM main.ingest_log WHERE batch_id='2026-01-03'") \
        == [("2026-01-03/tax_payment.csv", "skipped_duplicate")]


def test_nights_of_one_run_give_what_a_run_per_night_gives(inbox: Path, tmp_path: Path):
    # the nights of a run are checked ahead in one worker: a later night's file with bytes
    # an earlier night of the same run ingested is skipped, bytes it only rejected are not
    write_night(inbox, "2026-01-02", payments=[tax_row("P1", A)])
    write_csv(inbox / "2026-01-02" / "households.csv", HOUSEHOLD_HEADER, [household_row(A)])
    (inbox / "2026-01-03").mkdir()
    shutil.copy(inbox / "2026-01-02" / "tax_payment.csv", inbox / "2026-01-03" / "tax_payment.csv")
    shutil.copy(inbox / "2026-01-02" / "households.csv", inbox / "2026-01-03" / "household.csv")
    write_night(inbox, "2026-01-04", payments=[tax_row("P1", A, amount="400.00")])
    one_run = tmp_path / "one.duckdb"
    _run(one_run, inbox)
    per_night = tmp_path / "per-night.duckdb"
    staged = tmp_path / "staged-inbox"
    (staged / "reference").mkdir(parents=True)
    shutil.copytree(inbox / "reference", staged / "reference", dirs_exist_ok=True)
    for night in ("2026-01-02", "2026-01-03", "2026-01-04"):
        shutil.copytree(inbox / night, staged / night)
        _run(per_night, staged)
    log = "SELECT file, status, rows_read, rows_accepted FROM main.ingest_log ORDER BY file"
    assert _rows(one_run, log) == _rows(per_night, log)
    assert [r[:2] for r in _rows(one_run, log)] == [
        ("2026-01-02/households.csv", "rejected"), ("2026-01-02/tax_payment.csv", "ingested"),
        ("2026-01-03/household.csv", "ingested"),
        ("2026-01-03/tax_payment.csv", "skipped_duplicate"),
        ("2026-01-04/tax_payment.csv", "ingested"), ("reference/divisions.csv", "ingested")]
    for table in TABLES[:-2]:
        if table != "main.ingest_log":
            assert _snapshot(one_run)[table] == _snapshot(per_night)[table], table


def test_a_later_night_is_checked_while_an_earlier_night_merges(inbox, tmp_path, monkeypatch):
    write_night(inbox, "2026-01-02", payments=[tax_row("P1", A)])
    write_night(inbox, "2026-01-03", payments=[tax_row("P2", B)])
    order: list[str] = []
    real_stage, real_finish = tasks.stage_extract, tasks._finish_night

    def stage(raw, *args, **kwargs):
        order.append(f"check {kwargs['delivery_date']}")
        return real_stage(raw, *args, **kwargs)

    def finish(night):
        real_finish(night)
        order.append(f"committed {night.batch_id}")

    monkeypatch.setattr(tasks, "stage_extract", stage)
    monkeypatch.setattr(tasks, "_finish_night", finish)
    slow_first_merge = tasks._merge_source

    def merge(con, incoming, *args, **kwargs):
        if incoming.night.isoformat() == "2026-01-02":
            deadline = time.monotonic() + 5
            while "check 2026-01-03" not in order and time.monotonic() < deadline:
                time.sleep(0.01)  # the worker has night 2 to check meanwhile
        return slow_first_merge(con, incoming, *args, **kwargs)

    monkeypatch.setattr(tasks, "_merge_source", merge)
    _run(tmp_path / "w.duckdb", inbox)
    assert order == ["check 2026-01-02", "check 2026-01-03", "committed 2026-01-02",
                     "committed 2026-01-03"]
    assert _rows(tmp_path / "w.duckdb", "SELECT payment_id, delivery_date::VARCHAR FROM "
                 "staging.tax_payment ORDER BY 1") == [("P1", "2026-01-02"), ("P2", "2026-01-03")]


def test_event_latest_delivery_wins_even_when_nights_arrive_out_of_order(inbox, tmp_path):
    build = tmp_path / "w.duckdb"
    write_night(inbox, "2026-01-03", payments=[tax_row("P1", A, amount="400")])
    _run(build, inbox)
    write_night(inbox, "2026-01-02", payments=[tax_row("P1", A, amount="380"), tax_row("P2", A)])
    _run(build, inbox)  # the older night arrives late: P1 of 01-03 stands, P2 is new
    assert _rows(build, "SELECT payment_id, amount, delivery_date::VARCHAR FROM "
                        "staging.tax_payment ORDER BY 1") == [
        ("P1", 400.0, "2026-01-03"), ("P2", 380.0, "2026-01-02")]
    write_night(inbox, "2026-01-04", payments=[tax_row("P1", A, amount="420")])
    _run(build, inbox)
    assert _rows(build, "SELECT amount FROM staging.tax_payment WHERE payment_id='P1'") == [(420.0,)]


def test_snapshot_replaces_previous_and_late_older_snapshot_is_ignored(inbox, tmp_path):
    build = tmp_path / "w.duckdb"
    write_night(inbox, "2026-01-02", [household_row(A), household_row(B)])
    _run(build, inbox)
    write_night(inbox, "2026-01-04", [household_row(A, status="迁出")])
    _run(build, inbox)
    assert _rows(build, "SELECT id_number, status FROM staging.household") == [(A, "moved_out")]
    write_night(inbox, "2026-01-03", [household_row(A), household_row(C, birth="1985-05-05")])
    _run(build, inbox)
    assert _rows(build, "SELECT id_number, status FROM staging.household") == [(A, "moved_out")]


def test_snapshot_parts_of_one_night_together_and_a_broken_part_wipes_nothing(inbox, tmp_path):
    build = tmp_path / "w.duckdb"
    write_night(inbox, "2026-01-02", [household_row(A)], part="-01")
    write_night(inbox, "2026-01-02", [household_row(B)], part="-02")
    _run(build, inbox)
    assert len(_rows(build, "SELECT * FROM staging.household")) == 2
    write_night(inbox, "2026-01-03", [household_row(A, status="注销")], part="-01")
    write_csv(inbox / "2026-01-03" / "household-02.csv", ["id_number", "name"], [[B, "x"]])
    _run(build, inbox)
    assert _rows(build, "SELECT id_number, status FROM staging.household ORDER BY 1") == sorted(
        [(A, "cancelled"), (B, "normal")])


def test_duplicate_key_across_parts_of_one_night_rejects_the_later_occurrence(inbox, tmp_path):
    build = tmp_path / "w.duckdb"
    write_night(inbox, "2026-01-02", payments=[tax_row("P1", A), tax_row("P2", A)], part="-01")
    write_night(inbox, "2026-01-02", payments=[tax_row("P1", B, amount="400")], part="-02")
    summary = _run(build, inbox)
    assert _rows(build, 'SELECT file, line, "column", "check" FROM main.rejects') == [
        ("2026-01-02/tax_payment-02.csv", 2, "payment_id", "duplicate_key")]
    assert _rows(build, "SELECT payment_id, amount FROM staging.tax_payment ORDER BY 1") == [
        ("P1", 380.0), ("P2", 380.0)]
    assert summary.sources["tax_payment"].rows_rejected == 1


def test_batches_give_the_same_result_as_one_pass(inbox, tmp_path):
    rows = [household_row(make_id("110105", "19900101", f"{i:03d}"),
                          sex="1" if i % 2 else "2") for i in range(1, 40)]
    rows[7][0] = "110105199001010011"  # bad check character
    rows[30][3] = "1990-02-30"  # impossible date
    write_night(inbox, "2026-01-02", rows, [tax_row(f"P{i}", A) for i in range(25)])
    one, many = tmp_path / "one.duckdb", tmp_path / "many.duckdb"
    load_reference.fn(one, [inbox / "reference"])
    load_reference.fn(many, [inbox / "reference"])
    ingest_deliveries.fn(one, inbox, 1.0)
    ingest_deliveries.fn(many, inbox, 1.0, batch_rows=4)
    assert _snapshot(one) == _snapshot(many)
    assert len(_rows(one, "SELECT * FROM main.rejects")) == 2


@pytest.mark.slow
def test_night_larger_than_a_duckdb_row_group_is_staged_in_full(inbox, tmp_path):
    """Regression: a work table made by CTAS inside the night's transaction scanned as empty
    once an insert spanned more than one DuckDB row group (122,880 rows), issue 4."""
    import polars as pl

    n = 130_000
    frame = pl.DataFrame({"payment_id": [f"P{i}" for i in range(n)]}).with_columns(
        id_number=pl.lit(A), name=pl.lit("张三"), scheme=pl.lit("resident"),
        pooling_division=pl.lit("330100"), period=pl.lit("2026"), kind=pl.lit("normal"),
        amount=pl.lit("380.00"), paid_at=pl.lit("2025-12-01 10:00:00"),
    )
    (inbox / "2026-01-02").mkdir(parents=True)
    frame.write_csv(inbox / "2026-01-02" / "tax_payment.csv")
    build = tmp_path / "w.duckdb"
    summary = _run(build, inbox)
    assert summary.sources["tax_payment"].rows_accepted == n
    assert _rows(build, "SELECT count(DISTINCT payment_id) FROM staging.tax_payment") == [(n,)]


def test_refund_cancels_the_payment_it_names_also_on_a_laterwrite_night(inbox, tmp_path):
    build = tmp_path / "w.duckdb"
    write_night(inbox, "2026-01-02", payments=[tax_row("P1", A), tax_row("P2", B)])
    _run(build, inbox)
    write_night(inbox, "2026-01-03", payments=[tax_row("R1", A, kind="退费", refund_of="P1")])
    _run(build, inbox)
    assert _rows(build, "SELECT payment_id, refunded_by FROM staging.tax_payment ORDER BY 1") == [
        ("P1", "R1"), ("P2", None), ("R1", None)]


@pytest.mark.parametrize(
    ("name", "content", "check"),
    [
        ("household.csv", "id_number,name\n1,2\n", "file_missing_column"),
        ("household.csv", "", "file_empty"),
        ("household.csv", ",".join(HOUSEHOLD_HEADER) + "\n", "file_empty"),
        ("household.csv.gz", "not gzip", "file_unreadable"),
        ("household.csv", "\ufeff公民身份号码,姓名\n1,2\n".encode("utf-16-le"), "file_encoding"),
        ("payments.csv", "a\n1\n", "file_name"),
        ("household_2026.json", "{}", "file_name"),
    ],
)
def test_unreadable_file_rejected_whole_and_the_night_still_runs(inbox, tmp_path, name, content,
                                                                 check):
    write_night(inbox, "2026-01-02", payments=[tax_row("P1", A)])
    target = inbox / "2026-01-02" / name
    target.write_bytes(content if isinstance(content, bytes) else content.encode())
    build = tmp_path / "w.duckdb"
    summary = _run(build, inbox)
    assert _rows(build, 'SELECT file, line, "column", "check" FROM main.rejects') == [
        (f"2026-01-02/{name}", None, None, check)]
    assert _rows(build, f"SELECT status FROM main.ingest_log WHERE file='2026-01-02/{name}'") == \
        [("rejected",)]
    assert summary.sources["tax_payment"].rows_accepted == 1
    assert summary.files_rejected == 1
    assert _rows(build, "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_incoming%'"
                 ) == [(0,)]


def test_file_outside_a_delivery_folder_is_rejected(inbox, tmp_path):
    write_csv(inbox / "2026-13-01" / "household.csv", HOUSEHOLD_HEADER, [household_row(A)])
    build = tmp_path / "w.duckdb"
    _run(build, inbox)
    assert _rows(build, 'SELECT file, "check" FROM main.rejects') == [
        ("2026-13-01/household.csv", "file_name")]


def test_bytes_rejected_for_their_name_are_ingested_when_delivered_correctly(inbox, tmp_path):
    build = tmp_path / "w.duckdb"
    write_csv(inbox / "2026-01-02" / "households.csv", HOUSEHOLD_HEADER, [household_row(A)])
    _run(build, inbox)
    write_csv(inbox / "2026-01-03" / "household.csv", HOUSEHOLD_HEADER, [household_row(A)])
    _run(build, inbox)
    assert _rows(build, "SELECT file, status FROM main.ingest_log ORDER BY file") == [
        ("2026-01-02/households.csv", "rejected"), ("2026-01-03/household.csv", "ingested"),
        ("reference/divisions.csv", "ingested")]


def test_truth_and_reference_folders_are_not_deliveries(inbox, tmp_path):
    write_csv(inbox / "truth" / "rejects.csv", ["file"], [["x"]])
    summary = _run(tmp_path / "w.duckdb", inbox)
    assert summary.files_ingested == summary.files_rejected == summary.files_skipped == 0


def test_reject_rate_over_threshold_fails_after_writing_the_log(inbox, tmp_path):
    write_night(inbox, "2026-01-02", [household_row(A), household_row(id_number="110105199001010011")])
    build = tmp_path / "w.duckdb"
    with pytest.raises(RejectRateExceeded, match=r"'household'.*50\.0%.*20\.0%") as caught:
        _run(build, inbox, max_reject_rate=0.2)
    assert caught.value.source == "household" and caught.value.rate == 0.5
    assert "110105199001010011" not in str(caught.value)
    assert _rows(build, "SELECT rows_read, rows_rejected FROM main.ingest_log "
                        "WHERE source='household'") == [(2, 1)]


def test_load_reference_replaces_a_changed_file_only(inbox, tmp_path):
    build = tmp_path / "w.duckdb"
    defaults = tmp_path / "defaults"
    write_csv(defaults / "divisions.csv", ["division_code", "name", "level", "parent_code"],
              [["110000", "北京市", "province", ""]])
    write_csv(defaults / "base_caps.csv", ["pooling_division", "effective_from", "base_cap"],
              [["330100", "2026-01-01", "400000"]])
    counts = load_reference.fn(build, [defaults, inbox / "reference"])
    assert counts["divisions"] == 5 and counts["base_caps"] == 1  # the inbox's file wins
    before = _snapshot(build)
    load_reference.fn(build, [defaults, inbox / "reference"])
    assert _snapshot(build) == before
    write_csv(inbox / "reference" / "divisions.csv", ["division_code", "name", "level",
                                                      "parent_code"], [["330000", "浙江省",
                                                                        "province", ""]])
    assert load_reference.fn(build, [defaults, inbox / "reference"])["divisions"] == 1
    assert _rows(build, "SELECT base_cap, effective_from::VARCHAR FROM reference.base_caps") == [
        (400000.0, "2026-01-01")]


CLAIMS_HEADER = ["id_number", "year", "scheme", "fund_paid"]


def test_claims_are_one_row_per_person_year_and_the_latest_wins_whatever_its_scheme(
        inbox, tmp_path):
    # extracts.md: claims are "one row per person-year, latest wins"; scheme is not in the key
    build = tmp_path / "w.duckdb"
    write_csv(inbox / "2026-01-02" / "claims.csv", CLAIMS_HEADER,
              [[A, "2025", "职工医保", "10"], [A, "2024", "居民医保", "0"]])
    _run(build, inbox)
    write_csv(inbox / "2026-01-03" / "claims.csv", CLAIMS_HEADER,
              [[A, "2025", "居民医保", "0"], [A, "2025", "职工医保", "7"]])
    summary = _run(build, inbox)
    assert _rows(build, "SELECT year, scheme, fund_paid, delivery_date::VARCHAR "
                        "FROM staging.claims ORDER BY year") == [
        (2024, "resident", 0.0, "2026-01-02"), (2025, "resident", 0.0, "2026-01-03")]
    # the second row of the same person-year in one delivery is a duplicate key
    assert _rows(build, "SELECT line, \"column\", \"check\" FROM main.rejects "
                        "WHERE source = 'claims'") == [(3, "id_number,year", "duplicate_key")]
    claims = summary.sources["claims"]
    assert (claims.rows_read, claims.rows_accepted, claims.rows_rejected) == (2, 1, 1)
