"""Raw -> staged (pipelines/stages/stage_extract.py): every record check has a failing example."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from pipelines.stages.stage_extract import (
    MESSAGES,
    canonical_headers,
    duplicate_key_sql,
    parse_date,
    stage_extract,
)
from schemas import SOURCES

from .helpers import HOUSEHOLD_HEADER, TAX_HEADER, household_row, make_id, tax_row

DIVISIONS = pl.Series(["110000", "110105", "330000", "330100", "330106"])
ID_DIVISIONS = pl.concat([DIVISIONS, pl.Series(["330103"])])


def _stage(source: str, header: list[str], rows: list[list[str]], file="2026-01-02/x.csv"):
    raw = pl.DataFrame(rows, schema=header, orient="row").with_columns(
        pl.int_range(2, len(rows) + 2, dtype=pl.Int64).alias("line"),
        pl.lit(file).alias("source_file"),
    )
    spec = SOURCES[source]
    return stage_extract(raw, spec.staged, source=source,
                         delivery_date=date(2026, 1, 2), divisions=DIVISIONS,
                         id_divisions=ID_DIVISIONS)


def _failures(result) -> list[tuple]:
    return result.failures.select("line", "column", "check").rows()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-01-02", date(2026, 1, 2)), ("2026/01/02", date(2026, 1, 2)),
     ("20260102", date(2026, 1, 2)), ("2026-02-30", None), ("2026-1-2", None),
     ("02/01/2026", None), ("2026-01-02 10:00:00", None), (None, None)],
)
def test_parse_date_three_forms(text, expected):
    assert pl.select(parse_date(pl.lit(text, dtype=pl.Utf8))).item() == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-01-02 10:11:12", datetime(2026, 1, 2, 10, 11, 12)),
     ("2026/01/02 10:11:12", datetime(2026, 1, 2, 10, 11, 12)),
     ("20260102 10:11:12", datetime(2026, 1, 2, 10, 11, 12)),
     ("2026-01-02 25:00:00", None), ("2026-01-02", None)],
)
def test_parse_timestamp_three_forms(text, expected):
    assert pl.select(parse_date(pl.lit(text, dtype=pl.Utf8), with_time=True)).item() == expected


def test_valid_household_is_staged_typed_and_normalised():
    number = make_id("110105", "19491231", "002")
    rows = [household_row(" " + number.lower() + " ", sex="女", birth="1949/12/31",
                          status="迁出")]
    result = _stage("household", HOUSEHOLD_HEADER, rows)
    assert result.failures.height == 0
    row = result.staged.row(0, named=True)
    assert row["id_number"] == number and row["sex"] == 2
    assert row["birth_date"] == date(1949, 12, 31) and row["status"] == "moved_out"
    assert row["delivery_date"] == date(2026, 1, 2) and row["line"] == 2
    SOURCES["household"].staged.validate(result.staged)


@pytest.mark.parametrize(
    ("row_kwargs", "column", "check"),
    [
        ({"id_number": "12345"}, "id_number", "id_format"),
        ({"id_number": "110105199001010011"}, "id_number", "id_check_char"),
        ({"id_number": make_id("110105", "19900230", "001"), "birth": "1990-02-28"},
         "id_number", "id_birth_date"),
        ({"id_number": make_id("999999", "19900101", "001")}, "id_number", "id_division"),
        ({"id_number": make_id("110105", "19900102", "001")}, "id_number", "id_birth_mismatch"),
        ({"id_number": make_id("110105", "19900101", "002")}, "id_number", "id_sex_mismatch"),
        ({"name": ""}, "name", "required"),
        ({"birth": "1990-13-01", "id_number": make_id()}, "birth_date", "date"),
        ({"sex": "9"}, "sex", "enum"),
        ({"status": "unknown"}, "status", "enum"),
        ({"division": "999999"}, "hukou_division", "division_code"),
    ],
)
def test_household_record_checks(row_kwargs, column, check):
    good = household_row()
    bad = household_row(**row_kwargs)
    result = _stage("household", HOUSEHOLD_HEADER, [good, bad])
    assert _failures(result) == [(3, column, check)]
    assert result.staged["line"].to_list() == [2]
    message = result.failures["message"][0]
    assert "2026-01-02/x.csv line 3" in message and column in message


def test_full_id_numbers_never_appear_in_messages():
    bad = household_row(id_number="110105199001010011")
    result = _stage("household", HOUSEHOLD_HEADER, [bad])
    assert "110105199001010011" not in result.failures["message"][0]
    assert "110105********0011" in result.failures["message"][0]
    assert result.rejected_identity.row(0, named=True)["id_number_raw"] == "110105199001010011"


def test_historical_division_accepted_in_id_but_not_in_division_column():
    number = make_id("330103", "19900101", "001")
    ok = _stage("household", HOUSEHOLD_HEADER, [household_row(number)])
    assert ok.failures.height == 0
    bad = _stage("household", HOUSEHOLD_HEADER, [household_row(division="330103")])
    assert _failures(bad) == [(2, "hukou_division", "division_code")]


@pytest.mark.parametrize(
    ("grid", "check"),
    [("110105001002003", None), ("110105", None), ("11010500100200300400", None),
     ("ABC", "grid_code"), ("11010", "grid_code"), ("110105001002003004005", "grid_code"),
     ("999999001002003", "grid_code"), ("１１０１０５００１", "grid_code")],
)
def test_grid_codes_are_up_to_20_digits_starting_with_a_division(grid, check):
    """extracts.md: grid_code is up to 20 digits, its first 6 the county-level division."""
    header = HOUSEHOLD_HEADER + ["grid_code"]
    result = _stage("household", header, [household_row() + [grid]])
    assert _failures(result) == ([] if check is None else [(2, "grid_code", check)])


@pytest.mark.parametrize(("employer", "rejected"), [
    ("91330100MA2XXXXX0X", False), ("", False), ("91330100MA2XXXXX0", True),
    ("91330100MA2XXXXX0XX", True)])
def test_employer_id_is_18_characters(employer, rejected):
    """extracts.md: employer_id str(18)."""
    row = tax_row("P1", scheme="employee", period="2026-01", amount="100") + [employer]
    result = _stage("tax_payment", TAX_HEADER + ["employer_id"], [row])
    assert _failures(result) == ([(2, "employer_id", "code_length")] if rejected else [])


def test_several_failing_columns_give_one_reject_row_naming_them_all():
    """outputs.md: rejects has one row per rejected record. It carries the first failing
    column in the schema's order (name, sex, ..., hukou_division); the message all three."""
    bad = household_row(name="", birth="1990-01-01", sex="x", division="123")
    result = _stage("household", HOUSEHOLD_HEADER, [bad])
    assert _failures(result) == [(2, "name", "required")]
    message = result.failures["message"][0]
    assert message.startswith("2026-01-02/x.csv line 2, column name: required column is empty")
    assert "; also column sex: code outside" in message
    assert "; also column hukou_division: not a GB/T 2260" in message
    assert result.rows_rejected == 1 and result.staged.height == 0


