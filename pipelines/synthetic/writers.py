"""Renders canonical records to delivered strings and writes csv / csv.gz / parquet / xlsx files.

Every byte is a function of the seed: gzip with mtime 0, parquet without timestamps, xlsx with a
fixed creation date. Chinese headers come from the contract's aliases (extracts.md); a column
without an alias keeps its English name.
"""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import polars as pl

COLUMNS: dict[str, list[str]] = {
    "household": [
        "id_number",
        "name",
        "sex",
        "birth_date",
        "hukou_division",
        "household_id",
        "relation",
        "residence_division",
        "grid_code",
        "address",
        "phone",
        "status",
        "status_date",
    ],
    "residence_permit": [
        "id_number",
        "name",
        "permit_division",
        "grid_code",
        "address",
        "phone",
        "issued_date",
        "valid_until",
    ],
    "birth": [
        "birth_cert_no",
        "child_name",
        "sex",
        "birth_date",
        "mother_id_number",
        "father_id_number",
        "birth_division",
        "child_id_number",
    ],
    "death": ["id_number", "name", "death_date", "reporting_dept"],
    "student": [
        "id_number",
        "name",
        "student_no",
        "school_code",
        "school_name",
        "school_division",
        "level",
        "status",
        "status_date",
    ],
    "tax_payment": [
        "payment_id",
        "id_number",
        "name",
        "scheme",
        "pooling_division",
        "period",
        "kind",
        "refund_of",
        "amount",
        "base",
        "employer_amount",
        "person_amount",
        "employer_id",
        "employer_type",
        "paid_at",
    ],
    "claims": ["id_number", "year", "scheme", "fund_paid", "catastrophic_paid", "incentive_used"],
    "assistance": ["id_number", "name", "category", "recognized_date", "ended_date", "division"],
    "status_change": ["id_number", "kind", "event_date", "division"],
}

ALIASES = {
    "id_number": "公民身份号码",
    "name": "姓名",
    "sex": "性别",
    "birth_date": "出生日期",
    "hukou_division": "户籍地区划代码",
    "household_id": "户号",
    "relation": "与户主关系",
    "residence_division": "居住地区划代码",
    "grid_code": "网格编码",
    "address": "住址",
    "phone": "联系电话",
    "status_date": "变动日期",
    "permit_division": "居住证签发地",
    "issued_date": "签发日期",
    "valid_until": "有效期至",
    "birth_cert_no": "出生医学证明编号",
    "child_name": "新生儿姓名",
    "mother_id_number": "母亲身份证号",
    "father_id_number": "父亲身份证号",
    "birth_division": "出生地区划代码",
    "child_id_number": "新生儿身份证号",
    "death_date": "死亡日期",
    "reporting_dept": "报送部门",
    "student_no": "学籍号",
    "school_code": "学校代码",
    "school_name": "学校名称",
    "school_division": "学校所在区划",
    "level": "学段",
    "payment_id": "缴费流水号",
    "scheme": "险种",
    "pooling_division": "统筹区划代码",
    "period": "费款所属期",
    "kind": "缴费类型",
    "refund_of": "原缴费流水号",
    "amount": "金额",
    "base": "缴费基数",
    "employer_amount": "单位缴费",
    "person_amount": "个人缴费",
    "employer_id": "单位统一社会信用代码",
    "employer_type": "单位类型",
    "paid_at": "缴费时间",
    "fund_paid": "基金支付总额",
    "catastrophic_paid": "大病保险支付",
    "incentive_used": "是否使用激励额度",
    "recognized_date": "认定日期",
    "ended_date": "退出日期",
}
# `status` is 户籍状态 in household and 学籍状态 in student.
STATUS_ALIAS = {"household": "户籍状态", "student": "学籍状态"}

