"""Identity normalisation and checks (pipelines/stages/normalise_identity.py), stdnum as oracle."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_series_equal
from stdnum.cn import ric

from pipelines.stages.normalise_identity import (
    check_character,
    failed_id_check,
    mask_id,
    normalise_id,
)

from .helpers import make_id

VALID = make_id("110105", "19491231", "002")  # 11010519491231002X
DIVS = pl.Series(["110105", "330103"])


def _normalise(values: list[str | None]) -> list[str | None]:
    return pl.DataFrame({"v": values}, schema={"v": pl.Utf8}).select(
        normalise_id(pl.col("v"))
    )["v"].to_list()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002X", "11010519491231002X"),
        ("  11010519491231002X\t", "11010519491231002X"),  # surrounding spaces
        ("\u300011010519491231002X\u3000", "11010519491231002X"),  # full-width space
        ("11010519491231002x", "11010519491231002X"),  # lower-case x
        ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"),  # full-width digits and Ｘ
        ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),
        ("110105491231002", "11010519491231002X"),  # legacy 15 digits: 19 inserted, check computed
        ("1101054912310", "1101054912310"),  # malformed: cleaned, not upgraded
        (None, None),
    ],
)
def test_normalise_id(raw, expected):
    assert _normalise([raw]) == [expected]


def test_normalise_15_digits_matches_oracle():
    upgraded = _normalise(["330106800101123"])[0]
    assert upgraded.startswith("33010619800101123")
    assert upgraded[-1] == ric.calc_check_digit(upgraded)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_matches_python_stdnum(first17):
    ours = pl.select(check_character(pl.lit(first17))).item()
    assert ours == ric.calc_check_digit(first17 + "0")


def test_check_character_vectorised_many():
    first17 = pl.Series("f", [f"{i:017d}" for i in range(0, 10**17, 10**17 // 997)][:997])
    ours = pl.DataFrame({"f": first17}).select(check_character(pl.col("f")).alias("f"))["f"]
    oracle = pl.Series("f", [ric.calc_check_digit(s + "0") for s in first17])
    assert_series_equal(ours, oracle)


def _check(number, birth=None, sex=None, not_after=date(2026, 1, 1)):
    frame = pl.DataFrame(
        {"id": [number], "birth": [birth], "sex": [sex]},
        schema={"id": pl.Utf8, "birth": pl.Date, "sex": pl.UInt8},
    )
    return frame.select(
        failed_id_check(pl.col("id"), divisions=DIVS, not_after=not_after,
                        record_birth_date=pl.col("birth"), record_sex=pl.col("sex"))
    ).item()


@pytest.mark.parametrize(
    ("number", "birth", "sex", "expected"),
    [
        (VALID, date(1949, 12, 31), 2, None),
        (make_id("330103", "19800101", "011"), None, None, None),  # abolished code, historical
        ("1101051949123100", None, None, "id_format"),
        ("11010519491231002A", None, None, "id_format"),
        ("110105194912310021", None, None, "id_check_char"),
        (make_id("110105", "19490230", "002"), None, None, "id_birth_date"),  # 30 February
        (make_id("110105", "20300101", "002"), None, None, "id_birth_date"),  # future
        (make_id("999999", "19900101", "002"), None, None, "id_division"),
        (VALID, date(1949, 12, 30), 2, "id_birth_mismatch"),
        (VALID, date(1949, 12, 31), 1, "id_sex_mismatch"),
        # only the first failing check is reported: a wrong check char hides the rest
        ("999999203001010021", date(1990, 1, 1), 1, "id_check_char"),
        (None, None, None, None),  # emptiness is the `required` check's business
    ],
)
def test_failed_id_check_each_check_has_a_failing_example(number, birth, sex, expected):
    assert _check(number, birth, sex) == expected


def test_record_values_that_are_missing_are_not_compared():
    assert _check(VALID, None, None) is None


def test_mask_id():
    masked = pl.select(mask_id(pl.lit("330106199001011234"))).item()
    assert masked == "330106********1234"
    assert pl.select(mask_id(pl.lit("12345"))).item() == "****"
