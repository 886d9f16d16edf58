"""The whole chain of services on the real stack: what a schema-less consumer reads through the registry
is what the embedded mode writes, and the seeds' JSON with OUTPUT_FORMAT=json."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from storesim.events import TOPICS, event_time_field
from tests.conftest import Run, epoch_seconds, simulate
from tests.integration.chain import Chain
from tests.integration.helpers import GARBAGE_KEY, consume_raw, message_count
from tests.integration.runs import (
    CUSTOMERS,
    SEED,
    START,
    assert_same_events,
    backfill,
    catalogue,
    embedded,
    run_chain,
)
from tests.unit import test_invariants as invariants


def produce_garbage(chain: Chain, topic: str, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": chain.stack["KAFKA_BROKER"]})
    producer.produce(chain.names[topic], value=value, key=GARBAGE_KEY, partition=0)
    assert producer.flush(10) == 0


FOOT_GARBAGE, SHELF_GARBAGE = b"\x00\x00\x00\x00\x01not avro at all", b"\xff\xfe garbage"


def test_a_streamed_backfill_is_the_embedded_run_and_garbage_goes_to_the_dlq(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    expected = embedded(tmp_path / "embedded", "1,2")
    chain = Chain(stack, tmp_path, dataset, backfill("1,2"))
    produce_garbage(chain, "foot_traffic", FOOT_GARBAGE)
    produce_garbage(chain, "shelf_events", SHELF_GARBAGE)
    got = run_chain(chain, expected)
    assert_same_events(chain, got, expected, planted={"foot_traffic": 1, "shelf_events": 1})
    dead = consume_raw(stack, [chain.dlq], 3)
    # foot_traffic feeds the shelf and the POS (each reports it), shelf_events the POS.
    assert sorted((h["storesim.component"], h["storesim.source.topic"]) for _, _, h in dead) == sorted(
        [
            ("pos", chain.names["foot_traffic"]),
            ("pos", chain.names["shelf_events"]),
            ("shelf", chain.names["foot_traffic"]),
        ]
    )
    assert {h["storesim.reason"] for _, _, h in dead} == {"undecodable"}
    assert {value for _, value, _ in dead} == {FOOT_GARBAGE, SHELF_GARBAGE}
    assert message_count(stack, chain.dlq) == 3


_FIRST_AT_AN_INSTANT = {"employee_logout": 0, "employee_login": 1}


def time_ordered(topic: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kafka keeps order per partition only; the invariant checks read a topic in time order, where a
    terminal's logout comes before the next shift's login at the same instant."""
    field = event_time_field(topic)

    def key(record: dict[str, Any]) -> tuple[int, int]:
        return epoch_seconds(record[field]), _FIRST_AT_AN_INSTANT.get(str(record.get("event_type")), 2)

    return sorted(records, key=key)


def test_a_paced_run_at_a_high_time_scale_is_the_embedded_run_and_keeps_every_invariant(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    """24 simulated hours at TIME_SCALE=14400 (six wall seconds); checkouts fire on the running clock."""
    expected = embedded(tmp_path / "embedded", "1,3", customers="150")
    paced = {**backfill("1,3", customers="150"), "CLOCK_MODE": "paced", "TIME_SCALE": "14400"}
    chain = Chain(stack, tmp_path, dataset, paced)
    got = run_chain(chain, expected)
    assert_same_events(chain, got, expected)
    streamed = Run(tmp_path, "avro", {topic: time_ordered(topic, records) for topic, records in got.items()})
    invariants.test_every_shelf_event_belongs_to_an_open_session(streamed)
    invariants.test_a_putback_never_returns_more_than_the_customer_holds(streamed)
    invariants.test_weight_change_is_the_item_weight_times_quantity(streamed, catalogue())
    invariants.test_register_sequence_carries_the_checkouts_ids_and_amounts(streamed)
    invariants.test_employees_log_in_before_they_sell_and_out_at_the_end(streamed)
    invariants.test_ledger_entries_are_the_checkout_lines(streamed)
    invariants.test_refunds_point_at_an_earlier_sale_of_the_same_store_and_customer(streamed)


def test_json_output_has_the_seeds_shapes(stack: dict[str, str], dataset: Path, tmp_path: Path) -> None:
    expected = simulate(
        tmp_path / "embedded",
        *("--store-ids", "2", "--start", START[:10], "--days", "1", "--seed", SEED),
        env=CUSTOMERS,
        fmt="json",
    )
    chain = Chain(stack, tmp_path, dataset, {**backfill("2"), "OUTPUT_FORMAT": "json"})
    total = sum(len(expected.records[t]) for t in TOPICS)
    try:
        chain.start_all()
        got = consume_raw(stack, [chain.names[t] for t in TOPICS], total, deadline_seconds=180)
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    logical = {name: topic for topic, name in chain.names.items()}
    for topic in TOPICS:
        have = Counter(value.decode() for name, value, _ in got if logical[name] == topic)
        want = Counter(json.dumps(r, ensure_ascii=False) for r in expected.records[topic])
        assert have == want, topic


def test_one_and_three_replicas_give_the_same_events(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    """Six stores; the second run has three foot-traffic, shelf, POS and answer-key replicas (and two of
    the rest), joining one after another, so stores and partitions move while the run goes on. Both
    runs' answer keys are the embedded run's (assert_same_events)."""
    expected = embedded(tmp_path / "embedded", "1,2,3,4,5,6")
    for name, replicas in (("one", {}), ("three", SCALED)):
        (tmp_path / name).mkdir()
        chain = Chain(stack, tmp_path / name, dataset, backfill("1,2,3,4,5,6"))
        assert_same_events(chain, run_chain(chain, expected, replicas), expected)


SCALED = {
    "foot-traffic": 3,
    "shelf": 3,
    "pos": 3,
    "redis-kafka-bridge": 2,
    "register": 2,
    "ledger": 2,
    "truth": 3,
}
