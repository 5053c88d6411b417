"""The source schemas (schemas/): one raw and one staged model per source, consistent."""

from __future__ import annotations

from datetime import date, datetime

import pandera.errors
import pandera.polars as pa
import polars as pl
import pytest

from schemas import SOURCES
from schemas._common import (
    LINEAGE_COLUMNS,
    empty_frame,
    header_map,
    raw_columns,
    required_columns,
    staged_columns,
)
from schemas.household import HouseholdStaged
from schemas.tax_payment import TaxPaymentStaged


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_required_raw_columns_are_the_non_nullable_staged_ones(source):
    spec = SOURCES[source]
    staged = staged_columns(spec.staged)
    required_staged = [n for n, i in staged.items()
                       if not i["nullable"] and i.get("kind") not in (None, "derived")]
    assert required_columns(spec.raw) == required_staged


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_staged_has_every_raw_column_plus_lineage(source):
    spec = SOURCES[source]
    staged = list(staged_columns(spec.staged))
    assert set(raw_columns(spec.raw)) <= set(staged)
    assert staged[-3:] == list(LINEAGE_COLUMNS)
    assert empty_frame(spec.staged).columns == staged


def test_header_map_takes_english_and_the_contract_aliases():
    mapping = header_map(SOURCES["household"].raw)
    assert mapping["公民身份号码"] == mapping["id_number"] == mapping["ID_NUMBER".lower()]
    assert mapping["户籍状态"] == "status"
    assert header_map(SOURCES["student"].raw)["学籍状态"] == "status"
    assert header_map(SOURCES["tax_payment"].raw)["缴费时间"] == "paid_at"


def test_schema_attributes_are_column_names():
    assert TaxPaymentStaged.pooling_division == "pooling_division"
    assert HouseholdStaged.id_number == "id_number"


def _household(**changes) -> pl.DataFrame:
    row = {
        "id_number": "11010519491231002X", "name": "张三", "sex": 2,
        "birth_date": date(1949, 12, 31), "hukou_division": "110105", "household_id": "H1",
        "relation": None, "residence_division": None, "grid_code": None, "address": None,
        "phone": None, "status": "normal", "status_date": None,
        "delivery_date": date(2026, 1, 2), "source_file": "f", "line": 2,
    }
    row.update(changes)
    return pl.DataFrame([row], schema=empty_frame(HouseholdStaged).schema)


def test_valid_staged_row_passes():
    HouseholdStaged.validate(_household())


@pytest.mark.parametrize(
    ("changes", "column"),
    [
        ({"id_number": "11010519491231002"}, "id_number"),
        ({"sex": 3}, "sex"),
        ({"hukou_division": "11010"}, "hukou_division"),
        ({"status": "gone"}, "status"),
        ({"name": None}, "name"),
        ({"line": 1}, "line"),
        ({"grid_code": "ABC"}, "grid_code"),
        ({"grid_code": "1" * 21}, "grid_code"),
    ],
)
def test_each_staged_check_has_a_failing_example(changes, column):
    with pytest.raises(pandera.errors.SchemaErrors) as caught:
        HouseholdStaged.validate(_household(**changes), lazy=True)
    assert column in caught.value.failure_cases["column"].to_list()


def test_staged_is_strict_about_extra_columns():
    with pytest.raises(pandera.errors.SchemaError):
        HouseholdStaged.validate(_household().with_columns(pl.lit(1).alias("extra")))


def test_tax_payment_staged_checks_amount_and_month():
    row = {c: None for c in empty_frame(TaxPaymentStaged).columns}
    row.update(payment_id="P1", id_number="11010519491231002X", name="n", scheme="employee",
               pooling_division="110100", period="2026-13", period_year=2026, period_month=13,
               kind="normal", amount=-1.0, paid_at=datetime(2026, 1, 1),
               employer_id="91330100MA2XXXXX0", delivery_date=date(2026, 1, 2),
               source_file="f", line=2)
    frame = pl.DataFrame([row], schema=empty_frame(TaxPaymentStaged).schema)
    with pytest.raises(pandera.errors.SchemaErrors) as caught:
        TaxPaymentStaged.validate(frame, lazy=True)
    failed = set(caught.value.failure_cases["column"].to_list())
    assert {"amount", "period_month", "employer_id"} <= failed  # employer_id: 17 characters


def test_raw_models_keep_extra_columns_and_coerce_text():
    raw = pl.DataFrame({"id_number": ["x"], "death_date": ["2026"], "name": ["n"],
                        "备注": ["kept"], "line": [2]})
    out = SOURCES["death"].raw.validate(raw)
    assert "备注" in out.columns
    assert isinstance(SOURCES["death"].raw, type) and issubclass(SOURCES["death"].raw,
                                                                 pa.DataFrameModel)
