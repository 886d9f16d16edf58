"""Settings of the ledger component (the ledger seed's variables)."""

from __future__ import annotations

from pydantic import Field

from storesim.settings._service import ServiceSettings
from storesim.settings._stateful import StatefulSettings
from storesim.settings._world import RefundRules, ScenarioRules

__all__ = ["LedgerSettings"]


class LedgerSettings(ServiceSettings, StatefulSettings, RefundRules, ScenarioRules):
    kafka_bootstrap_servers: str = "kafka:9092"
    kafka_topic: str = Field("transactions", min_length=1)
    kafka_topic_refunds: str = Field("refunds", min_length=1)
    producer_sleep_seconds: float = Field(1.0, gt=0)
    pos_topic: str = Field("pos_transactions", min_length=1)  # the checkouts it books
