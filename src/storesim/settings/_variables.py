"""Every environment variable storesim reads, derived from the settings models, so that a harness (the
tests, the benchmarks) can start a run from a clean environment whatever the caller has exported."""

from __future__ import annotations

from storesim.settings.admin import AdminSettings
from storesim.settings.bridge import BridgeSettings
from storesim.settings.clock import ClockSettings
from storesim.settings.controller import ControllerSettings
from storesim.settings.foot_traffic import FootTrafficSettings
from storesim.settings.ledger import LedgerSettings
from storesim.settings.pos import PosSettings
from storesim.settings.register import RegisterSettings
from storesim.settings.shelf import ShelfSettings
from storesim.settings.truth import TruthSettings

__all__ = ["environment_variables"]

_MODELS = (
    AdminSettings,
    BridgeSettings,
    ClockSettings,
    ControllerSettings,
    FootTrafficSettings,
    LedgerSettings,
    PosSettings,
    RegisterSettings,
    ShelfSettings,
    TruthSettings,
)


def environment_variables() -> frozenset[str]:
    """The settings models' fields, upper-cased: the names as the environment spells them."""
    return frozenset(name.upper() for model in _MODELS for name in model.model_fields)
