"""Settings of the admin tasks (`storesim topics create`, `storesim schemas register`): the chart's Job.

The seeds name some topics with the same variable (KAFKA_TOPIC is foot_traffic for the foot-traffic
seed, pos_events for the register's, transactions for the ledger's). The admin creates all of them at
once, so it reads the unambiguous names: the POS seed's FOOT_TOPIC / SHELF_TOPIC / POS_TOPIC, the
foot-traffic seed's KAFKA_TOPIC_REALISTIC, the ledger seed's KAFKA_TOPIC_REFUNDS, and its own for the
register's output, the dead letters, the store-control topic and the answer key (TRUTH_TOPIC).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from storesim.events import (
    FOOT_TRAFFIC,
    FOOT_TRAFFIC_REALISTIC,
    POS_EVENTS,
    POS_TRANSACTIONS,
    REFUNDS,
    SHELF_EVENTS,
    TRANSACTIONS,
    TRUTH,
)
from storesim.settings._base import ComponentSettings
from storesim.settings._names import DLQ_TOPIC, STORE_CONTROL_TOPIC, STORE_SLOTS, TRUTH_TOPIC

__all__ = ["DLQ_TOPIC", "AdminSettings"]

# Logical topic → the field (and, upper-cased, the variable) that names it.
_TOPIC_FIELDS = {
    FOOT_TRAFFIC: "foot_topic",
    FOOT_TRAFFIC_REALISTIC: "kafka_topic_realistic",
    SHELF_EVENTS: "shelf_topic",
    POS_TRANSACTIONS: "pos_topic",
    POS_EVENTS: "pos_events_topic",
    TRANSACTIONS: "transactions_topic",
    REFUNDS: "kafka_topic_refunds",
    TRUTH: "truth_topic",
}


class AdminSettings(ComponentSettings):
    kafka_broker: str = "kafka:9092"
    schema_registry_url: str = Field("http://schema-registry:8081/apis/ccompat/v7", pattern=r"^https?://")
    topic_partitions: int = Field(6, ge=1, le=1000)
    topic_replication_factor: int = Field(1, ge=1, le=10)
    foot_topic: str = Field(FOOT_TRAFFIC, min_length=1)
    kafka_topic_realistic: str = Field(FOOT_TRAFFIC_REALISTIC, min_length=1)
    shelf_topic: str = Field(SHELF_EVENTS, min_length=1)
    pos_topic: str = Field(POS_TRANSACTIONS, min_length=1)
    pos_events_topic: str = Field(POS_EVENTS, min_length=1)
    transactions_topic: str = Field(TRANSACTIONS, min_length=1)
    kafka_topic_refunds: str = Field(REFUNDS, min_length=1)
    truth_topic: str = Field(TRUTH_TOPIC, min_length=1)
    dlq_topic: str = Field(DLQ_TOPIC, min_length=1)
    store_control_topic: str = Field(STORE_CONTROL_TOPIC, min_length=1)
    store_slots: int = Field(STORE_SLOTS, ge=1, le=1000)

    @model_validator(mode="after")
    def _distinct(self) -> AdminSettings:
        names = [*self.topic_names().values(), self.dlq_topic, self.store_control_topic]
        if len(set(names)) != len(names):
            raise ValueError("two topics share one name")
        return self

    def topic_names(self) -> dict[str, str]:
        """Logical topic → configured name."""
        return {topic: getattr(self, name) for topic, name in _TOPIC_FIELDS.items()}

    @staticmethod
    def topic_variables() -> dict[str, str]:
        """Logical topic → the environment variable that names it."""
        return {topic: name.upper() for topic, name in _TOPIC_FIELDS.items()}
