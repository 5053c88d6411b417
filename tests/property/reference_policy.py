"""Row-by-row reference for policy_status, written from policy.md alone (issue 6).

Deliberately simple and slow: one person at a time, one month at a time, plain Python.
Inputs are lists of dicts with the columns of the engine's inputs; rules are the loaded
RegionRules. Output: one dict per person with a resident payment for the as-of year.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, timedelta

TRANSITIONS = {
    "employee_stop",
    "military_discharge",
    "graduation",
    "hukou_move_in",
    "residence_permit",
    "student_status",
    "prison_release",
}


def add_months(day: date, months: int) -> date:
    """`day` plus whole calendar months, clamped to the month end (Nov 30 + 3 = Feb 28/29)."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def region_of(division: str | None, rules) -> str:
    """Section 3: the region whose resident file lists the division's province prefix."""
    best, best_len = "national", -1
    for key, region in rules.items():
        if not region.has_resident:
            continue
        for prefix in region.region.province_prefixes:
            if division and division.startswith(prefix) and len(prefix) > best_len:
                best, best_len = key, len(prefix)
    return best


def month_list(first_year: int, as_of: date) -> list[tuple[int, int]]:
    out = []
    year, month = first_year, 1
    while (year, month) <= (as_of.year, as_of.month):
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def is_eligible(person: dict, year: int, month: int) -> bool:
    """Born on or before the month's last day; not died before its first day."""
    last_day = date(year, month, calendar.monthrange(year, month)[1])
    born = person.get("birth_date")
    died = person.get("death_date")
    return (born is None or born <= last_day) and (died is None or died >= date(year, month, 1))


def monthly_line(person: dict, payments: list[dict], first_year: int, as_of: date):
    """[(year, month, eligible, covered)] from January of first_year to the as-of month."""
    resident_years = {
        p["period_year"] for p in payments if p["scheme"] == "resident" and p["kind"] == "normal"
    }
    employee = {
        (p["period_year"], p["period_month"])
        for p in payments
        if p["scheme"] == "employee" and p["kind"] == "normal"
    }
    line = []
    for year, month in month_list(first_year, as_of):
        eligible = is_eligible(person, year, month)
        covered = eligible and (year in resident_years or (year, month) in employee)
        line.append((year, month, eligible, covered))
    return line


def lapse_months(line, coverage) -> set[int]:
    """Positions in `line` of months that belong to a lapse (section 2)."""
    lapses: set[int] = set()
    i = 0
    while i < len(line):
        if not line[i][2] or line[i][3]:
            i += 1
            continue
        j = i
        while j + 1 < len(line) and line[j + 1][2] and not line[j + 1][3]:
            j += 1
        length = j - i + 1
        leading = not any(m[3] for m in line[:i])
        if leading:
            is_lapse = (
                coverage.never_covered_counts_as_lapse
                and length > coverage.switch_gap_tolerance_months
            )
        else:
            k = coverage.switch_min_prior_months
            prior = [line[x][3] if x >= 0 else False for x in range(i - k, i)]
            is_lapse = length > coverage.switch_gap_tolerance_months or not all(prior)
        if is_lapse:
            lapses.update(range(i, j + 1))
        i = j + 1
    return lapses


def year_statuses(line, lapses, first_year: int, last_year: int):
    """{year: (status, has a lapse month after the first covered month)}."""
    first_covered = next((i for i, m in enumerate(line) if m[3]), None)
    out = {}
    for year in range(first_year, last_year + 1):
        idx = [i for i, m in enumerate(line) if m[0] == year]
        if any(i in lapses for i in idx):
            status = "lapsed"
        elif any(line[i][3] for i in idx):
            status = "covered"
        else:
            status = "none"
        post = any(i in lapses and first_covered is not None and i > first_covered for i in idx)
        out[year] = (status, post)
    return out


