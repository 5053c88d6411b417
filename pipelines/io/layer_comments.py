"""COMMENTs in Chinese and English for the warehouse's schemas beside ``main``.

outputs.md: "Every table and column carries a COMMENT in Chinese and English." The marts in
``main`` take theirs from schemas/marts.py (``catalog.apply_comments``). Here:

- ``staging.<source>``: the source's names (the first line of its schemas/ module, e.g.
  "医保费缴费 tax-bureau contribution payments ...") and, per column, the contract's Chinese
  header (``raw(alias)``) or ``NAMES_ZH`` / the English name, then its description;
- ``staging.rejected_identity`` and ``reference.*``: ``TABLES`` below;
- ``analyst.*``: a masked view carries its ``main`` relation's comments
  (``analyst_views.create_analyst_views``).

Texts read ``中文 / english_name: description``, like the marts' "中文 / English".
"""

from __future__ import annotations

import sys

import duckdb

from pipelines.io.warehouse import sql_literal
from schemas import SOURCES, SourceSpec
from schemas._common import raw_columns, staged_columns

# Chinese names of staged columns that have no Chinese header in the contract (lineage,
# derived, or a header extracts.md gives only in English), and of the other tables' columns.
NAMES_ZH = {
    "delivery_date": "交付日期",
    "source_file": "来源文件",
    "line": "行号",
    "period_year": "费款所属年度",
    "period_month": "费款所属月份",
    "refunded_by": "退费流水号",
    "year": "年度",
    "category": "救助类别",
    "division": "区划代码",
    "event_date": "变动日期",
}
# The contract reuses a column's first Chinese header for the same name in a later source;
# where that header means something else there, the comment says what the column is.
OVERRIDES_ZH = {("status_change", "kind"): "变动类型"}

# table -> (comment, {column: comment}) for the tables that have no schemas/ model.
TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "staging.rejected_identity": (
        ("身份号码未通过校验的记录 / records whose ID number failed a check, kept for the "
         "identity review (main.identity_review)"),
        {
            "source": "来源 / source: the extract",
            "source_file": "来源文件 / source_file: path relative to the inbox",
            "line": "行号 / line: record number, header is line 1",
            "id_number_raw": "原始身份号码 / id_number_raw: the number as delivered",
            "name": "姓名 / name",
            "sex": "性别 / sex: as delivered",
            "birth_date": "出生日期 / birth_date: as delivered",
            "division": "区划代码 / division: as delivered",
            "check": "未通过的校验 / check: the identity check it failed",
        },
    ),
    "staging.extra_values": (
        ("合同外多余列的原值 / cells of columns outside the contract, kept as delivered "
         "(extracts.md: kept in the raw layer and reported in ingest_log.extra_columns)"),
        {
            "batch_id": "批次 / batch_id: the delivery night",
            "source": "来源 / source: the extract",
            "file": "文件 / file: path relative to the inbox",
            "line": "行号 / line: record number, header is line 1",
            "column": "列名 / column: the header as delivered",
            "value": "原值 / value: the cell as delivered (empty cells are not kept)",
        },
    ),
    "reference.divisions": (
        "行政区划代码 (GB/T 2260) / division codes",
        {
            "division_code": "区划代码 / division_code: 6 digits",
            "name": "名称 / name",
            "level": "级别 / level: province, prefecture or county",
            "parent_code": "上级区划代码 / parent_code",
        },
    ),
    "reference.base_caps": (
        "大病保险基础封顶线 / catastrophic-illness base cap per pooling region",
        {
            "pooling_division": "统筹区划代码 / pooling_division",
            "effective_from": "生效日期 / effective_from: the row in force on the as-of date applies",
            "base_cap": "基础封顶线（元） / base_cap: yuan",
        },
    ),
    "reference.grids": (
        "网格登记 / neighbourhood grid register (网格化动员)",
        {
            "grid_code": "网格编码 / grid_code",
            "division_code": "县级区划代码 / division_code: county of the grid",
            "township": "乡镇（街道） / township",
            "community": "社区（村） / community",
            "worker_name": "网格员姓名 / worker_name",
            "worker_phone": "网格员电话 / worker_phone",
        },
    ),
    "reference.average_wages": (
        "全口径城镇单位就业人员月平均工资 / provincial average monthly wage per year",
        {
            "province_code": "省级区划代码 / province_code",
            "year": "年度 / year",
            "average_monthly_wage": "月平均工资（元） / average_monthly_wage: yuan",
        },
    ),
    "reference.versions": (
        "参考数据版本 / version of each loaded reference file",
        {
            "table_name": "表名 / table_name",
            "file": "文件 / file: as delivered",
            "sha256": "文件哈希 / sha256 of the file",
            "rows": "行数 / rows loaded",
        },
    ),
}


def staged_comments(spec: SourceSpec) -> tuple[str, dict[str, str]]:
    """(table comment, {column: comment}) of ``staging.<source>``."""
    module = sys.modules[spec.staged.__module__]
    names = (module.__doc__ or spec.name).strip().splitlines()[0].rstrip(".")
    layer = "snapshot, the latest delivery" if spec.snapshot else "events, latest delivery wins"
    table = (f"{names}. 暂存层 / staged layer: typed, checked rows, one per {', '.join(spec.key)} "
             f"({layer})")
    aliases = {name: info["alias"] for name, info in raw_columns(spec.raw).items()}
    described = spec.staged.to_schema().columns
    columns = {}
    for column in staged_columns(spec.staged):
        chinese = (OVERRIDES_ZH.get((spec.name, column)) or aliases.get(column)
                   or NAMES_ZH[column])
        description = described[column].description if column in described else ""
        columns[column] = f"{chinese} / {column}" + (f": {description}" if description else "")
    return table, columns


def layer_comments() -> dict[str, tuple[str, dict[str, str]]]:
    """``schema.table`` -> (comment, {column: comment}) for staging and reference."""
    staged = {f"staging.{name}": staged_comments(spec) for name, spec in SOURCES.items()}
    return staged | TABLES


def apply_layer_comments(con: duckdb.DuckDBPyConnection) -> list[str]:
    """COMMENT ON the staging and reference tables that exist and their columns; the tables
    commented."""
    present: dict[str, set[str]] = {}
    for schema, table, column in con.execute(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
        "WHERE schema_name IN ('staging', 'reference') AND database_name = current_database()"
    ).fetchall():
        present.setdefault(f"{schema}.{table}", set()).add(column)
    done = []
    for table, (comment, columns) in layer_comments().items():
        if table not in present:
            continue
        con.execute(f"COMMENT ON TABLE {table} IS {sql_literal(comment)}")
        for column, text in columns.items():
            if column in present[table]:
                con.execute(f'COMMENT ON COLUMN {table}."{column}" IS {sql_literal(text)}')
        done.append(table)
    return done
