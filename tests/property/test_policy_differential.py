"""Differential test: the polars policy engine against the row-by-row reference (issue 6).

Each hypothesis example is a batch of random persons (one as-of date, one rule variant), so a
run covers many histories for little engine overhead. Default: a few hundred histories.
Benchmark-size run (>= 10,000 histories across the four regions):

    POLICY_DIFF_PROFILE=large .venv/bin/python -m pytest tests/property/test_policy_differential.py -p no:cacheprovider -q -s
"""

from __future__ import annotations

import math
import os
from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from reference_policy import add_months, reference_policy_status

from pipelines.rules.loader import load_rules
from pipelines.stages.policy_status import compute_policy_status

pytestmark = pytest.mark.property

settings.register_profile(
    "policy_default", max_examples=25, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile(
    "policy_large", max_examples=520, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile(
    "policy_mutation",
    max_examples=120,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # find, don't shrink: for checking the test's teeth
)
PROFILE = "policy_" + os.environ.get("POLICY_DIFF_PROFILE", "default")
MAX_BATCH = 25 if PROFILE == "policy_default" else 60

RULES = load_rules()
DIVISIONS = ["330100", "330200", "320100", "320500", "120100", "110100", "370100"]
EVENTS = [
    "birth",
    "assistance",
    "employee_stop",
    "graduation",
    "residence_permit",
    "prison_release",
]
SCHEMAS = {
    "payments": {
        "person_id": pl.Utf8,
        "scheme": pl.Utf8,
        "period_year": pl.Int32,
        "period_month": pl.Int32,
        "kind": pl.Utf8,
        "pooling_division": pl.Utf8,
        "paid_at": pl.Datetime("us"),
        "payment_id": pl.Utf8,
    },
    "persons": {"person_id": pl.Utf8, "birth_date": pl.Date, "death_date": pl.Date},
    "events": {"person_id": pl.Utf8, "event": pl.Utf8, "event_date": pl.Date, "end_date": pl.Date},
    "claims": {
        "person_id": pl.Utf8,
        "year": pl.Int32,
        "fund_paid": pl.Float64,
        "incentive_used": pl.Boolean,
    },
    "base_caps": {"pooling_division": pl.Utf8, "effective_from": pl.Date, "base_cap": pl.Float64},
}


def _variant(name: str) -> dict:
    """Rule variants exercising each Interpretation switch and an extension."""
    if name == "shipped":
        return RULES
    out = dict(RULES)
    for key, region in RULES.items():
        if not region.has_resident:
            continue
        cov = region.coverage.model_copy(
            update={
                "never_covered_counts_as_lapse": False,
                "employee_years_count_for_continuity": False,
                "switch_min_prior_months": 12 if key != "tianjin" else 24,
            }
        )
        inc = region.incentives.model_copy(
            update={"continuous_kept_on_lapse": False, "incentive_threshold_years": 1}
        )
        period = region.centralized_period.model_copy(
            update={"extensions": {2026: date(2026, 1, 31), 2028: date(2028, 2, 29)}}
        )
        wait = region.waiting_period.model_copy(update={"inside_period_waits_from_jan1": False})
        update = {"coverage": cov, "incentives": inc, "centralized_period": period}
        out[key] = region.model_copy(update={**update, "waiting_period": wait})
    return out


VARIANTS = {name: _variant(name) for name in ["shipped", "switched"]}

BOUNDARY_DAYS = [-1, 0, 1, 30, 31, 59, 60, 61, 89, 90, 91, 92]
day = st.dates(min_value=date(2022, 6, 1), max_value=date(2030, 12, 31))


@st.composite
def near(draw, anchor: date) -> date:
    """A date close to an anchor (boundary-heavy) or anywhere."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return anchor + timedelta(days=draw(st.sampled_from(BOUNDARY_DAYS)))
    if choice == 1:
        return anchor + timedelta(days=draw(st.integers(-3, 95)))
    return draw(day)


@st.composite
def history(draw, pid: str, as_of: date) -> dict:
    """One person's payments, events and claims up to a little past the as-of date."""
    division = draw(st.sampled_from(DIVISIONS))
    baby = draw(st.integers(0, 4)) == 0
    birth = (
        draw(st.dates(date(2022, 1, 1), as_of))
        if baby
        else draw(st.dates(date(1940, 1, 1), date(2005, 12, 31)))
    )
    death = (
        draw(st.none() | st.dates(date(2023, 1, 1), date(2031, 1, 1)))
        if draw(st.integers(0, 9)) == 0
        else None
    )
    payments, events, claims = [], [], []
    # loyal: pays nearly every year; gappy: random years; late: a long lapse, then pays for Y
    style = draw(st.sampled_from(["loyal", "gappy", "gappy", "late"]))
    counts = {"loyal": [1, 1, 1, 1, 2, 0], "gappy": [0, 0, 1, 1, 2], "late": [0]}[style]
    for year in range(2023, as_of.year + 2):
        how_many = (
            draw(st.sampled_from(counts)) if not (style == "late" and year == as_of.year) else 1
        )
        for n in range(how_many):
            starts = [
                date(year - 1, 9, 1),
                date(year - 1, 10, 1),
                date(year - 1, 12, 31),
                date(year, 1, 1),
                birth,
            ]
            paid = draw(near(draw(st.sampled_from(starts))))
            other = draw(st.sampled_from(DIVISIONS)) if draw(st.integers(0, 5)) == 0 else division
            payments.append(("resident", year, None, "normal", other, paid, f"{pid}r{year}{n}"))
        if draw(st.integers(0, 2 if style == "late" else 6)) == 0:
            payments.append(
                (
                    "resident",
                    year,
                    None,
                    "repair",
                    division,
                    draw(near(as_of - timedelta(days=60))),
                    f"{pid}x{year}",
                )
            )
        claims.append(
            {
                "person_id": pid,
                "year": year,
                "fund_paid": draw(st.sampled_from([0.0, 0.0, 120.5, 9000.0])),
                "incentive_used": draw(st.integers(0, 6)) == 0,
            }
        )
    for n in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):
        length = draw(st.integers(1, 30))
        if draw(st.booleans()):  # end k months before a New Year, or start k months after one
            edge = draw(st.integers(2023, as_of.year)) * 12 + draw(
                st.sampled_from([-5, -4, -3, -2, -1, 1, 2, 3, 4])
            )
            first = edge - length if edge % 12 > 6 or edge % 12 == 0 else edge
        else:
            first = draw(st.integers(2023 * 12, as_of.year * 12 + 11))
        for m in range(first, first + length):
            paid = date(m // 12, m % 12 + 1, 15)
            payments.append(
                ("employee", m // 12, m % 12 + 1, "normal", division, paid, f"{pid}e{m}")
            )
    year_pays = [p[5] for p in payments if p[0] == "resident" and p[1] == as_of.year]
    anchor = min(year_pays) if year_pays else as_of
    for n in range(draw(st.sampled_from([0, 0, 1, 2]))):
        if draw(st.booleans()):
            when = anchor - timedelta(days=draw(st.sampled_from(BOUNDARY_DAYS)))
        else:
            when = add_months(anchor, -3) + timedelta(days=draw(st.integers(-1, 1)))
        end = draw(
            st.none()
            | st.sampled_from([anchor - timedelta(days=1), anchor, anchor + timedelta(days=1)])
            | near(when)
        )
        events.append(
            {
                "person_id": pid,
                "event": draw(st.sampled_from(EVENTS)),
                "event_date": when,
                "end_date": end,
            }
        )
    rows = [
        dict(
            zip(
                SCHEMAS["payments"],
                (pid, s, y, m, k, d, datetime(p.year, p.month, p.day, 9), i),
                strict=True,
            )
        )
        for s, y, m, k, d, p, i in payments
    ]
    return {
        "payments": rows,
        "persons": [{"person_id": pid, "birth_date": birth, "death_date": death}],
        "events": events,
        "claims": claims,
    }


@st.composite
def batch(draw) -> tuple[date, str, dict]:
    as_of = draw(st.dates(date(2025, 1, 1), date(2030, 12, 31)))
    n = draw(st.integers(1, MAX_BATCH))
    data = {"payments": [], "persons": [], "events": [], "claims": []}
    for i in range(n):
        one = draw(history(f"p{i:03d}", as_of))
        for key in data:
            data[key] += one[key]
    caps = [
        {"pooling_division": d, "effective_from": date(2020, 1, 1), "base_cap": 400000.0}
        for d in DIVISIONS[:-1]
    ]
    caps += [
        {
            "pooling_division": d,
            "effective_from": draw(st.dates(date(2023, 1, 1), date(2030, 12, 31))),
            "base_cap": draw(st.sampled_from([30000.0, 60000.0, 400000.0])),
        }
        for d in DIVISIONS
        for _ in range(draw(st.integers(0, 2)))
    ]
    data["base_caps"] = caps
    return as_of, draw(st.sampled_from(sorted(VARIANTS))), data


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, abs_tol=1e-6)
    return a == b


HISTORIES = {"count": 0, "rows": 0, "regions": set()}


# The strategies draw only from hypothesis. In the full suite the session's Prefect test server
# keeps threads running, and one that uses the global ``random`` module while an example is
# drawn makes hypothesis warn that the strategy used it (the warning came and went between
# runs of the whole suite, never in this module alone).
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
@settings(settings.get_profile(PROFILE))
@given(batch())
def test_engine_matches_reference(case):
    as_of, variant, data = case
    rules = VARIANTS[variant]
    frames = {k: pl.LazyFrame(v, schema=SCHEMAS[k]) for k, v in data.items()}
    engine = (
        compute_policy_status(**frames, rules=rules, as_of=as_of)
        .collect()
        .sort("person_id")
        .to_dicts()
    )
    reference = reference_policy_status(**data, rules=rules, as_of=as_of)
    assert [r["person_id"] for r in engine] == [r["person_id"] for r in reference]
    for got, want in zip(engine, reference, strict=True):
        diff = {k: (got[k], want[k]) for k in want if not _same(got[k], want[k])}
        assert not diff, (got["person_id"], as_of, variant, diff)
    HISTORIES["count"] += len(data["persons"])
    HISTORIES["rows"] += len(reference)
    HISTORIES["regions"].update(r["region"] for r in reference)


def test_report_histories_checked():
    """Prints how many random histories the differential test compared (run after it)."""
    print(
        f"\ndifferential: {HISTORIES['count']} histories, {HISTORIES['rows']} policy_status rows, "
        f"regions {sorted(HISTORIES['regions'])}"
    )
