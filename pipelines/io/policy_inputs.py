"""Reads the policy engine's inputs from the build warehouse and writes its output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.io.warehouse import connect

_QUERIES = {
    "payments": """
        SELECT person_id, scheme, period_year::INTEGER AS period_year,
               period_month::INTEGER AS period_month, kind, pooling_division, paid_at, payment_id
        FROM main.payment_live""",
    "persons": """
        SELECT person_id, birth_date, death_date,
               coalesce(residence_division, hukou_division) AS home_division
        FROM main.person""",
    "claims": """
        SELECT id_number AS person_id, year::INTEGER AS year, fund_paid,
               coalesce(incentive_used, false) AS incentive_used
        FROM staging.claims WHERE scheme = 'resident'""",
    "base_caps": "SELECT pooling_division, effective_from, base_cap FROM reference.base_caps",
    "status_changes": "SELECT id_number, kind, event_date FROM staging.status_change",
    "assistance": "SELECT id_number, recognized_date, ended_date FROM staging.assistance",
    "permits": "SELECT id_number, issued_date FROM staging.residence_permit",
}


@dataclass(frozen=True)
class PolicyInputs:
    """The engine's input frames (lazy), one attribute per query above."""

    payments: pl.LazyFrame
    persons: pl.LazyFrame
    claims: pl.LazyFrame
    base_caps: pl.LazyFrame
    status_changes: pl.LazyFrame
    assistance: pl.LazyFrame
    permits: pl.LazyFrame


# Section 3 reads the pooling division and payment_id of resident payments only (the
# enrolment pick); the other payments come without those two text columns, 8M rows fewer of
# each across the Arrow boundary (the frames are stacked with nulls in their place).
_RESIDENT_PAYMENTS = "SELECT * FROM ({payments}) WHERE scheme = 'resident'"
_OTHER_PAYMENTS = """SELECT * EXCLUDE (pooling_division, payment_id) FROM ({payments})
    WHERE scheme IS DISTINCT FROM 'resident'"""


def read_policy_inputs(build: Path) -> PolicyInputs:
    """The inputs as polars frames (``payment_live`` already holds only payments known on the as-of date)."""
    with connect(build) as con:
        frames = {name: con.sql(sql).pl().lazy() for name, sql in _QUERIES.items()
                  if name != "payments"}
        frames["payments"] = pl.concat(
            [con.sql(sql.format(payments=_QUERIES["payments"])).pl().lazy()
             for sql in (_RESIDENT_PAYMENTS, _OTHER_PAYMENTS)],
            how="diagonal",
        )
    return PolicyInputs(**frames)


def write_policy_status(build: Path, status: pl.DataFrame) -> None:
    """Replace ``main.policy_status`` with the engine's result (rows sorted by person_id)."""
    with connect(build) as con:
        con.register("policy_status_frame", status.to_arrow())
        # no ORDER BY: the engine already sorts its rows by person_id and DuckDB keeps the
        # insertion order, so a second sort here would only cost time
        con.execute(
            "CREATE OR REPLACE TABLE main.policy_status AS SELECT * FROM policy_status_frame"
        )
        con.unregister("policy_status_frame")
