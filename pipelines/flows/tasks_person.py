"""Prefect tasks of the person stage (issue 5): person, coverage_year, repeat_enrolment,
coverage_flag, identity_review and the analyst views.

Each task opens the build copy of the warehouse, runs its stage (SQL file or polars module),
writes ``main.<table>`` with CREATE OR REPLACE and returns row counts for the run log.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import task

from pipelines.io import linkage
from pipelines.io.warehouse import connect, run_sql_file
from pipelines.rules.loader import history_start_year, load_rules
from pipelines.stages.coverage_year import build_coverage_year
from pipelines.stages.identity_review import review_plan

# The coverage line runs in polars on integer person keys (sorting and grouping 10M payment
# rows by an 18-character string costs a third more); the keys map back in DuckDB.
PERSON_KEYS_SQL = """CREATE OR REPLACE TEMP TABLE person_key AS
    SELECT person_id, (row_number() OVER (ORDER BY person_id))::INTEGER AS person_key
    FROM main.person"""
PAYMENTS_SQL = """SELECT k.person_key AS person_id, l.scheme, l.period_year, l.period_month,
        l.kind, l.pooling_division, l.paid_at, l.payment_id
    FROM main.payment_live AS l JOIN person_key AS k USING (person_id)
    WHERE l.paid_at < $as_of::DATE + INTERVAL 1 DAY"""
PERSONS_SQL = """SELECT k.person_key AS person_id, p.birth_date, p.death_date,
        coalesce(p.residence_division, p.hukou_division, p.birth_division) AS home_division
    FROM main.person AS p JOIN person_key AS k USING (person_id)"""
COVERAGE_YEAR_SQL = """CREATE OR REPLACE TABLE main.coverage_year AS
    SELECT k.person_id, f.year, f.resident_pooling_division, f.employee_months,
           f.status::VARCHAR AS status, f.has_post_enrolment_lapse
    FROM coverage_year_frame AS f JOIN person_key AS k ON k.person_key = f.person_id"""


class PersonKeyNotUnique(ValueError):
    """Two rows of ``person`` share a person_id: a staged source broke its key."""


def _count(con, sql: str) -> int:
    return int(con.execute(sql).fetchone()[0])


def _check_person_unique(con) -> None:
    duplicates = con.execute(
        """SELECT person_id FROM main.person GROUP BY person_id HAVING count(*) > 1
           ORDER BY person_id LIMIT 5"""
    ).fetchall()
    if duplicates:
        raise PersonKeyNotUnique(
            f"person_id not unique in main.person (e.g. {[d[0] for d in duplicates]}): "
            "check that staging.household, residence_permit, student, death and birth "
            "hold one row per key (latest delivery wins)"
        )


@task
def build_person(build: Path, as_of: date) -> dict:
    """newborn_link (accumulated), person as of the run date, and the payment_live view."""
    with connect(build) as con:
        run_sql_file(con, "newborn_link", as_of=as_of)
        run_sql_file(con, "person", as_of=as_of)
        _check_person_unique(con)
        run_sql_file(con, "payment_live")
        return {
            "person": _count(con, "SELECT count(*) FROM main.person"),
            "newborn_unlinked": _count(
                con, "SELECT count(*) FROM main.person WHERE person_id LIKE 'B:%'"
            ),
            "newborn_link": _count(con, "SELECT count(*) FROM main.newborn_link"),
            "payment_live": _count(con, "SELECT count(*) FROM main.payment_live"),
        }


@task
def build_coverage(build: Path, as_of: date) -> dict:
    """coverage_year: person x year status from the policy engine's coverage line."""
    rules = load_rules()
    with connect(build) as con:
        con.execute(PERSON_KEYS_SQL)
        payments = con.sql(PAYMENTS_SQL, params={"as_of": as_of}).pl().lazy()
        persons = con.sql(PERSONS_SQL).pl().lazy()
        years = build_coverage_year(payments, persons, rules, as_of).collect()
        con.register("coverage_year_frame", years.to_arrow())
        con.execute(COVERAGE_YEAR_SQL)
        con.unregister("coverage_year_frame")
        counts = dict(
            con.execute("SELECT status, count(*) FROM main.coverage_year GROUP BY ALL").fetchall()
        )
    return {"coverage_year": years.height, **{f"years_{k}": v for k, v in counts.items()}}


@task
def detect_repeat_enrolment(build: Path, as_of: date) -> dict:
    """repeat_enrolment: resident_twice, employee_and_resident and after_death rows."""
    with connect(build) as con:
        run_sql_file(con, "repeat_enrolment", as_of=as_of)
        counts = dict(
            con.execute("SELECT kind, count(*) FROM main.repeat_enrolment GROUP BY ALL").fetchall()
        )
    return {"repeat_enrolment": sum(counts.values()), **counts}


@task
def flag_coverage(build: Path, as_of: date) -> dict:
    """coverage_flag for everyone in scope, and the analyst views over it."""
    start_year = history_start_year(load_rules())
    with connect(build) as con:
        run_sql_file(con, "coverage_flag", as_of=as_of, history_start_year=start_year)
        run_sql_file(con, "views_coverage")
        counts = dict(
            con.execute("SELECT flag, count(*) FROM main.coverage_flag GROUP BY ALL").fetchall()
        )
    return {"coverage_flag": sum(counts.values()), **counts}


@task
def review_identities(build: Path) -> dict:
    """identity_review: candidate persons for records whose ID number failed validation."""
    with connect(build) as con:
        return linkage.publish_identity_review(con, review_plan())
