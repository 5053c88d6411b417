"""Published tables (DuckDB ``main`` schema): one DataFrameModel per table.

These models are the single source of the warehouse's COMMENTs and of the data dictionary
(``docs/data-dictionary.md``): the table docstring's first line and every column's
``Field(description="中文 / English")`` are written into the warehouse by
``pipelines.io.catalog``. A column added to a mart needs a description here, or the catalog
test fails.

Names and key columns follow shared/spec/outputs.md; more columns are welcome.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas import employee

FLAGS = [
    "deceased_covered",
    "repeat_enrolled",
    "newborn_pending",
    "newborn_overdue",
    "student_uninsured",
    "uninsured",
    "lapsed",
    "insured",
]
WORKLIST_CASES = [
    "deceased_covered",
    "newborn_pending",
    "newborn_overdue",
    "repeat_enrolment",
    "student_uninsured",
    "uninsured",
    "lapsed",
    "retirement_shortfall",
    "incentive_near",
    "renewal_due",
]


JSON = {"duckdb_type": "JSON"}
TIMESTAMPTZ = {"duckdb_type": "TIMESTAMPTZ"}
"""Field metadata for DuckDB types polars has no name for (used by the catalog's DDL)."""


class _Mart(pa.DataFrameModel):
    class Config:
        strict = True


# ---------------------------------------------------------------------------------------
# People and coverage
# ---------------------------------------------------------------------------------------


class Person(_Mart):
    """一人一档: 任一来源出现的每人一行 / One person, one file: one row per person known to any source."""

    person_id: str = pa.Field(
        unique=True,
        description="人员编号: 18位身份证号(标准化), 无证新生儿为 B:+出生医学证明编号 / "
        "person id: normalised 18-character ID number, or B:+birth certificate number "
        "for a newborn without one",
    )
    name: str = pa.Field(nullable=True, description="姓名 / name")
    sex: pl.UInt8 = pa.Field(
        nullable=True, isin=[1, 2], description="性别: 1男 2女 / sex: 1 male, 2 female"
    )
    birth_date: pl.Date = pa.Field(nullable=True, description="出生日期 / date of birth")
    death_date: pl.Date = pa.Field(nullable=True, description="死亡日期 / date of death")
    hukou_division: str = pa.Field(
        nullable=True, description="户籍地行政区划代码 / household registration division code"
    )
    hukou_status: str = pa.Field(
        nullable=True,
        description="户籍状态: normal 正常, moved_out 迁出, cancelled 注销 / household "
        "registration status",
    )
    household_id: str = pa.Field(nullable=True, description="户号 / household id")
    residence_division: str = pa.Field(
        nullable=True,
        description="居住地行政区划代码(有效居住证, 否则户籍居住地; 无证新生儿随父母) / "
        "residence division code (valid residence permit, else household residence; "
        "an unnumbered newborn lives with its parents)",
    )
    grid_code: str = pa.Field(nullable=True, description="网格编码 / grid code")
    is_student: bool = pa.Field(
        nullable=True, description="是否在读学生(学籍 enrolled) / enrolled student"
    )
    school_code: str = pa.Field(nullable=True, description="学校代码 / school code")
    school_name: str = pa.Field(nullable=True, description="学校名称 / school name")
    school_division: str = pa.Field(
        nullable=True, description="学校所在区划代码 / school division code"
    )
    student_status: str = pa.Field(
        nullable=True,
        description="学籍状态: enrolled 在读, graduated 毕业, withdrawn 退学 / student status",
    )
    phone: str = pa.Field(nullable=True, description="联系电话 / phone number")
    assistance_category: str = pa.Field(
        nullable=True,
        description="医疗救助对象类别 / medical assistance recipient category",
    )
    birth_cert_no: str = pa.Field(
        nullable=True, description="出生医学证明编号 / birth certificate number"
    )
    birth_division: str = pa.Field(nullable=True, description="出生地区划代码 / birth division")
    mother_id_number: str = pa.Field(nullable=True, description="母亲身份证号 / mother's ID number")
    father_id_number: str = pa.Field(nullable=True, description="父亲身份证号 / father's ID number")
    permit_division: str = pa.Field(
        nullable=True,
        description="有效居住证所在区划代码 / division of the residence permit valid on the as-of date",
    )
    sources: str = pa.Field(
        nullable=True,
        description="出现该人的数据来源(household 户籍, residence_permit 居住证, birth 出生, "
        "student 学籍 ...) / sources the person appears in",
    )


class CoverageYear(_Mart):
    """参保年度状态: 每人每年一行 / Coverage status: one row per person per year."""

    person_id: str = pa.Field(description="人员编号 / person id")
    year: pl.Int32 = pa.Field(description="参保年度 / coverage year")
    resident_pooling_division: str = pa.Field(
        nullable=True,
        description="居民医保统筹地区 / pooling division of the resident-scheme payment",
    )
    employee_months: pl.Int32 = pa.Field(
        nullable=True, ge=0, le=12, description="职工医保缴费月数 / employee-scheme months"
    )
    status: str = pa.Field(
        isin=["covered", "lapsed", "none"],
        description="年度状态: covered 参保, lapsed 断保, none 无应参保月 / "
        "year status: covered, lapsed, none (no eligible month)",
    )
    has_post_enrolment_lapse: bool = pa.Field(
        nullable=True,
        description="首次参保之后有断保月 / a lapse month after the first covered month",
    )


class RepeatEnrolment(_Mart):
    """重复参保: 每人每年每类一行 / Repeat enrolment: one row per person, year and kind."""

    person_id: str = pa.Field(description="人员编号 / person id")
    period: str = pa.Field(description="参保年度 YYYY / coverage year YYYY")
    kind: str = pa.Field(
        isin=["resident_twice", "employee_and_resident", "after_death"],
        description="重复类型: resident_twice 居民医保重复缴费, employee_and_resident "
        "职工与居民医保重叠, after_death 死亡后缴费 / kind of repeat enrolment",
    )
    payment_ids: str = pa.Field(
        description="涉及的缴费编号(;分隔) / payment ids involved (;-separated)"
    )
    keep_payment_id: str = pa.Field(nullable=True, description="保留的缴费编号 / payment kept")
    kept_payment_ids: str = pa.Field(
        nullable=True,
        description="保留的缴费编号(含职工医保缴费, ;分隔) / payments kept, incl. employee "
        "contributions (;-separated)",
    )
    refund_payment_ids: str = pa.Field(
        nullable=True, description="应退费的缴费编号(;分隔) / payments to refund (;-separated)"
    )
    overlap_months: pl.Int32 = pa.Field(
        nullable=True, description="重叠月数 / months covered twice"
    )
    action: str = pa.Field(
        isin=["refund", "stop"], description="处理: refund 退费, stop 停保 / action to take"
    )
    reason: str = pa.Field(nullable=True, description="原因说明 / reason")
    since: pl.Date = pa.Field(nullable=True, description="重复参保起始日 / day the repeat arose")
    detected_on: pl.Date = pa.Field(
        nullable=True, description="发现日期(运行数据日期) / run date it was found on"
    )


class CoverageFlag(_Mart):
    """参保状态标记: 截至数据日期每人一行 / Coverage flag: one row per person as of the run date."""

    person_id: str = pa.Field(unique=True, description="人员编号 / person id")
    flag: str = pa.Field(
        isin=FLAGS,
        description="状态标记(按优先顺序取第一个): deceased_covered 死亡后仍参保, "
        "repeat_enrolled 重复参保, newborn_pending 新生儿待参保, newborn_overdue "
        "新生儿逾期未参保, student_uninsured 学生未参保, uninsured 未参保, lapsed 断保, "
        "insured 已参保 / flag, the first that holds",
    )
    since: pl.Date = pa.Field(nullable=True, description="标记起始日期 / flag holds since")
    detail: str = pa.Field(nullable=True, description="说明 / detail")
    is_covered_as_of: bool = pa.Field(
        nullable=True, description="数据日期所在月已参保 / covered in the as-of month"
    )
    is_ever_covered: bool = pa.Field(
        nullable=True, description="曾经参保 / covered at some month of the history"
    )
    scope: str = pa.Field(
        nullable=True,
        description="纳入范围原因: resident 常住(户籍/居住证/学籍), newborn 新生儿, "
        "deceased_covered 死亡后仍参保 / why the person is in scope",
    )


class PolicyStatus(_Mart):
    """待遇与激励状态: 当年有居民医保的每人一行 / Policy status: one row per person with
    resident coverage in the as-of year."""

    person_id: str = pa.Field(description="人员编号 / person id")
    year: pl.Int32 = pa.Field(description="评估年度 / evaluation year")
    pooling_division: str = pa.Field(
        nullable=True, description="缴费统筹地区 / pooling division of the payment"
    )
    region: str = pa.Field(description="适用政策地区 / region whose rules apply")
    consecutive_years: pl.Int32 = pa.Field(
        ge=0, description="连续参保年数 / consecutive covered years"
    )
    lapse_run_years: pl.Int32 = pa.Field(
        ge=0, description="本次参保前连续断保年数 / consecutive lapsed years before this enrolment"
    )
    lapsed_years_total: pl.Int32 = pa.Field(
        ge=0, description="参保后累计断保年数 / lapsed years after first coverage"
    )
    repaired_years: pl.Int32 = pa.Field(ge=0, description="已补缴修复年数 / repaired lapsed years")
    exemption: str = pa.Field(nullable=True, description="免等待期事由 / waiting-period exemption")
    fixed_wait_months: pl.Int32 = pa.Field(
        ge=0, description="固定等待期(月) / fixed waiting months"
    )
    variable_wait_months: pl.Int32 = pa.Field(
        ge=0, description="变动等待期(月) / variable waiting months"
    )
    wait_months: pl.Int32 = pa.Field(ge=0, description="等待期合计(月) / total waiting months")
    benefit_start_date: pl.Date = pa.Field(
        nullable=True, description="待遇享受起始日 / benefit start date"
    )
    in_waiting_period: bool = pa.Field(
        description="数据日期处于等待期 / in the waiting period on the as-of date"
    )
    continuous_incentive: float = pa.Field(
        ge=0, description="连续参保激励(元) / continuous-enrolment incentive (yuan)"
    )
    zero_claim_incentive: float = pa.Field(
        ge=0, description="零报销激励(元) / zero-claim incentive (yuan)"
    )
    total_incentive: float = pa.Field(
        ge=0, description="激励合计(元, 封顶后) / total incentive (yuan, capped)"
    )
    lapse_penalty: float = pa.Field(ge=0, description="断保约束减额(元) / lapse penalty (yuan)")
    base_cap: float = pa.Field(
        nullable=True, description="大病保险原封顶线(元) / catastrophic base cap (yuan)"
    )
    effective_cap: float = pa.Field(
        nullable=True, description="大病保险实际封顶线(元) / effective catastrophic cap (yuan)"
    )
    outpatient_incentive: float = pa.Field(
        ge=0, description="门诊激励(元, 天津) / outpatient incentive (yuan, Tianjin)"
    )


class NewbornLink(_Mart):
    """新生儿关联: 每张出生医学证明一行(关联到身份证号后保留) / Newborn link: one row per birth
    certificate linked to the child's ID number (kept across runs)."""

    birth_cert_no: str = pa.Field(
        unique=True, description="出生医学证明编号 / birth certificate number"
    )
    person_id: str = pa.Field(description="新生儿身份证号 / the child's ID number")
    method: str = pa.Field(
        isin=["birth_record", "household"],
        description="关联方式: birth_record 出生记录带证号, household 父母户内同日同性别 / "
        "how the link was found",
    )
    linked_on: pl.Date = pa.Field(description="关联日期(运行数据日期) / run date of the link")


class PaymentLive(_Mart):
    """有效缴费: 数据日期已知的每笔未退费缴费一行 / Live payments: one row per payment not
    refunded, known on the as-of date, with the months it covers."""

    payment_id: str = pa.Field(unique=True, description="缴费流水号 / payment id")
    person_id: str = pa.Field(description="人员编号 / person id")
    scheme: str = pa.Field(
        isin=["employee", "resident"], description="险种: employee 职工, resident 居民 / scheme"
    )
    kind: str = pa.Field(description="缴费类型: normal 正常, repair 补缴 / payment kind")
    is_repair: bool = pa.Field(description="是否补缴修复 / repair payment")
    pooling_division: str = pa.Field(nullable=True, description="统筹地区 / pooling division")
    period_year: pl.Int32 = pa.Field(description="所属年度 / coverage year")
    period_month: pl.Int32 = pa.Field(
        nullable=True, description="所属月份(职工) / month (employee)"
    )
    paid_at: pl.Datetime = pa.Field(nullable=True, description="缴费时间 / paid at")
    first_month_index: pl.Int32 = pa.Field(
        description="覆盖首月序号(年*12+月-1) / first covered month index (year*12+month-1)"
    )
    last_month_index: pl.Int32 = pa.Field(
        description="覆盖末月序号(年*12+月-1) / last covered month index (year*12+month-1)"
    )


class IdentityReview(_Mart):
    """身份待核: 每条证号校验失败记录×候选人一行 / Identity review: one row per record rejected
    for its ID number and candidate person (none merged automatically)."""

    record_id: pl.Int64 = pa.Field(description="待核记录编号 / review record id")
    source: str = pa.Field(description="数据来源 / source")
    source_file: str = pa.Field(description="文件 / file")
    line: pl.Int64 = pa.Field(nullable=True, description="行号 / line")
    check: str = pa.Field(description="未通过的证号校验 / failed ID check")
    id_number_raw: str = pa.Field(
        nullable=True, description="原始证号(受限) / ID number as delivered (restricted)"
    )
    name: str = pa.Field(nullable=True, description="姓名 / name")
    sex: pl.Int32 = pa.Field(nullable=True, description="性别 / sex")
    birth_date: pl.Date = pa.Field(nullable=True, description="出生日期 / date of birth")
    division: str = pa.Field(nullable=True, description="区划代码 / division code")
    candidate_person_id: str = pa.Field(
        nullable=True, description="候选人员编号 / candidate person id"
    )
    candidate_name: str = pa.Field(nullable=True, description="候选人姓名 / candidate name")
    candidate_sex: pl.UInt8 = pa.Field(nullable=True, description="候选人性别 / candidate sex")
    candidate_birth_date: pl.Date = pa.Field(
        nullable=True, description="候选人出生日期 / candidate birth date"
    )
    candidate_division: str = pa.Field(nullable=True, description="候选人区划 / candidate division")
    method: str = pa.Field(
        description="匹配方式(证号前17位, 概率匹配, 无候选...) / matching method "
        "(id_first17, probabilistic, no_candidate ...)"
    )
    match_probability: float = pa.Field(nullable=True, description="匹配概率 / match probability")
    match_weight: float = pa.Field(nullable=True, description="匹配权重 / match weight")
    candidate_rank: pl.Int64 = pa.Field(nullable=True, description="候选排名 / candidate rank")
    review_status: str = pa.Field(description="核查状态 / review status")


# ---------------------------------------------------------------------------------------
# Outreach
# ---------------------------------------------------------------------------------------


class Worklist(_Mart):
    """网格工作清单: 每个待办事项一行 / Outreach worklist: one row per outreach case."""

    grid_code: str = pa.Field(nullable=True, description="网格编码 / grid code")
    school_code: str = pa.Field(
        nullable=True,
        description="学校代码(学生事项按学校分发) / school code (student cases go to schools)",
    )
    school_name: str = pa.Field(nullable=True, description="学校名称 / school name")
    person_id: str = pa.Field(description="人员编号 / person id")
    name: str = pa.Field(nullable=True, description="姓名 / name")
    phone: str = pa.Field(nullable=True, description="联系电话 / phone number")
    region: str = pa.Field(nullable=True, description="适用政策地区 / policy region")
    case: str = pa.Field(isin=WORKLIST_CASES, description="事项类型 / case kind")
    reason: str = pa.Field(description="原因及工作事项(中文) / reason and action in plain Chinese")
    action: str = pa.Field(description="工作事项 / action to take")
    priority: pl.Int8 = pa.Field(ge=1, le=5, description="优先级(1最高) / priority (1 = highest)")
    due_date: pl.Date = pa.Field(description="办理截止日期 / due date")
    days_left: pl.Int32 = pa.Field(
        nullable=True, description="距截止剩余天数 / days left until the due date"
    )
    lapse_risk_score: pl.Int32 = pa.Field(
        nullable=True,
        description="断保风险分(集中参保期续保排序, 越高越可能断保) / lapse risk score "
        "(renewal ranking in the centralized period; higher = likelier to lapse)",
    )
    as_of: pl.Date = pa.Field(description="数据日期 / as-of date")


class RegionParameters(_Mart):
    """地区政策参数(来自地区规则文件, 按数据日期): 每个政策地区一行 / Region parameters from the
    rule files, as of the run date: one row per region with resident rules."""

    region: str = pa.Field(unique=True, description="政策地区 / region")
    policy_start_year: pl.Int64 = pa.Field(description="政策起算年度 / first year counted")
    newborn_window_days: pl.Int64 = pa.Field(
        description="新生儿免等待期参保窗口(天) / newborn exemption window (days)"
    )
    fixed_months: pl.Int64 = pa.Field(description="固定等待期(月) / fixed waiting months")
    variable_months_per_lapsed_year: pl.Int64 = pa.Field(
        description="每断保1年增加的变动等待期(月) / variable waiting months per lapsed year"
    )
    repair_months_per_year: pl.Int64 = pa.Field(
        description="每补缴1年减少的变动等待期(月) / months removed per repaired year"
    )
    long_lapse_years: pl.Int64 = pa.Field(description="长期断保年数 / long lapse (years)")
    long_lapse_min_total_months: pl.Int64 = pa.Field(
        description="长期断保修复后最短等待期(月) / minimum total wait after a long lapse"
    )
    incentive_threshold_years: pl.Int64 = pa.Field(
        description="连续参保激励起始年数 / years before the continuous incentive starts"
    )
    continuous_step: float = pa.Field(
        description="连续参保每年激励(元) / continuous incentive per year (yuan)"
    )
    renewal_year: pl.Int32 = pa.Field(
        nullable=True,
        description="数据日期所在集中参保期对应的参保年度(不在期内为空) / coverage year whose "
        "centralized period contains the as-of date (null outside one)",
    )
    centralized_end: pl.Date = pa.Field(
        description="当前或下一个集中参保期截止日 / last day of the current or next centralized period"
    )


# ---------------------------------------------------------------------------------------
# Ingest and runs
# ---------------------------------------------------------------------------------------


class Rejects(_Mart):
    """拒收记录: 每条拒收记录或整文件一行 / Rejects: one row per rejected record or file
    (column, check and value of the record's first failing column; the message lists all)."""

    batch_id: str = pa.Field(
        description="批次(交付日期或 reference) / batch: delivery date or reference"
    )
    source: str = pa.Field(nullable=True, description="数据来源 / source")
    file: str = pa.Field(description="文件(相对收件箱) / file, relative to the inbox")
    line: pl.Int64 = pa.Field(
        nullable=True, description="行号(表头为第1行) / line (header is line 1)"
    )
    column: str = pa.Field(nullable=True, description="字段 / column")
    check: str = pa.Field(description="未通过的校验 / failed check")
    value: str = pa.Field(
        nullable=True, description="原值(身份证号已脱敏) / value delivered (ID numbers masked)"
    )
    message: str = pa.Field(nullable=True, description="说明 / message")


class IngestLog(_Mart):
    """接收日志: 每个交付文件一行 / Ingest log: one row per delivered file."""

    file: str = pa.Field(description="文件(相对收件箱) / file, relative to the inbox")
    sha256: str = pa.Field(description="文件SHA-256 / file SHA-256")
    rows_read: pl.Int64 = pa.Field(nullable=True, description="读取行数 / rows read")
    rows_accepted: pl.Int64 = pa.Field(nullable=True, description="接收行数 / rows accepted")
    rows_rejected: pl.Int64 = pa.Field(nullable=True, description="拒收行数 / rows rejected")
    batch_id: str = pa.Field(description="批次 / batch")
    status: str = pa.Field(
        isin=["ingested", "rejected", "skipped_duplicate"],
        description="状态: ingested 已接收, rejected 整文件拒收, skipped_duplicate 重复文件 / status",
    )
    source: str = pa.Field(nullable=True, description="数据来源 / source")
    encoding: str = pa.Field(nullable=True, description="文件编码 / file encoding")
    extra_columns: str = pa.Field(
        nullable=True,
        description="合同外的多余列(原值保存在 staging.extra_values) / columns outside the "
        "contract (their values kept in staging.extra_values)",
    )


class RunLog(_Mart):
    """运行日志: 每次运行一行 / Run log: one row per run."""

    run_id: str = pa.Field(description="运行编号 / run id")
    as_of: pl.Date = pa.Field(description="数据日期 / as-of date")
    started_at: pl.Datetime = pa.Field(
        description="开始时间(北京时间) / started at (Asia/Shanghai)", metadata=TIMESTAMPTZ
    )
    finished_at: pl.Datetime = pa.Field(
        nullable=True,
        description="结束时间(北京时间) / finished at (Asia/Shanghai)",
        metadata=TIMESTAMPTZ,
    )
    status: str = pa.Field(description="运行状态 / run status")
    total_seconds: float = pa.Field(nullable=True, description="总耗时(秒) / total seconds")
    stage_seconds: str = pa.Field(
        nullable=True, description="各步骤耗时(秒, JSON) / seconds per stage (JSON)", metadata=JSON
    )
    stage_counts: str = pa.Field(
        nullable=True, description="各步骤计数(JSON) / counts per stage (JSON)", metadata=JSON
    )


class RunStageLog(_Mart):
    """运行步骤日志: 每次运行每个步骤一行 / Run stage log: one row per run and stage."""

    run_id: str = pa.Field(description="运行编号 / run id")
    stage: str = pa.Field(description="步骤 / stage")
    seconds: float = pa.Field(nullable=True, description="耗时(秒) / seconds")
    counts: str = pa.Field(nullable=True, description="计数(JSON) / counts (JSON)", metadata=JSON)


class RunMetrics(_Mart):
    """运行指标(运行报告趋势): 每次运行一行 / Run metrics for the report trend: one row per run."""

    run_id: str = pa.Field(description="运行编号 / run id")
    as_of: pl.Date = pa.Field(description="数据日期 / as-of date")
    persons: pl.Int64 = pa.Field(description="范围内人数 / persons in scope")
    covered: pl.Int64 = pa.Field(description="当月已参保人数 / persons covered in the as-of month")
    coverage_rate: float = pa.Field(nullable=True, description="参保率 / coverage rate")
    rejects: pl.Int64 = pa.Field(description="拒收记录数(累计) / reject rows (cumulative)")
    worklist_cases: pl.Int64 = pa.Field(description="工作清单事项数 / worklist cases")


# ---------------------------------------------------------------------------------------
# Analyst views (pipelines/stages/sql/views_analyst.sql)
# ---------------------------------------------------------------------------------------


class _CoverageCounts(_Mart):
    persons: pl.Int64 = pa.Field(
        description="应参保人数(不含死亡) / persons in scope, deceased excluded"
    )
    covered: pl.Int64 = pa.Field(description="当月已参保人数 / persons covered in the as-of month")
    coverage_rate: float = pa.Field(nullable=True, description="参保率 / coverage rate")
    count_deceased_covered: pl.Int64 = pa.Field(
        description="死亡后仍参保人数 / persons flagged deceased_covered"
    )
    count_repeat_enrolled: pl.Int64 = pa.Field(
        description="重复参保人数 / persons flagged repeat_enrolled"
    )
    count_newborn_pending: pl.Int64 = pa.Field(
        description="新生儿待参保人数 / persons flagged newborn_pending"
    )
    count_newborn_overdue: pl.Int64 = pa.Field(
        description="新生儿逾期未参保人数 / persons flagged newborn_overdue"
    )
    count_student_uninsured: pl.Int64 = pa.Field(
        description="学生未参保人数 / persons flagged student_uninsured"
    )
    count_uninsured: pl.Int64 = pa.Field(description="未参保人数 / persons flagged uninsured")
    count_lapsed: pl.Int64 = pa.Field(description="断保人数 / persons flagged lapsed")
    count_insured: pl.Int64 = pa.Field(description="已参保人数 / persons flagged insured")


class CoverageFlagsByDivision(_CoverageCounts):
    """参保率及各状态人数(按居住地区划) / Coverage rate and flag counts by residence division."""

    division_code: str = pa.Field(nullable=True, description="区划代码 / division code")
    division_name: str = pa.Field(nullable=True, description="区划名称 / division name")


class CoverageFlagsByGrid(_CoverageCounts):
    """参保率及各状态人数(按网格) / Coverage rate and flag counts by grid."""

    grid_code: str = pa.Field(nullable=True, description="网格编码 / grid code")
    division_code: str = pa.Field(nullable=True, description="区划代码 / division code")
    community: str = pa.Field(nullable=True, description="社区 / community")
    worker_name: str = pa.Field(nullable=True, description="网格员 / grid worker")


class LapsesByYear(_Mart):
    """断保人数(按年度) / Lapses by year."""

    year: pl.Int32 = pa.Field(description="年度 / year")
    persons: pl.Int64 = pa.Field(description="有应参保月的人数 / persons with an eligible month")
    covered: pl.Int64 = pa.Field(description="参保人数 / persons covered")
    lapsed: pl.Int64 = pa.Field(description="断保人数 / persons lapsed")
    lapse_rate: float = pa.Field(nullable=True, description="断保率 / lapse rate")


class NewbornEnrolment90d(_Mart):
    """新生儿90天内参保情况(按出生月份) / Newborn enrolment within 90 days, by birth month."""

    birth_month: str = pa.Field(description="出生月份 YYYY-MM / birth month")
    newborns: pl.Int64 = pa.Field(description="新生儿人数 / newborns")
    enrolled_within_90d: pl.Int64 = pa.Field(
        description="出生90天内参保人数 / enrolled within 90 days of birth"
    )
    enrolled_later: pl.Int64 = pa.Field(description="超过90天参保人数 / enrolled after 90 days")
    not_enrolled: pl.Int64 = pa.Field(description="尚未参保人数 / not enrolled yet")
    rate_within_90d: float = pa.Field(
        nullable=True, description="90天内参保率 / share within 90 days"
    )


class IncentiveTotalsByRegion(_Mart):
    """激励合计(按政策地区和年度) / Incentive totals by region and year (yuan)."""

    region: str = pa.Field(description="政策地区 / region")
    year: pl.Int32 = pa.Field(description="年度 / year")
    persons: pl.Int64 = pa.Field(description="人数 / persons")
    persons_with_incentive: pl.Int64 = pa.Field(
        description="获激励人数 / persons with an incentive"
    )
    continuous_incentive: float = pa.Field(
        description="连续参保激励合计(元) / continuous incentive total"
    )
    zero_claim_incentive: float = pa.Field(
        description="零报销激励合计(元) / zero-claim incentive total"
    )
    total_incentive: float = pa.Field(description="激励合计(元) / incentive total")
    lapse_penalty: float = pa.Field(description="断保约束减额合计(元) / lapse penalty total")
    outpatient_incentive: float = pa.Field(
        description="门诊激励合计(元) / outpatient incentive total"
    )


class WaitingPeriodCounts(_Mart):
    """等待期人数(按地区, 年度, 等待月数, 免等待事由) / Waiting-period counts."""

    region: str = pa.Field(description="政策地区 / region")
    year: pl.Int32 = pa.Field(description="年度 / year")
    wait_months: pl.Int32 = pa.Field(description="等待期(月) / waiting months")
    exemption: str = pa.Field(nullable=True, description="免等待期事由 / exemption")
    persons: pl.Int64 = pa.Field(description="人数 / persons")
    in_waiting_period: pl.Int64 = pa.Field(
        description="数据日期仍在等待期人数 / still waiting on the as-of date"
    )


class WorklistSummary(_Mart):
    """工作清单汇总(按网格和事项) / Worklist cases by grid and case kind."""

    grid_code: str = pa.Field(nullable=True, description="网格编码 / grid code")
    case: str = pa.Field(description="事项类型 / case kind")
    cases: pl.Int64 = pa.Field(description="事项数 / cases")
    earliest_due_date: pl.Date = pa.Field(
        nullable=True, description="最早截止日期 / earliest due date"
    )


class RejectsBySource(_Mart):
    """拒收汇总(按来源和校验) / Rejects by source and check."""

    source: str = pa.Field(nullable=True, description="数据来源 / source")
    check: str = pa.Field(description="校验 / check")
    rejects: pl.Int64 = pa.Field(description="拒收记录数 / reject rows")
    files: pl.Int64 = pa.Field(description="涉及文件数 / files")


TABLES: dict[str, type[pa.DataFrameModel]] = {
    "person": Person,
    "coverage_year": CoverageYear,
    "repeat_enrolment": RepeatEnrolment,
    "coverage_flag": CoverageFlag,
    "policy_status": PolicyStatus,
    "newborn_link": NewbornLink,
    "payment_live": PaymentLive,
    "identity_review": IdentityReview,
    "worklist": Worklist,
    "region_parameters": RegionParameters,
    **employee.TABLES,
    "rejects": Rejects,
    "ingest_log": IngestLog,
    "run_log": RunLog,
    "run_stage_log": RunStageLog,
    "run_metrics": RunMetrics,
}
"""Published tables of the ``main`` schema, in data-dictionary order."""

VIEWS: dict[str, type[pa.DataFrameModel]] = {
    "v_coverage_flags_by_division": CoverageFlagsByDivision,
    "v_coverage_flags_by_grid": CoverageFlagsByGrid,
    "v_lapses_by_year": LapsesByYear,
    "v_newborn_enrolment_90d": NewbornEnrolment90d,
    "v_incentive_totals_by_region": IncentiveTotalsByRegion,
    "v_waiting_period_counts": WaitingPeriodCounts,
    "v_worklist_summary": WorklistSummary,
    "v_rejects_by_source": RejectsBySource,
    **employee.VIEWS,
}
"""Analyst views (``pipelines/stages/sql/views_analyst.sql``)."""