@pytest.mark.parametrize(
    ("row_kwargs", "column", "check"),
    [
        ({"amount": "abc"}, "amount", "number"),
        ({"amount": "-380"}, "amount", "number"),
        ({"amount": ""}, "amount", "required"),
        ({"scheme": "private"}, "scheme", "enum"),
        ({"kind": "gift"}, "kind", "enum"),
        ({"period": "2026-01"}, "period", "period"),  # resident needs YYYY
        ({"period": "26"}, "period", "period"),
        ({"paid_at": "2025-13-01 10:00:00"}, "paid_at", "timestamp"),
        ({"paid_at": "2025-10-01"}, "paid_at", "timestamp"),  # a date without its time
        ({"pooling": "000000"}, "pooling_division", "division_code"),
    ],
)
def test_tax_payment_record_checks(row_kwargs, column, check):
    result = _stage("tax_payment", TAX_HEADER, [tax_row("P1"), tax_row("P2", **row_kwargs)])
    assert _failures(result) == [(3, column, check)]
    assert MESSAGES[check] in result.failures["message"][0]  # the reason of that check


@pytest.mark.parametrize(("year", "check"), [
    ("1899", "number"), ("1900", None), ("2999", None), ("3000", "number"),
    ("99999999999", "number"),  # does not fit the Int32 column: rejected, never a crash
])
def test_claims_year_outside_its_range_is_a_record_reject(year, check):
    header = ["id_number", "year", "scheme", "fund_paid"]
    result = _stage("claims", header, [[make_id("330106", "19900101", "001"), year,
                                        "resident", "10.00"]])
    assert _failures(result) == ([(2, "year", check)] if check else [])
    assert result.staged.height == (0 if check else 1)