def exemption_for(person, events, pay_day: date, ex, as_of: date):
    """(label, start) of the exemption giving the earliest start (section 4), or (None, None)."""
    jan1 = date(as_of.year, 1, 1)
    found = []
    births = {e["event_date"] for e in events if e["event"] == "birth"}
    if person.get("birth_date"):
        births.add(person["birth_date"])
    for born in births:
        if born <= pay_day <= born + timedelta(days=ex.newborn_window_days):
            found.append((max(jan1, born), 0, "newborn"))

    def start(rule: str) -> date:
        if rule == "first_of_next_month":
            return add_months(date(pay_day.year, pay_day.month, 1), 1)
        return pay_day + timedelta(days=1)

    for e in events:
        if e["event"] == "assistance":
            active = e["event_date"] <= pay_day and (
                e["end_date"] is None or pay_day < e["end_date"]
            )
            window = ex.assistance_window_days
            new = window is None or pay_day <= e["event_date"] + timedelta(days=window)
            if active and new:
                found.append((max(jan1, start(ex.assistance_benefit_start)), 1, "assistance"))
        elif e["event"] in TRANSITIONS:
            if ex.transition_window_days is not None:
                end = e["event_date"] + timedelta(days=ex.transition_window_days)
            else:
                end = add_months(e["event_date"], ex.transition_window_months)
            if e["event_date"] <= pay_day <= end:
                found.append((max(jan1, start(ex.transition_benefit_start)), 2, "status_change"))
    if not found:
        return None, None
    found.sort()
    return found[0][2], found[0][0]


def base_cap_for(division, region_key, base_caps, rules, as_of):
    """Latest row on or before as_of: the division's table row, or the region file's row
    when that one is strictly newer (section 5)."""
    table = [
        c for c in base_caps if c["pooling_division"] == division and c["effective_from"] <= as_of
    ]
    table_row = max(table, key=lambda c: c["effective_from"]) if table else None
    own = [c for c in rules[region_key].base_caps if c.effective_from <= as_of]
    own_row = max(own, key=lambda c: c.effective_from) if own else None
    if own_row and (table_row is None or own_row.effective_from > table_row["effective_from"]):
        return own_row.base_cap
    return table_row["base_cap"] if table_row else None


def reference_policy_status(
    payments, persons, events, claims, base_caps, rules, as_of: date
) -> list[dict]:
    """One dict per person with a resident payment for the as-of year, outputs.md columns."""
    first_year = rules["national"].history_start_year
    by_person = defaultdict(list)
    for p in payments:
        if p["paid_at"].date() <= as_of:
            by_person[p["person_id"]].append(p)
    people = {p["person_id"]: p for p in persons}
    events_of = defaultdict(list)
    for e in events:
        if e["event_date"] <= as_of:
            events_of[e["person_id"]].append(e)
    claims_of = defaultdict(list)
    for c in claims:
        claims_of[c["person_id"]].append(c)
    rows = []
    for pid, own in by_person.items():
        row = one_person(
            pid,
            own,
            people.get(pid),
            events_of[pid],
            claims_of[pid],
            base_caps,
            rules,
            as_of,
            first_year,
        )
        if row is not None:
            rows.append(row)
    return sorted(rows, key=lambda r: r["person_id"])


