"""Type checks of a record against its topic's Avro schema, compiled once per topic.

A decoded record goes deep into an engine (ids are parsed, times compared, quantities summed), so a
field of the wrong type must be refused at the edge, with a message that names it, and never turn
into an AttributeError inside a stage. The Avro decoder's output already has the schema's types; JSON
(the seeds' format, or anything a stranger wrote) does not. fastavro's own validator does the same in
about 60 µs a record; these checks, compiled from the same schemas, take a few.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from storesim.events._money import is_money, money_check
from storesim.events._schemas import raw_schema
from storesim.events._topics import Record

__all__ = ["InvalidRecordError", "record_check"]

_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)

_Check = Callable[[Any], str | None]  # None when the value fits, else what is wrong


class InvalidRecordError(ValueError):
    """A record whose fields do not have the schema's types."""


def _integer(low: int, high: int, name: str) -> _Check:
    def check(value: Any) -> str | None:
        if type(value) is not int:  # bool is an int subclass, and a JSON true is not a count
            return f"expected {name}, got {type(value).__name__}"
        return None if low <= value <= high else f"{value} is out of the {name} range"

    return check


def _double(value: Any) -> str | None:
    if type(value) is float or type(value) is int:
        return None
    return f"expected a number, got {type(value).__name__}"


def _string(value: Any) -> str | None:
    return None if type(value) is str else f"expected a string, got {type(value).__name__}"


def _null(value: Any) -> str | None:
    return None if value is None else f"expected null, got {type(value).__name__}"


def _compile(schema: Any) -> _Check:
    if isinstance(schema, str):
        primitive: dict[str, _Check] = {
            "string": _string,
            "int": _integer(*_INT_RANGE, "int"),
            "long": _integer(*_LONG_RANGE, "long"),
            "double": _double,
            "float": _double,
            "null": _null,
        }
        if schema not in primitive:
            raise NotImplementedError(f"no check for Avro type {schema!r}")
        return primitive[schema]
    if isinstance(schema, list):
        branches = [_compile(branch) for branch in schema]

        def union(value: Any) -> str | None:
            problems = [check(value) for check in branches]
            return None if None in problems else " or ".join(p for p in problems if p)

        return union
    kind = schema["type"]
    if kind == "enum":
        symbols = frozenset(schema["symbols"])
        return lambda value: (
            None
            if isinstance(value, str) and value in symbols
            else f"{value!r} is not one of {sorted(symbols)}"
        )
    if kind == "array":
        item = _compile(schema["items"])

        def array(value: Any) -> str | None:
            if not isinstance(value, list):
                return f"expected an array, got {type(value).__name__}"
            for n, element in enumerate(value):
                if (problem := item(element)) is not None:
                    return f"[{n}]: {problem}"
            return None

        return array
    if kind == "record":
        return _record(schema)
    if is_money(schema):
        check: _Check = money_check(schema["precision"])
        return check
    return _compile(kind)  # {"type": "long", "logicalType": ...}: the logical type rides on its base


def _record(schema: dict[str, Any]) -> _Check:
    fields = [(field["name"], _compile(field["type"])) for field in schema["fields"]]
    names = frozenset(name for name, _ in fields)

    def record(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"expected a record, got {type(value).__name__}"
        if value.keys() != names:
            missing, extra = sorted(names - value.keys()), sorted(value.keys() - names)
            return f"fields differ (missing {missing}, unexpected {extra})"
        for name, check in fields:
            if (problem := check(value[name])) is not None:
                return f"{name}: {problem}"
        return None

    return record


@cache
def record_check(topic: str) -> Callable[[Record], None]:
    """The check of ``topic``'s records: raises InvalidRecordError naming the first field that is wrong."""
    check = _record(raw_schema(topic))

    def checked(record: Record) -> None:
        if (problem := check(record)) is not None:
            raise InvalidRecordError(problem)

    return checked
