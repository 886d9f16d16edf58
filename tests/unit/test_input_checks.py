"""What the stages check of an input before it reaches an engine: the schema's types (JSON), that its
customer belongs to the run, that a checkout adds up; and the progress they commit alongside."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import date
from typing import Any

import pytest

from storesim._keys import CustomerKey, customer_id, decode_customer_id
from storesim.data import build_dataset
from storesim.embedded import SimulationPlan, simulate
from storesim.events import FOOT_TRAFFIC, OUTPUTS, POS_TRANSACTIONS, SHELF_EVENTS, TOPICS, Record, json_record
from storesim.events._checks import InvalidRecordError, record_check
from storesim.settings import (
    FootTrafficSettings,
    LedgerSettings,
    PosSettings,
    RegisterSettings,
    ShelfSettings,
)
from storesim.streaming import Customers, DecodeError, InputError, Progress, RecordDecoder, check_checkout
from storesim.world import stores

SEED = 11


@pytest.fixture(scope="module")
def records() -> dict[str, list[Record]]:
    plan = SimulationPlan(
        stores=tuple(stores([1, 16])),
        start=date(2025, 3, 28),
        days=1,
        seed=SEED,
        foot=FootTrafficSettings(daily_customers=60),
        shelf=ShelfSettings(),
        pos=PosSettings(),
        register=RegisterSettings(),
        ledger=LedgerSettings(refund_probability=0.5),
    )
    out: dict[str, list[Record]] = {topic: [] for topic in OUTPUTS}
    simulate(plan, build_dataset(plan.start, plan.start), lambda topic, _key, r: out[topic].append(r))
    return out


def test_every_record_of_a_run_passes_its_topics_check(records: dict[str, list[Record]]) -> None:
    for topic in TOPICS:
        assert records[topic], topic
        check = record_check(topic)
        for record in records[topic]:
            check(record)


@pytest.mark.parametrize(
    ("topic", "field", "value", "complaint"),
    [
        (SHELF_EVENTS, "customer_id", 12345, "customer_id: expected a string, got int"),
        (SHELF_EVENTS, "quantity", True, "quantity: expected null, got bool or expected int, got bool"),
        (SHELF_EVENTS, "quantity", 1.5, "quantity"),
        (SHELF_EVENTS, "quantity", 2**31, "out of the int range"),
        (SHELF_EVENTS, "event_type", "steal", "event_type"),
        (SHELF_EVENTS, "timestamp", "2025-03-28T10:00:00Z", "timestamp: expected long"),
        (SHELF_EVENTS, "weight", "heavy", "weight"),
        (FOOT_TRAFFIC, "trip_duration_minutes", None, "trip_duration_minutes"),
        (POS_TRANSACTIONS, "items", {"item_id": "A01"}, "items: expected an array"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(
    records: dict[str, list[Record]], topic: str, field: str, value: Any, complaint: str
) -> None:
    record = dict(records[topic][0], **{field: value})
    with pytest.raises(InvalidRecordError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        record_check(topic)(record)


def test_a_line_item_of_the_wrong_shape_is_named(records: dict[str, list[Record]]) -> None:
    checkout = copy.deepcopy(records[POS_TRANSACTIONS][0])
    checkout["items"][0]["quantity"] = "2"
    with pytest.raises(InvalidRecordError, match=r"items: \[0\]: quantity: expected int, got str"):
        record_check(POS_TRANSACTIONS)(checkout)
    checkout["items"][0] = {"item_id": "A01"}
    with pytest.raises(InvalidRecordError, match="fields differ"):
        record_check(POS_TRANSACTIONS)(checkout)


def decoder() -> RecordDecoder:
    """JSON needs no registry: nothing here talks to this address."""
    return RecordDecoder("http://127.0.0.1:1")


def as_json(topic: str, record: Record, **changes: Any) -> bytes:
    document = {**json_record(topic, record), **changes}
    return json.dumps(document).encode()


def test_the_seeds_json_decodes_to_the_record_it_came_from(records: dict[str, list[Record]]) -> None:
    for topic in (FOOT_TRAFFIC, SHELF_EVENTS, POS_TRANSACTIONS):
        for record in records[topic][:50]:
            # store_id is storesim's addition: the seeds' JSON has no such field
            assert decoder().decode(topic, topic, as_json(topic, record)) == {**record, "store_id": None}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"customer_id": 42}, "wrong-schema"),  # the number that once killed four services
        ({"quantity": "1"}, "wrong-schema"),
        ({"timestamp": 1743156000}, "undecodable"),
        ({"timestamp": "yesterday"}, "undecodable"),
        ({"event_type": ["pickup"]}, "undecodable"),
    ],
)
def test_json_with_a_wrong_field_is_refused_with_a_reason(
    records: dict[str, list[Record]], changes: dict[str, Any], reason: str
) -> None:
    pickup = next(r for r in records[SHELF_EVENTS] if r["event_type"] == "pickup")
    with pytest.raises(DecodeError) as refused:
        decoder().decode(SHELF_EVENTS, SHELF_EVENTS, as_json(SHELF_EVENTS, pickup, **changes))
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    "value", [b"", b"{", b"{}", b"[1, 2]", b'"text"', b"\xff\xfe", b"\x00\x00\x01", b"null", b"{\xff}"]
)
def test_bytes_that_are_no_record_are_undecodable(value: bytes) -> None:
    with pytest.raises(DecodeError) as refused:
        decoder().decode(SHELF_EVENTS, SHELF_EVENTS, value)
    assert refused.value.reason in ("undecodable", "wrong-schema")


def test_a_customer_of_the_run_is_known_and_anyone_else_is_not(records: dict[str, list[Record]]) -> None:
    customers = Customers(SEED)
    real = records[FOOT_TRAFFIC][0]["customer_id"]
    assert customers.key_of(real) == decode_customer_id(real)
    key = decode_customer_id(real)
    forged = customer_id(SEED + 1, key)  # the right bits for the visit, another run's hash
    another_visit = customer_id(SEED, CustomerKey(key.store, key.day, 999_999))  # a visit never made...
    assert customers.key_of(another_visit).seq == 999_999  # ...is still a well-formed id of this run
    for stranger in (forged, str(uuid.uuid4()), "not-a-uuid", real.upper(), real.replace("-", "")):
        with pytest.raises(InputError) as refused:
            customers.key_of(stranger)
        assert refused.value.reason == "unknown-customer"


def test_a_checkout_that_does_not_add_up_is_refused(records: dict[str, list[Record]]) -> None:
    checkout = next(r for r in records[POS_TRANSACTIONS] if len(r["items"]) >= 2)
    key = decode_customer_id(checkout["customer_id"])
    check_checkout(checkout, key)
    for record in records[POS_TRANSACTIONS]:
        check_checkout(record, decode_customer_id(record["customer_id"]))

    def refused(change: Any) -> str:
        broken = copy.deepcopy(checkout)
        change(broken)
        with pytest.raises(InputError) as caught:
            check_checkout(broken, key)
        return caught.value.reason

    assert refused(lambda c: c.update(transaction_id=str(uuid.uuid4()))) == "inconsistent-checkout"
    assert refused(lambda c: c.update(store_id="STORE-999")) == "inconsistent-checkout"
    assert refused(lambda c: c["items"][0].update(quantity=0)) == "bad-quantity"
    assert refused(lambda c: c["items"][0].update(total_price=c["items"][0]["total_price"] + 1)) == (
        "inconsistent-checkout"
    )
    assert refused(lambda c: c["items"][0].update(discount=1.5)) == "inconsistent-checkout"
    assert refused(lambda c: c["items"].append(dict(c["items"][0]))) == "inconsistent-checkout"


def test_progress_round_trips_and_reads_the_plain_instant_of_earlier_versions() -> None:
    progress = Progress(1_743_156_000, {"foot_traffic.x": 17, "shelf_events.x": 4})
    assert Progress.decode(progress.encode()) == progress
    assert Progress.decode("1743156000") == Progress(1_743_156_000)
    assert Progress.decode(None) == Progress.decode("") == Progress()
    assert Progress().seen_at("anything") == -1
    with pytest.raises(ValueError, match="progress"):
        Progress.decode('"text"')
