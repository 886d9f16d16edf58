"""Registering storesim's schemas in a Confluent-compatible registry, with BACKWARD compatibility.

Subjects follow the TopicNameStrategy (`<topic>-value`); keys are plain customer_id strings and need
no subject. Services never auto-register: they look their schema up and refuse to start without it.
"""

from __future__ import annotations

import json

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from storesim.events import raw_schema

__all__ = ["RegistryError", "register_schemas", "subject_for", "value_schema"]

COMPATIBILITY = "BACKWARD"


class RegistryError(RuntimeError):
    """The registry refused or could not be reached."""


def subject_for(topic_name: str) -> str:
    return f"{topic_name}-value"


def value_schema(topic: str) -> Schema:
    """The schema of a logical topic as the registry stores it (the .avsc text, compact)."""
    return Schema(json.dumps(raw_schema(topic), separators=(",", ":")), "AVRO")


def register_schemas(url: str, names: dict[str, str]) -> dict[str, int]:
    """Registers every topic's value schema and sets BACKWARD compatibility; returns subject → schema id."""
    client = SchemaRegistryClient({"url": url})
    ids: dict[str, int] = {}
    for topic, name in names.items():
        subject = subject_for(name)
        try:
            ids[subject] = client.register_schema(subject, value_schema(topic))
            client.set_compatibility(subject_name=subject, level=COMPATIBILITY)
        except SchemaRegistryError as exc:
            hint = ""
            if exc.http_status_code == 409:  # money was an Avro double before it became a decimal
                hint = " (an earlier, incompatible schema is registered: see the README's 'Upgrading')"
            raise RegistryError(f"SCHEMA_REGISTRY_URL={url}: {subject}: {exc}{hint}") from None
        except Exception as exc:  # connection errors come from the HTTP client, unwrapped
            raise RegistryError(f"SCHEMA_REGISTRY_URL={url}: cannot reach the registry: {exc}") from None
    return ids
