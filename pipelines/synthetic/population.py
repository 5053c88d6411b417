"""Synthetic people and households: one row per person, vectorised with numpy and polars.

Households hold a head, maybe a spouse, children and the head's parents. Most households have
their hukou (户籍) in one of the four provinces and live in the same county; some live in another
county or province (household record plus a residence permit where they live); migrant
households come from other provinces (residence permit only, no local household record).
ID numbers follow GB 11643-1999 (division valid in the birth year, birth date, sequence whose
parity is the sex, ISO 7064 MOD 11-2 check character) and are unique.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from . import reference

# Surnames with rough relative frequencies (per cent of the population).
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_SURNAME_WEIGHTS = np.array(
    [
        7.1,
        7.0,
        6.7,
        5.4,
        4.5,
        3.1,
        2.2,
        2.0,
        1.9,
        1.9,
        1.6,
        1.5,
        1.2,
        1.2,
        1.2,
        1.1,
        1.1,
        1.1,
        1.0,
        0.8,
        0.8,
        0.7,
        0.7,
        0.7,
        0.6,
        0.6,
        0.5,
        0.5,
        0.5,
        0.5,
        0.5,
        0.5,
        0.5,
        0.4,
        0.4,
        0.4,
        0.4,
        0.4,
        0.4,
        0.4,
        0.4,
        0.4,
        0.4,
        0.4,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.3,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.2,
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
    ]
)
_MALE_CHARS = list(
    "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建国志文博子轩晨睿泽"
)
_FEMALE_CHARS = list("芳娜敏静丽艳娟霞秀英华玲桂兰萍红梅琳婷雪慧莹颖洁琴欣怡佳雨涵诗梦悦妍晓燕丹倩")

RELATIONS = np.array(["户主", "配偶", "子女", "父母"])
ROLE_HEAD, ROLE_SPOUSE, ROLE_CHILD, ROLE_GRAND = 0, 1, 2, 3


def surname_index(rng: np.random.Generator, n: int) -> np.ndarray:
    """Indices into the surname list, drawn by frequency."""
    w = _SURNAME_WEIGHTS / _SURNAME_WEIGHTS.sum()
    return rng.choice(len(_SURNAME_WEIGHTS), size=n, p=w)


def surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array(list(_SURNAMES[: len(_SURNAME_WEIGHTS)]))[surname_index(rng, n)]


def given_names(rng: np.random.Generator, n: int, is_female: np.ndarray) -> pl.Series:
    male, female = np.array(_MALE_CHARS), np.array(_FEMALE_CHARS)
    a = np.where(
        is_female, female[rng.integers(0, len(female), n)], male[rng.integers(0, len(male), n)]
    )
    b = np.where(
        is_female, female[rng.integers(0, len(female), n)], male[rng.integers(0, len(male), n)]
    )
    two = pl.Series(rng.random(n) < 0.7)
    first = pl.Series(a)
    return pl.select(pl.when(two).then(first + pl.Series(b)).otherwise(first)).to_series()


def check_characters(first17: pl.Expr) -> pl.Expr:
    """ISO 7064 MOD 11-2 check character of a 17-digit string expression."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(first17.str.slice(i, 1).cast(pl.Int32) * w for i, w in enumerate(weights))
    return pl.lit("10X98765432").str.slice((total % 11).cast(pl.Int64), 1)


def _households(rng: np.random.Generator, persons: int) -> dict[str, np.ndarray]:
    """Household-level draws, enough households for `persons` people."""
    h = int(persons / 2.4) + 64
    migrant = rng.random(h) < 0.10
    spouse = (rng.random(h) < 0.78).astype(np.int64)
    children = rng.choice(4, size=h, p=[0.30, 0.42, 0.24, 0.04])
    grand = np.where(migrant, 0, rng.choice(3, size=h, p=[0.62, 0.14, 0.24]))
    head_age = np.clip(rng.normal(47, 14, h), 23, 88).astype(np.int64)
    size = 1 + spouse + children + grand
    return {
        "migrant": migrant,
        "spouse": spouse,
        "children": children,
        "grand": grand,
        "head_age": head_age,
        "size": size,
    }


