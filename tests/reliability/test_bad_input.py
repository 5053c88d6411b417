"""Bad input ends as a clear reject or a clean accept, never a crash or a silent change (issue 10).

Ingest only (``.fn()``, no Prefect server): each case's night also carries a good household
file, which must be ingested whatever the bad file does.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.flows.tasks_ingest import ingest_deliveries, load_reference

from .corpus import CASES, GOOD_HOUSEHOLD, LONG, NIGHT, Case, build_inbox


def _ingest(tmp_path: Path, case: Case) -> duckdb.DuckDBPyConnection:
    inbox = build_inbox(tmp_path, case)
    build = tmp_path / "w.duckdb"
    load_reference.fn(build, [inbox / "reference"])
    ingest_deliveries.fn(build, inbox, 1.0)
    return duckdb.connect(str(build), read_only=True)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_has_its_exact_outcome(tmp_path: Path, case: Case) -> None:
    with _ingest(tmp_path, case) as con:
        expected = case.expected
        log = con.execute(
            "SELECT status, rows_read, rows_accepted, rows_rejected FROM main.ingest_log "
            "WHERE file = ?", [expected.file]).fetchall()
        assert log == [(expected.status, expected.rows_read, expected.rows_accepted,
                        expected.rows_read - expected.rows_accepted)]
        checks = Counter(dict(con.execute(
            'SELECT "check", count(*) FROM main.rejects WHERE file = ? GROUP BY 1',
            [expected.file]).fetchall()))
        assert checks == expected.checks
        rejected_records = con.execute(
            "SELECT count(DISTINCT coalesce(line, -1)) FROM main.rejects WHERE file = ?",
            [expected.file]).fetchone()[0]
        if expected.status == "ingested":  # every record read is accepted or rejected
            assert expected.rows_read == expected.rows_accepted + rejected_records
        for table, rows in expected.staged.items():
            staged = con.execute(f"SELECT count(*) FROM staging.{table}").fetchone()[0]
            assert staged == rows, table
        # the rest of the night still runs: the good file is ingested whole
        good = con.execute("SELECT status, rows_accepted FROM main.ingest_log WHERE file = ?",
                           [f"{NIGHT}/household-01.csv"]).fetchall()
        assert good == [("ingested", len(GOOD_HOUSEHOLD))]


def test_extra_columns_are_reported_and_their_values_kept(tmp_path: Path) -> None:
    """extracts.md: "unknown extra columns are kept in the raw layer and reported"."""
    case = next(c for c in CASES if c.name == "extra column")
    with _ingest(tmp_path, case) as con:
        log = con.execute("SELECT extra_columns FROM main.ingest_log WHERE file = ?",
                          [case.expected.file]).fetchall()
        kept = con.execute('SELECT batch_id, source, file, line, "column", value '
                           "FROM staging.extra_values ORDER BY line").fetchall()
    assert log == [("remark",)]
    assert kept == [(NIGHT, "tax_payment", case.expected.file, 2, "remark", "x"),
                    (NIGHT, "tax_payment", case.expected.file, 3, "remark", "y")]


def test_a_long_field_is_kept_whole_10(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "very long fields")
    with _ingest(tmp_path, case) as con:
        address = con.execute("SELECT address FROM staging.household WHERE name = '王五'")
        assert address.fetchone()[0] == LONG


def test_the_first_of_two_payments_with_one_id_is_kept_10(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name.startswith("same payment twice"))
    with _ingest(tmp_path, case) as con:
        kept = con.execute("SELECT amount, line FROM staging.tax_payment WHERE payment_id = 'P1'")
        assert kept.fetchall() == [(380.0, 2)]
        rejected = con.execute("SELECT line, value FROM main.rejects WHERE \"check\" = "
                               "'duplicate_key'").fetchall()
        assert rejected == [(3, "P1")]


def test_every_reject_message_names_file_and_reason_10(tmp_path: Path) -> None:
    for case in CASES:
        root = tmp_path / case.name.replace(" ", "_").replace("/", "_")
        root.mkdir()
        with _ingest(root, case) as con:
            rows = con.execute("SELECT file, message FROM main.rejects").fetchall()
        for file, message in rows:
            assert message and (file.rsplit("/", 1)[-1] in message or "line" in message), message


def test_no_gb18030_sample_file_is_taken_for_mixed_encodings_10() -> None:
    """The mixed-encoding check never fires on real GBK text (every sample GB18030 file)."""
    import gzip

    from pipelines.io.readers import _MIXED_MIN_HANZI, _utf8_hanzi
    from pipelines.settings import SAMPLE_INBOX

    broken = set(pl.read_csv(SAMPLE_INBOX.parent / "truth" / "rejects.csv", infer_schema=False)
                 .filter(pl.col("line").is_null())["file"])  # copies to be rejected whole
    checked = 0
    for path in sorted(SAMPLE_INBOX.glob("20*/*.csv*")):
        if f"{path.parent.name}/{path.name}" in broken:
            continue
        data = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
        try:
            data.decode("utf-8")
            continue
        except UnicodeDecodeError:
            checked += 1
        assert max(_utf8_hanzi(line) for line in data.split(b"\n")) < _MIXED_MIN_HANZI, path
    assert checked >= 3
