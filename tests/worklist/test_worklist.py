"""The worklist stage and task (issue 7): cases, reasons from the rule files, ranking, order."""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl
import pytest
from marts_fixtures import AS_OF, NEWBORN_ID, flag, insert, person, pid

from pipelines.flows.tasks_outputs import build_worklist
from pipelines.io import marts
from pipelines.rules.loader import load_rules
from pipelines.stages import worklist as stage


def _inputs(db, as_of: date) -> stage.WorklistInputs:
    con = duckdb.connect(str(db))
    try:
        return stage.WorklistInputs(
            **{name: marts.read_mart(con, name).lazy() for name in stage.MART_INPUTS},
            resident_paid=marts.read_resident_paid(con, [as_of.year, as_of.year + 1]).lazy(),
        )
    finally:
        con.close()


def _build(db, as_of: date = AS_OF, rules=None) -> pl.DataFrame:
    return stage.build_worklist(_inputs(db, as_of), rules or load_rules(), as_of).collect()


def _case_of(worklist: pl.DataFrame, person_id: str) -> list[tuple[str, str]]:
    return worklist.filter(pl.col("person_id") == person_id).select("case", "reason").rows()


@pytest.mark.parametrize(
    ("person_id", "case", "reason"),
    [
        (pid(1), "uninsured", "未参保: 动员参保"),
        (pid(2), "lapsed", "断保2年: 动员续保, 补缴2年可将等待期由5个月缩短至3个月"),
        (NEWBORN_ID, "newborn_pending", "新生儿出生75天未参保: 15天内办理可免等待期"),
        (pid(4), "newborn_overdue", "新生儿出生198天未参保, 已过90天免等待期: 动员参保"),
        (pid(5), "student_uninsured", "在校学生未参保: 通过学校动员参保"),
        (pid(8), "deceased_covered", "死亡后仍有参保缴费: 办理停保退费"),
        (
            pid(16),
            "retirement_shortfall",
            "距法定退休年龄不足12个月, 职工医保缴费年限不足: 一次性补缴或继续缴费至满足年限",
        ),
        (
            pid(10),
            "incentive_near",
            "已连续参保4年, 续保2029年度可获连续参保激励(大病保险封顶线提高5000元): 动员按时续保",
        ),
    ],
)
def test_one_case_per_flag_with_plain_chinese_reason(scenario_db, person_id, case, reason):
    assert _case_of(_build(scenario_db), person_id) == [(case, reason)]


def test_repeat_enrolment_is_a_refund_case_and_renewal_still_due(scenario_db):
    cases = dict(_case_of(_build(scenario_db), pid(9)))
    assert cases["repeat_enrolment"] == "重复参保(2028年居民医保重复缴费): 办理退费"
    assert set(cases) == {"repeat_enrolment", "renewal_due"}


def test_after_death_repeat_is_not_a_second_case(scenario_db):
    assert [c for c, _ in _case_of(_build(scenario_db), pid(8))] == ["deceased_covered"]


def test_newborn_due_on_last_day_of_window(scenario_db):
    row = _build(scenario_db).filter(pl.col("person_id") == NEWBORN_ID).row(0, named=True)
    assert (row["due_date"], row["days_left"], row["priority"]) == (date(2028, 9, 30), 15, 1)


def test_newborn_on_the_last_day_of_the_window(scenario_db):
    con = duckdb.connect(str(scenario_db))
    try:
        insert(con, "person", [person(17, "杨末日", "G1", birth_date=date(2028, 6, 17))])
        insert(con, "coverage_flag", [flag(17, "newborn_pending")])
    finally:
        con.close()
    assert _case_of(_build(scenario_db), pid(17)) == [
        ("newborn_pending", "新生儿出生90天未参保: 今日办理可免等待期")
    ]


def test_lapsed_only_this_year(scenario_db):
    con = duckdb.connect(str(scenario_db))
    try:
        insert(con, "person", [person(18, "朱今年", "G1")])
        insert(con, "coverage_flag", [flag(18, "lapsed")])
        insert(con, "coverage_year", [{"person_id": pid(18), "year": 2027, "status": "covered"}])
    finally:
        con.close()
    assert _case_of(_build(scenario_db), pid(18)) == [("lapsed", "断保(本年度未参保): 动员续保")]


