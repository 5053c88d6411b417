"""Life and payment histories of a chunk of synthetic people: canonical (typed) source records.

Each function returns one canonical frame per source: the columns of the extract contract with
proper types plus the hidden columns `_pid` (the person's true 18-character number, the key of
the truth) and `_night` (the delivery date that carries the record). Rendering to strings,
defects and file formats come later (`defects.py`, `writers.py`).

Behaviour (all rates in `PopulationRates`):
- resident payers pay once a year for the coverage year, mostly inside the centralized period
  (Sep-Dec of the year before), some outside it (Jan-Jun); some never pay, some lapse and a part of
  those come back with repair payments for the lapsed years;
- employees contribute monthly (paid between the 20th and 28th of the month before), change
  employer, have gaps, stop (an `employee_stop` event) and often switch to the resident scheme;
  flexible workers pay on their own base; Shandong rates apply in province 37 from 2024-01;
- newborns get an ID number at hukou registration (10-120 days after birth) and are paid for
  within 90 days of birth when the parents act in time;
- repeat enrolments: a resident payment for a year the person is an employee, a second resident
  payment in another pooling region, a double payment later refunded, contributions after death.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from . import reference

RESIDENT_PREMIUM = {2022: 350.0, 2023: 380.0, 2024: 400.0, 2025: 400.0, 2026: 420.0, 2027: 440.0}
SHANDONG_FROM = 2024 * 12  # month index (year * 12 + month - 1) of 2024-01
EMPLOYER_RATE = {"enterprise": 0.08, "institution": 0.073}
PERSON_RATE = 0.02
FLEXIBLE_RATES = (0.07, 0.09)
FLEXIBLE_MIN_SHARE = 0.60


@dataclass(frozen=True)
class PopulationRates:
    """Behaviour rates of the synthetic population (probabilities per person unless stated)."""

    never_insured: float = 0.02
    lapse: float = 0.03
    lapse_resume: float = 0.5  # of the lapsed, share who pay again later
    repair: float = 0.5  # of those who resume, share who repair the lapsed years
    outside_centralized: float = 0.12  # per resident payment
    employee: float = 0.42  # of people aged 22-59
    employee_stop: float = 0.2
    switch_to_resident: float = 0.7
    job_switch: float = 0.25
    flexible: float = 0.12
    institution: float = 0.15
    near_retirement_employee: float = 0.8  # men born 1965-66, women 1971-76
    employee_and_resident: float = 0.02  # of employees; then each employee year with p 0.5
    resident_twice: float = 0.025  # of resident payers; then each paid year with p 0.4
    double_paid_refunded: float = 0.005
    employee_refund: float = 0.002  # per employee person: one contribution refunded
    contributions_after_death: float = 0.3  # of employees who die
    newborn_paid_in_time: float = 0.8
    death_scale: float = 1.0
    assistance: float = 0.025
    moved_out: float = 0.01
    permit_expired: float = 0.04
    prepaid_next_year: float = 0.7  # paid for next year by end_date when it is in Sep-Dec
    # Shandong contribution findings, per Shandong employee payment from 2024-01
    amount_mismatch: float = 0.004
    base_below_minimum: float = 0.02  # per flexible payment
    employer_type_rate: float = 0.003


def _ord(d: date) -> int:
    return d.toordinal()


_EPOCH = date(1970, 1, 1).toordinal()


def _to_date(ordinals: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(ordinals, dtype=np.int64) - _EPOCH).cast(pl.Date)


def _month_start_ord(month_index: np.ndarray) -> np.ndarray:
    """Ordinal of the first day of month index (year * 12 + month - 1), vectorised."""
    y = month_index // 12
    m = month_index % 12 + 1
    d = (y.astype("int64") - 1970) * 12 + (m - 1)
    days = np.array(d, dtype="datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return days + _EPOCH


def _year_start_ord(year: np.ndarray) -> np.ndarray:
    return _month_start_ord(np.asarray(year, dtype=np.int64) * 12)


@dataclass
class Context:
    start_year: int
    end_date: date
    first_night: date
    seed: int

    @property
    def end_ord(self) -> int:
        return _ord(self.end_date)

    @property
    def first_ord(self) -> int:
        return _ord(self.first_night)

    @property
    def end_month(self) -> int:
        return self.end_date.year * 12 + self.end_date.month - 1


def night_of(known_ord: np.ndarray, ctx: Context) -> np.ndarray:
    """Delivery night (ordinal) of an event known on a day: the initial load or that day."""
    return np.maximum(known_ord, ctx.first_ord)


def life_events(
    pop: pl.DataFrame, rng: np.random.Generator, ctx: Context, rates: PopulationRates
) -> pl.DataFrame:
    """Adds death, hukou registration, status and employment draws to the chunk's people."""
    n = pop.height
    age = pop["age"].to_numpy().astype(np.float64)
    birth = pop["birth_date"].to_physical().to_numpy().astype(np.int64) + _EPOCH
    years = (ctx.end_ord - _ord(date(ctx.start_year, 1, 1))) / 365.25
    p_year = np.clip(0.0004 * np.exp(0.085 * (age - 40)), 0.0002, 0.25) * rates.death_scale
    dies = rng.random(n) < 1 - (1 - p_year) ** years
    lo = np.maximum(_ord(date(ctx.start_year, 1, 1)), birth + 1)
    death = np.where(
        dies & (lo < ctx.end_ord),
        lo + (rng.random(n) * np.maximum(ctx.end_ord - lo, 1)).astype(np.int64),
        0,
    )
    death_known = death + rng.integers(1, 25, n)
    # Newborns: registered (ID known) 10-120 days after birth.
    reg = np.where(
        birth >= _ord(date(ctx.start_year, 1, 1)), birth + rng.integers(10, 120, n), birth
    )
    sex = pop["sex"].to_numpy()
    by = pop["birth_date"].dt.year().to_numpy()
    near_ret = ((sex == 1) & ((by == 1965) | (by == 1966))) | (
        (sex == 2) & (by >= 1971) & (by <= 1976)
    )
    working = (age >= 22) & (age <= 59) & ((sex == 1) | (age <= 55))
    employee = (working | near_ret) & (
        rng.random(n) < np.where(near_ret, rates.near_retirement_employee, rates.employee)
    )
    moved_out = (pop["hukou_kind"].to_numpy() != 3) & (rng.random(n) < rates.moved_out)
    return pop.with_columns(
        death_ord=pl.Series(death, dtype=pl.Int64),
        death_known_ord=pl.Series(np.where(death > 0, death_known, 0), dtype=pl.Int64),
        birth_ord=pl.Series(birth),
        reg_ord=pl.Series(reg),
        is_employee=pl.Series(employee),
        moved_out=pl.Series(moved_out),
        behaviour=pl.Series(rng.random(n)),
    )


