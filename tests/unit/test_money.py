"""Money on the wire: every money field is an Avro decimal, exact to the cent, and reads back as the
very float that was written; a value that is not whole cents is refused, never rounded."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from storesim.events import TOPICS, compile_encoder, money_reader, raw_schema, record_from_json
from storesim.events._checks import InvalidRecordError, record_check
from storesim.events._money import MoneyError, decimal_bytes

MONEY = {"amount", "refund_amount", "price", "unit_price", "total_price", "subtotal", "tax"}
DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}


def fields(schema: Any) -> list[tuple[str, Any]]:
    """(name, type) of every field of a schema, nested records included."""
    found: list[tuple[str, Any]] = []
    for field in schema["fields"]:
        found.append((field["name"], field["type"]))
        kind = field["type"]
        if isinstance(kind, dict) and kind.get("type") == "array" and isinstance(kind["items"], dict):
            found += fields(kind["items"])
    return found


def test_every_money_field_is_a_cents_decimal_and_nothing_else_is() -> None:
    seen: set[str] = set()
    for topic in TOPICS:
        for name, kind in fields(raw_schema(topic)):
            branch = kind[1] if isinstance(kind, list) else kind
            assert (branch == DECIMAL) == (name in MONEY), (topic, name, kind)
            if name in MONEY:
                seen.add(name)
    assert seen == MONEY


@pytest.mark.parametrize(
    "value", [0.0, 0.01, 0.1, 1.0, 1.27, 1.28, 3.99, 90160.7, 1234567.89, -0.01, -1.28, -1.29, 9999999999.99]
)
def test_a_decimal_reads_back_in_fastavro_and_in_storesim_as_written(value: float) -> None:
    schema = {"type": "record", "name": "M", "fields": [{"name": "m", "type": DECIMAL}]}
    encoded = compile_encoder(schema)({"m": value})
    back = fastavro.schemaless_reader(io.BytesIO(encoded), fastavro.parse_schema(schema), None)
    assert back == {"m": Decimal(f"{value:.2f}")}  # type: ignore[comparison-overlap]
    raw = fastavro.schemaless_reader(io.BytesIO(encoded), {"type": "bytes"}, None)
    assert money_reader(DECIMAL)(raw) == value  # type: ignore[misc]


def test_fewest_bytes_of_twos_complement() -> None:
    assert decimal_bytes(0.0, 12) == b"\x00"
    assert decimal_bytes(1.27, 12) == b"\x7f"
    assert decimal_bytes(1.28, 12) == b"\x00\x80"
    assert decimal_bytes(-1.28, 12) == b"\x80"
    assert decimal_bytes(-1.29, 12) == b"\xff\x7f"


@pytest.mark.parametrize("value", [12.345, 0.001, float("nan"), float("inf"), 1e12])
def test_what_is_not_whole_cents_within_the_precision_is_refused(value: float) -> None:
    with pytest.raises(MoneyError):
        decimal_bytes(value, 12)


def test_a_json_refund_of_a_fraction_of_a_cent_is_refused_by_the_record_check() -> None:
    document = {
        "event_type": "refund",
        "refund_id": 1,
        "original_transaction_id": 1,
        "product_id": "A01",
        "store_id": "STORE-001",
        "customer_id": "c",
        "reason": "defective",
        "timestamp": "2025-11-07 09:32:10",
    }

    def check(amount: Any) -> None:
        record = record_from_json("refunds", {**document, "refund_amount": amount})
        record_check("refunds")({**record, "event_type": "refund"})  # the ledger seed's JSON has none

    check(1.5)
    with pytest.raises(InvalidRecordError, match=r"refund_amount: 1\.005 is not a whole number of cents"):
        check(1.005)
    with pytest.raises(InvalidRecordError, match="refund_amount: expected an amount of money, got str"):
        check("1.50")


def test_nested_and_optional_money_is_read_back_in_place() -> None:
    read = money_reader(raw_schema("pos_transactions"))
    assert read is not None
    line = {
        "item_id": "A01",
        "quantity": 2,
        "unit_price": b"\x01\x8f",
        "discount": 0.1,
        "total_price": b"\x02",
    }
    record = read({"items": [line], "store_id": None, "event_type": "pos_transaction"})
    assert record["items"][0]["unit_price"] == 3.99
    assert record["items"][0]["total_price"] == 0.02
    register = money_reader(raw_schema("pos_events"))
    assert register is not None
    assert register(dict.fromkeys(("price", "subtotal", "tax", "amount", "total_price"))) == dict.fromkeys(
        ("price", "subtotal", "tax", "amount", "total_price")
    )
    assert money_reader(raw_schema("shelf_events")) is None
