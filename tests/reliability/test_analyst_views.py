"""The analyst views mask exactly as the exports do (``pipelines.stages.masking``) (issue 10)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from pipelines.io.analyst_views import create_analyst_views, mask_sql
from pipelines.stages.masking import mask_id, mask_name, mask_phone


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("person_id", "330106199001010018", mask_id("330106199001010018")),
    ("person_id", "B:Q0002415295", mask_id("B:Q0002415295")),
    ("mother_id_number", "33010619900101", mask_id("33010619900101")),
    ("name", "张三丰", mask_name("张三丰")),
    ("name", "张三", mask_name("张三")),
    ("name", "欧阳小明", mask_name("欧阳小明")),
    ("name", "张", "张"),
    ("phone", "13812341234", mask_phone("13812341234")),
    ("phone", "057188881234", mask_phone("057188881234")),
    ("address", "浙江省杭州市西湖区文三路1号", "浙江省杭州市西湖区"),
    ("address", "文三路1号", None),
    ("message", "line 2 (value: 330106199001010018)", "line 2 (value: 330106********0018)"),
    ("household_id", "H1", "H1"),
])
def test_mask_sql_matches_the_export_masking_10(column, value, expected) -> None:
    with duckdb.connect() as con:
        got = con.execute(f'SELECT {mask_sql(column)} FROM (SELECT ?::VARCHAR AS "{column}")',
                          [value]).fetchone()[0]
    assert got == expected


def test_every_relation_gets_a_view_and_birth_dates_keep_the_month_10() -> None:
    with duckdb.connect() as con:
        con.execute("CREATE TABLE main.person AS SELECT '330106199001010018' AS person_id, "
                    "'张三丰' AS name, DATE '1990-01-18' AS birth_date, 'H1' AS household_id")
        con.execute("CREATE TABLE main.run_log AS SELECT 'r1' AS run_id")
        masked = create_analyst_views(con)
        assert masked == {"person": ["person_id", "name", "birth_date"], "run_log": []}
        row = con.execute("SELECT * FROM analyst.person").fetchone()
        assert row == ("330106********0018", "张*丰", date(1990, 1, 1), "H1")
        assert con.execute("SELECT * FROM main.person").fetchone()[0] == "330106199001010018"
