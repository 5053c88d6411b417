"""Policy engine: the worked examples of policy.md section 7 and a boundary test per rule (issue 6)."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest
from policy_inputs import PAYMENT_SCHEMA, employee, employee_months, frames, person, resident

from pipelines.rules.loader import load_rules
from pipelines.stages.exemption_events import collect_exemption_events, derive_employee_stops
from pipelines.stages.policy_status import POLICY_STATUS_COLUMNS, compute_policy_status

RULES = load_rules()
# status changes, assistance and permits: none (the exemption events' other sources)
NO_EVENTS = (
    {"id_number": pl.Utf8, "kind": pl.Utf8, "event_date": pl.Date},
    {"id_number": pl.Utf8, "recognized_date": pl.Date, "ended_date": pl.Date},
    {"id_number": pl.Utf8, "issued_date": pl.Date},
)


def status(as_of: date, rules=RULES, **inputs) -> dict:
    """The single policy_status row of the inputs, as a dict."""
    out = compute_policy_status(**frames(**inputs), rules=rules, as_of=as_of).collect()
    assert out.columns == POLICY_STATUS_COLUMNS
    assert out.height == 1, out
    return out.row(0, named=True)


def covered_years(pid: str, years, region: str = "zhejiang") -> list[dict]:
    """Resident payments made on Nov 15 of the year before, inside every centralized period."""
    return [resident(pid, y, date(y - 1, 11, 15), region) for y in years]


# --- section 7 worked examples -------------------------------------------------------------


def test_example_1_continuous_and_zero_claim_incentives():
    claims = [
        {
            "person_id": "p",
            "year": y,
            "fund_paid": 0.0 if y < 2027 else 800.0,
            "incentive_used": False,
        }
        for y in range(2025, 2030)
    ]
    row = status(
        date(2029, 6, 1),
        payments=covered_years("p", range(2023, 2030)),
        persons=[person("p", date(1980, 1, 1))],
        claims=claims,
    )
    assert row["consecutive_years"] == 5
    assert row["continuous_incentive"] == 5000
    assert row["zero_claim_incentive"] == 10000
    assert row["total_incentive"] == 15000
    assert row["wait_months"] == 0 and row["exemption"] is None
    assert row["benefit_start_date"] == date(2029, 1, 1)
    assert row["effective_cap"] == 415000


def test_example_2_never_covered_adult_pays_outside_period():
    row = status(
        date(2027, 5, 1),
        payments=[resident("p", 2027, date(2027, 3, 10))],
        persons=[person("p", date(1980, 6, 1))],
    )
    assert row["lapse_run_years"] == 2
    assert (row["fixed_wait_months"], row["variable_wait_months"], row["wait_months"]) == (3, 2, 5)
    assert row["benefit_start_date"] == date(2027, 8, 11)
    assert row["in_waiting_period"] is True
    assert row["lapsed_years_total"] == 0  # the lapses come before the first covered month


def example_3_payments(region: str, paid: date) -> list[dict]:
    repairs = [resident("p", y, paid, region, kind="repair") for y in (2026, 2027, 2028)]
    return (
        covered_years("p", range(2023, 2026), region)
        + repairs
        + [resident("p", 2030, paid, region)]
    )


@pytest.mark.parametrize("region", ["national", "tianjin", "jiangsu"])
def test_example_3_and_4_long_lapse_repaired_to_the_floor(region):
    row = status(
        date(2030, 2, 1),
        payments=example_3_payments(region, date(2029, 11, 20)),
        persons=[person("p", date(1980, 1, 1))],
        caps=[
            {"pooling_division": "320100", "effective_from": date(2025, 7, 1), "base_cap": 500000.0}
        ]
        if region == "jiangsu"
        else None,
    )
    assert (row["lapse_run_years"], row["repaired_years"]) == (4, 3)
    assert (row["fixed_wait_months"], row["variable_wait_months"], row["wait_months"]) == (3, 1, 6)
    assert row["benefit_start_date"] == date(2030, 7, 1)
    assert row["region"] == region
    assert row["lapsed_years_total"] == 4
    assert row["continuous_incentive"] == 0
    expected_penalty = {"national": 0, "tianjin": 4000, "jiangsu": 12000}[region]
    assert row["lapse_penalty"] == expected_penalty


def test_example_3_zhejiang_inside_period_has_no_wait():
    row = status(
        date(2030, 2, 1),
        payments=example_3_payments("zhejiang", date(2029, 11, 20)),
        persons=[person("p", date(1980, 1, 1))],
    )
    assert row["wait_months"] == 0
    assert row["benefit_start_date"] == date(2030, 1, 1)


def test_example_3_zhejiang_outside_period_waits_six_months():
    row = status(
        date(2030, 3, 1),
        payments=example_3_payments("zhejiang", date(2030, 2, 10)),
        persons=[person("p", date(1980, 1, 1))],
    )
    assert row["wait_months"] == 6
    assert row["benefit_start_date"] == date(2030, 8, 11)
    assert row["in_waiting_period"] is True


def test_example_5_newborn_exempt_from_birth():
    row = status(
        date(2026, 4, 2),
        payments=[resident("p", 2026, date(2026, 4, 1))],
        persons=[person("p", date(2026, 2, 10))],
        events=[
            {"person_id": "p", "event": "birth", "event_date": date(2026, 2, 10), "end_date": None}
        ],
    )
    assert row["exemption"] == "newborn"
    assert row["wait_months"] == 0
    assert row["benefit_start_date"] == date(2026, 2, 10)
    assert row["in_waiting_period"] is False


@pytest.mark.parametrize(
    ("region", "start"), [("zhejiang", date(2027, 9, 1)), ("jiangsu", date(2027, 8, 16))]
)
def test_example_6_employee_stop_status_change(region, start):
    row = status(
        date(2027, 9, 1),
        payments=employee_months("p", (2025, 1), (2027, 6), region)
        + [resident("p", 2027, date(2027, 8, 15), region)],
        persons=[person("p", date(1990, 1, 1))],
        events=[
            {
                "person_id": "p",
                "event": "employee_stop",
                "event_date": date(2027, 7, 1),
                "end_date": None,
            }
        ],
    )
    assert row["exemption"] == "status_change"
    assert row["benefit_start_date"] == start
    assert row["lapse_run_years"] == 0


@pytest.mark.parametrize(
    ("region", "start"), [("zhejiang", date(2027, 9, 1)), ("jiangsu", date(2027, 8, 16))]
)
def test_example_6_stop_event_derived_from_the_contributions(region, start):
    """Example 6 with the stop event left to the engine: "the day after the last contributed
    month" is 2027-07-01, from the contributions alone."""
    payments = employee_months("p", (2025, 1), (2027, 6), region)
    events = collect_exemption_events(*[pl.LazyFrame(schema=s) for s in NO_EVENTS],
                                      pl.LazyFrame(payments, schema=PAYMENT_SCHEMA),
                                      date(2027, 9, 1)).collect()
    assert events.rows() == [("p", "employee_stop", date(2027, 7, 1), None)]
    row = status(
        date(2027, 9, 1),
        payments=payments + [resident("p", 2027, date(2027, 8, 15), region)],
        persons=[person("p", date(1990, 1, 1))],
        events=events.to_dicts(),
    )
    assert (row["exemption"], row["benefit_start_date"]) == ("status_change", start)


