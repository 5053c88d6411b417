"""Monthly coverage line, gaps, lapses and year status: policy.md section 2 boundaries (issue 6)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from policy_inputs import employee_months, frames, person, resident

from pipelines.rules.loader import load_rules
from pipelines.stages import coverage_line as cl

RULES = load_rules()


def years(payments, persons, as_of: date, region: str = "zhejiang", rules=RULES) -> dict[int, str]:
    """Year -> status of the single person 'p', through the monthly line."""
    f = frames(payments=payments, persons=persons)
    months = cl.build_coverage_months(f["payments"], f["persons"], as_of, 2023)
    region_frame = pl.LazyFrame({"person_id": ["p"], "region": [region]})
    out = cl.classify_coverage_years(months, region_frame, rules).collect()
    return dict(zip(out["year"], out["status"], strict=True))


def employee_then_resident(
    last_employee: tuple[int, int], first_after: tuple[int, int] | None, region="zhejiang"
):
    """Employee months from Jan 2023 to last_employee, then employee months again from
    first_after to Dec 2026 (None: nothing after)."""
    rows = employee_months("p", (2023, 1), last_employee, region)
    if first_after:
        rows += employee_months("p", first_after, (2026, 12), region)
    return rows


ADULT = [person("p", date(1980, 1, 1))]


@pytest.mark.parametrize(
    ("last", "resume", "expected"),
    [
        ((2025, 9), (2026, 1), {2025: "covered", 2026: "covered"}),  # Oct-Dec: 3 months, tolerated
        ((2025, 8), (2026, 1), {2025: "lapsed", 2026: "covered"}),  # Sep-Dec: 4 months, a lapse
        ((2025, 10), (2026, 2), {2025: "covered", 2026: "covered"}),  # Nov-Jan across New Year: 3
        ((2025, 10), (2026, 3), {2025: "lapsed", 2026: "lapsed"}),  # Nov-Feb across New Year: 4
    ],
)
def test_three_versus_four_month_gap_across_new_year(last, resume, expected):
    got = years(employee_then_resident(last, resume), ADULT, date(2026, 12, 31))
    assert {y: got[y] for y in expected} == expected


def test_baby_born_in_november_enrolled_from_january_is_tolerated_in_every_region():
    for region in ["national", "zhejiang", "jiangsu", "tianjin"]:
        got = years(
            [resident("p", 2026, date(2026, 1, 5), region)],
            [person("p", date(2025, 11, 20))],
            date(2026, 3, 1),
            region,
        )
        assert got == {2023: "none", 2024: "none", 2025: "none", 2026: "covered"}, region


def test_never_covered_adult_has_lapsed_years():
    got = years([resident("p", 2026, date(2026, 3, 1))], ADULT, date(2026, 4, 1))
    assert got == {2023: "lapsed", 2024: "lapsed", 2025: "lapsed", 2026: "covered"}


def test_never_covered_is_not_a_gap_when_switched_off():
    rules = {
        **RULES,
        "zhejiang": RULES["zhejiang"].model_copy(
            update={
                "coverage": RULES["zhejiang"].coverage.model_copy(
                    update={"never_covered_counts_as_lapse": False}
                )
            }
        ),
    }
    got = years([resident("p", 2026, date(2026, 3, 1))], ADULT, date(2026, 4, 1), rules=rules)
    assert got == {2023: "none", 2024: "none", 2025: "none", 2026: "covered"}


@pytest.mark.parametrize(
    ("first_month", "expected_2025"), [((2023, 7), "covered"), ((2023, 8), "lapsed")]
)
def test_tianjin_short_switch_needs_24_covered_months_before(first_month, expected_2025):
    # employee first_month .. Jun 2025 (24 or 23 months), gap Jul-Sep 2025, employee again from Oct 2025
    payments = employee_months("p", first_month, (2025, 6), "tianjin") + employee_months(
        "p", (2025, 10), (2025, 12), "tianjin"
    )
    got = years(payments, [person("p", date(2000, 1, 1))], date(2025, 12, 31), "tianjin")
    assert got[2025] == expected_2025
    # the same history is tolerated in zhejiang (switch_min_prior_months 0)
    assert (
        years(payments, [person("p", date(2000, 1, 1))], date(2025, 12, 31), "zhejiang")[2025]
        == "covered"
    )


def test_repair_payments_and_payments_after_as_of_do_not_cover():
    payments = [
        resident("p", 2024, date(2025, 1, 5), kind="repair"),
        resident("p", 2025, date(2025, 6, 2)),
    ]
    got = years(payments, ADULT, date(2025, 6, 1))
    assert got[2024] == "lapsed" and got[2025] == "lapsed"


def test_months_after_death_are_ineligible():
    got = years(
        [resident("p", 2023, date(2022, 11, 1)), resident("p", 2024, date(2023, 11, 1))],
        [person("p", date(1950, 1, 1), date(2024, 12, 1))],
        date(2026, 1, 1),
    )
    assert got == {2023: "covered", 2024: "covered", 2025: "none", 2026: "none"}


def test_monthly_line_flags():
    f = frames(
        payments=[resident("p", 2025, date(2024, 12, 1))]
        + employee_months("p", (2025, 3), (2025, 3)),
        persons=[person("p", date(2025, 2, 14))],
    )
    months = cl.build_coverage_months(
        f["payments"], f["persons"], date(2025, 4, 30), 2025
    ).collect()
    assert months["month"].to_list() == [date(2025, m, 1) for m in range(1, 5)]
    assert months["is_eligible"].to_list() == [False, True, True, True]
    assert months["is_covered"].to_list() == [False, True, True, True]
    assert months["is_employee_month"].to_list() == [False, False, True, False]


def test_runs_from_months_and_from_intervals_agree():
    payments = (
        employee_months("p", (2023, 4), (2024, 2))
        + [resident("p", 2025, date(2025, 2, 1))]
        + employee_months("q", (2024, 6), (2024, 6))
    )
    f = frames(
        payments=payments,
        persons=[person("p", date(1990, 1, 1)), person("q", date(2023, 3, 3), date(2025, 5, 5))],
    )
    months = cl.build_coverage_months(f["payments"], f["persons"], date(2026, 2, 1), 2023)
    from_months = cl.runs_from_months(months).collect().sort("person_id", "start")
    from_intervals = cl.build_coverage_runs(
        f["payments"], f["persons"], date(2026, 2, 1), 2023
    ).collect()
    assert from_months.select(sorted(from_months.columns)).equals(
        from_intervals.sort("person_id", "start").select(sorted(from_months.columns))
    )


def test_assign_person_region_and_fallbacks():
    payments = [
        resident("a", 2026, date(2026, 2, 1), "jiangsu"),
        resident("a", 2026, date(2026, 1, 1), "zhejiang"),  # earliest payment for 2026 wins
        resident("b", 2024, date(2023, 11, 1), "tianjin"),  # no 2026 payment: latest one
    ]
    persons = pl.LazyFrame(
        {
            "person_id": ["a", "b", "c", "d"],
            "birth_date": [date(1990, 1, 1)] * 4,
            "death_date": [None] * 4,
            "home_division": [None, None, "320200", None],
        },
        schema_overrides={"death_date": pl.Date},
    )
    out = (
        cl.assign_person_region(
            frames(payments=payments)["payments"], persons, RULES, date(2026, 3, 1)
        )
        .collect()
        .sort("person_id")
    )
    assert out["region"].to_list() == ["zhejiang", "tianjin", "jiangsu", "national"]
    assert out["pooling_division"].to_list() == ["330100", "120100", "320200", None]


def test_coverage_year_by_integer_key_is_the_same_table():
    """The shards' keyed variant gives build_coverage_year's rows, in its order; persons
    without a payment and a payment of nobody in persons included."""
    from pipelines.stages.coverage_year import build_coverage_year, build_coverage_year_by_key

    payments = (
        employee_months("p", (2023, 4), (2024, 2))
        + [resident("p", 2025, date(2025, 2, 1)), resident("z", 2025, date(2025, 2, 1))]
        + employee_months("q", (2024, 6), (2024, 6))
    )
    f = frames(payments=payments, persons=[
        person("q", date(2023, 3, 3), date(2025, 5, 5)), person("p", date(1990, 1, 1)),
        person("r", date(2001, 1, 1))])
    plain = build_coverage_year(f["payments"], f["persons"], RULES, date(2026, 2, 1)).collect()
    keyed = build_coverage_year_by_key(
        f["payments"], f["persons"], RULES, date(2026, 2, 1)).collect()
    assert keyed.equals(plain) and keyed.schema == plain.schema
    assert set(keyed["person_id"]) == {"p", "q", "r"}
