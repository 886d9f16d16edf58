"""Confluent-framed Avro values from the encoders compiled from our schemas.

confluent-kafka's AvroSerializer walks the schema and looks the subject up for every message; our
records always have the topic's own schema, so the registry is asked once per topic for its id (looked
up, never registered: the setup registers) and each value is the 5-byte header (magic 0, schema id,
big-endian) followed by the compiled encoder's bytes. The bytes are those AvroSerializer writes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable

from confluent_kafka.schema_registry import SchemaRegistryClient

from storesim.events import Record, compile_encoder, json_record, raw_schema
from storesim.kafka._registry import subject_for, value_schema

__all__ = ["ValueEncoder", "confluent_header", "json_encoder", "registry_encoder"]

ValueEncoder = Callable[[Record], bytes]
_HEADER = struct.Struct(">bI")


def confluent_header(schema_id: int) -> bytes:
    """The Confluent wire format's prefix: magic byte 0, then the schema id."""
    return _HEADER.pack(0, schema_id)


def registry_encoder(registry: SchemaRegistryClient, topic: str, name: str) -> ValueEncoder:
    """The framed Avro encoder of logical ``topic`` produced as ``name``; raises if the registry does
    not hold the topic's schema under ``name``'s subject."""
    registered = registry.lookup_schema(subject_for(name), value_schema(topic))
    assert registered.schema_id is not None
    header = confluent_header(registered.schema_id)
    encode = compile_encoder(raw_schema(topic))
    return lambda record: header + encode(record)


def json_encoder(topic: str) -> ValueEncoder:
    """The seeds' JSON shape of ``topic``, as UTF-8."""
    return lambda record: json.dumps(json_record(topic, record), ensure_ascii=False).encode()
