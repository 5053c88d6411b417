"""The benchmark's repeated rounds: the recorded round is a measured median, not an average."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from run_benchmarks import _round, _rounds_cell, median_round


def _rounds(*ratios: float) -> list[dict]:
    return [{"over_floor": ratio} for ratio in ratios]


def test_the_median_round_of_an_odd_count_is_the_middle_ratio_whatever_the_order():
    assert median_round(_rounds(3.9, 3.5, 3.7)) == 2
    assert median_round(_rounds(3.7, 3.9, 3.5)) == 0


def test_of_an_even_count_the_worse_middle_round_is_recorded():
    assert median_round(_rounds(3.5, 3.9, 3.6, 3.8)) == 3  # 3.6 and 3.8 in the middle


def test_one_round_is_its_own_median_and_none_is_an_error():
    assert median_round(_rounds(4.0)) == 0
    with pytest.raises(ValueError, match="no round"):
        median_round([])


def test_a_round_keeps_the_ratio_of_its_own_floor_and_flow():
    floor = {"floor_s": 20.0, "store_s": 40.0, "polars_s": 9.0, "measured_at": "then"}
    flow = {"wall_s": 75.0, "cpu_s": 140.0, "peak_rss_mib": 3000}
    measured = _round(floor, flow)
    assert measured["over_floor"] == 3.75
    assert (measured["floor_s"], measured["flow_s"], measured["floor_measured_at"]) == (
        20.0, 75.0, "then")


def test_the_table_lists_every_ratio_of_a_repeated_row_and_1_for_a_single_round():
    assert _rounds_cell({"rounds": _rounds(3.9, 3.5, 3.7)}) == "3: 3.9x, 3.5x, 3.7x"
    assert _rounds_cell({"rounds": _rounds(3.9)}) == "1"
    assert _rounds_cell({}) == "1"  # rows recorded before rounds existed