def build_population(
    rng: np.random.Generator, persons: int, end_date: date, grids: pl.DataFrame
) -> pl.DataFrame:
    """One row per person: identity, household, residence and life events (truth, not output)."""
    hh = _households(rng, persons)
    n_h = len(hh["size"])
    # Persons in role order inside each household: head, spouse, children, grandparents.
    hh_idx = np.repeat(np.arange(n_h), hh["size"])
    start = np.concatenate([[0], np.cumsum(hh["size"])[:-1]])
    pos = np.arange(len(hh_idx)) - start[hh_idx]
    sp, ch = hh["spouse"][hh_idx], hh["children"][hh_idx]
    role = np.select(
        [pos == 0, pos < 1 + sp, pos < 1 + sp + ch],
        [ROLE_HEAD, ROLE_SPOUSE, ROLE_CHILD],
        ROLE_GRAND,
    )
    # Keep whole households only, up to `persons`; fill the last gap with single-person ones.
    cut = np.searchsorted(np.cumsum(hh["size"]), persons, side="right")
    keep = hh_idx < cut
    hh_idx, role, pos = hh_idx[keep], role[keep], pos[keep]
    missing = persons - len(hh_idx)
    if missing > 0:
        extra_h = np.arange(cut, cut + missing)
        hh_idx = np.concatenate([hh_idx, extra_h])
        role = np.concatenate([role, np.full(missing, ROLE_HEAD)])
        pos = np.concatenate([pos, np.zeros(missing, dtype=np.int64)])
        for key in ("migrant", "spouse", "children", "grand", "head_age", "size"):
            if len(hh[key]) < cut + missing:
                pad = cut + missing - len(hh[key])
                hh[key] = np.concatenate([hh[key], hh[key][:pad]])
    n = len(hh_idx)

    head_age = hh["head_age"][hh_idx]
    head_male = (rng.random(n_h + persons) < 0.72)[hh_idx]
    age = np.select(
        [role == ROLE_HEAD, role == ROLE_SPOUSE],
        [head_age, np.clip(head_age + rng.normal(-2, 3, n).astype(np.int64), 20, 95)],
        0,
    )
    parent_age = np.maximum(head_age - 2, 22)
    child_age = np.floor(rng.random(n) * (np.minimum(parent_age, 60) - 21)).astype(np.int64)
    # Uniform ages over-count babies (3%/year); thin them to about 1% births a year.
    infant = (child_age == 0) & (rng.random(n) < 0.65)
    child_age = np.where(
        infant, 1 + (rng.random(n) * (np.minimum(parent_age, 60) - 22)).astype(np.int64), child_age
    )
    grand_age = np.minimum(head_age + rng.integers(22, 34, n), 99)
    age = np.where(role == ROLE_CHILD, child_age, np.where(role == ROLE_GRAND, grand_age, age))
    male = np.select(
        [role == ROLE_HEAD, role == ROLE_SPOUSE, role == ROLE_GRAND],
        [head_male, ~head_male, (pos % 2) == 1],
        rng.random(n) < 0.515,
    )
    # A household with a child born since the start needs a mother: heads of such are couples.
    days_old = age * 365 + rng.integers(0, 365, n)
    end_ord = end_date.toordinal()
    birth_ord = end_ord - days_old
    birth = pl.Series("birth_date", birth_ord - date(1970, 1, 1).toordinal()).cast(pl.Date)

    # Residence: province, prefecture, county, grid; hukou where the household is registered.
    # Counties, grids and names are kept as integer indices into small lookup tables and
    # gathered as polars strings at the end (numpy unicode arrays are slow to convert).
    counties = reference.counties_frame()
    prov_keys = list(reference.PROVINCE_WEIGHTS)
    prov_w = np.array([reference.PROVINCE_WEIGHTS[k] for k in prov_keys])
    h_total = int(hh_idx.max()) + 1
    res_prov = rng.choice(len(prov_keys), size=h_total, p=prov_w / prov_w.sum())
    county_codes = counties["code"]
    county_prov = counties["province"].to_numpy()
    pools = [np.flatnonzero(county_prov == p) for p in prov_keys]
    res_ci_h = np.empty(h_total, dtype=np.int64)
    for k, pool in enumerate(pools):
        idx = np.flatnonzero(res_prov == k)
        res_ci_h[idx] = pool[rng.integers(0, len(pool), len(idx))]
    kind_h = rng.random(h_total)
    migrant_h = hh["migrant"][:h_total]
    # 0 local same county, 1 other county same province, 2 other of the four provinces, 3 migrant
    hukou_kind_h = np.where(migrant_h, 3, np.where(kind_h < 0.86, 0, np.where(kind_h < 0.94, 1, 2)))
    hukou_ci_h = res_ci_h.copy()
    for k, pool in enumerate(pools):
        sel = np.flatnonzero((hukou_kind_h == 1) & (res_prov == k))
        hukou_ci_h[sel] = pool[rng.integers(0, len(pool), len(sel))]
    sel = np.flatnonzero(hukou_kind_h == 2)
    hukou_ci_h[sel] = rng.integers(0, len(county_codes), len(sel))
    migrant_prov_h = rng.integers(0, len(reference.MIGRANT_PROVINCES), h_total)
    # Grids of the residence county.
    g = grids.select("grid_code", "division_code", "township").sort("division_code", "grid_code")
    keys, first_idx, counts = np.unique(
        g["division_code"].to_numpy(), return_index=True, return_counts=True
    )
    county_group = np.searchsorted(keys, county_codes.to_numpy())
    ci = county_group[res_ci_h]
    grid_h_idx = first_idx[ci] + rng.integers(0, 1 << 30, h_total) % counts[ci]
    hh_no = rng.permutation(h_total) + 1

    road = pl.Series(
        [
            "人民路",
            "解放路",
            "中山路",
            "建设路",
            "和平路",
            "文化路",
            "新华路",
            "胜利路",
            "青年路",
            "朝阳路",
        ]
    )
    address_h = (
        counties["full_name"].gather(res_ci_h)
        + g["township"].gather(grid_h_idx)
        + road.gather(rng.integers(0, 10, h_total))
        + pl.Series(rng.integers(1, 300, h_total)).cast(pl.String)
        + "号"
    )

    sur_h = surname_index(rng, h_total)
    female = ~male
    own_sur = surname_index(rng, n)
    # Children and the head's father carry the family surname (the head's if male, else spouse's).
    family = (role == ROLE_CHILD) | male
    surname = np.where(family, sur_h[hh_idx], own_sur)
    name = pl.Series(list(_SURNAMES[: len(_SURNAME_WEIGHTS)])).gather(surname) + given_names(
        rng, n, female
    )

    hukou_kind = hukou_kind_h[hh_idx]
    res_ci, hukou_ci = res_ci_h[hh_idx], hukou_ci_h[hh_idx]
    # Migrants were born in their home province (its capital's prefix, e.g. 3401).
    migrant_prefix = (
        pl.Series(list(reference.MIGRANT_PROVINCES)).gather(migrant_prov_h[hh_idx]) + "01"
    )
    prefecture = (
        pl.select(
            pl.when(pl.Series(hukou_kind == 3))
            .then(migrant_prefix)
            .otherwise(county_codes.gather(hukou_ci).str.slice(0, 4))
        )
        .to_series()
        .to_numpy()
    )
    birth_year = pl.Series(birth).dt.year().to_numpy()
    id_div = reference.draw_id_divisions(rng, prefecture, birth_year)
    hukou_county = county_codes.gather(hukou_ci)

    df = pl.DataFrame(
        {
            "person_no": np.arange(n, dtype=np.int64),
            "household_no": hh_idx.astype(np.int64),
            "role": role.astype(np.int8),
            "relation": pl.Series(list(RELATIONS)).gather(role),
            "name": name,
            "sex": np.where(male, 1, 2).astype(np.int8),
            "birth_date": birth,
            "age": age.astype(np.int16),
            "id_division": id_div,
            "hukou_kind": hukou_kind.astype(np.int8),
            "hukou_division": pl.select(
                pl.when(pl.Series(hukou_kind == 3)).then(pl.lit("")).otherwise(hukou_county)
            ).to_series(),
            "residence_division": county_codes.gather(res_ci),
            "grid_code": g["grid_code"].gather(grid_h_idx[hh_idx]),
            "address": address_h.gather(hh_idx),
            "phone": reference._phones(rng, n),
            "household_id": "H"
            + hukou_county
            + pl.Series(hh_no[hh_idx]).cast(pl.String).str.zfill(8),
        }
    )
    df = _assign_ids(df, rng)
    return df.with_columns(
        residence_pooling=reference.pooling_division_of(pl.col("residence_division")),
        hukou_pooling=pl.when(pl.col("hukou_division") == "")
        .then(None)
        .otherwise(reference.pooling_division_of(pl.col("hukou_division"))),
    )


