"""On a generated inbox, flags, repeat enrolments and newborn links equal the generator's truth
exactly (issue 5). Generates ~1000 persons, ingests them, builds the person stage as of the
last delivery date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

END = date(2026, 11, 20)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    from pipelines.flows import tasks_person as tasks
    from pipelines.flows.tasks_ingest import ingest_deliveries, load_reference
    from pipelines.synthetic.generator import generate_inbox

    root = tmp_path_factory.mktemp("truth")
    inbox, build = root / "inbox", root / "w.duckdb"
    generate_inbox(inbox, 1000, seed=7, start_year=2023, days=3, end_date=END)
    load_reference.fn(build, [inbox / "reference"])
    ingest_deliveries.fn(build, inbox, 1.0)
    tasks.build_person.fn(build, END)
    tasks.build_coverage.fn(build, END)
    tasks.detect_repeat_enrolment.fn(build, END)
    tasks.flag_coverage.fn(build, END)
    return build, inbox / "truth"


def _mine(build: Path, sql: str) -> set[tuple]:
    with duckdb.connect(str(build), read_only=True) as con:
        return set(con.execute(sql).fetchall())


def _truth(path: Path, columns: list[str]) -> set[tuple]:
    frame = pl.read_csv(path, infer_schema=False)
    return set(frame.select(columns).rows())


def test_flags_equal_truth(built) -> None:
    build, truth = built
    frame = pl.read_csv(truth / "persons.csv", infer_schema=False)
    expected = set(frame.filter(pl.col("in_scope") == "true").select("person_id", "flag").rows())
    found = _mine(build, "SELECT person_id, flag FROM main.coverage_flag")
    assert len(expected) > 900
    assert found - expected == set() and expected - found == set()


def test_repeat_enrolments_equal_truth(built) -> None:
    build, truth = built
    expected = _truth(truth / "repeat_enrolment.csv",
                      ["person_id", "period", "kind", "keep_payment_id", "refund_payment_ids"])
    found = _mine(build, """SELECT person_id, period, kind, keep_payment_id,
                                   refund_payment_ids
                            FROM main.repeat_enrolment""")
    assert found - expected == set() and expected - found == set()


def test_newborn_links_equal_truth(built) -> None:
    build, truth = built
    expected = {row for row in _truth(truth / "newborn_links.csv", ["birth_cert_no", "person_id"])
                if not row[1].startswith("B:")}
    found = _mine(build, "SELECT birth_cert_no, person_id FROM main.newborn_link")
    assert expected and found == expected
    unlinked = {(row[1],) for row in _truth(truth / "newborn_links.csv",
                                            ["birth_cert_no", "person_id"])
                if row[1].startswith("B:")}
    assert unlinked == _mine(build, "SELECT person_id FROM main.person WHERE person_id LIKE 'B:%'")