def employers(
    rng: np.random.Generator, pooling: list[str], per_region: int, institution_share: float = 0.15
) -> pl.DataFrame:
    """A pool of employers per pooling region with valid unified social credit codes (GB 32100)."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    w_uscc = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    w_org = (3, 7, 9, 10, 5, 8, 4, 2)
    rows = []
    for region in pooling:
        for _ in range(per_region):
            org = "".join(alphabet[i] for i in rng.integers(0, 10, 8))
            c = 11 - sum(int(ch) * w for ch, w in zip(org, w_org)) % 11
            org += "X" if c == 10 else ("0" if c == 11 else str(c))
            etype = "institution" if rng.random() < institution_share else "enterprise"
            head = ("11" if etype == "institution" else "91") + region + org
            check = alphabet[(31 - sum(alphabet.index(ch) * w for ch, w in zip(head, w_uscc))) % 31]
            rows.append((region, head + check, etype))
    return pl.DataFrame(
        rows, schema=["pooling_division", "employer_id", "employer_type"], orient="row"
    )


def employee_contributions(
    people: pl.DataFrame,
    rng: np.random.Generator,
    ctx: Context,
    rates: PopulationRates,
    employer_pool: pl.DataFrame,
    wages: pl.DataFrame,
) -> pl.DataFrame:
    """One row per employee contribution (person x month), with amounts and Shandong findings."""
    emp = people.filter(pl.col("is_employee"))
    n = emp.height
    m0 = ctx.start_year * 12
    m_last = ctx.end_month + 1  # next month can be prepaid from the 20th
    span = m_last - m0 + 1
    r = rng.random((n, 6))
    start = np.where(r[:, 0] < 0.7, m0, m0 + (r[:, 1] * span).astype(np.int64))
    stops = r[:, 2] < rates.employee_stop
    end = np.where(stops, start + (r[:, 3] * (m_last - start + 1)).astype(np.int64), m_last)
    death_ord = emp["death_ord"].to_numpy()
    death_month = np.where(death_ord > 0, _ord_to_month(death_ord), 10**9)
    after = rng.random(n) < rates.contributions_after_death
    end = np.minimum(end, np.where(after, death_month + rng.integers(1, 4, n), death_month))
    switch_at = np.where(
        r[:, 4] < rates.job_switch, start + (r[:, 5] * (end - start + 1)).astype(np.int64), 10**9
    )
    gap = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 6, n))
    flexible = rng.random(n) < rates.flexible
    pooling = emp["residence_pooling"].to_numpy()
    n_months = np.maximum(end - start + 1, 0)
    idx = np.repeat(np.arange(n), n_months)
    month = start[idx] + (np.arange(len(idx)) - np.repeat(np.cumsum(n_months) - n_months, n_months))
    in_gap = (month >= switch_at[idx]) & (month < switch_at[idx] + gap[idx])
    keep = ~in_gap
    idx, month = idx[keep], month[keep]
    second_job = month >= switch_at[idx]
    # Employers: two draws per person from the pool of the person's pooling region.
    pool = employer_pool.sort("pooling_division", "employer_id")
    keys, first, counts = np.unique(
        pool["pooling_division"].to_numpy(), return_index=True, return_counts=True
    )
    ci = np.searchsorted(keys, pooling)
    e1 = first[ci] + rng.integers(0, 1 << 30, n) % counts[ci]
    e2 = first[ci] + rng.integers(0, 1 << 30, n) % counts[ci]
    emp_row = np.where(second_job, e2[idx], e1[idx])
    # Strings are gathered in polars: numpy unicode arrays are slow to convert.
    flex_rows = pl.Series(flexible[idx])
    employer_id = pl.select(
        pl.when(flex_rows).then(None).otherwise(pool["employer_id"].gather(emp_row))
    ).to_series()
    etype_s = pl.select(
        pl.when(flex_rows).then(pl.lit("flexible")).otherwise(pool["employer_type"].gather(emp_row))
    ).to_series()
    etype = np.select([flexible[idx], (etype_s == "institution").to_numpy()], [2, 1], 0)
    # Base: the person's wage, at least the flexible minimum; flexible workers near the minimum.
    prov = pl.Series(pooling, dtype=pl.String).str.slice(0, 2).to_numpy()  # typed: may be empty
    year = month // 12
    wage_rows = wages.with_columns(prov=pl.col("province_code").str.slice(0, 2))
    wage_lookup = {
        (p, y): w
        for p, y, w in wage_rows.select("prov", "year", "average_monthly_wage").iter_rows()
    }
    prov_codes = {p: i for i, p in enumerate(reference.PROVINCES)}
    y_lo = int(wages["year"].min())
    table = np.full((len(reference.PROVINCES), int(wages["year"].max()) - y_lo + 2), 8000.0)
    for (p, y), w in wage_lookup.items():
        table[prov_codes[p], y - y_lo] = w
    prov_i = np.array([prov_codes[p] for p in prov], dtype=np.int64)
    prev_wage = table[prov_i[idx], np.clip(year - 1 - y_lo, 0, table.shape[1] - 1)]
    minimum = np.ceil(prev_wage * FLEXIBLE_MIN_SHARE)
    person_factor = np.exp(rng.normal(0.1, 0.4, n))
    base = np.where(
        flexible[idx],
        minimum + np.floor(rng.random(len(idx)) * 0.3 * prev_wage),
        np.maximum(np.round(prev_wage * person_factor[idx]), minimum),
    )
    base = np.minimum(base, np.round(prev_wage * 3))
    flex_rate = np.where(rng.random(n) < 0.5, FLEXIBLE_RATES[0], FLEXIBLE_RATES[1])[idx]
    er_rate = np.where(etype == 1, EMPLOYER_RATE["institution"], EMPLOYER_RATE["enterprise"])
    employer_amount = np.where(flexible[idx], np.nan, np.round(base * er_rate, 2))
    person_amount = np.where(
        flexible[idx], np.round(base * flex_rate, 2), np.round(base * PERSON_RATE, 2)
    )
    amount = np.where(flexible[idx], person_amount, np.round(employer_amount + person_amount, 2))
    # Shandong findings (one per payment): injected on normal contributions from 2024-01.
    shandong = (prov[idx] == "37") & (month >= SHANDONG_FROM)
    u = rng.random(len(idx))
    finding = np.zeros(len(idx), dtype=np.int8)
    below = shandong & flexible[idx] & (u < rates.base_below_minimum)
    base = np.where(below, minimum - rng.integers(50, 800, len(idx)), base)
    person_amount = np.where(below, np.round(base * flex_rate, 2), person_amount)
    amount = np.where(below, person_amount, amount)
    finding[below] = 1
    wrong_type = shandong & ~flexible[idx] & (u < rates.employer_type_rate)
    other_rate = np.where(etype == 1, EMPLOYER_RATE["enterprise"], EMPLOYER_RATE["institution"])
    employer_amount = np.where(wrong_type, np.round(base * other_rate, 2), employer_amount)
    amount = np.where(wrong_type, np.round(employer_amount + person_amount, 2), amount)
    finding[wrong_type] = 2
    mismatch = shandong & ~below & ~wrong_type & (u > 1 - rates.amount_mismatch)
    amount = np.where(
        mismatch,
        np.round(
            amount + rng.integers(5, 40, len(idx)) * np.where(rng.random(len(idx)) < 0.5, -1, 1), 2
        ),
        amount,
    )
    finding[mismatch] = 3
    paid = _month_start_ord(month - 1) + 19 + rng.integers(0, 9, len(idx))
    ok = paid <= ctx.end_ord
    df = pl.DataFrame(
        {
            "_person_no": emp["person_no"].to_numpy()[idx],
            "_pid": emp["id_number"].gather(idx),
            "name": emp["name"].gather(idx),
            "pooling_division": emp["residence_pooling"].gather(idx),
            "amount": amount,
            "base": base.astype(np.float64),
            "employer_amount": employer_amount,
            "person_amount": person_amount,
            "employer_id": employer_id,
            "employer_type": etype_s,
            "_paid_ord": paid,
            "_finding_code": finding,
            "_month": month,
            "_stop_month": np.where(
                stops[idx] & (end[idx] < death_month[idx]) & (end[idx] < ctx.end_month),
                end[idx],
                -1,
            ),
        }
    ).filter(pl.Series(ok))
    period = (
        (pl.col("_month") // 12).cast(pl.String)
        + "-"
        + (pl.col("_month") % 12 + 1).cast(pl.String).str.zfill(2)
    )
    df = df.with_columns(
        payment_id=pl.lit("E")
        + pl.col("_person_no").cast(pl.String).str.zfill(9)
        + period.str.replace("-", ""),
        scheme=pl.lit("employee"),
        period=period,
        kind=pl.lit("normal"),
        refund_of=pl.lit(None, pl.String),
        employer_id=pl.when(pl.col("employer_id") == "")
        .then(None)
        .otherwise(pl.col("employer_id")),
        _finding=pl.col("_finding_code").replace_strict(
            {0: None, 1: "base_below_minimum", 2: "employer_type_rate", 3: "amount_mismatch"},
            return_dtype=pl.String,
        ),
    ).drop("_finding_code", "_person_no")
    # A few contributions refunded (paid twice by the employer, wrong person): 5-40 days later.
    per_row = rates.employee_refund / 24
    refund = (
        df.filter(pl.Series(rng.random(df.height) < per_row), pl.col("_finding").is_null())
        .with_columns(
            refund_of=pl.col("payment_id"),
            payment_id=pl.lit("F") + pl.col("payment_id"),
            kind=pl.lit("refund"),
            _paid_ord=pl.col("_paid_ord") + 5 + pl.col("_month") % 36,
            _stop_month=pl.lit(-1, pl.Int64),
        )
        .filter(pl.col("_paid_ord") <= ctx.end_ord)
    )
    df = pl.concat([df, refund])
    return df.with_columns(pl.col("employer_amount").fill_nan(None))


def _ord_to_month(ordinal: np.ndarray) -> np.ndarray:
    d = (np.asarray(ordinal, dtype=np.int64) - _EPOCH).astype("datetime64[D]")
    months = d.astype("datetime64[M]").astype(np.int64)
    return 1970 * 12 + months


def resident_payments(
    people: pl.DataFrame,
    contributions: pl.DataFrame,
    rng: np.random.Generator,
    ctx: Context,
    rates: PopulationRates,
    pooling_all: list[str],
) -> pl.DataFrame:
    """One row per resident payment (person x coverage year), incl. repairs, doubles and refunds."""
    n = people.height
    y0, y_end = ctx.start_year, ctx.end_date.year
    years = np.arange(y0, y_end + 2)
    ny = len(years)
    birth = people["birth_ord"].to_numpy()
    death = people["death_ord"].to_numpy()
    reg = people["reg_ord"].to_numpy()
    b = people["behaviour"].to_numpy()
    # Employee months per person and year (from clean contributions).
    emp_year = contributions.group_by("_pid", (pl.col("_month") // 12).alias("y")).agg(
        first=pl.col("_month").min() % 12, last=pl.col("_month").max() % 12, k=pl.len()
    )
    pid = people["id_number"].to_numpy()
    pos = {p: i for i, p in enumerate(pid)}
    emp_first = np.full((n, ny), 99)
    emp_last = np.full((n, ny), -1)
    if emp_year.height:
        rows = np.array([pos[p] for p in emp_year["_pid"].to_list()])
        cols = emp_year["y"].to_numpy() - y0
        okc = (cols >= 0) & (cols < ny)
        emp_first[rows[okc], cols[okc]] = emp_year["first"].to_numpy()[okc]
        emp_last[rows[okc], cols[okc]] = emp_year["last"].to_numpy()[okc]
    has_emp = emp_last >= 0
    year_start = _year_start_ord(years)[None, :]
    birth_year = people["birth_date"].dt.year().to_numpy()[:, None]
    newborn_year = birth_year == years[None, :]
    # Behaviour classes.
    never = b < rates.never_insured
    lapser = (b >= rates.never_insured) & (b < rates.never_insured + rates.lapse)
    lapse_from = y0 + 1 + (rng.random(n) * (y_end - y0)).astype(np.int64)
    resume = lapser & (rng.random(n) < rates.lapse_resume)
    resume_at = lapse_from + 1 + (rng.random(n) * 2).astype(np.int64)
    lapsed_year = (
        lapser[:, None]
        & (years[None, :] >= lapse_from[:, None])
        & ~(resume[:, None] & (years[None, :] >= resume_at[:, None]))
    )
    pays = ~never[:, None] & ~lapsed_year & (birth_year <= years[None, :])
    # Employees: no resident payment for a year with employee months, except after the stop.
    after_stop = has_emp & (emp_last < 11)
    switches = rng.random((n, 1)) < rates.switch_to_resident
    pays &= ~has_emp | (after_stop & switches)
    # Centralized period (Sep 1 - Dec 31 of the year before) or outside it (Jan 1 - Jun 30).
    outside = rng.random((n, ny)) < rates.outside_centralized
    cent = _year_start_ord(years - 1)[None, :] + 243 + rng.integers(0, 120, (n, ny))
    out = year_start + rng.integers(0, 180, (n, ny))
    paid = np.where(outside, out, cent)
    # After an employee stop: pay 5-80 days after the last employee month (a switch).
    stop_pay = _month_start_ord(years[None, :] * 12 + np.minimum(emp_last + 1, 11)) + rng.integers(
        5, 80, (n, ny)
    )
    paid = np.where(after_stop, np.maximum(paid, stop_pay), paid)
    # Newborns: within 90 days of birth (if in time), never before the ID exists.
    nb_pay = np.maximum(birth[:, None] + rng.integers(0, 85, (n, ny)), reg[:, None] + 1)
    late = rng.random((n, 1)) >= rates.newborn_paid_in_time
    nb_pay = np.where(late, birth[:, None] + rng.integers(100, 400, (n, ny)), nb_pay)
    paid = np.where(newborn_year, nb_pay, paid)
    paid = np.maximum(paid, reg[:, None] + 1)
    # The dead stop paying; a payment made before death for a later year stays (after death).
    paid_ok = (paid <= ctx.end_ord) & ((death[:, None] == 0) | (paid < death[:, None]))
    # Next year's payment only by those who prepay, inside the centralized period.
    nxt = years[None, :] > y_end
    pays &= paid_ok & (~nxt | (rng.random((n, 1)) < rates.prepaid_next_year))
    # Repeat: a resident payment for a year the person is an employee (paid before the year).
    emp_dup = (
        has_emp
        & ~after_stop
        & (rng.random((n, 1)) < rates.employee_and_resident)
        & (rng.random((n, ny)) < 0.5)
    )
    emp_dup_paid = cent
    emp_dup &= (emp_dup_paid <= ctx.end_ord) & (
        (death[:, None] == 0) | (emp_dup_paid < death[:, None])
    )
    pays_any = pays | emp_dup
    paid = np.where(emp_dup & ~pays, emp_dup_paid, paid)

    r_i, c_i = np.nonzero(pays_any)
    pooling = people["residence_pooling"].to_numpy()
    base = pl.DataFrame(
        {
            "_row": r_i,
            "_year": years[c_i],
            "_paid_ord": paid[r_i, c_i],
            "pooling_division": pl.Series(pooling[r_i], dtype=pl.String),
            "kind": np.full(len(r_i), "normal"),
            "_seq": np.zeros(len(r_i), dtype=np.int64),
        }
    )
    frames = [base]
    # Repairs: when paying again after a lapse, some repair the lapsed years (same day).
    rep_r, rep_c = np.nonzero(
        lapsed_year
        & (resume & (rng.random(n) < rates.repair))[:, None]
        & (years[None, :] < resume_at[:, None])
    )
    if len(rep_r):
        resume_col = np.clip(resume_at[rep_r] - y0, 0, ny - 1)
        rp = paid[rep_r, resume_col] + 1
        okr = pays[rep_r, resume_col] & (rp <= ctx.end_ord)
        frames.append(
            pl.DataFrame(
                {
                    "_row": rep_r[okr],
                    "_year": years[rep_c[okr]],
                    "_paid_ord": rp[okr],
                    "pooling_division": pl.Series(pooling[rep_r[okr]], dtype=pl.String),
                    "kind": np.full(okr.sum(), "repair"),
                    "_seq": np.full(okr.sum(), 1, dtype=np.int64),
                }
            )
        )
    # Second resident payment the same year: another region (repeat) or the same (refunded later).
    hukou_pool = people["hukou_pooling"].fill_null("").to_numpy()
    pr, pc = np.nonzero(
        pays
        & ~nxt
        & (rng.random((n, 1)) < rates.resident_twice + rates.double_paid_refunded)
        & (rng.random((n, ny)) < 0.4)
    )
    if len(pr):
        twice = rng.random(len(pr)) < rates.resident_twice / (
            rates.resident_twice + rates.double_paid_refunded
        )
        other = np.array(pooling_all)[rng.integers(0, len(pooling_all), len(pr))]
        other = np.where(
            (hukou_pool[pr] != "") & (hukou_pool[pr] != pooling[pr]), hukou_pool[pr], other
        )
        other = np.where(
            other == pooling[pr],
            np.array(pooling_all)[0] if pooling_all[0] != pooling[pr][0] else pooling_all[-1],
            other,
        )
        p2 = paid[pr, pc] + rng.integers(1, 60, len(pr))
        ok2 = p2 <= ctx.end_ord
        frames.append(
            pl.DataFrame(
                {
                    "_row": pr[ok2],
                    "_year": years[pc[ok2]],
                    "_paid_ord": p2[ok2],
                    "pooling_division": pl.Series(
                        np.where(twice, other, pooling[pr])[ok2], dtype=pl.String
                    ),
                    "kind": np.full(ok2.sum(), "normal"),
                    "_seq": np.where(twice, 2, 3)[ok2].astype(np.int64),
                }
            )
        )
    pay = pl.concat(frames)
    premium = pl.col("_year").replace_strict(
        RESIDENT_PREMIUM, default=440.0, return_dtype=pl.Float64
    )
    row = pay["_row"].to_numpy()
    death_year = np.where(death > 0, _ord_year(np.maximum(death, 1)), 10**6)
    pay = pay.with_columns(
        _pid=people["id_number"].gather(row),
        name=people["name"].gather(row),
        _person_no=pl.Series(people["person_no"].to_numpy()[row]),
        _death=pl.Series(death[row]),
        _after_death=pl.Series(death_year[row]) < pl.col("_year"),
        _u=pl.Series(rng.random(len(row))),
    ).with_columns(
        scheme=pl.lit("resident"),
        period=pl.col("_year").cast(pl.String),
        amount=premium,
        person_amount=premium,
        payment_id=pl.lit("R")
        + pl.col("_person_no").cast(pl.String).str.zfill(9)
        + pl.col("_year").cast(pl.String)
        + pl.col("_seq").cast(pl.String),
    )
    # Refunds: the same-region doubles (5-40 days later), half of the payments after death.
    to_refund = (
        pay.filter((pl.col("_seq") == 3) | (pl.col("_after_death") & (pl.col("_u") < 0.5)))
        .with_columns(
            _paid_ord=pl.max_horizontal(pl.col("_paid_ord"), pl.col("_death"))
            + 5
            + (pl.col("_person_no") % 35)
        )
        .filter(pl.col("_paid_ord") <= ctx.end_ord)
    )
    refunds = to_refund.with_columns(
        refund_of=pl.col("payment_id"),
        payment_id=pl.lit("F") + pl.col("payment_id"),
        kind=pl.lit("refund"),
    )
    return pl.concat([pay.with_columns(refund_of=pl.lit(None, pl.String)), refunds]).drop(
        "_row", "_seq", "_death", "_after_death", "_u", "_person_no"
    )


def _ord_year(ordinal: np.ndarray) -> np.ndarray:
    return _ord_to_month(ordinal) // 12
