"""Kafka and schema-registry adapters: topics, schemas, serialisation."""

from storesim.kafka._registry import RegistryError, register_schemas, subject_for, value_schema
from storesim.kafka._topics import TopicPlan, TopicsError, create_topics, plan_topics

__all__ = [
    "RegistryError",
    "TopicPlan",
    "TopicsError",
    "create_topics",
    "plan_topics",
    "register_schemas",
    "subject_for",
    "value_schema",
]
