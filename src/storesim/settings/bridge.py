"""Settings of the redis-kafka-bridge: the shelf's Redis stream in, Kafka's shelf_events out."""

from __future__ import annotations

from pydantic import Field

from storesim.settings._service import ServiceSettings

__all__ = ["BridgeSettings"]


class BridgeSettings(ServiceSettings):
    kafka_broker: str = "kafka:9092"
    kafka_topic_shelf: str = Field("shelf_events", min_length=1)
    redis_stream: str = Field("shelf_events", min_length=1)
    bridge_group: str = Field("redis-kafka-bridge", min_length=1)
    # One consumer name per replica (the pod's name in Kubernetes); empty = this host's name.
    bridge_consumer: str = ""
    bridge_batch: int = Field(500, ge=1, le=100_000)
    # Entries another bridge read but never acknowledged are taken over after this long (a dead replica).
    bridge_claim_idle_ms: int = Field(30_000, ge=100)
