"""Ground truth of a synthetic inbox, computed from the records the pipeline should accept.

Independent of the pipeline: simple polars over the canonical (typed) records minus the rejected
ones, as of `end_date` (the last delivery date). Readings of outputs.md taken here:
- snapshots: only the last night's accepted rows count; events: every accepted row, the latest
  delivery of a key wins (births re-sent with the child's number);
- live payment: kind `normal` and not cancelled by an accepted refund (repairs are not live,
  outputs.md "Repeat enrolments"); covering payments are the same;
- in scope: alive (no accepted death on or before end_date) and a `normal` household record, a
  permit with issued_date <= end_date <= valid_until (or no end), or an `enrolled` student; or a
  newborn from an accepted birth record born 0-365 days before end_date (no alive condition,
  as written); or deceased_covered. `flag` is empty for people out of scope;
- newborn linking: `child_id_number` of the latest birth record, else the one household record
  of a parent's household with the same birth date and sex; otherwise `B:`+birth_cert_no;
- `resident_twice` keeps the earliest-paid payment in a pooling region of the person's residence
  (permit division, household residence_division, school division), else the earliest paid;
  `employee_and_resident` and `after_death` keep nothing (keep_payment_id empty);
  refund_payment_ids are sorted and `;`-joined; `after_death` period is the payment's year;
- birth dates for flags come from the number (or the birth record for `B:` people).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from .reference import pooling_division_of

FLAG_ORDER = [
    "deceased_covered",
    "repeat_enrolled",
    "newborn_pending",
    "newborn_overdue",
    "student_uninsured",
    "uninsured",
    "lapsed",
    "insured",
]


def live_payments(payments: pl.DataFrame) -> pl.DataFrame:
    refunded = payments.filter(pl.col("kind") == "refund").select(
        pl.col("refund_of").alias("payment_id")
    )
    return (
        payments.filter(pl.col("kind") == "normal")
        .join(refunded, on="payment_id", how="anti")
        .with_columns(
            year=pl.col("period").str.slice(0, 4).cast(pl.Int32),
            month=pl.when(pl.col("scheme") == "employee").then(
                pl.col("period").str.slice(0, 4).cast(pl.Int32) * 12
                + pl.col("period").str.slice(5, 2).cast(pl.Int32)
                - 1
            ),
            paid_date=(pl.col("_paid_ord") - 719163).cast(pl.Date),
        )
    )


def newborn_links(births: pl.DataFrame, household: pl.DataFrame) -> pl.DataFrame:
    """birth_cert_no -> person_id, from the latest accepted birth record of each certificate."""
    latest = births.sort("_night").unique("birth_cert_no", keep="last")
    parent_hh = household.select(pid="_pid", household_id="household_id")
    members = household.select(
        child="_pid", household_id="household_id", birth_date="birth_date", sex="sex"
    )
    cand = (
        pl.concat(
            [
                latest.select("birth_cert_no", "birth_date", "sex", pid="mother_id_number"),
                latest.select("birth_cert_no", "birth_date", "sex", pid="father_id_number"),
            ]
        )
        .drop_nulls("pid")
        .join(parent_hh, on="pid")
        .join(members, on=["household_id", "birth_date", "sex"])
        .filter(pl.col("child") != pl.col("pid"))
        .unique(["birth_cert_no", "child"])
    )
    single = (
        cand.group_by("birth_cert_no")
        .agg(pl.col("child").first(), n=pl.len())
        .filter(pl.col("n") == 1)
    )
    return (
        latest.join(single.select("birth_cert_no", "child"), on="birth_cert_no", how="left")
        .select(
            "birth_cert_no",
            "birth_date",
            person_id=pl.coalesce(
                "child_id_number", "child", pl.lit("B:") + pl.col("birth_cert_no")
            ),
        )
        .sort("birth_cert_no")
    )


def repeat_enrolments(
    live: pl.DataFrame, deaths: pl.DataFrame, residence: pl.DataFrame
) -> pl.DataFrame:
    """One row per person, year and kind (outputs.md "Repeat enrolments")."""
    res = live.filter(pl.col("scheme") == "resident")
    emp = live.filter(pl.col("scheme") == "employee")
    twice = res.filter(pl.len().over("_pid", "year") >= 2).join(
        residence.with_columns(home=pl.lit(True)), on=["_pid", "pooling_division"], how="left"
    )
    keep = (
        twice.sort(pl.col("home").is_null(), "paid_date", "payment_id")
        .group_by("_pid", "year")
        .agg(keep=pl.col("payment_id").first(), refund=pl.col("payment_id").slice(1))
    )
    t = keep.select(
        "_pid", "year", kind=pl.lit("resident_twice"), keep_payment_id="keep", refund="refund"
    )
    month_end = pl.date(pl.col("month") // 12, pl.col("month") % 12 + 1, 1).dt.month_end()
    overlap = (
        emp.select("_pid", "year", "month", month_end=month_end)
        .join(res.select("_pid", "year", "payment_id", "paid_date"), on=["_pid", "year"])
        .filter(pl.col("paid_date") <= pl.col("month_end"))
    )
    er = (
        overlap.group_by("_pid", "year")
        .agg(refund=pl.col("payment_id").unique())
        .select(
            "_pid",
            "year",
            kind=pl.lit("employee_and_resident"),
            keep_payment_id=pl.lit(None, pl.String),
            refund="refund",
        )
    )
    dead = deaths.select("_pid", death_date="death_date")
    after = live.join(dead, on="_pid").filter(
        pl.when(pl.col("scheme") == "employee")
        .then(
            pl.col("month")
            > pl.col("death_date").dt.year().cast(pl.Int32) * 12
            + pl.col("death_date").dt.month().cast(pl.Int32)
            - 1
        )
        .otherwise(pl.col("year") > pl.col("death_date").dt.year().cast(pl.Int32))
    )
    ad = (
        after.group_by("_pid", "year")
        .agg(refund=pl.col("payment_id"))
        .select(
            "_pid",
            "year",
            kind=pl.lit("after_death"),
            keep_payment_id=pl.lit(None, pl.String),
            refund="refund",
        )
    )
    return (
        pl.concat([t, er, ad])
        .select(
            person_id="_pid",
            period=pl.col("year").cast(pl.String),
            kind="kind",
            keep_payment_id="keep_payment_id",
            refund_payment_ids=pl.col("refund").list.sort().list.join(";"),
        )
        .sort("person_id", "period", "kind")
    )


def persons(
    end_date: date,
    start_year: int,
    household: pl.DataFrame,
    permits: pl.DataFrame,
    students: pl.DataFrame,
    deaths: pl.DataFrame,
    links: pl.DataFrame,
    live: pl.DataFrame,
    repeats: pl.DataFrame,
    known: pl.Series,
) -> pl.DataFrame:
    """One row per person known from accepted records: in_scope and the expected flag."""
    end_month = end_date.year * 12 + end_date.month - 1
    dead = deaths.filter(pl.col("death_date") <= end_date).select("_pid", is_dead=pl.lit(True))
    normal = household.filter(pl.col("status") == "normal").select("_pid")
    permit = permits.filter(
        pl.col("issued_date") <= end_date,
        pl.col("valid_until").is_null() | (pl.col("valid_until") >= end_date),
    ).select("_pid")
    enrolled = (
        students.filter(pl.col("status") == "enrolled")
        .select("_pid", is_student=pl.lit(True))
        .unique()
    )
    resident_cover = live.filter(
        pl.col("scheme") == "resident",
        pl.col("year") >= start_year,
        pl.col("year") <= end_date.year,
    ).select("_pid", covered_now=pl.col("year") == end_date.year)
    emp_cover = live.filter(
        pl.col("scheme") == "employee",
        pl.col("month") >= start_year * 12,
        pl.col("month") <= end_month,
    ).select("_pid", covered_now=pl.col("month") == end_month)
    cover = (
        pl.concat([resident_cover, emp_cover])
        .group_by("_pid")
        .agg(covered_now=pl.col("covered_now").any(), ever=pl.lit(True))
    )
    deceased_cov = (
        repeats.filter(pl.col("kind") == "after_death")
        .select(_pid="person_id")
        .unique()
        .with_columns(deceased_covered=pl.lit(True))
    )
    repeat_now = (
        repeats.filter(pl.col("period") == str(end_date.year))
        .select(_pid="person_id")
        .unique()
        .with_columns(repeat_now=pl.lit(True))
    )
    newborn = (
        links.with_columns(days=(pl.lit(end_date) - pl.col("birth_date")).dt.total_days())
        .filter(pl.col("days").is_between(0, 365))
        .select(_pid="person_id", nb_birth=pl.col("birth_date"))
    )
    people = (
        pl.DataFrame({"_pid": known})
        .unique()
        .join(links.select(_pid="person_id"), on="_pid", how="anti")
    )
    people = pl.concat([people, links.select(_pid="person_id")]).unique()
    scope_base = (
        pl.concat([normal, permit, enrolled.select("_pid")])
        .unique()
        .with_columns(based=pl.lit(True))
    )
    df = (
        people.join(dead, on="_pid", how="left")
        .join(scope_base, on="_pid", how="left")
        .join(enrolled, on="_pid", how="left")
        .join(cover, on="_pid", how="left")
        .join(deceased_cov, on="_pid", how="left")
        .join(repeat_now, on="_pid", how="left")
        .join(newborn.unique("_pid"), on="_pid", how="left")
        .with_columns(
            pl.col(
                "is_dead",
                "based",
                "is_student",
                "covered_now",
                "ever",
                "deceased_covered",
                "repeat_now",
            ).fill_null(False)
        )
    )
    birth = pl.coalesce(
        pl.col("nb_birth"),
        pl.when(pl.col("_pid").str.len_chars() == 18).then(
            pl.col("_pid").str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
        ),
    )
    days = (pl.lit(end_date) - birth).dt.total_days()
    in_scope = (
        (~pl.col("is_dead") & pl.col("based"))
        | pl.col("nb_birth").is_not_null()
        | pl.col("deceased_covered")
    )
    flag = (
        pl.when(pl.col("deceased_covered"))
        .then(pl.lit("deceased_covered"))
        .when(pl.col("repeat_now"))
        .then(pl.lit("repeat_enrolled"))
        .when(days.is_between(0, 90) & ~pl.col("covered_now"))
        .then(pl.lit("newborn_pending"))
        .when(days.is_between(91, 365) & ~pl.col("ever"))
        .then(pl.lit("newborn_overdue"))
        .when(pl.col("is_student") & ~pl.col("covered_now"))
        .then(pl.lit("student_uninsured"))
        .when(~pl.col("ever"))
        .then(pl.lit("uninsured"))
        .when(~pl.col("covered_now"))
        .then(pl.lit("lapsed"))
        .otherwise(pl.lit("insured"))
    )
    return df.select(
        person_id="_pid", in_scope=in_scope, flag=pl.when(in_scope).then(flag).otherwise(None)
    ).sort("person_id")


def residence_pooling(
    household: pl.DataFrame, permits: pl.DataFrame, students: pl.DataFrame
) -> pl.DataFrame:
    return (
        pl.concat(
            [
                household.select("_pid", d="residence_division"),
                permits.select("_pid", d="permit_division"),
                students.select("_pid", d="school_division"),
            ]
        )
        .drop_nulls("d")
        .select("_pid", pooling_division=pooling_division_of(pl.col("d")))
        .unique()
    )


def employee_history(live: pl.DataFrame, people: pl.DataFrame) -> pl.DataFrame:
    emp = (
        live.filter(pl.col("scheme") == "employee")
        .group_by("_pid")
        .agg(contribution_months=pl.col("month").n_unique())
    )
    return (
        emp.join(people.select(_pid="id_number", sex="sex", birth_date="birth_date"), on="_pid")
        .select(
            person_id="_pid",
            sex=pl.col("sex").cast(pl.Int64),
            birth_date="birth_date",
            contribution_months="contribution_months",
        )
        .sort("person_id")
    )