def one_person(pid, own, person, events, claims, base_caps, rules, as_of, first_year):
    Y = as_of.year
    for_y = [
        p
        for p in own
        if p["scheme"] == "resident" and p["kind"] == "normal" and p["period_year"] == Y
    ]
    if not for_y:
        return None
    pay = min(for_y, key=lambda p: (p["paid_at"], p["payment_id"]))
    pay_day = pay["paid_at"].date()
    key = region_of(pay["pooling_division"], rules)
    r = rules[key]
    cov, wp, ex, inc = r.coverage, r.waiting_period, r.exemptions, r.incentives
    P = cov.policy_start_year

    statuses = {}
    if person is not None:
        line = monthly_line(person, own, first_year, as_of)
        statuses = year_statuses(line, lapse_months(line, cov), first_year, Y)
    status = {y: statuses.get(y, ("none", False))[0] for y in range(first_year, Y + 1)}
    post = {y: statuses.get(y, ("none", False))[1] for y in range(first_year, Y + 1)}
    resident_years = {
        p["period_year"] for p in own if p["scheme"] == "resident" and p["kind"] == "normal"
    }
    repaired = {
        p["period_year"] for p in own if p["scheme"] == "resident" and p["kind"] == "repair"
    }

    def counted_covered(y):
        continuity = cov.employee_years_count_for_continuity or y in resident_years
        return y >= P and status[y] == "covered" and continuity

    consecutive = {}
    run = 0
    for y in range(first_year, Y + 1):
        run = run + 1 if counted_covered(y) else 0
        consecutive[y] = run
    lapse_run = 0
    y = Y - 1
    while y >= P and y >= first_year and status[y] == "lapsed":
        lapse_run += 1
        y -= 1
    lapsed_total = sum(
        1 for y in range(P, Y) if y >= first_year and status[y] == "lapsed" and post[y]
    )
    repaired_years = sum(1 for y in range(Y - lapse_run, Y) if y in repaired)

    # waiting period (section 3)
    label, ex_start = exemption_for(person or {}, events, pay_day, ex, as_of)
    jan1 = date(Y, 1, 1)
    ext = r.centralized_period.extensions.get(Y)
    c_start = date(Y - 1, int(r.centralized_period.start[:2]), int(r.centralized_period.start[3:]))
    c_end = ext or date(Y - 1, int(r.centralized_period.end[:2]), int(r.centralized_period.end[3:]))
    outside = not (c_start <= pay_day <= c_end)
    trigger = outside or (wp.trigger == "outside_or_lapsed" and lapse_run > 0)
    fixed = variable = total = 0
    if label is not None:
        benefit = ex_start
    elif trigger:
        fixed = wp.fixed_months
        variable = max(
            0,
            wp.variable_months_per_lapsed_year * lapse_run
            - wp.repair_months_per_year * repaired_years,
        )
        total = fixed + variable
        if lapse_run >= wp.long_lapse_years:
            total = max(total, wp.long_lapse_min_total_months)
        start_from = (
            jan1
            if (not outside and wp.inside_period_waits_from_jan1)
            else max(jan1, pay_day + timedelta(days=1))
        )
        benefit = add_months(start_from, total)
    else:
        benefit = jan1

    # incentives (section 5)
    if inc.continuous_kept_on_lapse:
        earned = sum(
            1
            for y in range(first_year, Y + 1)
            if counted_covered(y) and consecutive[y] > inc.incentive_threshold_years
        )
    else:
        earned = max(0, consecutive[Y] - inc.incentive_threshold_years)
    continuous = inc.continuous_step * earned
    fund = defaultdict(float)
    used = set()
    for c in claims:
        fund[c["year"]] += c["fund_paid"] or 0.0
        if c["incentive_used"]:
            used.add(c["year"])
    last_use = (
        max((u for u in used if u < Y), default=0) if inc.zero_claim_reset_on_incentive_use else 0
    )
    # a zero-claim year y's step is earned in y + 1; what was earned up to and including the
    # use year is cleared, so a step earned after it (y + 1 > last_use) counts
    zero_years = sum(
        1
        for y in range(max(P, first_year), Y)
        if y + 1 > last_use and counted_covered(y) and y in resident_years and fund[y] == 0
    )
    zero = inc.zero_claim_step * zero_years
    base = base_cap_for(pay["pooling_division"], key, base_caps, rules, as_of)
    # no base cap known: amounts as earned, no 20% cap, effective cap unknown
    total_inc = continuous + zero
    penalty = inc.lapse_penalty_step * lapsed_total
    effective = None
    if base is not None:
        total_inc = min(total_inc, inc.incentive_cap_ratio * base)
        if inc.penalty_cap_ratio is not None:
            penalty = min(penalty, inc.penalty_cap_ratio * base)
        effective = base + total_inc - penalty
    outpatient = inc.outpatient_step if consecutive[Y] > inc.incentive_threshold_years else 0.0
    return {
        "person_id": pid,
        "year": Y,
        "pooling_division": pay["pooling_division"],
        "region": key,
        "consecutive_years": consecutive[Y],
        "lapse_run_years": lapse_run,
        "lapsed_years_total": lapsed_total,
        "repaired_years": repaired_years,
        "exemption": label,
        "fixed_wait_months": fixed,
        "variable_wait_months": variable,
        "wait_months": total,
        "benefit_start_date": benefit,
        "in_waiting_period": as_of < benefit,
        "continuous_incentive": float(continuous),
        "zero_claim_incentive": float(zero),
        "total_incentive": total_inc,
        "lapse_penalty": penalty,
        "base_cap": base,
        "effective_cap": effective,
        "outpatient_incentive": float(outpatient),
    }
