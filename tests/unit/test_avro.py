"""storesim's compiled Avro encoder against fastavro's: the same bytes for every record of a run."""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest

from storesim.data import build_dataset
from storesim.embedded import SimulationPlan, simulate
from storesim.events import OUTPUTS, parsed_schema, raw_schema
from storesim.events._avro import ContainerWriter, compile_encoder, long_bytes
from storesim.settings import (
    FootTrafficSettings,
    LedgerSettings,
    PosSettings,
    RegisterSettings,
    ShelfSettings,
)
from storesim.world import stores


def with_decimals(schema: Any, value: Any) -> Any:
    """The value as fastavro takes it: our money floats become Decimals where the schema says so."""
    if isinstance(schema, list):
        branch = next((b for b in schema if b != "null"), "null")
        return None if value is None else with_decimals(branch, value)
    if not isinstance(schema, dict):
        return value
    if schema.get("logicalType") == "decimal":
        return Decimal(value).quantize(Decimal("0.01"))
    kind = schema["type"]
    if isinstance(kind, dict | list):
        return with_decimals(kind, value)
    if kind == "array":
        return [with_decimals(schema["items"], v) for v in value]
    if kind == "record":
        return {f["name"]: with_decimals(f["type"], value[f["name"]]) for f in schema["fields"]}
    return value


def fastavro_bytes(topic: str, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_schema(topic), with_decimals(raw_schema(topic), record))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def records() -> list[tuple[str, dict[str, Any]]]:
    plan = SimulationPlan(
        stores=tuple(stores([3, 5])),
        start=date(2025, 11, 3),
        days=2,
        seed=11,
        foot=FootTrafficSettings(base_daily_customers=120),
        shelf=ShelfSettings(),
        pos=PosSettings(force_checkout_if_empty=True),
        register=RegisterSettings(),
        ledger=LedgerSettings(refund_probability=0.5),
    )
    collected: list[tuple[str, dict[str, Any]]] = []
    simulate(plan, build_dataset(plan.start, date(2025, 11, 4)), lambda t, _k, r: collected.append((t, r)))
    return collected


def test_every_record_of_a_run_encodes_as_fastavro_encodes_it(
    records: list[tuple[str, dict[str, Any]]],
) -> None:
    encoders = {topic: compile_encoder(raw_schema(topic)) for topic in OUTPUTS}
    assert {topic for topic, _ in records} == set(OUTPUTS)
    for topic, record in records:
        assert encoders[topic](record) == fastavro_bytes(topic, record), (topic, record)


def test_empty_and_null_values_encode_as_fastavro_does() -> None:
    record = {
        "event_type": "pos_transaction",
        "transaction_id": "6f1c2a5e-1d2b-4c3d-9e4f-5a6b7c8d9e0f",
        "customer_id": "6f1c2a5e-1d2b-4c3d-9e4f-5a6b7c8d9e0f",
        "timestamp": 0,
        "items": [],
        "store_id": None,
    }
    assert compile_encoder(raw_schema("pos_transactions"))(record) == fastavro_bytes(
        "pos_transactions", record
    )


@pytest.mark.parametrize(
    "value", [0, 1, -1, 63, 64, -64, -65, 127, 128, 2**31, -(2**31), 2**62, 2**63 - 1, -(2**63)]
)
def test_long_encoding_matches_the_avro_spec(value: int) -> None:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, "long", value)
    assert long_bytes(value) == buffer.getvalue()


def test_container_files_read_back_with_fastavro(
    tmp_path: Path, records: list[tuple[str, dict[str, Any]]]
) -> None:
    shelf = [r for t, r in records if t == "shelf_events"]
    path = tmp_path / "shelf.avro"
    with path.open("wb") as handle:
        writer = ContainerWriter(handle, raw_schema("shelf_events"), b"0123456789abcdef")
        for record in shelf:
            writer.write(record)
        writer.flush()
    with path.open("rb") as handle:
        blocks = list(fastavro.block_reader(handle))
    assert len(blocks) > 1, "a run this size spans several blocks"
    assert sum(b.num_records for b in blocks) == len(shelf)
    with path.open("rb") as handle:
        reader = fastavro.reader(handle)
        assert json.loads(reader.metadata["avro.schema"]) == raw_schema("shelf_events")
        back = list(reader)
    assert [r["item_id"] for r in back] == [r["item_id"] for r in shelf]
    assert [int(r["timestamp"].timestamp() * 1000) for r in back] == [r["timestamp"] for r in shelf]


def test_a_bad_sync_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        ContainerWriter(io.BytesIO(), raw_schema("refunds"), b"short")
