"""Discover deliveries in an inbox: ``<inbox>/<YYYY-MM-DD>/<source>[-<part>].<ext>``.

Every file under the inbox becomes one ``Delivery``; a file whose folder or name is outside the
contract carries a ``problem`` (rejected whole with check ``file_name``), never silently
ignored. Not deliveries: ``reference/`` (reference files, loaded separately), ``truth/`` (the
synthetic generator's answers) and hidden files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

NOT_DELIVERIES = frozenset({"reference", "truth"})
_NAME = re.compile(
    r"^(?P<source>[a-z_]+)(?:-(?P<part>[A-Za-z0-9_]+))?\.(?P<ext>csv|csv\.gz|parquet|xlsx)$"
)
_FOLDER = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass(frozen=True)
class Delivery:
    """One delivered file; ``problem`` says why its folder or name breaks the contract."""

    path: Path
    file: str  # path relative to the inbox, with forward slashes
    batch_id: str  # the delivery folder name
    delivery_date: date | None
    source: str | None
    problem: str | None = None


def _parse_folder(name: str) -> date | None:
    if not _FOLDER.match(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def classify(inbox: Path, path: Path, sources: Iterable[str]) -> Delivery:
    """The delivery a file is, or why its folder or name is outside the contract."""
    relative = path.relative_to(inbox)
    file = relative.as_posix()
    parts = relative.parts
    batch_id = parts[0] if len(parts) > 1 else ""
    if len(parts) != 2:
        return Delivery(path, file, batch_id, None, None,
                        f"{file}: not in a delivery folder <inbox>/<YYYY-MM-DD>/")
    delivered = _parse_folder(parts[0])
    if delivered is None:
        return Delivery(path, file, batch_id, None, None,
                        f"{file}: folder {parts[0]!r} is not a delivery date YYYY-MM-DD")
    match = _NAME.match(parts[1])
    if match is None:
        return Delivery(path, file, batch_id, delivered, None,
                        f"{file}: name is not <source>[-<part>].csv|csv.gz|parquet|xlsx")
    source = match["source"]
    if source not in set(sources):
        return Delivery(path, file, batch_id, delivered, None,
                        f"{file}: unknown source {source!r}")
    return Delivery(path, file, batch_id, delivered, source)


def discover(inbox: Path, sources: Iterable[str]) -> list[Delivery]:
    """Every delivered file under ``inbox``, ordered by delivery date, source and name."""
    sources = list(sources)
    found = []
    for path in sorted(inbox.rglob("*")):
        relative = path.relative_to(inbox)
        if relative.parts[0] in NOT_DELIVERIES or any(p.startswith(".") for p in relative.parts):
            continue
        if path.is_file():
            found.append(classify(inbox, path, sources))
    return sorted(
        found,
        key=lambda d: (d.delivery_date or date.min, d.batch_id, d.source or "", d.file),
    )


def sha256_of(path: Path, chunk: int = 16 * 1024 * 1024) -> str:
    """Hex sha256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
