"""Reading storesim's events back: Confluent-framed Avro through the registry, or the seeds' JSON.

The framing says which: Avro starts with the magic byte 0, JSON with ``{``; so a consumer reads
whatever OUTPUT_FORMAT the stage before it used. Records come back in the engines' shape (timestamps
as epoch milliseconds, UUIDs as strings) and are checked against the topic's fields, so that a message
of another schema is refused here and not deep inside an engine.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from storesim.events import Record, blank_record, record_from_json

__all__ = ["DecodeError", "RecordDecoder"]


class DecodeError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class RecordDecoder:
    def __init__(self, registry_url: str) -> None:
        self._avro = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))

    def decode(self, topic: str, name: str, value: bytes | None) -> Record:
        """``topic`` is the logical topic (its schema), ``name`` the configured one (its subject)."""
        if not value:
            raise DecodeError("undecodable", "empty message")
        try:
            if value[0] == 0:
                decoded = self._avro(value, SerializationContext(name, MessageField.VALUE))
                record: Record = _plain(decoded)
            elif value[:1] == b"{":
                record = record_from_json(topic, json.loads(value))
            else:
                raise DecodeError("undecodable", f"neither Confluent Avro nor JSON (first byte {value[0]})")
        except DecodeError:
            raise
        except Exception as exc:  # corrupt bytes, unknown schema id, bad JSON: all the producer's fault
            raise DecodeError("undecodable", f"{type(exc).__name__}: {exc}") from None
        if not isinstance(record, dict) or record.keys() != blank_record(topic).keys():
            raise DecodeError("wrong-schema", f"not a {topic} record")
        return record
