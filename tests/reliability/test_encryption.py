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


def test_writing_without_openssl_is_refused_unless_allowed_10(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(wh.ENCRYPTION_KEY_ENV, KEY)
    monkeypatch.delenv(wh.UNSAFE_MBEDTLS_ENV, raising=False)
    try:
        duckdb.connect().execute("LOAD httpfs")
        pytest.skip("httpfs is installed here: encrypted writes use OpenSSL")
    except duckdb.Error:
        pass
    with pytest.raises(RuntimeError, match="INSTALL httpfs"):
        wh.start_build(tmp_path / "w.duckdb")