def _assign_ids(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Unique 18-character ID numbers, over the whole population (every chunk is cut from it).

    People sharing a (division, birth date, sex) bucket take consecutive sequence numbers from
    one random start drawn for the bucket (its first person's draw), so no two people share a
    number; the parity of the sequence is the sex. A bucket holds at most 500 people of one sex.
    """
    n = df.height
    bucket = ("id_division", "birth_date", "sex")
    df = df.with_columns(_k0=pl.Series(rng.integers(0, 500, n)))
    df = df.with_columns(
        _k0=pl.col("_k0").first().over(bucket),
        _rank=pl.int_range(pl.len()).over(bucket),
        _ymd=pl.col("birth_date").dt.strftime("%Y%m%d"),
    )
    if n and df["_rank"].max() >= 500:
        raise ValueError(
            "more than 500 people of one sex born on one day in one division: "
            "their 18-character ID numbers cannot be unique"
        )
    seq = ((pl.col("_k0") + pl.col("_rank")) % 500) * 2 + pl.when(pl.col("sex") == 1).then(
        1
    ).otherwise(0)
    first17 = pl.col("id_division") + pl.col("_ymd") + seq.cast(pl.String).str.zfill(3)
    return (
        df.with_columns(_f17=first17)
        .with_columns(id_number=pl.col("_f17") + check_characters(pl.col("_f17")))
        .drop("_k0", "_rank", "_ymd", "_f17")
    )
