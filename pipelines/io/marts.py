"""Read and write published marts (DuckDB schema ``main``) as polars frames."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import duckdb
import polars as pl

from pipelines.io.warehouse import sql_literal
from schemas.marts import TABLES


def empty_frame(table: str) -> pl.DataFrame:
    """An empty frame with the columns and types of ``schemas.marts.TABLES[table]``."""
    columns = TABLES[table].to_schema().columns
    return pl.DataFrame(schema={name: spec.dtype.type for name, spec in columns.items()})


def table_exists(con: duckdb.DuckDBPyConnection, name: str, schema: str = "main") -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = $s AND table_name = $t "
            "AND database_name = current_database()",
            {"s": schema, "t": name},
        ).fetchall()[0][0]
    )


def read_mart(
    con: duckdb.DuckDBPyConnection, name: str, columns: Iterable[str] | None = None
) -> pl.DataFrame:
    """``main.<name>`` as a frame; an empty frame of the mart's schema if not built (yet).

    ``columns`` keeps those of them the mart has (all columns when None): converting a column
    to polars costs as much whether or not the caller uses it.
    """
    if not table_exists(con, name):
        frame = empty_frame(name)
        return frame if columns is None else frame.select(c for c in columns if c in frame.columns)
    return con.sql(mart_sql(con, name, columns)).pl()


def mart_sql(
    con: duckdb.DuckDBPyConnection, name: str, columns: Iterable[str] | None = None
) -> str:
    """The query ``read_mart`` runs on a built mart: ``columns`` of ``main.<name>`` it has."""
    if columns is None:
        return f"SELECT * FROM main.{name}"
    present = set(con.sql(f"SELECT * FROM main.{name} LIMIT 0").columns)
    select = ", ".join(f'"{c}"' for c in columns if c in present)
    return f"SELECT {select} FROM main.{name}"


def read_resident_paid(con: duckdb.DuckDBPyConnection, years: list[int]) -> pl.DataFrame:
    """(person_id, year) of every live, non-repair resident payment for ``years``."""
    if not table_exists(con, "tax_payment", "staging"):
        return pl.DataFrame(schema={"person_id": pl.Utf8, "year": pl.Int32})
    return con.sql(resident_paid_sql(years)).pl()


def resident_paid_sql(years: list[int]) -> str:
    """The query ``read_resident_paid`` runs (years inlined: ``COPY`` takes no parameters)."""
    return f"""
        SELECT DISTINCT id_number AS person_id, period_year::INTEGER AS year
        FROM staging.tax_payment
        WHERE scheme = 'resident' AND kind = 'normal' AND refunded_by IS NULL
          AND list_contains([{", ".join(str(int(y)) for y in years)}]::INTEGER[], period_year)
    """


class PersonBuckets:
    """Per-person inputs split once into person buckets, then read one bucket at a time (issue 9).

    Reading bucket ``b`` as ``<input> WHERE <bucket of key> = b`` scans and decompresses the
    whole input for every bucket: O(buckets x rows), 28 scans of 116M payments at 10M persons.
    From ``SPLIT_FROM_BUCKETS`` buckets, ``split`` instead writes the input once, partitioned by
    bucket (``COPY ... PARTITION_BY``, memory bounded by the flush threshold, not the input), as
    parquet in a scratch folder beside the warehouse file, and ``read`` reads only that
    bucket's files. With fewer buckets ``read`` filters the query (none with one bucket).
    Open with :func:`person_buckets`.
    """

    SPLIT_FROM_BUCKETS = 12
    """Below this the per-bucket scans cost less than the split's write and read-back. Both grow
    with the rows, so the break-even is a bucket count: in CPU at 1M persons, 17 buckets for
    contribution findings, 12 for retirement readiness, 8 for the worklist's marts."""

    FLUSH_ROWS = 16_384
    """Rows a partition buffers per thread before writing (DuckDB's default, 524,288, kept
    28 buckets x 524,288 rows x threads in memory: most of the input at 1M persons)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        buckets: int,
        bucket_of: Callable[[str, int], str],
        folder: Path | None = None,
        key: str | None = None,
    ) -> None:
        self._con, self._buckets, self._bucket_of = con, buckets, bucket_of
        # the parquet key's name when the warehouse is encrypted: its files are, too
        self._folder, self._key = folder, key
        self._queries: dict[str, str | pl.DataFrame] = {}
        self._keys: dict[str, str] = {}

    def split(self, name: str, source: str | pl.DataFrame, key: str) -> None:
        """Split the rows of ``source`` (a query, or a frame every bucket gets whole: an empty
        input) by the person bucket of its column ``key``."""
        self._queries[name], self._keys[name] = source, key
        if self._folder is None or isinstance(source, pl.DataFrame):
            return
        bucket = self._bucket_of(key, self._buckets)
        encryption = f", ENCRYPTION_CONFIG {{footer_key: '{self._key}'}}" if self._key else ""
        self._con.execute(f"SET partitioned_write_flush_threshold = {self.FLUSH_ROWS}")
        try:
            self._con.execute(
                f"COPY (SELECT *, {bucket} AS person_bucket FROM ({source})) "
                f"TO {sql_literal(self._folder / name)} "
                f"(FORMAT parquet, PARTITION_BY (person_bucket){encryption})"
            )
        finally:
            self._con.execute("RESET partitioned_write_flush_threshold")

    def split_mart(self, name: str, columns: Iterable[str]) -> None:
        """Split ``columns`` of ``main.<name>`` by ``person_id``, as ``read_mart`` reads them."""
        con, columns = self._con, list(columns)
        built = table_exists(con, name)
        source = mart_sql(con, name, columns) if built else read_mart(con, name, columns)
        self.split(name, source, "person_id")

    def split_resident_paid(self, years: list[int]) -> None:
        """Split ``read_resident_paid``'s rows by ``person_id`` (input name ``resident_paid``)."""
        built = table_exists(self._con, "tax_payment", "staging")
        source = resident_paid_sql(years) if built else read_resident_paid(self._con, years)
        self.split("resident_paid", source, "person_id")

    def read(self, name: str, bucket: int) -> pl.DataFrame:
        """The rows of input ``name`` in ``bucket`` (all of them when there is one bucket)."""
        source = self._queries[name]
        if isinstance(source, pl.DataFrame):
            return source
        if self._buckets == 1:
            return self._con.sql(source).pl()
        if self._folder is None:
            bucket_of = self._bucket_of(self._keys[name], self._buckets)
            return self._con.sql(f"SELECT * FROM ({source}) WHERE {bucket_of} = {bucket}").pl()
        files = self._folder / name / f"person_bucket={bucket}"
        if not files.exists():  # no person of the input hashed to this bucket
            return self._con.sql(f"SELECT * FROM ({source}) LIMIT 0").pl()
        encryption = f", encryption_config = {{footer_key: '{self._key}'}}" if self._key else ""
        return self._con.sql(
            f"SELECT * FROM read_parquet({sql_literal(files / '*.parquet')}, "
            f"hive_partitioning = false{encryption})"
        ).pl()


