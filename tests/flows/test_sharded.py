"""The policy stage mapped over 4 person shards on a local Dask cluster gives exactly the
single-process result (issue 9)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.settings import SAMPLE_INBOX, Settings
from pipelines.stages.person_shards import combine_shard_counts, shard_of_sql

AS_OF = date(2026, 11, 20)


RUN_TABLES = {"run_log", "run_metrics", "run_stage_log"}  # timings and run ids differ


def _night(root: Path, **options) -> Settings:
    from pipelines.flows.nightly import nightly

    settings = Settings(
        inbox=SAMPLE_INBOX,
        warehouse=root / "warehouse.duckdb",
        exports=root / "exports",
        as_of=AS_OF,
        **options,
    )
    nightly(settings)
    return settings


@pytest.fixture(scope="module")
def dask_address():
    """A small local Dask cluster, as an operator would start one (2 worker processes)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def two_nights(prefect_harness, dask_address, tmp_path_factory) -> tuple[Path, Path]:
    """The sample night in one process, and again with 4 shards on the Dask cluster (and the
    employee checks and worklist in person buckets of at most 5,000 rows)."""
    single = _night(tmp_path_factory.mktemp("single"))
    sharded = _night(
        tmp_path_factory.mktemp("sharded"), shards=4, dask_address=dask_address, batch_rows=5_000
    )
    return single.warehouse, sharded.warehouse


def _tables(warehouse: Path, schema: str = "main") -> dict[str, tuple[list[tuple], pl.DataFrame]]:
    """Every published table of ``schema`` (but the run log): its column types and its rows,
    sorted."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [schema]
            ).fetchall()
            if row[0] not in RUN_TABLES
        ]
        return {
            name: (
                con.sql(f"DESCRIBE {schema}.{name}").fetchall(),
                con.sql(f"SELECT * FROM {schema}.{name}").pl().sort(pl.all(), nulls_last=True),
            )
            for name in names
        }


def test_sharded_night_equals_single_process_night(two_nights) -> None:
    """Every mart, policy_status first, is identical with 4 shards on Dask (issue 9)."""
    single, sharded = (_tables(warehouse) for warehouse in two_nights)
    assert set(sharded) == set(single)
    assert single["policy_status"][1].height > 100
    assert single["contribution_finding"][1].height > 20  # the employee checks, sharded too
    assert single["retirement_readiness"][1].height > 5
    assert single["worklist"][1].height > 100
    assert {name: sharded[name][0] for name in single} == {n: t for n, (t, _) in single.items()}
    differ = [name for name, (_, rows) in single.items() if not sharded[name][1].equals(rows)]
    assert differ == []
    assert_frame_equal(sharded["policy_status"][1], single["policy_status"][1], check_exact=True)


def test_ingest_on_the_cluster_stages_exactly_what_the_process_stages(two_nights) -> None:
    """With --dask-address the deliveries are read and checked on the cluster: every staged
    table, rejects and the ingest log are those of the in-process ingest (issue 9)."""
    single, sharded = (_tables(warehouse, "staging") for warehouse in two_nights)
    assert set(sharded) == set(single)
    assert single["tax_payment"][1].height > 1_000
    assert {name: sharded[name][0] for name in single} == {n: t for n, (t, _) in single.items()}
    assert [name for name, (_, rows) in single.items() if not sharded[name][1].equals(rows)] == []
    units = []
    for warehouse in two_nights:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            units.append(con.execute(
                "SELECT (counts->>'units_on_cluster')::INTEGER FROM main.run_stage_log "
                "WHERE stage = 'ingest'").fetchone()[0])
    assert units[0] == 0 and units[1] > 10


def test_sharded_night_logs_its_shards(two_nights) -> None:
    _, sharded = two_nights
    with duckdb.connect(str(sharded), read_only=True) as con:
        stage_columns = [row[0] for row in con.sql("DESCRIBE main.run_stage_log").fetchall()]
    assert "stage" in stage_columns
    assert not sharded.with_name(sharded.name + ".building.shards").exists()


def test_local_cluster_without_address_gives_the_same_tables(two_nights, tmp_path) -> None:
    """No --dask-address: a temporary in-process Dask cluster runs 3 shards one by one."""
    import shutil

    from prefect import flow

    from pipelines.flows.sharded import (
        run_coverage,
        run_employee_checks,
        run_policy_status,
        run_worklist,
    )
    from pipelines.io.warehouse import building_path, connect

    single, _ = two_nights
    build = building_path(tmp_path / "warehouse.duckdb")
    shutil.copyfile(single, build)
    rebuilt = ("coverage_year", "policy_status", "contribution_finding", "retirement_readiness",
               "worklist", "region_parameters")
    with connect(build) as con:
        for name in rebuilt:
            con.execute(f"DROP TABLE main.{name} CASCADE")

    @flow
    def sharded_stages() -> tuple[dict, dict, dict, dict]:
        settings = Settings(shards=3)
        return (run_coverage(build, AS_OF, settings), run_policy_status(build, AS_OF, settings),
                run_employee_checks(build, AS_OF, settings), run_worklist(build, AS_OF, settings))

    coverage, policy, employee, worklist = sharded_stages()
    expected, actual = _tables(single), _tables(build)
    for name in rebuilt:
        assert actual[name][0] == expected[name][0]
        assert_frame_equal(actual[name][1], expected[name][1], check_exact=True)
    assert coverage["coverage_year"] == expected["coverage_year"][1].height
    assert policy["shards"] == 3 and policy["policy_status"] == expected["policy_status"][1].height
    assert employee["shards"] == 3
    assert employee["contribution_finding"] == expected["contribution_finding"][1].height
    assert employee["retirement_readiness"] == expected["retirement_readiness"][1].height
    assert worklist["shards"] == 3 and worklist["worklist_cases"] == expected["worklist"][1].height
    assert not build.with_name(build.name + ".shards").exists()


def test_every_person_lands_in_exactly_one_shard() -> None:
    ids = [f"33010619900101{i:04d}" for i in range(1000)] + [None]
    with duckdb.connect() as con:
        con.execute("CREATE TABLE p AS SELECT unnest($ids) AS person_id", {"ids": ids})
        shards = con.sql(f"SELECT {shard_of_sql('person_id', 4)} AS s FROM p").pl()["s"]
    assert shards.min() == 0 and shards.max() == 3
    assert shards.len() == len(ids)
    assert shards.value_counts()["count"].min() > 150  # roughly even


def test_shard_counts_add_up() -> None:
    assert combine_shard_counts([{"a": 1, "b": 2}, {"a": 3}]) == {"a": 4, "b": 2}


def test_shards_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        shard_of_sql("person_id", 0)


def test_an_encrypted_warehouse_is_never_sharded(monkeypatch, tmp_path) -> None:
    from pipelines.flows.sharded import ShardsWouldBeUnencrypted, refuse_unencrypted_shards
    from pipelines.io.warehouse import ENCRYPTION_KEY_ENV

    monkeypatch.delenv(ENCRYPTION_KEY_ENV, raising=False)
    refuse_unencrypted_shards(Settings(shards=4))  # shard files of a plain warehouse: fine
    monkeypatch.setenv(ENCRYPTION_KEY_ENV, "k" * 32)
    refuse_unencrypted_shards(Settings())  # in process: person buckets are encrypted
    for options in ({"shards": 4}, {"dask_address": "tcp://scheduler:8786"}):
        with pytest.raises(ShardsWouldBeUnencrypted, match="unencrypted"):
            refuse_unencrypted_shards(Settings(**options))
