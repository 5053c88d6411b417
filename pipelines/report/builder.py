"""Build the run report: query aggregates from the build warehouse, render one HTML file.

The page is self-contained (inline CSS, charts as inline SVG, no script, no link to fetch)
and carries aggregates only: no person-level row, so no ID number, name or phone.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from html import escape
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import jinja2
import polars as pl

from pipelines.io.catalog import create_table_sql
from pipelines.io.marts import table_exists
from pipelines.report.charts import bar_chart, line_chart
from pipelines.stages.worklist_export import CASE_LABELS
from schemas.marts import RunMetrics

log = logging.getLogger(__name__)

TEMPLATE = "report.html.j2"
TIMEZONE = "Asia/Shanghai"

FLAG_LABELS = {
    "insured": "已参保",
    "repeat_enrolled": "重复参保",
    "lapsed": "断保",
    "uninsured": "未参保",
    "student_uninsured": "学生未参保",
    "newborn_pending": "新生儿待参保",
    "newborn_overdue": "新生儿逾期",
    "deceased_covered": "死亡后仍参保",
}

COVERED_FLAGS = ("insured", "repeat_enrolled")
LOWEST = 15
"""Counties listed in the report's table of lowest coverage."""

# In-scope people by county of residence (deceased excluded; covered = insured or repeat).
_COVERAGE_BY_COUNTY = """
WITH county AS (
    SELECT coalesce(p.residence_division, p.hukou_division) AS division_code,
           any_value(d.name) AS division_name,
           any_value(d.level) AS level,
           any_value(d.parent_code) AS parent_code,
           count(*) AS persons,
           count(*) FILTER (WHERE f.flag IN ('insured', 'repeat_enrolled')) AS covered,
           round(covered / persons, 4) AS coverage_rate
    FROM main.coverage_flag AS f JOIN main.person AS p USING (person_id)
    LEFT JOIN reference.divisions AS d
      ON d.division_code = coalesce(p.residence_division, p.hukou_division)
    WHERE f.flag <> 'deceased_covered'
    GROUP BY 1
)
"""


def _query(
    con: duckdb.DuckDBPyConnection, sql: str, needs: list[str], **params
) -> pl.DataFrame | None:
    """Run ``sql`` if every ``schema.table`` in ``needs`` exists, else None.

    A section whose query fails (a table changed shape) shows "no data" and is logged: the
    report must never be the reason a night's data is not published.
    """
    for name in needs:
        schema, table = name.split(".") if "." in name else ("main", name)
        if not table_exists(con, table, schema):
            return None
    try:
        return con.sql(sql, params=params or None).pl()
    except duckdb.Error as error:
        log.warning("report section skipped: %s", str(error).splitlines()[0])
        return None


def record_run_metrics(con: duckdb.DuckDBPyConnection, run_id: str, as_of: date) -> dict:
    """Add (or replace) this run's row in ``main.run_metrics``: the report's trend."""
    if not table_exists(con, "run_metrics"):
        con.execute(
            create_table_sql("run_metrics", RunMetrics).replace("CREATE OR REPLACE", "CREATE")
        )
    flags = _query(
        con, "SELECT flag, count(*) AS n FROM main.coverage_flag GROUP BY flag", ["coverage_flag"]
    )
    counts = dict(flags.iter_rows()) if flags is not None else {}
    persons = sum(n for flag, n in counts.items() if flag != "deceased_covered")
    covered = sum(counts.get(flag, 0) for flag in COVERED_FLAGS)
    rejects = _query(con, "SELECT count(*) AS n FROM main.rejects", ["rejects"])
    cases = _query(con, "SELECT count(*) AS n FROM main.worklist", ["worklist"])
    row = {
        "run_id": run_id,
        "as_of": as_of,
        "persons": persons,
        "covered": covered,
        "coverage_rate": round(covered / persons, 4) if persons else None,
        "rejects": int(rejects.item()) if rejects is not None else 0,
        "worklist_cases": int(cases.item()) if cases is not None else 0,
    }
    con.execute("DELETE FROM main.run_metrics WHERE run_id = $run_id", {"run_id": run_id})
    con.execute(
        "INSERT INTO main.run_metrics BY NAME SELECT $run_id AS run_id, $as_of AS as_of, "
        "$persons AS persons, $covered AS covered, $coverage_rate AS coverage_rate, "
        "$rejects AS rejects, $worklist_cases AS worklist_cases",
        row,
    )
    return row


