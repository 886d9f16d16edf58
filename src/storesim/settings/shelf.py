"""Settings of the shelf component (the shelf seed's variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from storesim.settings._postgres import PostgresSettings
from storesim.settings._service import ServiceSettings
from storesim.settings._world import ScenarioRules, ShoppingRules

__all__ = ["ShelfSettings"]


class ShelfSettings(ServiceSettings, PostgresSettings, ShoppingRules, ScenarioRules):
    kafka_broker: str = "kafka:9092"
    kafka_topic_shelf: str = Field("shelf_events", min_length=1)
    kafka_topic_foot: str = Field("foot_traffic", min_length=1)
    redis_stream: str = Field("shelf_events", min_length=1)
    store_parquet: Path = Path("/data/store_inventory_final.parquet")
    store_csv_path: Path = Path("/data/db_csv/store_inventory_final.csv")
    discount_parquet_path: Path = Path("/data/all_discounts.parquet")
    shelf_idle_sleep: float = Field(0.01, ge=0)
    store_file_retry_seconds: float = Field(10, gt=0)
    # storesim's own: the shelf's consumer group on foot_traffic, and where its events go (the seed's
    # Redis stream, forwarded by the redis-kafka-bridge, or straight to Kafka).
    shelf_group_id: str = Field("shelf-producer", min_length=1)
    shelf_output: Literal["redis", "kafka"] = "redis"
    # With STORES_FILE, how long a session of a store the file does not name waits for the file to name
    # it before it goes to the DLQ: in a cluster each pod's copy of the ConfigMap is refreshed by its
    # kubelet in its own time (up to about a minute apart), so foot-traffic may simulate a store first.
    unknown_store_grace_seconds: float = Field(120, ge=0)
