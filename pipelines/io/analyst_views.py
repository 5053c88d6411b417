"""The ``analyst`` schema: one masked view over every published relation (issue 10).

The contract (outputs.md) fixes ``main.person.person_id`` as the full ID number, so the marts
keep full values and ``main`` is the restricted layer (file permissions, optional encryption:
DuckDB has no GRANT). Analysts read ``analyst.<name>``, the same names and columns with personal
data masked as in every export (``pipelines.stages.masking``): ID numbers 330106********1234,
names 张*三, phones 138****1234, addresses cut to the county-level district, birth dates to the
month (with the division and last 4 characters, the day would give the number back). ``enrol
query`` resolves unqualified names in ``analyst`` first.

Masking is decided by column name, so a new mart with the usual column names is masked
without a change here; a test fails when a personal-looking column escapes the rules.
"""

from __future__ import annotations

import duckdb

from pipelines.io.warehouse import sql_literal

SCHEMA = "analyst"
ID_COLUMNS = frozenset({
    "person_id", "id_number", "id_number_raw", "candidate_person_id", "mother_id_number",
    "father_id_number", "child_id_number", "birth_cert_no",
})
NAME_COLUMNS = frozenset({"name", "child_name", "candidate_name"})
PHONE_COLUMNS = frozenset({"phone"})
ADDRESS_COLUMNS = frozenset({"address"})
BIRTH_DATE_COLUMNS = frozenset({"birth_date", "candidate_birth_date"})
FREE_TEXT_COLUMNS = frozenset({"value", "message", "detail", "reason"})
"""Text that may quote a number: every 18-character ID number in it is masked."""
FULL_ID_REGEX = r"(^|[^0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])($|[^0-9A-Za-z])"


def mask_sql(column: str) -> str:
    """The SQL expression that shows ``column`` to analysts (the column itself if not personal)."""
    c = f'"{column}"'
    if column in ID_COLUMNS:
        return (f"CASE WHEN length({c}) = 18 THEN left({c}, 6) || '********' || right({c}, 4) "
                f"WHEN starts_with({c}, 'B:') "
                f"THEN 'B:' || repeat('*', greatest(length({c}) - 6, 0)) || right({c}, 4) "
                f"ELSE repeat('*', greatest(length({c}) - 4, 0)) || right({c}, 4) END")
    if column in NAME_COLUMNS:
        return (f"CASE WHEN length({c}) < 2 THEN {c} WHEN length({c}) = 2 THEN left({c}, 1) || '*'"
                f" ELSE left({c}, 1) || repeat('*', length({c}) - 2) || right({c}, 1) END")
    if column in PHONE_COLUMNS:
        return (f"CASE WHEN length({c}) = 11 THEN left({c}, 3) || '****' || right({c}, 4) "
                f"ELSE repeat('*', greatest(length({c}) - 4, 0)) || right({c}, 4) END")
    if column in ADDRESS_COLUMNS:
        return f"nullif(regexp_extract({c}, '^.*?[区县旗]'), '')"
    if column in BIRTH_DATE_COLUMNS:
        return f"CAST(date_trunc('month', {c}) AS DATE)"
    if column in FREE_TEXT_COLUMNS:
        return f"regexp_replace({c}, '{FULL_ID_REGEX}', '\\1\\2********\\3\\4', 'g')"
    return c


def masked_columns(columns: list[str]) -> list[str]:
    """The columns of ``columns`` that the analyst view masks."""
    return [c for c in columns if mask_sql(c) != f'"{c}"']


def create_analyst_views(
    con: duckdb.DuckDBPyConnection, source: str = "main"
) -> dict[str, list[str]]:
    """``analyst.<name>`` over every table and view of ``source``; masked columns per view."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    relations = con.execute(
        "SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
        "WHERE schema_name = ? AND database_name = current_database() GROUP BY table_name "
        "ORDER BY table_name", [source]).fetchall()
    masked: dict[str, list[str]] = {}
    for name, columns in relations:
        select = ", ".join(f'{mask_sql(c)} AS "{c}"' for c in columns)
        con.execute(f'CREATE OR REPLACE VIEW {SCHEMA}."{name}" AS '
                    f'SELECT {select} FROM {source}."{name}"')
        masked[name] = masked_columns(columns)
        _comment(con, source, name)
    return masked


def _comment(con: duckdb.DuckDBPyConnection, source: str, name: str) -> None:
    """The view carries its table's comments, the table's and each column's; masked ones
    say so (outputs.md: every table and column carries a COMMENT in Chinese and English)."""
    comment = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE schema_name = ? AND table_name = ? "
        "AND database_name = current_database() UNION ALL "
        "SELECT comment FROM duckdb_views() WHERE schema_name = ? AND view_name = ? "
        "AND database_name = current_database()", [source, name, source, name]).fetchone()
    text = ((comment[0] if comment else None) or name) + " (脱敏 / masked for analysts)"
    con.execute(f'COMMENT ON VIEW {SCHEMA}."{name}" IS {sql_literal(text)}')
    columns = con.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = ? "
        "AND table_name = ? AND database_name = current_database()", [source, name]).fetchall()
    masked = set(masked_columns([column for column, _ in columns]))
    for column, text in columns:
        if text and column in masked:
            text += " (脱敏 / masked)"
        if text:
            con.execute(f'COMMENT ON COLUMN {SCHEMA}."{name}"."{column}" IS {sql_literal(text)}')
