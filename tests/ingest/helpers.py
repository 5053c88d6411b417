"""Helpers of the ingest tests: valid ID numbers (python-stdnum as oracle) and tiny inboxes."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

from stdnum.cn import ric

# Current GB/T 2260 codes of the test reference; 330103 (下城区, abolished 2021) is historical only.
DIVISIONS = [
    ("110000", "北京市", "province", ""),
    ("110105", "朝阳区", "county", "110000"),
    ("330000", "浙江省", "province", ""),
    ("330100", "杭州市", "prefecture", "330000"),
    ("330106", "西湖区", "county", "330100"),
]


def make_id(division: str = "110105", birth: str = "19900101", seq: str = "001") -> str:
    """An 18-character number whose check character comes from python-stdnum (the oracle)."""
    first17 = division + birth + seq
    number = first17 + ric.calc_check_digit(first17 + "0")
    return number


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8",
              gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


HOUSEHOLD_HEADER = ["id_number", "name", "sex", "birth_date", "hukou_division", "household_id",
                    "status"]
TAX_HEADER = ["payment_id", "id_number", "name", "scheme", "pooling_division", "period", "kind",
              "refund_of", "amount", "paid_at"]


def household_row(id_number=None, name="张三", sex="1", birth="1990-01-01", division="110105",
                  household="H1", status="正常") -> list[str]:
    return [id_number or make_id(birth=birth.replace("-", "")), name, sex, birth, division,
            household, status]


def tax_row(payment_id, id_number=None, scheme="resident", pooling="330100", period="2026",
            kind="normal", refund_of="", amount="380", paid_at="2025-12-01 10:00:00") -> list[str]:
    return [payment_id, id_number or make_id(), "张三", scheme, pooling, period, kind,
            refund_of, amount, paid_at]


def write_night(inbox: Path, day: str, households=None, payments=None, part: str = "") -> None:
    """One night's household and/or tax_payment CSV (``part``: a second file of the night)."""
    if households is not None:
        write_csv(inbox / day / f"household{part}.csv", HOUSEHOLD_HEADER, households)
    if payments is not None:
        write_csv(inbox / day / f"tax_payment{part}.csv", TAX_HEADER, payments)