def test_the_stop_is_dated_by_what_is_known_on_the_as_of_date():
    """A July contribution paid after the as-of date, or a repair for July, does not move
    the stop past June (section 2: neither covers a month on the line)."""
    known = employee_months("p", (2025, 1), (2027, 6), "jiangsu")
    paid_later = employee("p", 2027, 7, "jiangsu") | {"paid_at": datetime(2027, 10, 20, 10)}
    repair = employee("q", 2027, 7, "jiangsu") | {"kind": "repair"}
    payments = known + [paid_later] + [r | {"person_id": "q"} for r in known] + [repair]
    stops = derive_employee_stops(pl.LazyFrame(payments, schema=PAYMENT_SCHEMA),
                                  date(2027, 10, 5)).collect().sort("person_id")
    assert stops.select("person_id", "event_date").rows() == [
        ("p", date(2027, 7, 1)), ("q", date(2027, 7, 1))]
    # known by the next as-of date: the run then ends in July
    later = derive_employee_stops(pl.LazyFrame(known + [paid_later], schema=PAYMENT_SCHEMA),
                                  date(2027, 10, 25)).collect()
    assert later["event_date"].to_list() == [date(2027, 8, 1)]


def test_a_run_open_in_the_as_of_month_has_not_stopped():
    payments = employee_months("p", (2027, 1), (2027, 9), "jiangsu")
    stops = derive_employee_stops(pl.LazyFrame(payments, schema=PAYMENT_SCHEMA), date(2027, 9, 20))
    assert stops.collect().height == 0


