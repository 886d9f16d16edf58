"""Settings of the truth component: the answer key of a streamed run (storesim's own, no seed has it).

It replays the whole world, so it reads the world's rules of every stage (settings/_world.py) and the
POS's prices (the parquet files and the daily discounts in PostgreSQL). The chart gives it the values
the other components have, so the replayed world is the streamed one.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from storesim.settings._names import TRUTH_TOPIC
from storesim.settings._postgres import PostgresSettings
from storesim.settings._service import ServiceSettings
from storesim.settings._stateful import ReplicaSettings
from storesim.settings._world import CartRules, RefundRules, ScenarioRules, ShoppingRules, VisitRules

__all__ = ["TruthSettings"]


class TruthSettings(
    ServiceSettings,
    PostgresSettings,
    ReplicaSettings,
    VisitRules,
    ShoppingRules,
    CartRules,
    RefundRules,
    ScenarioRules,
):
    kafka_broker: str = "kafka:9092"
    truth_topic: str = Field(TRUTH_TOPIC, min_length=1)
    store_parquet: Path = Path("/data/store_inventory_final.parquet")
    discount_parquet_path: Path = Path("/data/all_discounts.parquet")
    sleep: float = Field(0.5, ge=0)