CHINESE_CODES = {
    "sex": {"1": "男", "2": "女"},
    "status": {
        "normal": "正常",
        "moved_out": "迁出",
        "cancelled": "注销",
        "enrolled": "在籍",
        "graduated": "毕业",
        "withdrawn": "退学",
    },
    "level": {
        "kindergarten": "幼儿园",
        "primary": "小学",
        "junior": "初中",
        "senior": "高中",
        "vocational": "职业院校",
        "higher": "高等院校",
    },
    "scheme": {"employee": "职工医保", "resident": "居民医保"},
    "kind": {
        "normal": "正常",
        "repair": "修复补缴",
        "refund": "退费",
        "employee_stop": "职工医保停保",
        "military_discharge": "退役",
        "graduation": "毕业",
        "hukou_move_in": "户籍迁入",
        "residence_permit": "取得居住证",
        "student_status": "取得学籍",
        "prison_release": "刑满释放",
    },
    "employer_type": {"enterprise": "企业", "institution": "机关事业", "flexible": "灵活就业"},
    "category": {
        "destitute": "特困",
        "minimum_living": "低保",
        "near_poor": "低边",
        "illness_poverty": "因病致贫",
        "other": "其他",
    },
}
DATE_COLUMNS = {
    "birth_date",
    "status_date",
    "issued_date",
    "valid_until",
    "death_date",
    "recognized_date",
    "ended_date",
    "event_date",
}
AMOUNT_COLUMNS = {
    "amount",
    "base",
    "employer_amount",
    "person_amount",
    "fund_paid",
    "catastrophic_paid",
}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")


def header_of(source: str, column: str) -> str:
    if column == "status":
        return STATUS_ALIAS[source]
    return ALIASES.get(column, column)


def render(
    source: str, records: pl.DataFrame, date_format: str, chinese_codes: bool
) -> pl.DataFrame:
    """The delivered strings of one file, canonical column order, nulls as null."""
    exprs = []
    for col in COLUMNS[source]:
        c = pl.col(col)
        dtype = records.schema.get(col)
        if col == "paid_at":
            e = (
                (pl.col("_paid_ord") - 719163).cast(pl.Date).dt.strftime(date_format)
                + " "
                + pl.col("_time")
            )
        elif dtype == pl.Date:
            e = c.dt.strftime(date_format)
        elif col in AMOUNT_COLUMNS:
            # Amounts are never negative (a refund carries the refunded amount); two decimals.
            cents = (c * 100).round(0).cast(pl.Int64)
            e = (cents // 100).cast(pl.String) + "." + (cents % 100).cast(pl.String).str.zfill(2)
        elif dtype == pl.Boolean:
            e = pl.when(c).then(pl.lit("true")).otherwise(pl.lit("false"))
        else:
            e = c.cast(pl.String)
        if chinese_codes and col in CHINESE_CODES:
            e = e.replace(CHINESE_CODES[col])
        exprs.append(e.alias(col))
    return records.select(exprs)


def csv_bytes(df: pl.DataFrame, encoding: str, bom: bool) -> bytes:
    text = df.write_csv()
    if encoding == "gb18030":
        return text.encode("gb18030")
    return ("\ufeff" if bom else "").encode("utf-8") + text.encode("utf-8")


def write_file(df: pl.DataFrame, path: Path, fmt: str, encoding: str, bom: bool) -> None:
    """Writes one delivered file; `df` already carries the delivered header names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("csv", "csv.gz") and encoding == "utf-8":
        # polars writes gzip with mtime 0 (deterministic) and the BOM itself.
        df.write_csv(
            path, include_bom=bom, compression="gzip" if fmt == "csv.gz" else "uncompressed"
        )
    elif fmt == "csv":
        path.write_bytes(csv_bytes(df, encoding, bom))
    elif fmt == "csv.gz":
        path.write_bytes(gzip.compress(csv_bytes(df, encoding, bom), compresslevel=1, mtime=0))
    elif fmt == "parquet":
        df.write_parquet(path, compression="zstd", statistics=False)
    elif fmt == "xlsx":
        _write_xlsx(df, path)
    else:
        raise ValueError(f"unknown format {fmt}")


def _write_xlsx(df: pl.DataFrame, path: Path) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "strings_to_formulas": False,
        },
    )
    wb.set_properties({"created": datetime(2026, 1, 1), "author": "synthetic"})
    ws = wb.add_worksheet("Sheet1")
    for j, name in enumerate(df.columns):
        ws.write_string(0, j, name)
    for i, row in enumerate(df.iter_rows(), start=1):
        for j, value in enumerate(row):
            if value is not None:
                ws.write_string(i, j, value)
    wb.close()


def write_reference(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(frame.write_csv().encode("utf-8"))
