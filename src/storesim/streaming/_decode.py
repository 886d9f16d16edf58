"""Reading storesim's events back: Confluent-framed Avro through the registry, or the seeds' JSON.

The framing says which: Avro starts with the magic byte 0 and a schema id, JSON with ``{``; so a
consumer reads whatever OUTPUT_FORMAT the stage before it used. Records come back in the engines' shape
(timestamps as epoch milliseconds, UUIDs as strings) with the types of the topic's schema, so that a
message of another schema, or a field of the wrong type, is refused here and not deep inside an engine:

- Avro is read with the writer's schema (from the registry, cached by id) resolved to the topic's own,
  both without logical types, so the values come out in the engines' shape directly (money, read as
  the decimal's bytes, is turned into the float of its cents). A writer schema
  that does not resolve (another record, an enum symbol we lack) is refused as wrong-schema.
- JSON is turned into the Avro-ready record and then checked field by field against the schema.

The registry being away is not the message's fault: that raises RegistryUnavailableError, and the caller
reads the message again later instead of dead-lettering it. A schema id the registry does not hold is
the message's: a DecodeError.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from typing import Any

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from storesim.events import Record, money_reader, raw_schema, record_from_json
from storesim.events._checks import InvalidRecordError, record_check
from storesim.streaming._inputs import InputError

__all__ = ["DecodeError", "RecordDecoder", "RegistryUnavailableError"]

_UNKNOWN_FOR = 30.0  # seconds a schema id the registry does not know is not asked about again
_Read = Callable[[bytes], Record]


class DecodeError(InputError):
    """Bytes that are no record of the topic (undecodable, wrong-schema)."""


class RegistryUnavailableError(RuntimeError):
    """The registry could not say what a schema id is: try the message again later."""


def _without_logical_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(v) for v in schema]
    return schema


def _parse(schema: Any) -> Any:
    return fastavro.parse_schema(_without_logical_types(schema))


def _reader(writer: Any, reader: Any, topic: str) -> _Read:
    """Decodes the Avro body after the 5-byte header; every byte must belong to the record."""
    target = None if writer == reader else reader
    money = money_reader(raw_schema(topic)) or (lambda record: record)

    def read(value: bytes) -> Record:
        body = io.BytesIO(value)
        body.seek(5)
        record: Record = fastavro.schemaless_reader(body, writer, target)  # type: ignore[assignment]
        if body.tell() != len(value):
            raise ValueError(f"{len(value) - body.tell()} bytes after the record")
        money(record)
        return record

    return read


class RecordDecoder:
    def __init__(self, registry_url: str | None) -> None:
        """Without a registry only the seeds' JSON is read: an Avro message raises
        RegistryUnavailableError."""
        self._registry = SchemaRegistryClient({"url": registry_url}) if registry_url else None
        self._own: dict[str, Any] = {}  # logical topic -> its schema, parsed without logical types
        self._readers: dict[tuple[int, str], _Read] = {}
        self._unknown: dict[int, float] = {}  # schema id -> when the registry said it has none

    def decode(self, topic: str, name: str, value: bytes | None) -> Record:
        """``topic`` is the logical topic (its schema); ``name``, the configured one, is for messages."""
        if not value:
            raise DecodeError("undecodable", "empty message")
        if value[0] == 0:
            return self._avro(topic, value)
        if value[:1] == b"{":
            return self._json(topic, value)
        raise DecodeError("undecodable", f"neither Confluent Avro nor JSON (first byte {value[0]})")

    def _avro(self, topic: str, value: bytes) -> Record:
        if len(value) < 5:
            raise DecodeError("undecodable", "shorter than the Confluent header")
        schema_id = int.from_bytes(value[1:5], "big")
        read = self._readers.get((schema_id, topic)) or self._compile(schema_id, topic)
        try:
            return read(value)
        except Exception as exc:  # truncated or corrupt bytes: the producer's fault
            raise DecodeError("undecodable", f"schema id {schema_id}: {type(exc).__name__}: {exc}") from None

    def _compile(self, schema_id: int, topic: str) -> _Read:
        found = self._unknown.get(schema_id)
        if found is not None and time.monotonic() - found < _UNKNOWN_FOR:
            raise DecodeError("undecodable", f"schema id {schema_id} is not in the registry")
        if self._registry is None:
            raise RegistryUnavailableError(f"schema id {schema_id}: no schema registry is configured")
        try:
            schema = self._registry.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                self._unknown[schema_id] = time.monotonic()
                raise DecodeError("undecodable", f"schema id {schema_id} is not in the registry") from None
            raise RegistryUnavailableError(f"schema id {schema_id}: {exc}") from None
        except Exception as exc:  # connection errors surface unwrapped from the HTTP client
            raise RegistryUnavailableError(f"schema id {schema_id}: {type(exc).__name__}: {exc}") from None
        if schema.schema_type not in (None, "AVRO"):
            raise DecodeError("wrong-schema", f"schema id {schema_id} is {schema.schema_type}, not Avro")
        own = self._own.get(topic)
        if own is None:
            own = self._own[topic] = _parse(raw_schema(topic))
        try:
            writer = _parse(json.loads(schema.schema_str or ""))
        except Exception as exc:  # the registry holds it, but fastavro cannot use it
            raise DecodeError("wrong-schema", f"schema id {schema_id}: {type(exc).__name__}: {exc}") from None
        # Avro's resolution matches records by name; fastavro would only find out at the first read.
        name = writer.get("name") if isinstance(writer, dict) else writer
        if name != own["name"]:
            raise DecodeError("wrong-schema", f"schema id {schema_id} is a {name}, not a {own['name']}")
        read = self._readers[(schema_id, topic)] = _reader(writer, own, topic)
        return read

    def _json(self, topic: str, value: bytes) -> Record:
        try:
            document = json.loads(value)
            if not isinstance(document, dict):
                raise ValueError(f"a JSON {type(document).__name__}, not an object")
            record = record_from_json(topic, document)
        except Exception as exc:  # bad JSON, a missing field, a bad timestamp: the producer's fault
            raise DecodeError("undecodable", f"{type(exc).__name__}: {exc}") from None
        try:
            record_check(topic)(record)
        except InvalidRecordError as exc:
            raise DecodeError("wrong-schema", f"not a {topic} record: {exc}") from None
        return record
