"""One settings model per component, read from the seeds' environment variables."""

from storesim.settings._base import ComponentSettings, SettingsError, load_settings
from storesim.settings._postgres import PostgresSettings
from storesim.settings.admin import DLQ_TOPIC, AdminSettings
from storesim.settings.clock import ClockSettings
from storesim.settings.foot_traffic import FootTrafficSettings
from storesim.settings.ledger import LedgerSettings
from storesim.settings.pos import PosSettings
from storesim.settings.register import RegisterSettings
from storesim.settings.shelf import ShelfSettings

__all__ = [
    "DLQ_TOPIC",
    "AdminSettings",
    "ClockSettings",
    "ComponentSettings",
    "FootTrafficSettings",
    "LedgerSettings",
    "PosSettings",
    "PostgresSettings",
    "RegisterSettings",
    "SettingsError",
    "ShelfSettings",
    "load_settings",
]
