"""What the chain tests compare against: the embedded run of the same seed, dates and stores, and the
checks that a chain produced exactly its events."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import storesim_dataloader as loader
from storesim.events import TOPICS
from tests.conftest import Run, simulate
from tests.integration.chain import Chain
from tests.integration.helpers import consume, message_count

T = TypeVar("T")


def catalogue() -> dict[str, dict[str, Any]]:
    return {row["shelf_id"]: row for row in loader.read_catalogue().to_pylist()}


START, END = "2025-03-28T00:00:00+00:00", "2025-03-29T00:00:00+00:00"
SEED = "11"
CUSTOMERS = {"BASE_DAILY_CUSTOMERS": "50"}


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


def embedded(
    out: Path, stores: str | Path, customers: str = CUSTOMERS["BASE_DAILY_CUSTOMERS"], seed: str = SEED
) -> Run:
    """The embedded run of STORE_IDS ``stores``, or of the stores file at ``stores``."""
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
    """Every topic's records, read until ``total`` messages (default: the embedded run's count)."""
    names = [chain.names[t] for t in TOPICS]
    total = total if total is not None else sum(len(expected.records[t]) for t in TOPICS)
    got = consume(chain.stack, names, total, deadline_seconds=180)
    by_topic: dict[str, list[dict[str, Any]]] = {t: [] for t in TOPICS}
    logical = {name: topic for topic, name in chain.names.items()}
    for name, _, record in got:
        by_topic[logical[name]].append(record)
    return by_topic


def assert_same_events(
    chain: Chain,
    got: dict[str, list[dict[str, Any]]],
    expected: Run,
    planted: dict[str, int] | None = None,
    at_least_once: frozenset[str] = frozenset(),
) -> None:
    """Record for record the embedded run's events, and no message more than it (besides ``planted``);
    topics in ``at_least_once`` may repeat a record but must not miss one."""
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
