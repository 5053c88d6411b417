"""`generate_inbox`: writes a synthetic inbox of nightly deliveries, reference files and truth.

Layout: `<out>/<YYYY-MM-DD>/<source>-<part>.<ext>` for the `days` nights ending on `end_date`
(the first night is the initial load: full history from `start_year`, every snapshot; later
nights carry that day's events and the snapshots again in full), `<out>/reference/*.csv` and the
truth in `truth_dir` (default `<out>/truth`; the pipeline ignores a `truth` folder).
People are generated once; histories, files and truth are produced per chunk of whole households,
so memory stays bounded and each chunk writes its own part of every source.
"""

from __future__ import annotations

import codecs
import dataclasses
import gzip
import io
import itertools
import json
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from . import defects as dfx
from . import histories, population, reference, sources, truth, writers
from .defects import DefectRates
from .histories import Context, PopulationRates

SNAPSHOTS = ("household", "residence_permit", "student", "assistance")
EVENTS = ("birth", "death", "tax_payment", "claims", "status_change")
# The first chunk's files that show every file defect even in a small inbox (when its rate > 0):
# (initial load?, source) -> forced choices. The initial tax_payment file is the big one: gzip.
SHOWCASE: dict[tuple[bool, str], dict] = {
    (True, "tax_payment"): {"fmt": "csv.gz"},
    (True, "household"): {"bom": True, "gb18030": False},
    (True, "death"): {"fmt": "xlsx", "chinese_headers": True},
    (True, "status_change"): {"fmt": "parquet", "shuffled": True},
    (True, "birth"): {"gb18030": True, "chinese_headers": True, "chinese_codes": True},
    (False, "residence_permit"): {"gb18030": True, "shuffled": True, "chinese_codes": True},
}
PAYMENT_COLUMNS = [
    "payment_id",
    "_pid",
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
    "_paid_ord",
    "_finding",
]


def generate_inbox(
    out: Path,
    persons: int,
    seed: int,
    start_year: int = 2023,
    days: int = 3,
    end_date: date = date(2026, 11, 20),
    rates: DefectRates | None = None,
    population_rates: PopulationRates | None = None,
    truth_dir: Path | None = None,
    chunk_persons: int = 50_000,
    workers: int | None = None,
) -> dict:
    """Writes the inbox and its truth; returns the manifest (also written as manifest.json).

    `rates` tunes the defects, `population_rates` the behaviour; `truth_dir` defaults to
    `out/truth`. People are processed in chunks of about `chunk_persons` (whole households), each
    writing its own part of every source; `workers` (default: up to 2, the machine's cores) run
    chunks in spawned processes, so a script calling this with workers > 1 needs the usual
    `if __name__ == "__main__":` guard. The bytes written depend only on the arguments other
    than `workers`.
    """
    out = Path(out)
    truth_dir = Path(truth_dir) if truth_dir is not None else out / "truth"
    rates = rates or DefectRates()
    prates = population_rates or PopulationRates()
    nights = [end_date - timedelta(days=days - 1 - i) for i in range(days)]
    ctx = Context(start_year, end_date, nights[0], seed)
    rng = np.random.default_rng([seed, 0])

    grids = reference.grids_frame(rng, persons)
    wages = reference.average_wages_frame(start_year - 1, end_date.year + 1)
    ref_dir = out / "reference"
    writers.write_reference(reference.divisions_frame(), ref_dir / "divisions.csv")
    writers.write_reference(reference.base_caps_frame(start_year), ref_dir / "base_caps.csv")
    writers.write_reference(grids, ref_dir / "grids.csv")
    writers.write_reference(wages, ref_dir / "average_wages.csv")

    pop = population.build_population(rng, persons, end_date, grids)
    pooling = reference.pooling_divisions()
    employer_pool = histories.employers(rng, pooling, max(3, persons // 2000), prates.institution)

    hh_no = pop["household_no"].to_numpy()
    bounds = [0]
    while bounds[-1] < persons:
        nxt = min(bounds[-1] + chunk_persons, persons)
        while nxt < persons and hh_no[nxt] == hh_no[nxt - 1]:
            nxt += 1
        bounds.append(nxt)

    args = (out, ctx, nights, seed, rates, prates, employer_pool, wages, pooling)
    chunks = [
        (pop.slice(lo, hi - lo), ci) for ci, (lo, hi) in enumerate(itertools.pairwise(bounds))
    ]
    del pop
    parts = _run_chunks(chunks, args, workers if workers is not None else _default_workers())
    acc = {k: [df for part in parts for df in part[k]] for k in ACC_KEYS}
    first_free_part = len(chunks) + 1  # chunk k writes part k + 1: copies never replace one
    _duplicate_files(out, nights, seed, rates, acc, max(90, first_free_part + 10))
    _rejected_files(out, seed, rates, acc, max(80, first_free_part))
    return _write_truth(truth_dir, acc, seed, persons, start_year, days, end_date, rates, prates)


# Columns the truth reads from accepted records (the others are dropped to save memory).
TRUTH_COLUMNS = {
    "tax_payment": [
        "payment_id",
        "_pid",
        "scheme",
        "pooling_division",
        "period",
        "kind",
        "refund_of",
        "_paid_ord",
        "_night",
        "_finding",
    ],
    "claims": ["_pid"],
    "status_change": ["_pid"],
}
ACC_KEYS = ("defects", "rejects", "persons", "repeat", "links", "findings", "employee", "files")


def _default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _run_chunks(chunks: list, args: tuple, workers: int) -> list[dict]:
    """Each chunk in order: in this process, or in `workers` spawned processes (same bytes).

    Chunks are independent (own random stream, own part files), so results only need putting
    back in chunk order. Each worker runs polars single-threaded to avoid oversubscription.
    """
    if workers <= 1 or len(chunks) <= 1:
        return [_generate_chunk(chunk, ci, *args) for chunk, ci in chunks]
    saved = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"
    try:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_generate_chunk, chunk, ci, *args) for chunk, ci in chunks]
            return [f.result() for f in futures]
    finally:
        if saved is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = saved