# --- boundaries, one rule at a time -------------------------------------------------------


def enrolled(region: str, paid: date, history=range(2023, 2026)) -> list[dict]:
    """Continuously covered through 2025, then a payment for 2026 on `paid`."""
    return covered_years("p", history, region) + [resident("p", 2026, paid, region)]


@pytest.mark.parametrize(
    ("region", "paid", "wait"),
    [
        ("zhejiang", date(2025, 8, 31), 3),
        ("zhejiang", date(2025, 9, 1), 0),
        ("zhejiang", date(2025, 12, 31), 0),
        ("zhejiang", date(2026, 1, 1), 3),
        ("jiangsu", date(2025, 9, 30), 3),
        ("jiangsu", date(2025, 10, 1), 0),
        ("jiangsu", date(2025, 12, 31), 0),
        ("jiangsu", date(2026, 1, 1), 3),
        ("tianjin", date(2025, 8, 31), 3),
        ("tianjin", date(2025, 9, 1), 0),
        ("tianjin", date(2025, 12, 31), 0),
        ("national", date(2025, 9, 1), 0),
        ("national", date(2026, 1, 1), 3),
    ],
)
def test_centralized_period_first_and_last_day(region, paid, wait):
    row = status(
        date(2026, 2, 1), payments=enrolled(region, paid), persons=[person("p", date(1980, 1, 1))]
    )
    assert row["wait_months"] == wait
    # the wait runs from the later of Jan 1 and the day after the payment
    assert (
        row["benefit_start_date"] == {0: date(2026, 1, 1), 3: date(2026, 4, paid.year - 2024)}[wait]
    )


def test_centralized_extension_moves_the_last_day():
    region = RULES["jiangsu"]
    period = region.centralized_period.model_copy(update={"extensions": {2026: date(2026, 2, 28)}})
    rules = {**RULES, "jiangsu": region.model_copy(update={"centralized_period": period})}
    inside = status(
        date(2026, 3, 1),
        rules,
        payments=enrolled("jiangsu", date(2026, 2, 28)),
        persons=[person("p", date(1980, 1, 1))],
    )
    outside = status(
        date(2026, 3, 2),
        rules,
        payments=enrolled("jiangsu", date(2026, 3, 1)),
        persons=[person("p", date(1980, 1, 1))],
    )
    assert (inside["wait_months"], outside["wait_months"]) == (0, 3)


@pytest.mark.parametrize(
    ("paid", "start"),
    [(date(2026, 11, 29), date(2027, 2, 28)), (date(2027, 11, 29), date(2028, 2, 29))],
)
def test_benefit_start_clamps_to_month_end(paid, start):
    years = range(2023, paid.year)
    row = status(
        paid,
        payments=covered_years("p", years) + [resident("p", paid.year, paid)],
        persons=[person("p", date(1980, 1, 1))],
    )
    assert row["wait_months"] == 3
    assert row["benefit_start_date"] == start  # Nov 30 + 3 months


def test_repair_of_more_years_than_lapsed_never_goes_below_zero():
    payments = covered_years("p", range(2023, 2026), "national")
    payments += [
        resident("p", y, date(2028, 3, 1), "national", kind="repair") for y in (2024, 2026, 2027)
    ]
    payments += [resident("p", 2028, date(2028, 3, 1), "national")]
    row = status(date(2028, 3, 2), payments=payments, persons=[person("p", date(1980, 1, 1))])
    assert (row["lapse_run_years"], row["repaired_years"]) == (2, 2)
    assert (row["variable_wait_months"], row["wait_months"]) == (0, 3)


