"""The warehouse encrypted at rest: unreadable without the key (issue 10).

The key comes from ``ENROL_ENCRYPTION_KEY``; this box has no httpfs (OpenSSL) extension, so the
test writes with DuckDB's built-in mbedtls (``ENROL_ENCRYPTION_ALLOW_MBEDTLS=1``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.flows.tasks_ingest import ingest_deliveries, load_reference
from pipelines.io import warehouse as wh

from .corpus import CASES, GOOD_HOUSEHOLD, build_inbox

KEY = "correct horse battery staple"


@pytest.fixture
def encrypted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A published, encrypted warehouse holding one night's households and payments."""
    monkeypatch.setenv(wh.ENCRYPTION_KEY_ENV, KEY)
    monkeypatch.setenv(wh.UNSAFE_MBEDTLS_ENV, "1")
    inbox = build_inbox(tmp_path, next(c for c in CASES if c.name == "extra column"))
    published = tmp_path / "warehouse.duckdb"
    for _ in range(2):  # the second night copies and re-publishes the encrypted bytes
        build = wh.start_build(published)
        load_reference.fn(build, [inbox / "reference"])
        ingest_deliveries.fn(build, inbox, 1.0)
        wh.publish(published)
    return published


def test_the_file_is_unreadable_without_the_key_10(encrypted: Path, monkeypatch) -> None:
    data = encrypted.read_bytes()
    for id_number, name, *_rest in GOOD_HOUSEHOLD:
        assert id_number.encode() not in data
        assert name.encode("utf-8") not in data and name.encode("gb18030") not in data
    assert b"household" not in data  # not even the table names
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(encrypted), read_only=True).sql("SELECT * FROM main.ingest_log")
    monkeypatch.setenv(wh.ENCRYPTION_KEY_ENV, "wrong key")
    with pytest.raises(wh.WarehouseCorrupt, match="wrong key") as caught:
        wh.query_published(encrypted, "SELECT 1")
    assert "wrong key'" not in str(caught.value)  # the key itself is never echoed


def test_the_key_opens_it_and_the_copy_aside_publish_works_10(encrypted: Path) -> None:
    _, rows = wh.query_published(encrypted, "SELECT count(*) FROM staging.household")
    assert rows == [(len(GOOD_HOUSEHOLD),)]
    assert wh.previous_path(encrypted).exists()


def _skip_where_httpfs_loads(because: str) -> None:
    """These tests are about a server without DuckDB's httpfs (OpenSSL) extension."""
    try:
        duckdb.connect().execute("LOAD httpfs")
    except duckdb.Error:
        return
    pytest.skip(f"httpfs is installed here: {because}")


def test_writing_without_openssl_is_refused_unless_allowed_10(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(wh.ENCRYPTION_KEY_ENV, KEY)
    monkeypatch.delenv(wh.UNSAFE_MBEDTLS_ENV, raising=False)
    _skip_where_httpfs_loads("encrypted writes use OpenSSL")
    with pytest.raises(RuntimeError, match="INSTALL httpfs"):
        wh.start_build(tmp_path / "w.duckdb")


SPILLED_ID = "330106199001011234"  # a marker the spilled rows carry, searched for in the files


def _spill(con: duckdb.DuckDBPyConnection) -> None:
    """A temporary table three times DuckDB's memory limit: DuckDB must write it to disk."""
    con.execute("SET memory_limit = '32MB'")
    con.execute("SET threads = 1")
    con.execute(f"CREATE TEMP TABLE spilled AS SELECT '{SPILLED_ID}-' || i::VARCHAR AS id_number "
                "FROM range(3000000) r(i)")


def _spill_files(folder: Path) -> list[Path]:
    return [f for f in folder.glob("*.tmp") if f.stat().st_size] if folder.exists() else []


@pytest.mark.parametrize("read_only", [False, True])
def test_what_duckdb_spills_is_encrypted_and_kept_beside_the_warehouse_10(
    encrypted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_only: bool
) -> None:
    """DuckDB spills in plain text unless told otherwise, and an in-memory connection (how the
    encrypted file is attached) spills into the working directory."""
    monkeypatch.chdir(tmp_path)
    path = encrypted if read_only else tmp_path / "build.duckdb"
    with wh.connect(path, read_only=read_only) as con:
        _spill(con)
        files = _spill_files(wh.spill_path(path))
        assert files, "nothing was spilled: the test would prove nothing"
        for file in files:
            assert SPILLED_ID.encode() not in file.read_bytes(), file
        assert con.execute("SELECT count(*) FROM spilled").fetchone() == (3_000_000,)
    assert not (tmp_path / ".tmp").exists()


def test_a_read_only_spill_without_crypto_fails_rather_than_write_plain_text_10(
    encrypted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(wh.UNSAFE_MBEDTLS_ENV, raising=False)
    _skip_where_httpfs_loads("spills are encrypted with OpenSSL")
    with wh.connect(encrypted, read_only=True) as con, pytest.raises(duckdb.Error, match="httpfs"):
        _spill(con)
    for file in _spill_files(wh.spill_path(encrypted)):
        assert SPILLED_ID.encode() not in file.read_bytes(), file


@pytest.mark.parametrize("encrypt", [True, False])
def test_the_splink_scratch_spills_beside_the_warehouse_and_as_it_does_10(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encrypt: bool
) -> None:
    """Identity review runs Splink in an in-memory connection of its own: its spills hold
    names and ID numbers, so they follow the warehouse's (encrypted when it is)."""
    monkeypatch.chdir(tmp_path)
    if not encrypt:
        monkeypatch.delenv(wh.ENCRYPTION_KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(wh.ENCRYPTION_KEY_ENV, KEY)
        monkeypatch.setenv(wh.UNSAFE_MBEDTLS_ENV, "1")
    path = tmp_path / "build.duckdb"
    with wh.connect(path) as con, wh.scratch_beside(con) as scratch:
        _spill(scratch)
        files = _spill_files(wh.spill_path(path))
        assert files, "nothing was spilled: the test would prove nothing"
        plain = [f for f in files if SPILLED_ID.encode() in f.read_bytes()]
        assert (plain == []) if encrypt else plain  # plain text only where the warehouse is
    assert not (tmp_path / ".tmp").exists()
    assert not list(wh.spill_path(path).glob("scratch-*"))  # the throwaway key file is gone
