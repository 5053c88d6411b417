"""Checks the synthetic inbox against the contract with independent readers and python-stdnum."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from stdnum.cn import ric

from pipelines.synthetic import generate_inbox
from pipelines.synthetic.defects import FILE_CHECK_OF, REQUIRED_TARGET
from pipelines.synthetic.writers import ALIASES, STATUS_ALIAS

TO_ENGLISH = {v: k for k, v in ALIASES.items()} | {v: "status" for v in STATUS_ALIAS.values()}


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inbox")
    generate_inbox(out, 800, 7, days=3)
    return out


def read_delivered(path: Path, encoding: str) -> pl.DataFrame:
    """Reads a delivered file as strings with canonical column names (independent of the writers)."""
    name = path.name
    if name.endswith(".xlsx"):
        rows = list(
            openpyxl.load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True)
        )
        df = pl.DataFrame(
            [list(r) for r in rows[1:]], schema=[str(c) for c in rows[0]], orient="row"
        )
    elif name.endswith(".parquet"):
        df = pl.read_parquet(path)
    else:
        raw = path.read_bytes()
        if name.endswith(".gz"):
            raw = gzip.decompress(raw)
        text = raw.decode("gb18030" if encoding == "gb18030" else "utf-8-sig")
        df = pl.read_csv(io.StringIO(text), infer_schema=False)
    return df.rename({c: TO_ENGLISH.get(c, c) for c in df.columns})


def copies(defects: pl.DataFrame) -> set[str]:
    """Files that are copies of another: resent byte for byte, or broken (rejected whole)."""
    return set(defects.filter(
        (pl.col("defect") == "duplicate_file") | pl.col("defect").is_in(list(FILE_CHECK_OF))
    )["file"])


def test_every_valid_id_passes_stdnum(inbox: Path) -> None:
    defects = pl.read_csv(inbox / "truth" / "defects.csv", infer_schema=False)
    enc = dict(
        defects.filter(pl.col("defect") == "gb18030_encoding")
        .select("file", "delivered")
        .iter_rows()
    )
    touched = set(defects.drop_nulls("line").select("file", "line").iter_rows())
    copied = copies(defects)
    checked = 0
    for path in sorted(p for p in inbox.glob("20*/*") if p.is_file()):
        rel = f"{path.parent.name}/{path.name}"
        if rel in copied:  # a copy of a file checked under its own name
            continue
        df = read_delivered(path, enc.get(rel, "utf-8"))
        if "id_number" not in df.columns:
            continue
        for line, value in enumerate(df["id_number"].to_list(), start=2):
            if (rel, str(line)) in touched:
                continue
            assert ric.is_valid(value), (rel, line, value)
            checked += 1
    assert checked > 1000


def test_every_defect_is_present(inbox: Path) -> None:
    defects = pl.read_csv(inbox / "truth" / "defects.csv", infer_schema=False)
    enc = dict(
        defects.filter(pl.col("defect") == "gb18030_encoding")
        .select("file", "delivered")
        .iter_rows()
    )
    cache: dict[str, pl.DataFrame] = {}
    for d in defects.drop_nulls("line").iter_rows(named=True):
        if d["file"] not in cache:
            cache[d["file"]] = read_delivered(inbox / d["file"], enc.get(d["file"], "utf-8"))
        df = cache[d["file"]]
        got = df[d["column"]][int(d["line"]) - 2]
        assert (got or "") == (d["delivered"] or ""), d
        assert (got or "") != (d["original"] or ""), d
        if d["defect"] in ("bad_check_char", "impossible_id_date"):
            assert not ric.is_valid(got)
        if d["defect"] == "legacy_15_digit":
            assert len(got) == 15
    for d in defects.filter(pl.col("line").is_null()).iter_rows(named=True):
        assert (inbox / d["file"]).is_file(), d
        if d["defect"] == "duplicate_file":
            assert (inbox / d["original"]).read_bytes() == (inbox / d["file"]).read_bytes()
        if d["defect"] == "gb18030_encoding":
            raw = (inbox / d["file"]).read_bytes()
            raw = gzip.decompress(raw) if d["file"].endswith(".gz") else raw
            if any(b >= 0x80 for b in raw):  # a file of ASCII only reads the same in both
                with pytest.raises(UnicodeDecodeError):
                    raw.decode("utf-8")
        if d["defect"] in FILE_CHECK_OF:
            assert d["original"] != d["file"] and d["original"][:10] == d["file"][:10]
            assert_broken(inbox / d["file"], d["defect"], inbox / d["original"])
    rejects = pl.read_csv(inbox / "truth" / "rejects.csv", infer_schema=False)
    assert rejects.height > 0
    assert set(rejects["check"]) <= {
        "id_check_char",
        "id_birth_date",
        "id_birth_mismatch",
        "id_sex_mismatch",
        "required",
        "date",
        "timestamp",
        *FILE_CHECK_OF.values(),
    }
    whole = rejects.filter(pl.col("line").is_null())
    assert sorted(whole["defect"]) == sorted(FILE_CHECK_OF)
    assert whole["column"].is_null().all()


def assert_broken(path: Path, defect: str, original: Path) -> None:
    """The broken copy fails the way its defect says, read independently of the pipeline."""
    raw = path.read_bytes()
    if defect == "file_truncated_gzip":
        with pytest.raises((EOFError, gzip.BadGzipFile)):
            gzip.decompress(raw)
        return
    for encoding in ("utf-8", "gb18030"):
        if defect == "file_undecodable":
            with pytest.raises(UnicodeDecodeError):
                raw.decode(encoding)
        else:
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                continue
            header = {TO_ENGLISH.get(c, c) for c in text.lstrip("\ufeff").split("\n")[0].split(",")}
            full = read_delivered(original, "gb18030" if encoding == "gb18030" else "utf-8")
            assert set(full.columns) - header == {REQUIRED_TARGET[original.name.split("-")[0]]}
            return
    assert defect == "file_undecodable"


def test_sources_and_reference_files(inbox: Path) -> None:
    names = {p.name.split("-")[0] for p in inbox.glob("20*/*")}
    assert names == {
        "household",
        "residence_permit",
        "birth",
        "death",
        "student",
        "tax_payment",
        "claims",
        "assistance",
        "status_change",
    }
    for ref in ("divisions.csv", "base_caps.csv", "grids.csv", "average_wages.csv"):
        assert (inbox / "reference" / ref).is_file()
    kinds = set(pl.read_csv(inbox / "truth" / "defects.csv", infer_schema=False)["defect"])
    assert kinds == {
        "legacy_15_digit",
        "full_width_digits",
        "lower_case_x",
        "surrounding_spaces",
        "bad_check_char",
        "impossible_id_date",
        "id_birth_mismatch",
        "id_sex_mismatch",
        "missing_required",
        "impossible_date",
        "gb18030_encoding",
        "utf8_bom",
        "chinese_headers",
        "shuffled_columns",
        "chinese_codes",
        "format_csv_gz",
        "format_parquet",
        "format_xlsx",
        "duplicate_file",
        *FILE_CHECK_OF,
    }
    persons = pl.read_csv(inbox / "truth" / "persons.csv", infer_schema=False)
    flags = persons.drop_nulls("flag")["flag"].value_counts()
    assert persons.filter(pl.col("in_scope") == "true").height > 700
    share = flags.filter(pl.col("flag") == "insured")["count"][0] / flags["count"].sum()
    assert 0.85 < share < 0.99


CODES = {
    "职工医保": "employee",
    "居民医保": "resident",
    "正常": "normal",
    "修复补缴": "repair",
    "退费": "refund",
    "企业": "enterprise",
    "机关事业": "institution",
    "灵活就业": "flexible",
}


def accepted_payments(inbox: Path) -> pl.DataFrame:
    """Every tax_payment row the pipeline should accept, read back from the delivered files."""
    defects = pl.read_csv(inbox / "truth" / "defects.csv", infer_schema=False)
    enc = dict(
        defects.filter(pl.col("defect") == "gb18030_encoding")
        .select("file", "delivered")
        .iter_rows()
    )
    copied = copies(defects)
    rejected = set(
        pl.read_csv(inbox / "truth" / "rejects.csv", infer_schema=False)
        .select("file", "line")
        .iter_rows()
    )
    frames = []
    for path in sorted(inbox.glob("20*/tax_payment-*")):
        rel = f"{path.parent.name}/{path.name}"
        if rel in copied:
            continue
        df = read_delivered(path, enc.get(rel, "utf-8")).with_row_index("line", offset=2)
        keep = [(rel, str(line)) not in rejected for line in df["line"].to_list()]
        frames.append(
            df.filter(pl.Series(keep)).select(
                "payment_id",
                "pooling_division",
                "period",
                *[pl.col(c).replace(CODES) for c in ("scheme", "kind", "employer_type")],
                *[
                    pl.col(c).cast(pl.Float64)
                    for c in ("amount", "base", "employer_amount", "person_amount")
                ],
            )
        )
    return pl.concat(frames)


def test_contribution_findings_match_shandong_rates(inbox: Path) -> None:
    """An independent reading of policy.md section 6 finds exactly the findings of the truth."""
    wages = pl.read_csv(inbox / "reference" / "average_wages.csv", infer_schema=False)
    wage = {int(y): float(w) for p, y, w in wages.iter_rows() if p == "370000"}
    pays = accepted_payments(inbox).filter(
        pl.col("scheme") == "employee",
        pl.col("kind") == "normal",
        pl.col("pooling_division").str.starts_with("37"),
        pl.col("period") >= "2024-01",
    )
    expected = set()
    for r in pays.iter_rows(named=True):
        base, amount = r["base"], r["amount"]
        if r["employer_type"] == "flexible":
            minimum = 0.6 * wage[int(r["period"][:4]) - 1]
            if base < minimum:
                expected.add((r["payment_id"], "base_below_minimum"))
            elif min(abs(amount - base * 0.07), abs(amount - base * 0.09)) > 1:
                expected.add((r["payment_id"], "amount_mismatch"))
            continue
        own, other = (0.08, 0.073) if r["employer_type"] == "enterprise" else (0.073, 0.08)
        if abs(r["employer_amount"] - base * other) <= 1:
            expected.add((r["payment_id"], "employer_type_rate"))
        elif abs(amount - base * (own + 0.02)) > 1:
            expected.add((r["payment_id"], "amount_mismatch"))
    findings = pl.read_csv(inbox / "truth" / "contribution_findings.csv", infer_schema=False)
    assert set(findings.iter_rows()) == expected
    assert len(expected) > 0


def test_employee_history_counts_live_months(inbox: Path) -> None:
    pays = accepted_payments(inbox).filter(pl.col("scheme") == "employee")
    refunded = set(pays.filter(pl.col("kind") == "refund")["payment_id"].str.slice(1))
    live = pays.filter(pl.col("kind") == "normal", ~pl.col("payment_id").is_in(list(refunded)))
    months = live.group_by(pl.col("payment_id").str.slice(1, 9).alias("k")).agg(
        pl.col("period").n_unique()
    )
    history = pl.read_csv(inbox / "truth" / "employee_history.csv", infer_schema=False)
    assert history.height == months.height
    assert history["contribution_months"].cast(pl.Int64).sum() == months["period"].sum()
    near = history.filter(
        pl.col("birth_date").str.slice(0, 4).is_in(["1965", "1966"]), pl.col("sex") == "1"
    )
    assert near.height > 0


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    """Also across chunking in one process and in two worker processes."""
    generate_inbox(tmp_path / "a", 400, 11, days=2, chunk_persons=150, workers=1)
    generate_inbox(tmp_path / "b", 400, 11, days=2, chunk_persons=150, workers=2)
    first = _digest(tmp_path / "a")
    assert first == _digest(tmp_path / "b")
    assert any("-03." in name for name in first)  # three chunks, three parts
    generate_inbox(tmp_path / "c", 400, 12, days=2, chunk_persons=150, workers=1)
    assert _digest(tmp_path / "c") != first


def test_copies_never_replace_a_chunks_file(tmp_path: Path) -> None:
    """With more chunks than the copies' usual parts (80, 90), a broken or resent copy takes a
    part above every chunk's, so no delivered file is overwritten."""
    manifest = generate_inbox(tmp_path, 330, 3, days=2, chunk_persons=1, workers=1)
    chunks = len(list(tmp_path.glob("2026-11-19/household-*")))
    assert chunks > 90
    defects = pl.read_csv(tmp_path / "truth" / "defects.csv", infer_schema=False)
    copied = copies(defects)
    assert len(copied) == 1 + len(FILE_CHECK_OF)
    assert all(int(name.split("-")[-1].split(".")[0]) > chunks for name in copied)
    delivered = [p for p in tmp_path.glob("20*/*") if p.is_file()]
    assert len(delivered) == manifest["counts"]["files"] + len(copied)