def collect_report_data(
    con: duckdb.DuckDBPyConnection, run_id: str
) -> dict[str, pl.DataFrame | None]:
    """Every aggregate the report shows (None where the table is not built)."""
    return {
        "stages": _query(
            con,
            "SELECT stage, seconds FROM main.run_stage_log WHERE run_id = $run_id "
            "ORDER BY seconds DESC",
            ["run_stage_log"],
            run_id=run_id,
        ),
        "coverage": _query(
            con,
            f"""
            {_COVERAGE_BY_COUNTY}
            SELECT coalesce(parent.division_code, c.division_code) AS division_code,
                   coalesce(parent.name, c.division_name, '(未知 unknown)') AS division_name,
                   sum(c.persons)::BIGINT AS persons, sum(c.covered)::BIGINT AS covered,
                   round(sum(c.covered) / sum(c.persons), 4) AS coverage_rate
            FROM county AS c
            LEFT JOIN reference.divisions AS parent
              ON parent.division_code = c.parent_code AND c.level = 'county'
            GROUP BY ALL ORDER BY coverage_rate, division_code
            """,
            ["coverage_flag", "person", "reference.divisions"],
        ),
        "coverage_low": _query(
            con,
            f"""
            {_COVERAGE_BY_COUNTY}
            SELECT division_code, division_name, persons, covered, coverage_rate
            FROM county ORDER BY coverage_rate, persons DESC, division_code LIMIT {LOWEST}
            """,
            ["coverage_flag", "person", "reference.divisions"],
        ),
        "flags": _query(
            con,
            "SELECT flag, count(*) AS persons FROM main.coverage_flag GROUP BY flag ORDER BY persons DESC",
            ["coverage_flag"],
        ),
        "cases": _query(
            con,
            'SELECT "case", count(*) AS cases FROM main.worklist GROUP BY 1 ORDER BY cases DESC',
            ["worklist"],
        ),
        "rejects": _query(
            con,
            """
            SELECT coalesce(source, '(file)') AS source, "check", count(*) AS rejects,
                   count(DISTINCT file) AS files
            FROM main.rejects GROUP BY ALL ORDER BY rejects DESC, source, "check"
            """,
            ["rejects"],
        ),
        "trend": _query(
            con,
            "SELECT * FROM main.run_metrics ORDER BY as_of, run_id",
            ["run_metrics"],
        ),
        "runs": _query(
            con,
            """
            SELECT run_id, as_of, status, started_at, finished_at
            FROM main.run_log ORDER BY started_at DESC LIMIT 10
            """,
            ["run_log"],
        ),
    }


