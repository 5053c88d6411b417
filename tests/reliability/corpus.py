"""The bad-input corpus (issue 10): every case built by code into a one-night inbox.

Each case writes one bad (or odd) file into ``<inbox>/2026-01-02/`` next to one good household
file, so a test can show the bad file ends as a clear reject or a clean accept and the rest of
the night still runs. ``Expected`` is the exact outcome: the file's ``ingest_log`` row and the
checks its records or the file are rejected with (``docs/architecture.md`` vocabulary).
No binary fixtures: every byte is written here.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stdnum.cn import ric

NIGHT = "2026-01-02"
DIVISIONS = [
    ("110000", "北京市", "province", ""),
    ("110105", "朝阳区", "county", "110000"),
    ("330000", "浙江省", "province", ""),
    ("330100", "杭州市", "prefecture", "330000"),
    ("330106", "西湖区", "county", "330100"),
]
HOUSEHOLD = ["id_number", "name", "sex", "birth_date", "hukou_division", "household_id", "status",
             "address", "phone"]
TAX = ["payment_id", "id_number", "name", "scheme", "pooling_division", "period", "kind",
       "refund_of", "amount", "paid_at"]
DEATH = ["id_number", "name", "death_date"]


def make_id(division: str = "330106", birth: str = "19900101", seq: str = "001") -> str:
    """A valid 18-character number; python-stdnum computes the check character."""
    first17 = division + birth + seq
    return first17 + ric.calc_check_digit(first17 + "0")


A = make_id(seq="001")
B = make_id(seq="013")
C = make_id(birth="19850505", seq="022")
GOOD_HOUSEHOLD = [
    [A, "张三", "1", "1990-01-01", "330106", "H1", "正常", "西湖区文三路1号", "13812341234"],
    [B, "李四", "1", "1990-01-01", "330106", "H1", "正常", "西湖区文三路1号", "13912341234"],
]


def tax(payment_id: str, id_number: str = A, amount: str = "380", name: str = "张三") -> list[str]:
    return [payment_id, id_number, name, "resident", "330100", "2026", "normal", "", amount,
            "2025-12-01 10:00:00"]


def csv_text(header: list[str] | None, rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(path)
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
    book.close()


@dataclass(frozen=True)
class Expected:
    """The exact outcome for the case's file (``file`` relative to the inbox)."""

    file: str
    status: str  # ingest_log.status: ingested | rejected
    rows_read: int
    rows_accepted: int
    checks: Counter = field(default_factory=Counter)  # rejects.check -> rows
    staged: dict[str, int] = field(default_factory=dict)  # staging table -> rows after the night


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], None]  # writes the bad file into the night folder
    expected: Expected
    outcome: str  # one line for the README table


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    def build(night: Path) -> None:
        (night / name).write_bytes(data)
    return build


def _tax_bytes(rows: list[list[str]], header: list[str] = TAX, encoding: str = "utf-8") -> bytes:
    return csv_text(header, rows).encode(encoding)


