"""Synthetic population generator behind `enrol sample`: a fake inbox that knows its answers."""

from .defects import DefectRates
from .generator import generate_inbox
from .histories import PopulationRates

__all__ = ["DefectRates", "PopulationRates", "generate_inbox"]