@contextlib.contextmanager
def person_buckets(
    con: duckdb.DuckDBPyConnection, buckets: int, bucket_of: Callable[[str, int], str]
) -> Iterator[PersonBuckets]:
    """A :class:`PersonBuckets` whose scratch folder (if split) is removed on exit, failed or not.

    ``bucket_of(column, buckets)`` is the bucket expression (a stage helper). The files of an
    encrypted warehouse are encrypted too, with a key that lives only in this connection.
    """
    if buckets < PersonBuckets.SPLIT_FROM_BUCKETS:
        yield PersonBuckets(con, buckets, bucket_of)
        return
    path, encrypted = con.execute(
        "SELECT path, encrypted FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()[0]
    key = "person_buckets" if encrypted else None
    if key:
        con.execute(f"PRAGMA add_parquet_key('{key}', '{secrets.token_hex(16)}')")
    folder = Path(
        tempfile.mkdtemp(
            prefix=f"{Path(path).name}.buckets-" if path else "buckets-",
            dir=Path(path).parent if path else None,
        )
    )
    try:
        yield PersonBuckets(con, buckets, bucket_of, folder, key)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_mart(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> int:
    """Replace ``main.<name>`` with ``frame``; returns the row count."""
    con.register("_frame", frame.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TABLE main.{name} AS SELECT * FROM _frame")
    finally:
        con.unregister("_frame")
    return frame.height


def read_grid_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """grid_code → "township community" from ``reference.grids`` (empty if not loaded)."""
    if not table_exists(con, "grids", "reference"):
        return {}
    rows = con.execute(
        "SELECT grid_code, concat_ws(' ', township, community) FROM reference.grids"
    ).fetchall()
    return {code: name for code, name in rows if code}