@pytest.mark.parametrize(("row_kwargs", "column", "check"), [
    # \\d in a pattern matches any Unicode digit: a full-width period was accepted with a
    # null period_year and then stopped the run as a "pipeline defect"
    ({"period": "\uff12\uff10\uff12\uff16"}, "period", "period"),
    ({"period": "\u0662\u0660\u0662\u0666"}, "period", "period"),
    ({"amount": "\uff13\uff18\uff10"}, "amount", "number"),
])
def test_non_ascii_digits_outside_id_numbers_are_rejected(row_kwargs, column, check):
    result = _stage("tax_payment", TAX_HEADER, [tax_row("P1", **row_kwargs)])
    assert _failures(result) == [(2, column, check)]


def test_id_number_in_non_ascii_digits_fails_its_format():
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in "110105199001010011")
    result = _stage("household", HOUSEHOLD_HEADER, [household_row(id_number=arabic_indic)])
    assert _failures(result) == [(2, "id_number", "id_format")]


def test_tax_payment_typed_with_period_split():
    rows = [tax_row("P1", scheme="职工医保", period="2026-03", kind="正常"),
            tax_row("P2", kind="退费", refund_of="P0", amount="380.00")]
    result = _stage("tax_payment", TAX_HEADER, rows)
    assert result.failures.height == 0
    staged = result.staged.select("scheme", "period_year", "period_month", "kind", "amount")
    assert staged.rows() == [("employee", 2026, 3, "normal", 380.0),
                             ("resident", 2026, None, "refund", 380.0)]
    SOURCES["tax_payment"].staged.validate(result.staged)


def test_canonical_headers_chinese_any_order_extra_kept_missing_listed():
    mapped = canonical_headers(["户籍状态", "公民身份号码", "备注", "NAME"], SOURCES["household"].raw)
    assert mapped.renames == {"户籍状态": "status", "公民身份号码": "id_number", "NAME": "name"}
    assert mapped.extra == ["备注"]
    assert mapped.missing == ["sex", "birth_date", "hukou_division", "household_id"]


def test_canonical_headers_second_spelling_of_a_column_is_an_extra():
    mapped = canonical_headers(["公民身份号码", "id_number", "姓名"], SOURCES["death"].raw)
    assert mapped.renames == {"公民身份号码": "id_number", "id_number": "extra:id_number",
                              "姓名": "name"}
    assert mapped.extra == ["id_number"] and mapped.missing == ["death_date"]


def test_duplicate_key_sql_masks_id_numbers():
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('f', 2, '110105199001010011', 2026), "
                "('f', 3, '110105199001010011', 2026), ('g', 2, '110105199001010011', 2025)) "
                "v(source_file, line, id_number, year)")
    rows = con.execute(duplicate_key_sql("t", ("id_number", "year"), {"id_number"},
                                         "(SELECT source_file, line FROM t)")).fetchall()
    assert rows == [("f", 3, "id_number,year", "duplicate_key", "110105********0011,2026")]