def _generate_chunk(
    chunk, ci, out, ctx, nights, seed, rates, prates, employer_pool, wages, pooling
) -> dict[str, list[pl.DataFrame]]:
    """Histories, files and truth of one chunk of whole households; returns its truth parts."""
    acc: dict[str, list[pl.DataFrame]] = {k: [] for k in ACC_KEYS}
    rng = np.random.default_rng([seed, 1, ci])
    people = histories.life_events(chunk, rng, ctx, prates)
    snapshots, events = _chunk_records(
        people, rng, ctx, nights, prates, employer_pool, wages, pooling
    )
    accepted_snap: dict[str, pl.DataFrame] = {}
    accepted_events: dict[str, list[pl.DataFrame]] = {k: [] for k in EVENTS}
    for ni, night in enumerate(nights):
        nord = night.toordinal()
        for si, source in enumerate(SNAPSHOTS + EVENTS):
            if source in SNAPSHOTS:
                frame = snapshots[source].filter(pl.col("_from") <= nord)
                if source == "household":
                    frame = sources.household_on(frame, nord)
            else:
                frame = events[source].filter(pl.col("_night") == nord)
                if frame.height == 0:
                    continue
            frng = np.random.default_rng([seed, 2, ci, ni, si])
            forced = SHOWCASE.get((ni == 0, source), {}) if ci == 0 else {}
            rejected = _deliver(source, frame, out, night, ci, frng, rates, acc, forced)
            kept = frame.filter(~pl.Series(rejected)).select(TRUTH_COLUMNS.get(source, pl.all()))
            if source in SNAPSHOTS:
                accepted_snap[source] = kept
            else:
                accepted_events[source].append(kept)
    accepted = {k: pl.concat(v) if v else events[k].clear() for k, v in accepted_events.items()}
    _chunk_truth(people, ctx, accepted_snap, accepted, acc)
    return acc


