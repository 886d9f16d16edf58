"""One settings model per component, read from the seeds' environment variables."""

from storesim.settings._base import ComponentSettings, SettingsError, load_settings
from storesim.settings._names import DLQ_TOPIC, STORE_CONTROL_TOPIC, STORE_SLOTS
from storesim.settings._postgres import PostgresSettings
from storesim.settings._service import ServiceSettings
from storesim.settings._stateful import ReplicaSettings, StatefulSettings
from storesim.settings._variables import environment_variables
from storesim.settings._world import ScenarioRules
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

__all__ = [
    "DLQ_TOPIC",
    "STORE_CONTROL_TOPIC",
    "STORE_SLOTS",
    "AdminSettings",
    "BridgeSettings",
    "ClockSettings",
    "ComponentSettings",
    "ControllerSettings",
    "FootTrafficSettings",
    "LedgerSettings",
    "PosSettings",
    "PostgresSettings",
    "RegisterSettings",
    "ReplicaSettings",
    "ScenarioRules",
    "ServiceSettings",
    "SettingsError",
    "ShelfSettings",
    "StatefulSettings",
    "TruthSettings",
    "environment_variables",
    "load_settings",
]