def _truncated_gzip() -> bytes:
    whole = gzip.compress(_tax_bytes([tax(f"P{i}") for i in range(200)]))
    return whole[: len(whole) // 2]


def _mixed_encodings() -> bytes:
    # a GBK export with one record appended by a UTF-8 system
    head = csv_text(TAX, [tax("P1", name="李四"), tax("P2", B, name="王五")]).encode("gbk")
    tail = csv_text(None, [tax("P3", C, name="欧阳小明")]).encode("utf-8")
    return head + tail


def _bom_in_the_middle() -> bytes:
    # two exports concatenated: the second starts with its own BOM and header
    first = csv_text(TAX, [tax("P1")]).encode("utf-8-sig")
    second = csv_text(TAX, [tax("P2", B)]).encode("utf-8-sig")
    return first + second


def _nul_bytes() -> bytes:
    return _tax_bytes([tax("P1"), tax("P2", B, name="李\x00四")])


def _unbalanced_quotes() -> bytes:
    lines = csv_text(TAX, [tax("P1"), tax("P2", B), tax("P3", C)]).splitlines()
    lines[2] = lines[2].replace("李四", '"李四') if "李四" in lines[2] else \
        lines[2].replace("张三", '"张三')
    return ("\n".join(lines) + "\n").encode("utf-8")


def _multi_sheet(night: Path) -> None:
    xlsx(night / "death-01.xlsx", {
        "死亡": [DEATH, [A, "张三", "2025-12-30"]],
        "说明": [["note"], ["the second sheet is not data"]],
        "more": [DEATH, [B, "李四", "2025-12-31"]],
    })


def _scientific_xlsx(night: Path) -> None:
    # Excel turned the number into a float: 15 significant digits, the rest lost
    xlsx(night / "death-01.xlsx", {"Sheet1": [DEATH, [float(A), "张三", "2025-12-30"],
                                              [B, "李四", "2025-12-30"]]})


T = f"{NIGHT}/tax_payment-01.csv"
D = f"{NIGHT}/death-01.csv"
LONG = "路" * 200_000

CASES: list[Case] = [
    Case("empty file", _write("tax_payment-01.csv", b""),
         Expected(T, "rejected", 0, 0, Counter(file_empty=1)), "file rejected: file_empty"),
    Case("header only (events: nothing new tonight)", _write("tax_payment-01.csv", _tax_bytes([])),
         Expected(T, "ingested", 0, 0, Counter()), "ingested, no records"),
    Case("header only (a snapshot)",
         _write("household-02.csv", csv_text(HOUSEHOLD, []).encode()),
         Expected(f"{NIGHT}/household-02.csv", "rejected", 0, 0, Counter(file_empty=1)),
         "file rejected: file_empty (it would empty the list)"),
    Case("truncated gzip", _write("tax_payment-01.csv.gz", _truncated_gzip()),
         Expected(T + ".gz", "rejected", 0, 0, Counter(file_unreadable=1)),
         "file rejected: file_unreadable"),
    Case("invalid UTF-8, not GBK either",
         _write("tax_payment-01.csv", _tax_bytes([tax("P1")]) + b"P2,\xff\xfe\x80,x\n"),
         Expected(T, "rejected", 0, 0, Counter(file_encoding=1)), "file rejected: file_encoding"),
    Case("mixed encodings in one file", _write("tax_payment-01.csv", _mixed_encodings()),
         Expected(T, "rejected", 0, 0, Counter(file_encoding=1)), "file rejected: file_encoding"),
    Case("BOM in the middle (two exports concatenated)",
         _write("tax_payment-01.csv", _bom_in_the_middle()),
         Expected(T, "ingested", 3, 2, Counter(id_format=1), {"tax_payment": 2}),
         "the embedded header line rejected (id_format, and every other column in its "
         "message), the rest accepted"),
    Case("NUL bytes", _write("tax_payment-01.csv", _nul_bytes()),
         Expected(T, "rejected", 0, 0, Counter(file_encoding=1)), "file rejected: file_encoding"),
    Case("very long fields",
         _write("household-02.csv", csv_text(HOUSEHOLD, [
             [C, "王五", "2", "1985-05-05", "330106", "H2", "正常", LONG, "13712341234"],
             ["3" * 5000, "赵六", "1", "1985-05-05", "330106", "H2", "正常", "", ""],
         ]).encode()),
         Expected(f"{NIGHT}/household-02.csv", "ingested", 2, 1, Counter(id_format=1),
                  {"household": 3}),
         "long address kept whole; 5,000-digit ID number rejected: id_format"),
    Case("wrong delimiter (semicolon)",
         _write("tax_payment-01.csv", csv_text(TAX, [tax("P1"), tax("P2", B)], ";").encode()),
         Expected(T, "rejected", 2, 0, Counter(file_missing_column=1)),
         "file rejected: file_missing_column"),
    Case("unbalanced quotes", _write("tax_payment-01.csv", _unbalanced_quotes()),
         Expected(T, "rejected", 0, 0, Counter(file_unreadable=1)),
         "file rejected: file_unreadable"),
    Case("duplicated header column",
         _write("tax_payment-01.csv", csv_text(TAX + ["amount"], [tax("P1") + ["1"]]).encode()),
         Expected(T, "rejected", 0, 0, Counter(file_unreadable=1)),
         "file rejected: file_unreadable"),
    Case("missing required column",
         _write("tax_payment-01.csv", csv_text(TAX[:-2], [tax("P1")[:-2]]).encode()),
         Expected(T, "rejected", 1, 0, Counter(file_missing_column=1)),
         "file rejected: file_missing_column"),
    Case("extra column",
         _write("tax_payment-01.csv",
                csv_text(TAX + ["remark"], [tax("P1") + ["x"], tax("P2", B) + ["y"]]).encode()),
         Expected(T, "ingested", 2, 2, Counter(), {"tax_payment": 2}),
         "accepted; extra column reported in ingest_log.extra_columns, its values kept in "
         "staging.extra_values"),
    Case("ID number in scientific notation (CSV)",
         _write("death-01.csv", csv_text(DEATH, [["3.30106E+17", "张三", "2025-12-30"],
                                                 [B, "李四", "2025-12-30"]]).encode()),
         Expected(D, "ingested", 2, 1, Counter(id_format=1), {"death": 1}),
         "record rejected: id_format"),
    Case("ID number as an Excel number (xlsx)", _scientific_xlsx,
         Expected(f"{NIGHT}/death-01.xlsx", "ingested", 2, 1, Counter(id_format=1), {"death": 1}),
         "record rejected: id_format (shown as Excel shows it, 3.30106E+17)"),
    Case("dates 0000-00-00 and 2026-02-30",
         _write("death-01.csv", csv_text(DEATH, [[A, "张三", "0000-00-00"],
                                                 [B, "李四", "2026-02-30"],
                                                 [C, "王五", "2025-12-30"]]).encode()),
         Expected(D, "ingested", 3, 1, Counter(date=2), {"death": 1}),
         "records rejected: date"),
    Case("negative and absurd amounts",
         _write("tax_payment-01.csv", _tax_bytes([
             tax("P1", amount="-380"), tax("P2", B, amount="1e308"), tax("P3", C, amount="NaN"),
             tax("P4", C, amount="380")])),
         Expected(T, "ingested", 4, 1, Counter(number=3), {"tax_payment": 1}),
         "records rejected: number"),
    Case("same payment twice, different amounts",
         _write("tax_payment-01.csv", _tax_bytes([tax("P1", amount="380"),
                                                  tax("P1", amount="400"),
                                                  tax("P2", B)])),
         Expected(T, "ingested", 3, 2, Counter(duplicate_key=1), {"tax_payment": 2}),
         "the later record rejected: duplicate_key (the first in file order is staged; the "
         "other is in main.rejects with its line)"),
    Case("xlsx with several sheets", _multi_sheet,
         Expected(f"{NIGHT}/death-01.xlsx", "ingested", 1, 1, Counter(), {"death": 1}),
         "first sheet accepted, later sheets not read (contract: first sheet)"),
    Case("file name outside the contract", _write("payments_final(1).csv", _tax_bytes([tax("P1")])),
         Expected(f"{NIGHT}/payments_final(1).csv", "rejected", 0, 0, Counter(file_name=1)),
         "file rejected: file_name"),
]


def build_inbox(root: Path, case: Case) -> Path:
    """An inbox with the test divisions, one good household file and the case's file."""
    inbox = root / "inbox"
    (inbox / "reference").mkdir(parents=True)
    (inbox / "reference" / "divisions.csv").write_text(
        csv_text(["division_code", "name", "level", "parent_code"], [list(d) for d in DIVISIONS]),
        encoding="utf-8")
    night = inbox / NIGHT
    night.mkdir()
    (night / "household-01.csv").write_text(csv_text(HOUSEHOLD, GOOD_HOUSEHOLD), encoding="utf-8")
    case.build(night)
    return inbox