def _chunk_records(people, rng, ctx, nights, prates, employer_pool, wages, pooling):
    """Canonical records of a chunk: snapshot bases and event frames, per source."""
    contrib = histories.employee_contributions(people, rng, ctx, prates, employer_pool, wages)
    resid = histories.resident_payments(people, contrib, rng, ctx, prates, pooling)
    no_employee = {
        "base": pl.lit(None, pl.Float64),
        "employer_amount": pl.lit(None, pl.Float64),
        "employer_id": pl.lit(None, pl.String),
        "employer_type": pl.lit(None, pl.String),
        "_finding": pl.lit(None, pl.String),
    }
    payments = pl.concat(
        [
            contrib.select(PAYMENT_COLUMNS),
            resid.with_columns(**no_employee).select(PAYMENT_COLUMNS),
        ],
        how="vertical_relaxed",
    )
    secs = pl.Series(rng.integers(8 * 3600, 20 * 3600, payments.height))
    payments = payments.with_columns(
        id_number=pl.col("_pid"),
        _time=(secs // 3600).cast(pl.String).str.zfill(2)
        + ":"
        + (secs % 3600 // 60).cast(pl.String).str.zfill(2)
        + ":"
        + (secs % 60).cast(pl.String).str.zfill(2),
        _night=pl.max_horizontal(pl.col("_paid_ord"), pl.lit(ctx.first_ord)),
    ).sort("_paid_ord", maintain_order=True)
    students = sources.student_base(people, rng, ctx)
    permits = sources.permit_base(people, rng, ctx, prates)
    snapshots = {
        "household": sources.household_base(people, rng, ctx),
        "residence_permit": permits,
        "student": students,
        "assistance": sources.assistance_base(people, rng, ctx, prates),
    }
    events = {
        "birth": sources.births(people, rng, ctx),
        "death": sources.deaths(people, rng, ctx),
        "tax_payment": payments,
        "claims": sources.claims(payments, rng, ctx, [n.toordinal() for n in nights]),
        "status_change": sources.status_changes(people, contrib, permits, students, rng, ctx),
    }
    return snapshots, events


def _chunk_truth(people, ctx, snap: dict, events: dict, acc: dict) -> None:
    """The chunk's truth from its accepted records: last snapshots, every accepted event."""
    pays = events["tax_payment"].sort("_night").unique("payment_id", keep="last")
    live = truth.live_payments(pays)
    deaths = events["death"].sort("_night").unique("_pid", keep="last")
    links = truth.newborn_links(events["birth"], snap["household"])
    residence = truth.residence_pooling(
        snap["household"], snap["residence_permit"], snap["student"]
    )
    repeats = truth.repeat_enrolments(live, deaths, residence)
    known = pl.concat(
        [snap[s].select("_pid") for s in SNAPSHOTS]
        + [events[s].select("_pid") for s in ("death", "tax_payment", "claims", "status_change")]
    )["_pid"]
    acc["persons"].append(
        truth.persons(
            ctx.end_date,
            ctx.start_year,
            snap["household"],
            snap["residence_permit"],
            snap["student"],
            deaths,
            links,
            live,
            repeats,
            known,
        )
    )
    acc["repeat"].append(repeats)
    acc["links"].append(links.select("birth_cert_no", "person_id"))
    acc["findings"].append(
        pays.filter(pl.col("_finding").is_not_null()).select("payment_id", finding="_finding")
    )
    acc["employee"].append(truth.employee_history(live, people))


def _deliver(
    source, frame, out, night, ci, rng, rates: DefectRates, acc, forced: dict
) -> np.ndarray:
    """Renders, corrupts and writes one file; returns the rejected-row mask."""
    u = rng.random(8)
    date_format = writers.DATE_FORMATS[int(u[0] * 3)]
    chinese_codes = (
        forced.get("chinese_codes", u[1] < rates.chinese_codes) and rates.chinese_codes > 0
    )
    fmt = (
        "csv.gz"
        if u[2] < rates.csv_gz
        else "parquet"
        if u[2] < rates.csv_gz + rates.parquet
        else "xlsx"
        if u[2] < rates.csv_gz + rates.parquet + rates.xlsx and frame.height <= rates.xlsx_max_rows
        else "csv"
    )
    wanted = forced.get("fmt")
    if (
        wanted
        and {"csv.gz": rates.csv_gz, "parquet": rates.parquet, "xlsx": rates.xlsx}[wanted] > 0
        and (wanted != "xlsx" or frame.height <= rates.xlsx_max_rows)
    ):
        fmt = wanted
    encoding = (
        "gb18030"
        if fmt in ("csv", "csv.gz")
        and (forced.get("gb18030", u[3] < rates.gb18030_encoding) and rates.gb18030_encoding > 0)
        else "utf-8"
    )
    bom = (
        encoding == "utf-8"
        and fmt in ("csv", "csv.gz")
        and (forced.get("bom", u[4] < rates.utf8_bom) and rates.utf8_bom > 0)
    )
    chinese_headers = (
        forced.get("chinese_headers", u[5] < rates.chinese_headers) and rates.chinese_headers > 0
    )
    shuffled = forced.get("shuffled", u[6] < rates.shuffled_columns) and rates.shuffled_columns > 0
    rel = f"{night.isoformat()}/{source}-{ci + 1:02d}.{fmt}"
    text = writers.render(source, frame, date_format, chinese_codes)
    protect = (
        frame["_finding"].is_not_null().to_numpy()
        if "_finding" in frame.columns
        else np.zeros(frame.height, bool)
    )
    text, found = dfx.inject_records(source, text, protect, rng, rates, date_format)
    order = list(text.columns)
    if shuffled:
        order = [order[i] for i in rng.permutation(len(order))]
    delivered = text.select(order)
    if chinese_headers:
        delivered = delivered.rename({c: writers.header_of(source, c) for c in order})
    writers.write_file(delivered, out / rel, fmt, encoding, bom)

    file_defects = [
        (name, value)
        for name, on, value in (
            ("gb18030_encoding", encoding == "gb18030", "gb18030"),
            ("utf8_bom", bom, "utf-8-sig"),
            ("chinese_headers", chinese_headers, "|".join(delivered.columns)),
            ("shuffled_columns", shuffled, "|".join(order)),
            ("chinese_codes", chinese_codes, "chinese"),
            (f"format_{fmt.replace('.', '_')}", fmt != "csv", fmt),
        )
        if on
    ]
    rows = found.select(
        "defect",
        file=pl.lit(rel),
        line=pl.col("row") + 2,
        column="column",
        original="original",
        delivered="delivered",
    )
    if file_defects:
        rows = pl.concat(
            [
                rows,
                pl.DataFrame(
                    {
                        "defect": [d for d, _ in file_defects],
                        "file": [rel] * len(file_defects),
                        "line": pl.Series([None] * len(file_defects), dtype=pl.Int64),
                        "column": pl.Series([None] * len(file_defects), dtype=pl.String),
                        "original": [""] * len(file_defects),
                        "delivered": [v for _, v in file_defects],
                    }
                ),
            ]
        )
    acc["defects"].append(rows)
    rej = found.filter(pl.col("defect").is_in(list(dfx.CHECK_OF)))
    acc["rejects"].append(
        rej.select(
            file=pl.lit(rel),
            line=pl.col("row") + 2,
            column=pl.when(
                pl.col("defect").is_in(
                    ["bad_check_char", "impossible_id_date", "id_birth_mismatch", "id_sex_mismatch"]
                )
            )
            .then(pl.lit("id_number"))
            .otherwise(pl.col("column")),
            check=pl.when((pl.col("defect") == "impossible_date")
                          & pl.col("column").is_in(list(dfx.TIMESTAMP_COLUMNS)))
            .then(pl.lit("timestamp"))
            .otherwise(pl.col("defect").replace_strict(dfx.CHECK_OF)),
            defect="defect",
        )
    )
    acc["files"].append(pl.DataFrame({"file": [rel], "source": [source], "rows": [frame.height]}))
    mask = np.zeros(frame.height, dtype=bool)
    mask[rej["row"].to_numpy()] = True
    return mask


def _duplicate_files(out: Path, nights, seed, rates: DefectRates, acc, first_part: int) -> None:
    """Delivers some event files a second time, byte for byte, on the next night, as parts
    ``first_part``, ``first_part + 1``, ... (above every chunk's part)."""
    files = pl.concat(acc["files"]).filter(pl.col("source").is_in(list(EVENTS)))
    if len(nights) > 1:
        files = files.filter(~pl.col("file").str.starts_with(nights[-1].isoformat()))
    # Resent files are small ones (a department re-sending yesterday's events).
    files = files.filter(pl.col("rows") <= max(5_000, int(files["rows"].min() or 0))).sort("file")
    if files.height == 0 or rates.duplicate_files <= 0:
        return
    rng = np.random.default_rng([seed, 3])
    picks = rng.choice(files.height, size=min(rates.duplicate_files, files.height), replace=False)
    rows = []
    for k, i in enumerate(sorted(picks)):
        src = files["file"][int(i)]
        day = date.fromisoformat(src[:10])
        target_day = min(day + timedelta(days=1), nights[-1])
        name = src[11:]
        source, rest = name.split("-", 1)
        ext = rest.split(".", 1)[1]
        rel = f"{target_day.isoformat()}/{source}-{first_part + k:02d}.{ext}"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / src, out / rel)
        rows.append(("duplicate_file", rel, None, None, src, rel))
    acc["defects"].append(pl.DataFrame(rows, schema=DEFECT_SCHEMA, orient="row"))


def _rejected_files(out: Path, seed, rates: DefectRates, acc, first_part: int) -> None:
    """Delivers broken copies of some small CSV event files the same night, as parts
    ``first_part``, ... (below the duplicates' parts), each with one whole-file defect of
    ``FILE_CHECK_OF`` in turn; the truth expects each rejected whole with that check."""
    if rates.rejected_files > 10:
        raise ValueError("at most 10 rejected files (their parts end where duplicates begin)")
    files = pl.concat(acc["files"]).filter(
        pl.col("source").is_in(list(EVENTS)) & pl.col("file").str.contains(r"\.csv(\.gz)?$")
        & (pl.col("rows") > 0)
    )
    files = files.filter(pl.col("rows") <= max(5_000, int(files["rows"].min() or 0))).sort("file")
    if files.height == 0 or rates.rejected_files <= 0:
        return
    rng = np.random.default_rng([seed, 4])
    picks = rng.choice(files.height, size=min(rates.rejected_files, files.height), replace=False)
    kinds = list(dfx.FILE_CHECK_OF)
    defects, rejects = [], []
    for k, i in enumerate(sorted(picks)):
        src, source = files["file"][int(i)], files["source"][int(i)]
        defect = kinds[k % len(kinds)]
        body, ext = _broken_copy(out / src, source, defect)
        rel = f"{src[:10]}/{source}-{first_part + k:02d}.{ext}"
        (out / rel).write_bytes(body)
        defects.append((defect, rel, None, None, src, rel))
        rejects.append((rel, None, None, dfx.FILE_CHECK_OF[defect], defect))
    acc["defects"].append(pl.DataFrame(defects, schema=DEFECT_SCHEMA, orient="row"))
    acc["rejects"].append(pl.DataFrame(rejects, schema=REJECT_SCHEMA, orient="row"))


DEFECT_SCHEMA = {"defect": pl.String, "file": pl.String, "line": pl.Int64, "column": pl.String,
                 "original": pl.String, "delivered": pl.String}
REJECT_SCHEMA = {"file": pl.String, "line": pl.Int64, "column": pl.String, "check": pl.String,
                 "defect": pl.String}


def _broken_copy(path: Path, source: str, defect: str) -> tuple[bytes, str]:
    """(bytes, extension) of a copy of the CSV at ``path`` broken by ``defect``."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    if defect == "file_truncated_gzip":
        packed = gzip.compress(raw, compresslevel=1, mtime=0)
        return packed[: len(packed) // 2], "csv.gz"
    if defect == "file_undecodable":  # 0xFF starts no UTF-8 or GB18030 character
        cut = raw.index(b"\n") + 1
        return raw[:cut] + b"\xff" + raw[cut:], "csv"
    bom = raw.startswith(codecs.BOM_UTF8)
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = raw.decode("gb18030"), "gb18030"
    frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    column = dfx.REQUIRED_TARGET[source]
    dropped = [c for c in (column, writers.header_of(source, column)) if c in frame.columns]
    return writers.csv_bytes(frame.drop(dropped[:1]), encoding, bom), "csv"


def _write_truth(
    truth_dir: Path, acc, seed, persons, start_year, days, end_date, rates, prates
) -> dict:
    truth_dir.mkdir(parents=True, exist_ok=True)
    frames = {
        "rejects.csv": pl.concat(acc["rejects"]).sort("file", "line", "column"),
        "defects.csv": pl.concat(acc["defects"])
        .select("defect", "file", "line", "column", "original", "delivered")
        .sort("file", "line", "defect", nulls_last=False),
        "persons.csv": pl.concat(acc["persons"]).sort("person_id"),
        "repeat_enrolment.csv": pl.concat(acc["repeat"]).sort("person_id", "period", "kind"),
        "newborn_links.csv": pl.concat(acc["links"]).sort("birth_cert_no"),
        "contribution_findings.csv": pl.concat(acc["findings"]).sort("payment_id"),
        "employee_history.csv": pl.concat(acc["employee"]).sort("person_id"),
    }
    for name, frame in frames.items():
        (truth_dir / name).write_bytes(frame.write_csv().encode("utf-8"))
    files = pl.concat(acc["files"])
    p = frames["persons.csv"]
    manifest = {
        "seed": seed,
        "persons": persons,
        "start_year": start_year,
        "days": days,
        "end_date": end_date.isoformat(),
        "rates": {"defects": dataclasses.asdict(rates), "population": dataclasses.asdict(prates)},
        "counts": {
            "files": files.height,
            "rows_by_source": dict(
                sorted(files.group_by("source").agg(pl.col("rows").sum()).iter_rows())
            ),
            "defects": dict(sorted(frames["defects.csv"]["defect"].value_counts().iter_rows())),
            "rejects": frames["rejects.csv"].height,
            "persons_known": p.height,
            "in_scope": int(p["in_scope"].sum()),
            "flags": dict(sorted(p.drop_nulls("flag")["flag"].value_counts().iter_rows())),
            "repeat_enrolment": dict(
                sorted(frames["repeat_enrolment.csv"]["kind"].value_counts().iter_rows())
            ),
            "contribution_findings": frames["contribution_findings.csv"].height,
        },
    }
    (truth_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return manifest
