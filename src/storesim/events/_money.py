"""Money: an Avro decimal on the wire, a float of whole cents in a record.

The engines and the seeds' JSON carry money as numbers such as 12.34 (the JSON mode must keep the
seeds' shape). Every such value is the float nearest to a whole number of cents, so it maps one to one
onto the decimal's unscaled integer: the wire is exact, and decoding gives back the very float that was
encoded. A value that is not whole cents (12.345) is refused rather than rounded: it would be a bug in
an engine, or bad input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["MoneyError", "decimal_bytes", "decimal_value", "is_money", "money_check", "money_reader"]


class MoneyError(ValueError):
    """A value that is no whole number of cents within the decimal's precision."""


def is_money(schema: Any) -> bool:
    """Whether an Avro type is one of our money decimals (bytes, scale 2)."""
    if not (isinstance(schema, dict) and schema.get("logicalType") == "decimal"):
        return False
    if schema.get("type") != "bytes" or schema.get("scale") != 2:
        raise ValueError(f"storesim supports only decimals on bytes with scale 2, not {schema}")
    return True


def _cents(value: float, limit: int) -> int:
    if not math.isfinite(value):
        raise MoneyError(f"{value!r} is not an amount of money")
    cents = round(value * 100)
    if cents / 100 != value:
        raise MoneyError(f"{value!r} is not a whole number of cents")
    if not -limit < cents < limit:
        raise MoneyError(f"{value!r} does not fit the decimal's precision")
    return cents


def decimal_bytes(value: float, precision: int) -> bytes:
    """The decimal's unscaled value as Avro writes it: big-endian two's complement in the fewest bytes
    (as Java's BigInteger.toByteArray, which Confluent's serializers use; fastavro spends a byte more
    on some negative values, which reads back the same)."""
    cents = _cents(value, 10**precision)
    return cents.to_bytes((cents + (cents < 0)).bit_length() // 8 + 1, "big", signed=True)


def decimal_value(raw: bytes) -> float:
    """The record's float of a decoded decimal's bytes."""
    return int.from_bytes(raw, "big", signed=True) / 100


def money_check(precision: int) -> Callable[[Any], str | None]:
    """A record check of a money field: None when it fits, else what is wrong."""
    limit = 10**precision

    def check(value: Any) -> str | None:
        if type(value) is not float and type(value) is not int:
            return f"expected an amount of money, got {type(value).__name__}"
        try:
            _cents(value, limit)
        except MoneyError as exc:
            return str(exc)
        return None

    return check


_Convert = Callable[[Any], Any]


def money_reader(schema: Any) -> _Convert | None:
    """What turns a value read without logical types (decimals as bytes) into the record's floats, in
    place; None where the type holds no money."""
    if isinstance(schema, str):
        return None
    if isinstance(schema, list):
        inner = [convert for convert in map(money_reader, schema) if convert is not None]
        if not inner:
            return None
        if len(inner) > 1 or "null" not in schema:
            raise ValueError(f'storesim reads money only in ["null", T] unions, not {schema}')
        branch = inner[0]
        return lambda value: None if value is None else branch(value)
    if is_money(schema):
        return decimal_value
    kind = schema["type"]
    if isinstance(kind, dict | list):
        return money_reader(kind)
    if kind == "array":
        item = money_reader(schema["items"])
        return None if item is None else lambda values: [item(value) for value in values]
    if kind != "record":
        return None
    fields = [(f["name"], convert) for f in schema["fields"] if (convert := money_reader(f["type"]))]
    if not fields:
        return None

    def record(value: dict[str, Any]) -> dict[str, Any]:
        for name, convert in fields:
            value[name] = convert(value[name])
        return value

    return record
