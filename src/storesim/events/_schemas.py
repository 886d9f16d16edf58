"""The Avro schemas in schemas/, and the seeds' JSON shapes that follow from them.

The .avsc files are the one source of truth: the Avro writers parse them, and the JSON form of each
event type is derived from the same fields (storesim additions left out, per-type fields filtered by
`storesim.event_types`, timestamps rendered as the seed renders them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro

from storesim._time import iso_utc, ledger_utc, parse_iso_utc
from storesim.events._topics import OUTPUTS, Record

__all__ = ["blank_record", "json_record", "parsed_schema", "raw_schema", "record_from_json", "schema_dir"]

_ADDITION = "storesim.addition"
_EVENT_TYPES = "storesim.event_types"
_JSON_FORMAT = "storesim.json"


def schema_dir() -> Path:
    """schemas/ inside an installed wheel, or at the top of a source checkout."""
    packaged = Path(str(resources.files("storesim"))) / "schemas"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "schemas"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("storesim's Avro schemas were not found (neither packaged nor in a checkout)")


@cache
def raw_schema(topic: str) -> dict[str, Any]:
    if topic not in OUTPUTS:
        raise KeyError(f"unknown topic {topic!r}")
    result: dict[str, Any] = json.loads((schema_dir() / f"{topic}.avsc").read_text())
    return result


@cache
def _field_names(topic: str) -> tuple[str, ...]:
    return tuple(f["name"] for f in raw_schema(topic)["fields"])


def blank_record(topic: str) -> Record:
    """Every field of the topic's record set to None: a start for event types that fill only some."""
    return dict.fromkeys(_field_names(topic))


@cache
def parsed_schema(topic: str) -> Any:
    return fastavro.parse_schema(raw_schema(topic))


def _is_timestamp(field_type: Any) -> bool:
    return isinstance(field_type, dict) and field_type.get("logicalType") == "timestamp-millis"


_Converter = Callable[[Any], Any] | None


def _converter(field: dict[str, Any]) -> _Converter:
    if not _is_timestamp(field["type"]):
        return None
    render = ledger_utc if field.get(_JSON_FORMAT) == "ledger-timestamp" else iso_utc
    return lambda millis: render(millis // 1000)


@cache
def _json_fields(topic: str) -> dict[str | None, tuple[tuple[str, _Converter], ...]]:
    """Per event type (None where the topic has one shape), the seed's fields in order."""
    schema = raw_schema(topic)
    fields = [f for f in schema["fields"] if not f.get(_ADDITION)]
    event_type = next((f for f in schema["fields"] if f["name"] == "event_type"), None)
    symbols: list[str | None] = [None]
    if event_type is not None and any(_EVENT_TYPES in f for f in fields):
        symbols = list(event_type["type"]["symbols"])
    return {
        symbol: tuple(
            (f["name"], _converter(f))
            for f in fields
            if symbol is None or _EVENT_TYPES not in f or symbol in f[_EVENT_TYPES]
        )
        for symbol in symbols
    }


def json_record(topic: str, record: Record) -> Record:
    """The seed's JSON shape of an Avro-ready record."""
    shapes = _json_fields(topic)
    fields = shapes.get(record.get("event_type")) or shapes[None]
    return {name: (record[name] if convert is None else convert(record[name])) for name, convert in fields}


def record_from_json(topic: str, document: dict[str, Any]) -> Record:
    """The Avro-ready record of a seed-shaped JSON event (the inverse of :func:`json_record`).

    Fields the seed's JSON leaves out (storesim's additions) come back as None. A missing seed field
    raises KeyError, a malformed timestamp ValueError: the caller dead-letters the message.
    """
    shapes = _json_fields(topic)
    fields = shapes.get(document.get("event_type")) or shapes[None]
    record = blank_record(topic)
    for name, convert in fields:
        value = document[name]
        record[name] = value if convert is None else parse_iso_utc(value) * 1000
    return record
