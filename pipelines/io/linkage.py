"""Runs the identity review planned by ``pipelines.stages.identity_review`` on the build
warehouse (the flow passes the plan in: io never imports stages).

Splink works in its own in-memory DuckDB connection, fed through Arrow, so that its many
intermediate ``__splink__`` tables never land in the warehouse file; what that connection
spills goes where the warehouse's spills go, encrypted when they are.
"""

from __future__ import annotations

import logging
from typing import Any

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker

from pipelines.io.warehouse import scratch_beside


def score_with_splink(
    left: pa.Table, right: pa.Table, settings: Any, min_match_probability: float,
    scratch: duckdb.DuckDBPyConnection,
) -> pa.Table:
    """Link left records to right records (both with unique_id) in ``scratch``, an empty
    in-memory connection; return scored pairs (record_id, candidate_person_id, method,
    match_probability, match_weight)."""
    scratch.register("left_frame", left)
    scratch.register("right_frame", right)
    scratch.execute("CREATE TABLE review_left AS SELECT * FROM left_frame")
    scratch.execute("CREATE TABLE review_right AS SELECT * FROM right_frame")
    db_api = DuckDBAPI(connection=scratch)
    linker = Linker(
        [
            db_api.register("review_left", table_name="rejected"),
            db_api.register("review_right", table_name="persons"),
        ],
        settings,
        log_level=logging.WARNING,
    )
    scored = linker.inference.predict(
        threshold_match_probability=min_match_probability, warning_mode="never"
    )
    return scratch.sql(
        # Splink orders the two sides by dataset name: pick each side by its name
        f"""SELECT CASE WHEN source_dataset_l = 'rejected' THEN unique_id_l
                        ELSE unique_id_r END::BIGINT AS record_id,
                   CASE WHEN source_dataset_l = 'rejected' THEN unique_id_r
                        ELSE unique_id_l END AS candidate_person_id,
                   'splink' AS method, match_probability, match_weight
            FROM {scored.physical_name}"""
    ).to_arrow_table()


def publish_identity_review(con: duckdb.DuckDBPyConnection, plan: Any) -> dict:
    """Write main.identity_review from staging.rejected_identity and main.person."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE review_records AS {plan.records_sql}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE deterministic AS {plan.deterministic_sql}")
    left = con.sql(plan.splink_left_sql).to_arrow_table()
    if left.num_rows:
        right = con.sql(plan.splink_right_sql).to_arrow_table()
        with scratch_beside(con) as scratch:  # spills where, and as, the warehouse's do
            scored = score_with_splink(left, right, plan.splink_settings,
                                       plan.min_match_probability, scratch)
    else:
        scored = con.sql("SELECT * FROM deterministic LIMIT 0").to_arrow_table()
    con.register("probabilistic", scored)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE candidates AS
           SELECT * FROM deterministic UNION ALL BY NAME SELECT * FROM probabilistic"""
    )
    con.unregister("probabilistic")
    con.execute(
        f"CREATE OR REPLACE TABLE main.identity_review AS {plan.queue_sql}",
        {"max_candidates": plan.max_candidates},
    )
    counts = dict(
        con.execute("SELECT method, count(*) FROM main.identity_review GROUP BY ALL").fetchall()
    )
    by_method = {f"review_{method}": count for method, count in counts.items()}
    return {"identity_review": sum(counts.values()), **by_method}