def html_table(
    frame: pl.DataFrame | None, headers: dict[str, str], percent: tuple[str, ...] = ()
) -> str:
    """A plain HTML table of ``frame``'s ``headers`` columns (escaped)."""
    if frame is None or frame.is_empty():
        return "<p class='empty'>无数据 / no data</p>"
    head = "".join(f"<th>{escape(label)}</th>" for label in headers.values())
    rows = []
    for record in frame.select(list(headers)).iter_rows(named=True):
        cells = []
        for column, value in record.items():
            if value is None:
                cells.append("<td></td>")
            elif column in percent:
                cells.append(f"<td class='num'>{value:.1%}</td>")
            elif isinstance(value, (int, float)):
                cells.append(f"<td class='num'>{value:,}</td>")
            else:
                cells.append(f"<td>{escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _tiles(data: dict[str, pl.DataFrame | None]) -> list[dict[str, str]]:
    trend = data["trend"]
    latest = trend.row(-1, named=True) if trend is not None and trend.height else {}
    rate = latest.get("coverage_rate")
    return [
        {"label": "范围内人数 persons in scope", "value": f"{latest.get('persons', 0):,}"},
        {"label": "参保率 coverage rate", "value": f"{rate:.1%}" if rate is not None else "–"},
        {"label": "工作清单事项 worklist cases", "value": f"{latest.get('worklist_cases', 0):,}"},
        {"label": "拒收记录 reject rows", "value": f"{latest.get('rejects', 0):,}"},
    ]


def render_report(
    data: dict[str, pl.DataFrame | None], *, run_id: str, as_of: date, generated_at: str
) -> str:
    """The report page as one HTML string (pure: no I/O besides the packaged template)."""
    coverage, flags, cases = data["coverage"], data["flags"], data["cases"]
    rejects, trend = data["rejects"], data["trend"]
    coverage_labels = (
        [
            f"{name or ''} {code or ''}".strip()
            for code, name in coverage.select("division_code", "division_name").iter_rows()
        ]
        if coverage is not None
        else []
    )
    by_source = (
        rejects.group_by("source").agg(pl.col("rejects").sum()).sort("rejects", descending=True)
        if rejects is not None
        else None
    )
    trend_labels = (
        [f"{r['as_of']}" for r in trend.iter_rows(named=True)] if trend is not None else []
    )
    charts = {
        "coverage": bar_chart(
            coverage_labels,
            coverage["coverage_rate"].fill_null(0).to_list() if coverage is not None else [],
            title="参保率(按地市) / coverage rate by prefecture",
            percent=True,
        ),
        "flags": bar_chart(
            [FLAG_LABELS.get(f, f) for f in flags["flag"]] if flags is not None else [],
            flags["persons"].to_list() if flags is not None else [],
            title="参保状态人数 / persons by flag",
        ),
        "cases": bar_chart(
            [CASE_LABELS.get(c, c) for c in cases["case"]] if cases is not None else [],
            cases["cases"].to_list() if cases is not None else [],
            title="工作清单事项 / worklist cases",
            color="#E07B39",
        ),
        "rejects": bar_chart(
            by_source["source"].to_list() if by_source is not None else [],
            by_source["rejects"].to_list() if by_source is not None else [],
            title="拒收记录(按来源) / rejects by source",
            color="#C0392B",
        ),
        "trend_rate": line_chart(
            trend_labels,
            {"参保率 coverage": trend["coverage_rate"].to_list() if trend is not None else []},
            title="参保率趋势 / coverage rate per run",
            percent=True,
        ),
        "trend_counts": line_chart(
            trend_labels,
            {
                "事项 cases": trend["worklist_cases"].to_list() if trend is not None else [],
                "拒收 rejects": trend["rejects"].to_list() if trend is not None else [],
            },
            title="事项与拒收 / cases and rejects per run",
        ),
    }
    stages = data.get("stages")
    charts["stages"] = bar_chart(
        stages["stage"].to_list() if stages is not None else [],
        stages["seconds"].to_list() if stages is not None else [],
        title="本次运行各步骤耗时(秒) / seconds per stage, this run",
        color="#7F8C8D",
    )
    tables = {
        "coverage": html_table(
            data["coverage_low"],
            {
                "division_code": "区划代码",
                "division_name": "区划",
                "persons": "人数",
                "covered": "已参保",
                "coverage_rate": "参保率",
            },
            percent=("coverage_rate",),
        ),
        "rejects": html_table(
            rejects,
            {
                "source": "来源 source",
                "check": "校验 check",
                "rejects": "记录 rows",
                "files": "文件 files",
            },
        ),
        "runs": html_table(
            data["runs"],
            {
                "run_id": "运行 run",
                "as_of": "数据日期",
                "status": "状态",
                "started_at": "开始",
                "finished_at": "结束",
            },
        ),
    }
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(
        resources.files("pipelines.report").joinpath(TEMPLATE).read_text("utf-8")
    )
    return template.render(
        run_id=run_id,
        as_of=as_of.isoformat(),
        generated_at=generated_at,
        tiles=_tiles(data),
        charts=charts,
        tables=tables,
    )


def write_report(con: duckdb.DuckDBPyConnection, path: Path, as_of: date, run_id: str) -> Path:
    """Query, render and write the report for this run."""
    generated_at = datetime.now(ZoneInfo(TIMEZONE)).strftime("%Y-%m-%d %H:%M %Z")
    html = render_report(
        collect_report_data(con, run_id), run_id=run_id, as_of=as_of, generated_at=generated_at
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
