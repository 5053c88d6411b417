"""Masking helpers: scalar and polars forms agree (issue 7)."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.stages.masking import (
    find_full_ids,
    mask_id,
    mask_id_expr,
    mask_name,
    mask_name_expr,
    mask_phone,
    mask_phone_expr,
)


@pytest.mark.parametrize(
    ("function", "expression", "value", "masked"),
    [
        (mask_id, mask_id_expr, "33010619900101123X", "330106********123X"),
        (mask_id, mask_id_expr, "B:Q330106280702", "B:*********0702"),
        (mask_id, mask_id_expr, "1234", "1234"),
        (mask_id, mask_id_expr, None, None),
        (mask_name, mask_name_expr, "张小三", "张*三"),
        (mask_name, mask_name_expr, "张三", "张*"),
        (mask_name, mask_name_expr, "欧阳小明", "欧**明"),
        (mask_name, mask_name_expr, "张", "张"),
        (mask_phone, mask_phone_expr, "13812341234", "138****1234"),
        (mask_phone, mask_phone_expr, "0571-8888", "*****8888"),
    ],
)
def test_scalar_and_expression_mask_alike(function, expression, value, masked):
    assert function(value) == masked
    frame = pl.DataFrame({"v": [value]}, schema={"v": pl.Utf8})
    assert frame.select(expression("v")).item() == masked


def test_find_full_ids_only_whole_numbers():
    text = "a 330106199001011234, b 330106********1234, c 12330106199001011234567"
    assert find_full_ids(text) == ["330106199001011234"]
