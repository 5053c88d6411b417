"""On a generated inbox with defects, the rejects match the generator's truth exactly.

~1000 persons, 3 nights, every format, encoding and header form the generator writes. The
truth (``truth/rejects.csv``: file, line, column, check, defect) is the generator's record of
what it corrupted so that it must be rejected; ``truth/defects.csv`` also lists the defects
that must only be normalised.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.flows.tasks_ingest import ingest_deliveries, load_reference
from pipelines.synthetic import generate_inbox
from pipelines.synthetic.defects import FILE_CHECK_OF

KEY = ["file", "line", "column", "check"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("truth")
    inbox = root / "inbox"
    generate_inbox(inbox, persons=1000, seed=7)
    build = root / "w.duckdb"
    _ingest(build, inbox)
    return inbox, build


def _ingest(build: Path, inbox: Path):
    load_reference.fn(build, [inbox / "reference"])
    return ingest_deliveries.fn(build, inbox, 0.2)


def _sql(build: Path, sql: str) -> pl.DataFrame:
    con = duckdb.connect(str(build), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


def _truth(inbox: Path) -> pl.DataFrame:
    return pl.read_csv(inbox / "truth" / "rejects.csv", infer_schema=False).with_columns(
        pl.col("line").cast(pl.Int64)
    )


def test_rejects_match_the_truth_with_full_precision_and_recall(generated):
    inbox, build = generated
    ours = _sql(build, 'SELECT file, line, "column", "check" FROM main.rejects')
    truth = _truth(inbox)
    assert truth.height > 50  # the generator did inject defects
    # whole-file rejects have no line and column: null keys match
    false_positives = ours.join(truth, on=KEY, how="anti", nulls_equal=True)
    false_negatives = truth.join(ours, on=KEY, how="anti", nulls_equal=True)
    assert false_positives.height == 0, f"rejected but not in truth:\n{false_positives}"
    assert false_negatives.height == 0, f"in truth but not rejected:\n{false_negatives}"
    assert ours.height == truth.height  # no reject reported twice


def test_each_defect_kind_is_caught_with_the_right_reason(generated):
    inbox, build = generated
    ours = _sql(build, 'SELECT file, line, "column", "check" AS ours FROM main.rejects')
    truth = _truth(inbox).join(ours, on=["file", "line", "column"], how="left", nulls_equal=True)
    by_kind = truth.group_by("defect").agg(
        right=(pl.col("ours") == pl.col("check")).all(), n=pl.len()
    )
    assert by_kind.filter(~pl.col("right")).height == 0, by_kind
    assert set(by_kind["defect"]) >= {"bad_check_char", "impossible_id_date", "missing_required",
                                      "impossible_date", "id_birth_mismatch", *FILE_CHECK_OF}


def test_normalised_defects_are_accepted_not_rejected(generated):
    inbox, build = generated
    defects = pl.read_csv(inbox / "truth" / "defects.csv", infer_schema=False)
    normalised = defects.filter(
        pl.col("defect").is_in(["legacy_15_digit", "full_width_digits", "lower_case_x",
                                "surrounding_spaces"])
    ).with_columns(pl.col("line").cast(pl.Int64))
    assert normalised.height > 0
    rejected = _sql(build, "SELECT DISTINCT file, line FROM main.rejects")
    assert normalised.join(rejected, on=["file", "line"], how="semi").height == 0
    # file-level normalisations (encodings, BOM, Chinese headers and codes, formats) never
    # reject a file: the files rejected whole are exactly the generator's broken copies
    whole = _sql(build, "SELECT file FROM main.rejects WHERE line IS NULL")["file"]
    broken = defects.filter(pl.col("defect").is_in(list(FILE_CHECK_OF)))["file"]
    assert sorted(whole) == sorted(broken) and len(broken) == len(FILE_CHECK_OF)


def test_counts_reconcile(generated):
    inbox, build = generated
    log = _sql(build, "SELECT * FROM main.ingest_log WHERE batch_id <> 'reference'")
    assert (log["rows_read"] == log["rows_accepted"] + log["rows_rejected"]).all()
    rejected_records = _sql(
        build, "SELECT count(DISTINCT (file, line)) n FROM main.rejects WHERE line IS NOT NULL")
    ingested = log.filter(pl.col("status") == "ingested")
    assert ingested["rows_rejected"].sum() == rejected_records["n"][0]
    manifest = json.loads((inbox / "truth" / "manifest.json").read_text())
    duplicates = log.filter(pl.col("status") == "skipped_duplicate")
    assert duplicates.height == manifest["counts"]["defects"].get("duplicate_file", 0)
    rejected_files = log.filter(pl.col("status") == "rejected")
    assert rejected_files.height == sum(manifest["counts"]["defects"][d] for d in FILE_CHECK_OF)
    # a file rejected whole accepts nothing; what could be counted of it is all rejected
    assert (rejected_files["rows_accepted"] == 0).all()
    read = log.filter(pl.col("status") == "ingested").group_by("source").agg(pl.sum("rows_read"))
    expected = manifest["counts"]["rows_by_source"]
    assert dict(read.iter_rows()) == {s: n for s, n in expected.items() if n}


def test_rerunning_the_night_leaves_every_table_identical(generated, tmp_path):
    inbox, build = generated
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(build.read_bytes())
    tables = [f"{s}.{t}" for s, t in _sql(
        copy, "SELECT schema_name, table_name FROM duckdb_tables()").iter_rows()]
    before = {t: _sql(copy, f"SELECT * FROM {t}").sort(pl.all()) for t in tables}
    summary = _ingest(copy, inbox)
    assert summary.files_ingested == 0
    after = {t: _sql(copy, f"SELECT * FROM {t}").sort(pl.all()) for t in tables}
    for table in tables:
        assert before[table].equals(after[table]), table


def test_no_full_id_number_in_any_message(generated):
    _, build = generated
    rejects = _sql(build, "SELECT file, line, message FROM main.rejects")
    assert not rejects["message"].str.contains(r"\d{17}[\dXx]").any()
    records = rejects.filter(pl.col("line").is_not_null())["message"]
    assert all(re.search(r"line \d+, column \w+", m) for m in records)
    # a file rejected whole: the message starts with the file's name (and the rule's reason)
    files = rejects.filter(pl.col("line").is_null())
    assert files.height and all(m.startswith(f + ": ") for f, m in
                                files.select("file", "message").iter_rows())
