"""Settings of the register component (the register seed's variables)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from storesim.settings._service import ServiceSettings
from storesim.settings._stateful import StatefulSettings
from storesim.settings._world import ScenarioRules

__all__ = ["RegisterSettings"]


class RegisterSettings(ServiceSettings, StatefulSettings, ScenarioRules):
    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_topic: str = Field("pos_events", min_length=1)
    delay_between_sequences: float = Field(5.0, gt=0)
    register_mode: Literal["coherent", "standalone"] = "coherent"
    pos_topic: str = Field("pos_transactions", min_length=1)  # the checkouts it turns into sequences
