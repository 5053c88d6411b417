"""Canonical records of every source for a chunk of people: one frame per source.

Columns are the contract's canonical names with typed values, plus hidden columns: `_pid` (the
person's true number), `_night` (ordinal of the delivery date) for events, `_from`/`_cancel`
(ordinals) for snapshots. `writers.py` renders them to the delivered strings.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .histories import _EPOCH, Context, PopulationRates, _month_start_ord, _to_date, night_of

LEVELS = ("kindergarten", "primary", "junior", "senior", "vocational", "higher")
LEVEL_NAMES = ("幼儿园", "小学", "初中", "高中", "职业学校", "学院")
ASSISTANCE = ("destitute", "minimum_living", "near_poor", "illness_poverty", "other")


def household_base(people: pl.DataFrame, rng: np.random.Generator, ctx: Context) -> pl.DataFrame:
    """Household snapshot rows: `_from` (registered), `_cancel` (status cancelled from)."""
    hh = people.filter(pl.col("hukou_kind") != 3)
    n = hh.height
    moved_date = ctx.first_ord - rng.integers(30, 900, n)
    res_differs = hh["hukou_kind"].to_numpy() != 0
    return hh.select(
        "id_number",
        "name",
        "sex",
        "birth_date",
        "hukou_division",
        "household_id",
        "relation",
        "address",
        "phone",
        _pid="id_number",
        _from="reg_ord",
        residence_division=pl.when(pl.Series(res_differs | (rng.random(n) < 0.5)))
        .then(pl.col("residence_division"))
        .otherwise(None),
        grid_code=pl.when(pl.col("hukou_kind") == 0).then(pl.col("grid_code")).otherwise(None),
        _status=pl.when(pl.col("moved_out")).then(pl.lit("moved_out")).otherwise(pl.lit("normal")),
        _status_date=pl.when(pl.col("moved_out")).then(_to_date(moved_date)).otherwise(None),
        _cancel=pl.when(pl.col("death_ord") > 0)
        .then(pl.col("death_known_ord") + 3)
        .otherwise(10**8),
        _cancel_date=pl.when(pl.col("death_ord") > 0)
        .then((pl.col("death_known_ord") + 3 - _EPOCH).cast(pl.Date))
        .otherwise(None),
    ).with_columns(pl.col("phone").fill_null(""))


def household_on(base: pl.DataFrame, night: int) -> pl.DataFrame:
    cancelled = pl.col("_cancel") <= night
    return base.filter(pl.col("_from") <= night).with_columns(
        status=pl.when(cancelled).then(pl.lit("cancelled")).otherwise(pl.col("_status")),
        status_date=pl.when(cancelled)
        .then(pl.col("_cancel_date"))
        .otherwise(pl.col("_status_date")),
    )


def permit_base(
    people: pl.DataFrame, rng: np.random.Generator, ctx: Context, rates: PopulationRates
) -> pl.DataFrame:
    """Residence permits of people living outside their hukou province, aged 16 and over."""
    p = people.filter(pl.col("hukou_kind").is_in([2, 3]), pl.col("age") >= 16)
    n = p.height
    issued = ctx.end_ord - rng.integers(20, 365 * 8, n)
    expired = rng.random(n) < rates.permit_expired
    valid = np.where(expired, ctx.end_ord - rng.integers(1, 300, n), issued + 365 * 10)
    valid = np.maximum(valid, issued + 30)
    return p.select(
        "id_number",
        "name",
        "grid_code",
        "address",
        "phone",
        _pid="id_number",
        permit_division="residence_division",
        issued_date=_to_date(issued),
        valid_until=_to_date(valid),
        _from=pl.Series(issued),
    )


def student_base(people: pl.DataFrame, rng: np.random.Generator, ctx: Context) -> pl.DataFrame:
    """School records: ages 3-17 nearly all, 18-22 some in vocational or higher education."""
    age = people["age"].to_numpy()
    n = people.height
    u = rng.random(n)
    level = np.select(
        [age <= 5, age <= 11, age <= 14, age <= 17], [0, 1, 2, 3], np.where(u < 0.3, 4, 5)
    )
    is_student = ((age >= 3) & (age <= 17) & (u < 0.98)) | ((age >= 18) & (age <= 22) & (u < 0.5))
    status = np.where(rng.random(n) < 0.01, "withdrawn", "enrolled")
    grad = (age == 18) & (rng.random(n) < 0.3)
    status = np.where(grad, "graduated", status)
    status_date = np.where(
        status == "enrolled",
        ctx.end_ord - 80 - rng.integers(0, 5, n) * 365,
        _month_start_ord(np.full(n, ctx.end_date.year * 12 + 6)) - rng.integers(0, 20, n),
    )
    status_date = np.minimum(status_date, ctx.end_ord - 1)
    school_no = rng.integers(1, 4, n)
    county = people["residence_division"].to_numpy()
    level_s = np.array(LEVELS)[level]
    df = (
        people.select(
            "id_number",
            "name",
            "birth_ord",
            _pid="id_number",
            school_division="residence_division",
        )
        .with_columns(
            level=pl.Series(level_s),
            status=pl.Series(status),
            status_date=_to_date(status_date),
            _status_ord=pl.Series(status_date),
            school_code=pl.Series(county)
            + pl.Series(level).cast(pl.String)
            + pl.Series(school_no).cast(pl.String).str.zfill(3),
            school_name=pl.Series(np.array(["第一", "第二", "第三"])[school_no - 1])
            + pl.Series(np.array(LEVEL_NAMES)[level]),
            student_no=pl.lit("G") + pl.col("id_number"),
            _from=pl.col("birth_ord"),
        )
        .filter(pl.Series(is_student))
    )
    return df.drop("birth_ord")


def assistance_base(
    people: pl.DataFrame, rng: np.random.Generator, ctx: Context, rates: PopulationRates
) -> pl.DataFrame:
    n = people.height
    age = people["age"].to_numpy()
    pick = rng.random(n) < rates.assistance * np.where(age >= 60, 2.0, 0.7)
    recognized = ctx.end_ord - rng.integers(10, 365 * 6, n)
    ended = np.where(rng.random(n) < 0.15, recognized + rng.integers(100, 900, n), 0)
    ended = np.where(ended >= ctx.end_ord, 0, ended)
    cat = np.array(ASSISTANCE)[rng.choice(5, n, p=[0.12, 0.45, 0.2, 0.18, 0.05])]
    div = people.select(
        d=pl.when(pl.col("hukou_division") == "")
        .then(pl.col("residence_division"))
        .otherwise(pl.col("hukou_division"))
    )["d"]
    return (
        people.select("id_number", "name", _pid="id_number")
        .with_columns(
            category=pl.Series(cat),
            recognized_date=_to_date(recognized),
            ended_date=pl.when(pl.Series(ended) > 0)
            .then(_to_date(np.maximum(ended, 1)))
            .otherwise(None),
            division=div,
            _from=pl.Series(recognized),
        )
        .filter(pl.Series(pick))
    )


def births(people: pl.DataFrame, rng: np.random.Generator, ctx: Context) -> pl.DataFrame:
    """One row per birth certificate delivery: children born since the start year with a mother.

    The first delivery carries the child's number only if it was registered by then; a corrected
    record on the registration night carries it otherwise (latest delivery wins).
    """
    parents = people.filter(pl.col("role").is_in([0, 1])).select(
        "household_no", pid="id_number", female=pl.col("sex") == 2
    )
    mothers = parents.filter("female").group_by("household_no").agg(mother=pl.col("pid").first())
    fathers = (
        parents.filter(~pl.col("female")).group_by("household_no").agg(father=pl.col("pid").first())
    )
    start = _month_start_ord(np.array([ctx.start_year * 12]))[0]
    kids = (
        people.filter(pl.col("role") == 2, pl.col("birth_ord") >= start)
        .join(mothers, on="household_no", how="inner")
        .join(fathers, on="household_no", how="left")
        .sort("person_no")
    )
    n = kids.height
    known = kids["birth_ord"].to_numpy() + rng.integers(1, 8, n)
    has_id = rng.random(n) < 0.6
    base = kids.select(
        _pid="id_number",
        birth_cert_no=pl.lit("Q")
        + (pl.col("person_no") * 7919 % 1_000_000_007).cast(pl.String).str.zfill(10),
        child_name=pl.when(pl.Series(rng.random(n) < 0.7)).then(pl.col("name")).otherwise(None),
        sex="sex",
        birth_date="birth_date",
        mother_id_number="mother",
        father_id_number="father",
        birth_division="residence_division",
        _id="id_number",
        _reg=pl.col("reg_ord"),
    ).with_columns(_known=pl.Series(known), _has_id=pl.Series(has_id))
    # First delivery: with the child's number only if already registered (and reported).
    first = base.with_columns(
        child_id_number=pl.when(
            pl.col("_has_id")
            & (pl.col("_reg") <= pl.max_horizontal(pl.col("_known"), pl.lit(ctx.first_ord)))
        )
        .then(pl.col("_id"))
        .otherwise(None),
        _night=pl.max_horizontal(pl.col("_known"), pl.lit(ctx.first_ord)),
    )
    # Correction: the number reported on the registration night (latest delivery wins).
    corr = base.filter(
        pl.col("_has_id"),
        pl.col("_reg") > pl.max_horizontal(pl.col("_known"), pl.lit(ctx.first_ord)),
        pl.col("_reg") <= ctx.end_ord,
    ).with_columns(child_id_number=pl.col("_id"), _night=pl.col("_reg"))
    out = pl.concat([first, corr]).filter(pl.col("_known") <= ctx.end_ord)
    return out.drop("_id", "_reg", "_known", "_has_id").sort("_night", "birth_cert_no")


def deaths(people: pl.DataFrame, rng: np.random.Generator, ctx: Context) -> pl.DataFrame:
    d = people.filter(pl.col("death_ord") > 0, pl.col("death_known_ord") <= ctx.end_ord)
    depts = np.array(["民政局", "公安局", "卫生健康委"])
    return d.select(
        "id_number",
        "name",
        _pid="id_number",
        death_date=(pl.col("death_ord") - _EPOCH).cast(pl.Date),
        reporting_dept=pl.Series(depts[rng.integers(0, 3, d.height)]),
        _night=pl.max_horizontal(pl.col("death_known_ord"), pl.lit(ctx.first_ord)),
    )


def status_changes(
    people: pl.DataFrame,
    contributions: pl.DataFrame,
    permits: pl.DataFrame,
    students: pl.DataFrame,
    rng: np.random.Generator,
    ctx: Context,
) -> pl.DataFrame:
    """Identity changes reported by departments: one row per (person, kind, event date)."""
    start = int(_month_start_ord(np.array([ctx.start_year * 12]))[0])
    stops = (
        contributions.filter(pl.col("_stop_month") >= 0)
        .group_by("_pid")
        .agg(m=pl.col("_stop_month").first(), division=pl.col("pooling_division").first())
        .sort("_pid")
    )
    stop_ord = (
        _month_start_ord(stops["m"].to_numpy() + 1)
        if stops.height
        else np.array([], dtype=np.int64)
    )
    frames = [
        stops.select(
            "_pid",
            "division",
            kind=pl.lit("employee_stop"),
            _ev=pl.Series(stop_ord, dtype=pl.Int64),
        )
    ]
    frames.append(
        permits.filter(pl.col("_from") >= start).select(
            "_pid", division="permit_division", kind=pl.lit("residence_permit"), _ev="_from"
        )
    )
    frames.append(
        students.filter(pl.col("status") == "graduated", pl.col("_status_ord") >= start).select(
            "_pid", division="school_division", kind=pl.lit("graduation"), _ev="_status_ord"
        )
    )
    n = people.height
    u = rng.random(n)
    ev = start + (rng.random(n) * (ctx.end_ord - start)).astype(np.int64)
    local = people["hukou_kind"].to_numpy() != 3
    male_young = (
        (people["sex"].to_numpy() == 1)
        & (people["age"].to_numpy() >= 20)
        & (people["age"].to_numpy() <= 45)
    )
    kinds = np.where(
        local & (u < 0.02),
        "hukou_move_in",
        np.where(
            male_young & (u > 0.995),
            "military_discharge",
            np.where(male_young & (u > 0.994), "prison_release", ""),
        ),
    )
    ev = np.maximum(ev, people["birth_ord"].to_numpy() + 1)
    frames.append(
        people.select(
            _pid="id_number",
            division=pl.when(pl.col("hukou_division") == "")
            .then(pl.col("residence_division"))
            .otherwise(pl.col("hukou_division")),
        )
        .with_columns(kind=pl.Series(kinds), _ev=pl.Series(ev))
        .filter(pl.col("kind") != "")
    )
    out = pl.concat([f.select("_pid", "division", "kind", "_ev") for f in frames]).sort(
        "_pid", "kind", "_ev"
    )
    known = out["_ev"].to_numpy() + rng.integers(0, 10, out.height)
    return (
        out.with_columns(
            id_number=pl.col("_pid"),
            event_date=(pl.col("_ev") - _EPOCH).cast(pl.Date),
            _night=pl.Series(night_of(known, ctx)),
            _known=pl.Series(known),
        )
        .filter(pl.col("_known") <= ctx.end_ord, pl.col("_ev") <= ctx.end_ord)
        .drop("_ev", "_known")
    )


def claims(
    payments: pl.DataFrame, rng: np.random.Generator, ctx: Context, nights: list[int]
) -> pl.DataFrame:
    """One row per person-year with coverage (extracts.md: "one row per person-year"); the
    current year resent on later nights.

    A person who paid into both schemes in a year (a switch) is summarised under the resident
    scheme, the one whose claims the zero-claim incentive reads ("resident" sorts last).
    """
    live = payments.filter(pl.col("kind") == "normal")
    py = (
        live.select("_pid", "name", "scheme", year=pl.col("period").str.slice(0, 4).cast(pl.Int32))
        .filter(pl.col("year") <= ctx.end_date.year)
        .sort("_pid", "year", "scheme")
        .unique(["_pid", "year"], keep="last", maintain_order=True)
    )
    n = py.height
    zero = rng.random(n) < 0.55
    fund = np.where(zero, 0.0, np.round(np.exp(rng.normal(7.0, 1.2, n)), 2))
    cat = np.where(
        ~zero & (rng.random(n) < 0.03), np.round(rng.uniform(20_000, 200_000, n), 2), 0.0
    )
    incentive = (cat > 0) & (rng.random(n) < 0.3) & (py["year"].to_numpy() >= 2026)
    cur = py["year"].to_numpy() == ctx.end_date.year
    base = py.with_columns(
        id_number=pl.col("_pid"),
        fund_paid=pl.Series(fund),
        catastrophic_paid=pl.Series(cat),
        incentive_used=pl.Series(incentive),
        _night=pl.lit(nights[0], pl.Int64),
    )
    frames = [base]
    for night in nights[1:]:
        upd = rng.random(n) < 0.02
        frames.append(
            base.filter(pl.Series(cur & upd)).with_columns(
                fund_paid=pl.col("fund_paid") + 100.0, _night=pl.lit(night, pl.Int64)
            )
        )
    return pl.concat(frames).drop("name")
