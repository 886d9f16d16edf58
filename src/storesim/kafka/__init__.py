"""Kafka and schema-registry adapters: topics, schemas, serialisation."""

from storesim.kafka._check import topic_event_counts, wait_for_events
from storesim.kafka._registry import RegistryError, register_schemas, subject_for, value_schema
from storesim.kafka._sink import KafkaSink, SinkError
from storesim.kafka._tail import Fetched, TailError, TopicReader, check_registry
from storesim.kafka._topics import TopicPlan, TopicsError, create_topics, plan_topics

__all__ = [
    "Fetched",
    "KafkaSink",
    "RegistryError",
    "SinkError",
    "TailError",
    "TopicPlan",
    "TopicReader",
    "TopicsError",
    "check_registry",
    "create_topics",
    "plan_topics",
    "register_schemas",
    "subject_for",
    "topic_event_counts",
    "value_schema",
    "wait_for_events",
]
