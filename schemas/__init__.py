"""pandera (polars) models, one per source and layer: ``<Source>Raw`` and ``<Source>Staged``.

``SOURCES`` is the registry the ingest walks: per source its models, record key and whether
each delivery is a full snapshot (replaces the previous one) or events (latest delivery wins
per key). Keys and snapshot kinds are those of extracts.md and docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa

from schemas.assistance import AssistanceRaw, AssistanceStaged
from schemas.birth import BirthRaw, BirthStaged
from schemas.claims import ClaimsRaw, ClaimsStaged
from schemas.death import DeathRaw, DeathStaged
from schemas.household import HouseholdRaw, HouseholdStaged
from schemas.residence_permit import ResidencePermitRaw, ResidencePermitStaged
from schemas.status_change import StatusChangeRaw, StatusChangeStaged
from schemas.student import StudentRaw, StudentStaged
from schemas.tax_payment import TaxPaymentRaw, TaxPaymentStaged


@dataclass(frozen=True)
class SourceSpec:
    """How one source is delivered and staged."""

    name: str
    raw: type[pa.DataFrameModel]
    staged: type[pa.DataFrameModel]
    key: tuple[str, ...]
    snapshot: bool


SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec("household", HouseholdRaw, HouseholdStaged, ("id_number",), True),
        SourceSpec(
            "residence_permit", ResidencePermitRaw, ResidencePermitStaged, ("id_number",), True
        ),
        SourceSpec("birth", BirthRaw, BirthStaged, ("birth_cert_no",), False),
        SourceSpec("death", DeathRaw, DeathStaged, ("id_number",), False),
        SourceSpec("student", StudentRaw, StudentStaged, ("id_number",), True),
        SourceSpec("tax_payment", TaxPaymentRaw, TaxPaymentStaged, ("payment_id",), False),
        SourceSpec("claims", ClaimsRaw, ClaimsStaged, ("id_number", "year"), False),
        SourceSpec("assistance", AssistanceRaw, AssistanceStaged, ("id_number",), True),
        SourceSpec(
            "status_change", StatusChangeRaw, StatusChangeStaged,
            ("id_number", "kind", "event_date"), False,
        ),
    )
}

__all__ = ["SOURCES", "SourceSpec"] + [
    f"{n}{layer}"
    for n in ("Assistance", "Birth", "Claims", "Death", "Household", "ResidencePermit",
              "StatusChange", "Student", "TaxPayment")
    for layer in ("Raw", "Staged")
]
