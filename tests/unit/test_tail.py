"""`storesim tail`'s pure parts: which records the filters keep, the lines it prints, and the options it
refuses before it reaches for Kafka (the reading itself is tests/integration/test_tail.py's)."""

from __future__ import annotations

import json

import pytest

from storesim._keys import CustomerKey, customer_id
from storesim.cli import app
from storesim.cli._errors import UsageError, run_command
from storesim.cli._tail import RecordFilter, logical_topics, parse_store, renderer, store_of
from storesim.events import (
    FOOT_TRAFFIC_REALISTIC,
    POS_EVENTS,
    SHELF_EVENTS,
    TOPICS,
    TRANSACTIONS,
    TRUTH,
    Record,
    blank_record,
    json_record,
)
from storesim.settings import environment_variables

CUSTOMER_OF_STORE_2 = customer_id(7, CustomerKey(2, 20_000, 5))


def shelf(event_type: str = "pickup", store_id: str | None = None) -> Record:
    record = blank_record(SHELF_EVENTS)
    record.update(
        event_type=event_type,
        customer_id=CUSTOMER_OF_STORE_2,
        item_id="R09",
        weight=6.9,
        quantity=1,
        timestamp=1_743_139_230_000,
        store_id=store_id,
    )
    return record


def test_the_store_is_the_records_store_id_else_its_customers() -> None:
    assert store_of(shelf(store_id="STORE-004")) == "STORE-004"
    assert store_of(shelf()) == "STORE-002"  # the seed's JSON: no store_id, the customer id carries it
    assert store_of({"store_id": None, "customer_id": "0b0f5d4c-2f4b-4c1e-9d7a-6f1e2a3b4c5d"}) is None
    assert store_of(blank_record(FOOT_TRAFFIC_REALISTIC)) is None


@pytest.mark.parametrize(
    ("text", "store"),
    [("STORE-001", "STORE-001"), ("store-7", "STORE-007"), ("12", "STORE-012"), ("STORE-1234", "STORE-1234")],
)
def test_a_store_is_given_as_its_id_or_number(text: str, store: str) -> None:
    assert parse_store(text) == store


@pytest.mark.parametrize("text", ["STORE-000", "0", "16384", "STORE-", "S-001", "1,2", ""])
def test_a_store_that_is_none_is_refused_naming_the_option(text: str) -> None:
    with pytest.raises(UsageError, match=r"^--store: "):
        parse_store(text)


def test_no_filter_keeps_everything() -> None:
    assert RecordFilter()(SHELF_EVENTS, shelf())
    assert RecordFilter()(FOOT_TRAFFIC_REALISTIC, blank_record(FOOT_TRAFFIC_REALISTIC))


def test_the_filters_keep_any_of_their_values_and_need_both() -> None:
    keep = RecordFilter.of_options([SHELF_EVENTS], ["2", "STORE-003"], ["pickup", "putback"])

    assert keep(SHELF_EVENTS, shelf("pickup"))
    assert keep(SHELF_EVENTS, shelf("putback", store_id="STORE-003"))
    assert not keep(SHELF_EVENTS, shelf("weight_change"))
    assert not keep(SHELF_EVENTS, shelf("pickup", store_id="STORE-001"))


def test_a_record_whose_store_is_unknown_is_not_any_stores() -> None:
    keep = RecordFilter.of_options([FOOT_TRAFFIC_REALISTIC], ["1"], [])

    assert not keep(FOOT_TRAFFIC_REALISTIC, {**blank_record(FOOT_TRAFFIC_REALISTIC), "event_type": "entry"})


def test_the_type_of_a_one_type_topic_is_implied_where_the_seeds_json_leaves_it_out() -> None:
    """transactions' event_type is storesim's addition: a record read from the seed's JSON has None."""
    record = {**blank_record(TRANSACTIONS), "store_id": "STORE-001"}

    assert RecordFilter.of_options([TRANSACTIONS], [], ["transaction"])(TRANSACTIONS, record)
    assert not RecordFilter.of_options([TRANSACTIONS, SHELF_EVENTS], [], ["pickup"])(TRANSACTIONS, record)


def test_a_type_no_topic_read_has_is_refused() -> None:
    with pytest.raises(UsageError, match=r"^--type: 'pickup' is no event type of pos_events; they have "):
        RecordFilter.of_options([POS_EVENTS], [], ["pickup"])


def test_the_answer_key_has_stores_but_no_types() -> None:
    record = {**blank_record(TRUTH), "store_id": "STORE-002"}

    assert RecordFilter.of_options([TRUTH], ["2"], [])(TRUTH, record)
    assert not RecordFilter.of_options([TRUTH], ["1"], [])(TRUTH, record)
    with pytest.raises(UsageError, match=r"^--type: 'pickup' is no event type of truth; they have none$"):
        RecordFilter.of_options([TRUTH], [], ["pickup"])


def test_a_configured_name_maps_back_to_its_topic() -> None:
    configured = {topic: f"{topic}.prod" for topic in TOPICS}

    chosen = logical_topics(["shelf_events.prod", "pos_events.prod", "shelf_events.prod"], configured)

    assert chosen == {"shelf_events.prod": SHELF_EVENTS, "pos_events.prod": POS_EVENTS}
    with pytest.raises(UsageError, match=r"^TOPIC: 'shelf_events' is no storesim topic; .*\(SHELF_TOPIC\)"):
        logical_topics(["shelf_events"], configured)


def test_json_is_the_seeds_shape_and_avro_json_every_field() -> None:
    record = shelf(store_id="STORE-002")

    assert renderer("json")(SHELF_EVENTS, record) == json.dumps(json_record(SHELF_EVENTS, record))
    assert json.loads(renderer("json")(SHELF_EVENTS, record))["timestamp"] == "2025-03-28T05:20:30+00:00"
    assert json.loads(renderer("avro-json")(SHELF_EVENTS, record)) == record


def test_money_prints_as_a_plain_number() -> None:
    record = {**blank_record(POS_EVENTS), "event_type": "payment_completed", "amount": 16.46}
    record.update(basket_id="b", payment_method="cash", timestamp=0)

    for fmt in ("json", "avro-json"):
        assert '"amount": 16.46' in renderer(fmt)(POS_EVENTS, record)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        pytest.param(["shelf_events", "--format", "avro"], ("--format",), id="format"),
        pytest.param(["shelf_events", "--max", "0"], ("--max",), id="max-0"),
        pytest.param(["shelf_events", "--max", "x"], ("--max",), id="max-x"),
        pytest.param(["shelf_events", "--store", "S1"], ("--store",), id="store"),
        pytest.param(["shelf_events", "--type", "item_added"], ("--type",), id="type"),
        pytest.param(["shelf_events", "--registry", "127.0.0.1:8081"], ("--registry",), id="registry"),
        pytest.param(["storesim.dlq"], ("TOPIC", "storesim.dlq"), id="dlq-topic"),
        pytest.param(["shelf_events"], ("--broker", "KAFKA_BROKER"), id="no-broker"),
        pytest.param([], ("TOPIC",), id="no-topic"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    names: tuple[str, ...],
) -> None:
    """All of these are refused before any connection is tried (no KAFKA_BROKER is set)."""
    for name in environment_variables():
        monkeypatch.delenv(name, raising=False)

    code = run_command(app, "storesim", ["tail", *args])

    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("storesim: error: "), lines[0]
    assert all(name in lines[0] for name in names), lines[0]
    assert captured.out == ""
