"""The embedded mode: every simulator in one process, no infrastructure, files out."""

from storesim.embedded._plan import SimulationPlan
from storesim.embedded._runner import Sink, Summary, simulate

__all__ = ["SimulationPlan", "Sink", "Summary", "simulate"]
