"""Output files: Avro that validates against schemas/, and JSON lines in the seeds' exact shapes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.validation import validate

from storesim.events import OUTPUTS, TOPICS, event_time_field, parsed_schema, schema_dir
from tests.conftest import Run, epoch_seconds

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
LEDGER_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# The seeds' JSON shapes: field → kind, in the seeds' order (../shared/seeds/).
SEED_SHAPES: dict[tuple[str, str | None], dict[str, str]] = {
    ("foot_traffic", None): {
        "event_type": "str",
        "customer_id": "uuid",
        "entry_time": "iso",
        "exit_time": "iso",
        "trip_duration_minutes": "int",
        "weekday": "str",
        "time_slot": "str",
    },
    ("foot_traffic_realistic", None): {
        "event_type": "str",
        "time": "iso",
        "weekday": "str",
        "time_slot": "str",
    },
    ("shelf_events", "pickup"): {
        "event_type": "str",
        "customer_id": "uuid",
        "item_id": "str",
        "weight": "float",
        "quantity": "int",
        "timestamp": "iso",
    },
    ("shelf_events", "weight_change"): {
        "event_type": "str",
        "customer_id": "uuid",
        "item_id": "str",
        "delta_weight": "float",
        "timestamp": "iso",
    },
    ("pos_transactions", None): {
        "event_type": "str",
        "transaction_id": "uuid",
        "customer_id": "uuid",
        "timestamp": "iso",
        "items": "list",
    },
    ("transactions", None): {
        "transaction_id": "int",
        "product_id": "str",
        "store_id": "str",
        "customer_id": "str",
        "amount": "float",
        "timestamp": "ledger",
    },
    ("refunds", None): {
        "refund_id": "int",
        "original_transaction_id": "int",
        "product_id": "str",
        "store_id": "str",
        "customer_id": "str",
        "refund_amount": "float",
        "reason": "str",
        "timestamp": "ledger",
    },
}
SEED_SHAPES[("shelf_events", "putback")] = SEED_SHAPES[("shelf_events", "pickup")]
POS_LINE = {
    "item_id": "str",
    "quantity": "int",
    "unit_price": "float",
    "discount": "float",
    "total_price": "float",
}

# The register seed lists each event's fields; the issue fixes their snake_case names.
REGISTER_FIELDS = {
    "employee_login": ["employee_id", "terminal_id", "timestamp"],
    "basket_started": ["basket_id", "employee_id", "timestamp"],
    "customer_identified": ["customer_id", "basket_id", "timestamp"],
    "item_added": ["item_id", "basket_id", "quantity", "price", "timestamp"],
    "subtotal_calculated": ["basket_id", "subtotal", "tax", "timestamp"],
    "payment_completed": ["basket_id", "amount", "payment_method", "timestamp"],
    "employee_logout": ["employee_id", "terminal_id", "timestamp"],
}


def is_kind(value: Any, kind: str) -> bool:
    checks = {
        "str": lambda v: isinstance(v, str) and v != "",
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "uuid": lambda v: isinstance(v, str) and UUID_TEXT.match(v) is not None,
        "iso": lambda v: isinstance(v, str) and ISO.match(v) is not None,
        "ledger": lambda v: isinstance(v, str) and LEDGER_TIME.match(v) is not None,
        "list": lambda v: isinstance(v, list),
    }
    return bool(checks[kind](value))


@pytest.mark.parametrize("topic", OUTPUTS)
def test_every_avro_file_carries_its_schema_and_validates(chain_run: Run, topic: str) -> None:
    path = chain_run.file(topic)
    with path.open("rb") as handle:
        reader = fastavro.reader(handle, reader_schema=parsed_schema(topic))
        written = json.loads(reader.metadata["avro.schema"])
        records = list(reader)
    source = json.loads((schema_dir() / f"{topic}.avsc").read_text())
    assert written == source, "the file must carry schemas/ verbatim"
    assert len(records) == len(chain_run.records[topic]) > 0
    with path.open("rb") as handle:
        raw = list(fastavro.reader(handle))
    for record in raw:
        assert validate(record, parsed_schema(topic), raise_errors=True)


@pytest.mark.parametrize("topic", TOPICS)
def test_json_lines_have_the_seeds_field_names_and_types(chain_run_json: Run, topic: str) -> None:
    records = chain_run_json.records[topic]
    assert records
    for record in records:
        if topic == "pos_events":
            assert list(record) == ["event_type", *REGISTER_FIELDS[record["event_type"]]] or sorted(
                record
            ) == sorted(["event_type", *REGISTER_FIELDS[record["event_type"]]])
            assert all(value is not None for value in record.values())
            continue
        shape = SEED_SHAPES.get((topic, record.get("event_type"))) or SEED_SHAPES[(topic, None)]
        assert list(record) == list(shape), f"{topic}: {list(record)}"
        for name, kind in shape.items():
            assert is_kind(record[name], kind), f"{topic}.{name}={record[name]!r} is not {kind}"
        for line in record.get("items", []):
            assert list(line) == list(POS_LINE)
            assert all(is_kind(line[name], kind) for name, kind in POS_LINE.items())


def test_json_time_slot_uses_the_seeds_en_dash(chain_run_json: Run) -> None:
    slots = {r["time_slot"] for r in chain_run_json.records["foot_traffic"]}
    assert slots <= {"07:00–09:59", "10:00–12:59", "13:00–15:59", "16:00–18:59", "19:00–21:59"}
    assert "\\u2013" not in (chain_run_json.out / "foot_traffic.jsonl").read_text(encoding="utf-8")


@pytest.mark.parametrize("topic", OUTPUTS)
def test_json_and_avro_runs_hold_the_same_events(chain_run: Run, chain_run_json: Run, topic: str) -> None:
    avro, text = chain_run.records[topic], chain_run_json.records[topic]
    assert len(avro) == len(text)
    time_field = event_time_field(topic)
    assert [epoch_seconds(r[time_field]) for r in avro] == [epoch_seconds(r[time_field]) for r in text]
    for a, t in zip(avro, text, strict=True):
        for name, value in t.items():
            if name != time_field and not name.endswith("_time") and name != "timestamp":
                assert a[name] == value, (topic, name)


def test_every_topic_has_a_schema_file(tmp_path: Path) -> None:
    assert sorted(p.stem for p in schema_dir().glob("*.avsc")) == sorted(OUTPUTS)
    for topic in OUTPUTS:
        schema = json.loads((schema_dir() / f"{topic}.avsc").read_text())
        names = [f["name"] for f in schema["fields"]]
        assert "event_type" in names or topic not in TOPICS, f"{topic} has no event_type"
        for field in schema["fields"]:
            if field.get("storesim.addition"):
                assert "default" in field, f"{topic}.{field['name']} is an addition without a default"
            if isinstance(field["type"], dict) and field["type"].get("logicalType") == "timestamp-millis":
                assert field["type"]["type"] == "long"