@pytest.mark.parametrize(
    ("base", "total"),
    [
        (100000.0, 15000.0),
        (75000.0, 15000.0),
        (70000.0, 14000.0),
    ],  # 20% = 20000, 15000 (hit), 14000
)
def test_incentive_cap_is_20_percent_of_base(base, total):
    caps = [{"pooling_division": "330100", "effective_from": date(2020, 1, 1), "base_cap": base}]
    claims = [
        {
            "person_id": "p",
            "year": y,
            "fund_paid": 0.0 if y < 2027 else 1.0,
            "incentive_used": False,
        }
        for y in range(2025, 2030)
    ]
    row = status(
        date(2029, 6, 1),
        payments=covered_years("p", range(2023, 2030)),
        persons=[person("p", date(1980, 1, 1))],
        claims=claims,
        caps=caps,
    )
    assert row["total_incentive"] == total
    assert row["effective_cap"] == base + total


@pytest.mark.parametrize(
    ("base", "penalty"), [(100000.0, 12000.0), (60000.0, 12000.0), (50000.0, 10000.0)]
)
def test_lapse_penalty_cap_is_20_percent_of_base(base, penalty):
    caps = [{"pooling_division": "320100", "effective_from": date(2029, 1, 1), "base_cap": base}]
    row = status(
        date(2030, 2, 1),
        payments=example_3_payments("jiangsu", date(2029, 11, 20)),
        persons=[person("p", date(1980, 1, 1))],
        caps=caps,
    )
    assert row["lapse_penalty"] == penalty
    assert row["zero_claim_incentive"] == 5000  # 2025: covered, no claim
    assert row["effective_cap"] == base + 5000 - penalty


def with_steps(region: str, **steps: float) -> dict:
    """The rules with ``region``'s incentive steps raised (its cap ratios unchanged)."""
    incentives = RULES[region].incentives.model_copy(update=steps)
    return {**RULES, region: RULES[region].model_copy(update={"incentives": incentives})}


def test_national_briefing_check_400000_gains_at_most_80000():
    """Section 5: "base cap 400000 -> incentives can add at most 80000 -> 480000". The steps
    are raised so that the earned amounts (2 x 60000 each) pass the national 20% cap."""
    claims = [{"person_id": "p", "year": y, "fund_paid": 0.0, "incentive_used": False}
              for y in range(2025, 2030)]
    caps = [{"pooling_division": "110100", "effective_from": date(2020, 1, 1),
             "base_cap": 400000.0}]
    row = status(
        date(2029, 6, 1), with_steps("national", continuous_step=60000, zero_claim_step=60000),
        payments=covered_years("p", range(2023, 2030), "national"),
        persons=[person("p", date(1980, 1, 1))], claims=claims, caps=caps,
    )
    assert (row["region"], row["base_cap"]) == ("national", 400000)
    assert row["continuous_incentive"] + row["zero_claim_incentive"] > 80000
    assert (row["total_incentive"], row["effective_cap"]) == (80000, 480000)


JIANGSU_500000 = [{"pooling_division": "320100", "effective_from": date(2025, 7, 1),
                   "base_cap": 500000.0}]


def test_jiangsu_check_500000_gains_at_most_100000():
    """Section 5: "base 500000 -> at most +100000" (Jiangsu's row in force from 2025-07-01).
    Steps raised past the 20% cap: 2 x 60000 earned."""
    claims = [{"person_id": "p", "year": y, "fund_paid": 0.0, "incentive_used": False}
              for y in range(2025, 2030)]
    row = status(
        date(2029, 6, 1), with_steps("jiangsu", continuous_step=60000, zero_claim_step=60000),
        payments=covered_years("p", range(2023, 2030), "jiangsu"),
        persons=[person("p", date(1980, 1, 1))], claims=claims, caps=JIANGSU_500000,
    )
    assert row["continuous_incentive"] + row["zero_claim_incentive"] > 100000
    assert (row["base_cap"], row["total_incentive"], row["effective_cap"]) == (
        500000, 100000, 600000)


def test_jiangsu_check_500000_loses_at_most_100000():
    """Section 5: "base 500000 -> at most -100000": example 3's 4 lapsed years at a raised
    step of 30000 (120000) are capped at 20% of the base."""
    row = status(
        date(2030, 2, 1), with_steps("jiangsu", lapse_penalty_step=30000),
        payments=example_3_payments("jiangsu", date(2029, 11, 20)),
        persons=[person("p", date(1980, 1, 1))], caps=JIANGSU_500000,
    )
    assert (row["lapsed_years_total"], row["lapse_penalty"]) == (4, 100000)
    assert row["effective_cap"] == 500000 + row["total_incentive"] - 100000


