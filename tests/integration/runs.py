"""What the chain tests compare against: the embedded run of the same seed, dates and stores, and the
checks that a chain produced exactly its events."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

import storesim_dataloader as loader
from storesim.events import TOPICS, TRUTH
from tests.answer_key import recompute, truth_by_store_hour
from tests.conftest import Run, plain, simulate
from tests.integration.chain import Chain
from tests.integration.helpers import consume, consume_messages, message_count

T = TypeVar("T")


def catalogue() -> dict[str, dict[str, Any]]:
    return {row["shelf_id"]: row for row in loader.read_catalogue().to_pylist()}


START, END = "2025-03-28T00:00:00+00:00", "2025-03-29T00:00:00+00:00"
SEED = "11"
CUSTOMERS = {"BASE_DAILY_CUSTOMERS": "50"}


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


def embedded(
    out: Path,
    stores: str | Path,
    customers: str = CUSTOMERS["BASE_DAILY_CUSTOMERS"],
    seed: str = SEED,
    *more: str,
) -> Run:
    """The embedded run of STORE_IDS ``stores``, or of the stores file at ``stores`` (``more``: further
    options of `storesim simulate`)."""
    return simulate(
        out,
        "--stores-file" if isinstance(stores, Path) else "--store-ids",
        str(stores),
        "--start",
        START[:10],
        "--days",
        "1",
        "--seed",
        seed,
        *more,
        env={"BASE_DAILY_CUSTOMERS": customers},
    )


def backfill(
    stores: str, customers: str = CUSTOMERS["BASE_DAILY_CUSTOMERS"], seed: str = SEED
) -> dict[str, str]:
    return {
        "STORE_IDS": stores,
        "SEED": seed,
        "SIM_START": START,
        "SIM_END": END,
        "CLOCK_MODE": "backfill",
        "BASE_DAILY_CUSTOMERS": customers,
    }


def consume_chain(chain: Chain, expected: Run, total: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every event topic's records, read until ``total`` messages (default: the embedded run's count),
    then, when the chain runs the truth workload, the answer key's records until the embedded run's count
    (they follow their hour's events: see services/truth.py)."""
    names = [chain.names[t] for t in TOPICS]
    total = total if total is not None else sum(len(expected.records[t]) for t in TOPICS)
    got = consume(chain.stack, names, total, deadline_seconds=180)
    by_topic: dict[str, list[dict[str, Any]]] = {t: [] for t in TOPICS}
    logical = {name: topic for topic, name in chain.names.items()}
    for name, _, record in got:
        by_topic[logical[name]].append(record)
    if chain.replicas.get("truth"):
        by_topic[TRUTH] = read_truth(chain, len(expected.records[TRUTH]))
    return by_topic


def read_truth(chain: Chain, count: int) -> list[dict[str, Any]]:
    """The chain's answer key, decoded through the registry; each message keyed by its store and stamped
    with its hour."""
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": chain.stack["SCHEMA_REGISTRY_URL"]}))
    records = []
    for message in consume_messages(chain.stack, [chain.names[TRUTH]], count, deadline_seconds=300):
        record = deserializer(message.value, SerializationContext(message.topic, MessageField.VALUE))
        assert message.key == record["store_id"].encode(), "the answer key is keyed by store"
        assert message.timestamp == round(record["hour"].timestamp() * 1000), "stamped with its hour"
        records.append(plain(record))
    return records


def assert_same_events(
    chain: Chain,
    got: dict[str, list[dict[str, Any]]],
    expected: Run,
    planted: dict[str, int] | None = None,
    at_least_once: frozenset[str] = frozenset(),
) -> None:
    """Record for record the embedded run's events, and no message more than it (besides ``planted``);
    topics in ``at_least_once`` may repeat a record but must not miss one. With the answer key read (see
    consume_chain), it is the embedded run's too, once each, and what the chain's own topics add up to."""
    if TRUTH in got:
        assert_truth(chain, got, expected)
    for topic in TOPICS:
        want = Counter(map(canonical, expected.records[topic]))
        have = Counter(map(canonical, got[topic]))
        missing, extra = sum((want - have).values()), sum((have - want).values())
        if topic in at_least_once:
            assert missing == 0, f"{topic}: {missing} missing"
            assert set(have) == set(want), f"{topic}: records the embedded run does not have"
            continue
        assert have == want, f"{topic}: {missing} missing, {extra} extra"
        count = message_count(chain.stack, chain.names[topic]) - (planted or {}).get(topic, 0)
        assert count == len(expected.records[topic]), f"{topic}: {count} messages, duplicates"


def assert_truth(chain: Chain, got: dict[str, list[dict[str, Any]]], expected: Run) -> None:
    """The streamed answer key is the embedded run's, once each, and what the chain's topics add up to."""
    want = Counter(map(canonical, expected.records[TRUTH]))
    have = Counter(map(canonical, got[TRUTH]))
    missing, extra = sum((want - have).values()), sum((have - want).values())
    if have != want:
        by_hour = {(r["store_id"], str(r["hour"])): r for r in expected.records[TRUTH]}
        wrong = sorted(
            f"{r['store_id']} {r['hour']} {name}: {value} (embedded {by_hour[key][name]})"
            for r in got[TRUTH]
            if (key := (r["store_id"], str(r["hour"]))) in by_hour
            for name, value in r.items()
            if value != by_hour[key][name]
        )
        raise AssertionError(f"answer key: {missing} missing, {extra} extra; {wrong[:6]}")
    count = message_count(chain.stack, chain.names[TRUTH])
    if count != len(expected.records[TRUTH]):
        every = Counter((r["store_id"], str(r["hour"])) for r in read_truth(chain, count))
        twice = sorted(key for key, seen in every.items() if seen > 1)
        raise AssertionError(f"answer key: {count} messages; sent more than once: {twice}")
    start, end = int(datetime.fromisoformat(START).timestamp()), chain.clock_end()
    assert truth_by_store_hour(got[TRUTH]) == recompute(got, start, end), "answer key: not the topics' sums"


def run_chain(chain: Chain, expected: Run, replicas: dict[str, int] | None = None) -> dict[str, list[Any]]:
    """Starts every service, reads until the expected count, stops them; each must exit 0 on SIGTERM."""
    return read_from_chain(chain, expected, consume_chain, replicas)


def read_from_chain(
    chain: Chain, expected: Run, read: Callable[[Chain, Run], T], replicas: dict[str, int] | None = None
) -> T:
    """Starts every service, ``read``s, stops them; each must exit 0 on SIGTERM."""
    try:
        chain.start_all(replicas)
        got = read(chain, expected)
        chain.wait_ready()
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    slowest = max(chain.services, key=lambda s: s.stopped_in)
    assert slowest.stopped_in < 10, f"{slowest.component} took {slowest.stopped_in:.1f} s to drain"
    return got