def test_renewals_ranked_likeliest_to_lapse_first(scenario_db):
    renewals = _build(scenario_db).filter(pl.col("case") == "renewal_due")
    assert renewals["person_id"].to_list() == [pid(11), pid(9), pid(12)]
    assert renewals["lapse_risk_score"].to_list() == sorted(
        renewals["lapse_risk_score"], reverse=True
    )
    assert renewals["due_date"].unique().to_list() == [date(2028, 12, 31)]


def test_paid_for_next_year_and_region_outside_its_period_get_no_renewal(scenario_db):
    worklist = _build(scenario_db)
    assert _case_of(worklist, pid(13)) == []  # paid 2029 already
    assert _case_of(worklist, pid(14)) == []  # jiangsu opens on 10-01


def test_jiangsu_renewal_once_its_period_opens(scenario_db):
    worklist = _build(scenario_db, date(2028, 10, 15))
    assert [c for c, _ in _case_of(worklist, pid(14))] == ["renewal_due"]


def test_outside_the_centralized_period_no_renewals_and_plain_deadlines(scenario_db):
    as_of = date(2028, 6, 15)
    worklist = _build(scenario_db, as_of)
    assert "renewal_due" not in worklist["case"].to_list()
    uninsured = worklist.filter(pl.col("person_id") == pid(1)).row(0, named=True)
    assert uninsured["due_date"] == date(2028, 7, 15)
    incentive = worklist.filter(pl.col("case") == "incentive_near").row(0, named=True)
    assert incentive["due_date"] == date(2028, 12, 31)  # end of the next centralized period


def test_reason_numbers_come_from_the_rule_files(scenario_db):
    rules = load_rules()
    zhejiang = rules["zhejiang"]
    waiting = zhejiang.waiting_period.model_copy(update={"variable_months_per_lapsed_year": 2})
    rules["zhejiang"] = zhejiang.model_copy(update={"waiting_period": waiting})
    reason = dict(_case_of(_build(scenario_db, rules=rules), pid(2)))["lapsed"]
    # 2 months per lapsed year, still 1 month back per repaired year: 3 + 4 -> 3 + 2
    assert reason == "断保2年: 动员续保, 补缴2年可将等待期由7个月缩短至5个月"


def test_sorted_by_priority_then_due_date(scenario_db):
    worklist = _build(scenario_db)
    keys = list(zip(worklist["priority"], worklist["due_date"]))
    assert keys == sorted(keys)


def test_students_carry_their_school(scenario_db):
    students = _build(scenario_db).filter(pl.col("case") == "student_uninsured")
    assert sorted(students.select("school_code", "school_name").rows()) == [
        ("S1", "西湖小学"),
        ("S1", "西湖小学"),
        ("S2", "上城中学"),
    ]


def test_task_writes_validated_worklist_and_region_parameters(scenario_db):
    counts = build_worklist.fn(scenario_db, AS_OF)
    con = duckdb.connect(str(scenario_db))
    try:
        stored = con.sql("SELECT count(*) FROM main.worklist").fetchall()[0][0]
        regions = {r[0] for r in con.sql("SELECT region FROM main.region_parameters").fetchall()}
    finally:
        con.close()
    assert counts["worklist_cases"] == stored == 15
    assert counts["cases_renewal_due"] == 3
    assert {"national", "zhejiang", "jiangsu", "tianjin"} <= regions


def test_empty_marts_give_an_empty_worklist(tmp_path):
    from marts_fixtures import make_marts

    db = make_marts(tmp_path / "empty.duckdb")
    assert build_worklist.fn(db, AS_OF) == {"worklist_cases": 0, "worklist_buckets": 1}


def test_person_buckets_give_the_same_worklist(scenario_db, tmp_path):
    """Built in person buckets (issue 9), the worklist is the one built at once, row for row."""
    import shutil

    bucketed = tmp_path / "bucketed.duckdb"
    shutil.copy(scenario_db, bucketed)
    whole = build_worklist.fn(scenario_db, AS_OF)
    parts = build_worklist.fn(bucketed, AS_OF, batch_rows=2)
    assert whole["worklist_buckets"] == 1 and parts["worklist_buckets"] == 3
    tables = []
    for db in (scenario_db, bucketed):
        con = duckdb.connect(str(db))
        try:
            tables.append(con.sql("SELECT * FROM main.worklist").fetchall())
        finally:
            con.close()
    assert tables[0] == tables[1] and len(tables[0]) == whole["worklist_cases"] > 0