@pytest.mark.parametrize(
    ("as_of", "zero_claim"),
    [(date(2027, 6, 1), 10000), (date(2028, 6, 1), 0), (date(2029, 6, 1), 5000)],
)
def test_zero_claim_total_is_cleared_after_incentive_use(as_of, zero_claim):
    claims = [
        {"person_id": "p", "year": 2027, "fund_paid": 90000.0, "incentive_used": True},
        {"person_id": "p", "year": 2028, "fund_paid": 0.0, "incentive_used": False},
    ]
    row = status(
        as_of,
        payments=covered_years("p", range(2023, as_of.year + 1)),
        persons=[person("p", date(1980, 1, 1))],
        claims=claims,
    )
    assert row["zero_claim_incentive"] == zero_claim


def test_the_use_years_own_zero_claim_step_is_not_cleared():
    """Section 5: the total "earned up to and including y" is cleared; a zero-claim year y is
    only earned in y+1, so a use year without fund payment still counts (an edge case: the
    incentive was used, the fund paid nothing)."""
    claims = [
        {"person_id": "p", "year": 2027, "fund_paid": 0.0, "incentive_used": True},
        {"person_id": "p", "year": 2028, "fund_paid": 100.0, "incentive_used": False},
    ]
    row = status(
        date(2029, 6, 1),
        payments=covered_years("p", range(2023, 2030)),
        persons=[person("p", date(1980, 1, 1))],
        claims=claims,
    )
    assert row["zero_claim_incentive"] == 5000  # 2027's step; 2025 and 2026 were cleared


def tianjin_history(covered) -> dict:
    return {
        "payments": covered_years("p", covered, "tianjin"),
        "persons": [person("p", date(1980, 1, 1))],
        "claims": [
            {"person_id": "p", "year": y, "fund_paid": 5.0, "incentive_used": False}
            for y in range(2025, 2035)
        ],
    }


def test_tianjin_outpatient_incentive_after_four_full_years_and_lost_on_lapse():
    assert (
        status(date(2028, 6, 1), **tianjin_history(range(2023, 2029)))["outpatient_incentive"] == 0
    )
    earned = status(date(2029, 6, 1), **tianjin_history(range(2023, 2030)))
    assert (
        earned["consecutive_years"],
        earned["outpatient_incentive"],
        earned["continuous_incentive"],
    ) == (5, 1000, 1000)
    after_lapse = status(date(2031, 6, 1), **tianjin_history([*range(2023, 2030), 2031]))
    assert after_lapse["consecutive_years"] == 1
    assert after_lapse["outpatient_incentive"] == 0
    assert after_lapse["continuous_incentive"] == 1000  # kept on lapse
    assert after_lapse["lapse_penalty"] == 1000


@pytest.mark.parametrize(("days", "exempt"), [(90, True), (91, False)])
def test_newborn_window_is_inclusive(days, exempt):
    from datetime import timedelta

    birth = date(2026, 3, 1)
    row = status(
        birth + timedelta(days=days),
        payments=[resident("p", 2026, birth + timedelta(days=days))],
        persons=[person("p", birth)],
    )
    assert (row["exemption"] == "newborn") is exempt
    # not exempt: outside the centralized period, 3 months from the day after the payment
    assert row["benefit_start_date"] == (birth if exempt else date(2026, 9, 1))


@pytest.mark.parametrize(
    ("region", "recognized", "ended", "start"),
    [
        ("national", date(2026, 1, 31), None, date(2026, 5, 2)),  # 90 days before: 新认定
        ("national", date(2026, 1, 30), None, None),  # 91 days before: not new
        ("national", date(2026, 2, 1), date(2026, 5, 1), None),  # ended on the payment date
        ("zhejiang", date(2020, 1, 1), None, date(2026, 6, 1)),  # any recipient, 1st of next month
    ],
)
def test_assistance_exemption_window(region, recognized, ended, start):
    event = {"person_id": "p", "event": "assistance", "event_date": recognized, "end_date": ended}
    row = status(
        date(2026, 5, 2),
        payments=enrolled(region, date(2026, 5, 1)),
        persons=[person("p", date(1980, 1, 1))],
        events=[event],
    )
    assert row["benefit_start_date"] == (start or date(2026, 8, 2))
    assert (row["exemption"] == "assistance") is (start is not None)


@pytest.mark.parametrize(
    ("paid", "exempt"), [(date(2026, 10, 31), True), (date(2026, 11, 1), False)]
)
def test_zhejiang_status_change_window_is_three_calendar_months(paid, exempt):
    event = {
        "person_id": "p",
        "event": "graduation",
        "event_date": date(2026, 7, 31),
        "end_date": None,
    }
    row = status(
        paid,
        payments=enrolled("zhejiang", paid),
        persons=[person("p", date(1980, 1, 1))],
        events=[event],
    )
    assert (row["exemption"] == "status_change") is exempt


def test_base_cap_row_in_force_on_the_as_of_date():
    caps = [
        {"pooling_division": "320100", "effective_from": date(2024, 1, 1), "base_cap": 300000.0},
        {"pooling_division": "320100", "effective_from": date(2025, 7, 1), "base_cap": 500000.0},
    ]
    history = {
        "payments": covered_years("p", range(2023, 2026), "jiangsu"),
        "persons": [person("p", date(1980, 1, 1))],
        "caps": caps,
    }
    assert status(date(2025, 6, 30), **history)["base_cap"] == 300000
    assert status(date(2025, 7, 1), **history)["base_cap"] == 500000


def test_jiangsu_province_wide_cap_from_rule_file_when_table_is_older():
    caps = [
        {"pooling_division": "320100", "effective_from": date(2024, 1, 1), "base_cap": 300000.0}
    ]
    history = {
        "payments": covered_years("p", range(2023, 2026), "jiangsu"),
        "persons": [person("p", date(1980, 1, 1))],
        "caps": caps,
    }
    assert status(date(2025, 8, 1), **history)["base_cap"] == 500000


def test_in_waiting_period_follows_the_evaluation_date():
    history = {
        "payments": [resident("p", 2027, date(2027, 3, 10))],
        "persons": [person("p", date(1980, 6, 1))],
    }
    assert status(date(2027, 8, 10), **history)["in_waiting_period"] is True
    assert status(date(2027, 8, 11), **history)["in_waiting_period"] is False
    with pytest.raises(AssertionError):
        status(date(2027, 3, 9), **history)  # paid after the as-of date: not enrolled yet


def test_as_of_before_the_history_start_is_refused():
    with pytest.raises(ValueError, match="before history_start_year 2023"):
        compute_policy_status(**frames(), rules=RULES, as_of=date(2022, 12, 31))


def test_no_enrolment_gives_an_empty_frame_with_every_column():
    out = compute_policy_status(
        **frames(persons=[person("p", date(1980, 1, 1))]), rules=RULES, as_of=date(2026, 1, 1)
    ).collect()
    assert out.height == 0 and out.columns == POLICY_STATUS_COLUMNS


@pytest.mark.parametrize(
    ("from_jan1", "start"), [(True, date(2026, 5, 1)), (False, date(2026, 6, 11))]
)
def test_payment_inside_an_extended_period_waits_from_january(from_jan1, start):
    region = RULES["jiangsu"]
    period = region.centralized_period.model_copy(update={"extensions": {2026: date(2026, 2, 28)}})
    wait = region.waiting_period.model_copy(update={"inside_period_waits_from_jan1": from_jan1})
    rules = {
        **RULES,
        "jiangsu": region.model_copy(update={"centralized_period": period, "waiting_period": wait}),
    }
    payments = covered_years("p", range(2023, 2025), "jiangsu") + [
        resident("p", 2026, date(2026, 2, 10), "jiangsu")
    ]
    row = status(
        date(2026, 2, 11), rules, payments=payments, persons=[person("p", date(1980, 1, 1))]
    )
    assert (row["lapse_run_years"], row["wait_months"]) == (
        1,
        4,
    )  # inside the period, but lapsed in 2025
    assert row["benefit_start_date"] == start


def test_unknown_base_cap_leaves_amounts_uncapped_and_effective_cap_null():
    claims = [
        {"person_id": "p", "year": y, "fund_paid": 0.0, "incentive_used": False}
        for y in range(2025, 2030)
    ]
    row = status(
        date(2029, 6, 1),
        payments=covered_years("p", range(2023, 2030)),
        persons=[person("p", date(1980, 1, 1))],
        claims=claims,
        caps=[],
    )
    assert row["base_cap"] is None and row["effective_cap"] is None
    assert row["total_incentive"] == 5000 + 4 * 5000
