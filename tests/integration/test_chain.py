"""The whole chain of services on the real stack: what a schema-less consumer reads through the registry
is what the embedded mode writes, and the seeds' JSON with OUTPUT_FORMAT=json."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from storesim.events import TOPICS
from tests.conftest import Run, simulate
from tests.integration.chain import Chain
from tests.integration.helpers import STORESIM, base_env, consume, message_count

DATA_LOADER = str(Path(STORESIM).with_name("storesim-data-loader"))
START, END = "2025-03-28T00:00:00+00:00", "2025-03-29T00:00:00+00:00"
SEED = "11"
CUSTOMERS = {"BASE_DAILY_CUSTOMERS": "50"}


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


@pytest.fixture(scope="session")
def dataset(stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data loader's files, and its daily discounts in Postgres: what the chart's Job does."""
    import subprocess

    out = tmp_path_factory.mktemp("data")
    env = base_env(stack)
    for args in (
        ["build", "--out", str(out), "--from", "2025-03-01", "--to", "2025-04-30"],
        ["load-postgres", "--data", str(out)],
    ):
        result = subprocess.run([DATA_LOADER, *args], env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
    return out


def embedded(out: Path, stores: str) -> Run:
    return simulate(
        out, "--store-ids", stores, "--start", START[:10], "--days", "1", "--seed", SEED, env=CUSTOMERS
    )


def backfill(stores: str) -> dict[str, str]:
    return {
        "STORE_IDS": stores,
        "SEED": SEED,
        "SIM_START": START,
        "SIM_END": END,
        "CLOCK_MODE": "backfill",
        **CUSTOMERS,
    }


def consume_chain(chain: Chain, expected: Run) -> dict[str, list[dict[str, Any]]]:
    names = [chain.names[t] for t in TOPICS]
    total = sum(len(expected.records[t]) for t in TOPICS)
    got = consume(chain.stack, names, total, deadline_seconds=180)
    by_topic: dict[str, list[dict[str, Any]]] = {t: [] for t in TOPICS}
    logical = {name: topic for topic, name in chain.names.items()}
    for name, _, record in got:
        by_topic[logical[name]].append(record)
    return by_topic


def assert_same_events(chain: Chain, got: dict[str, list[dict[str, Any]]], expected: Run) -> None:
    for topic in TOPICS:
        want = Counter(map(canonical, expected.records[topic]))
        have = Counter(map(canonical, got[topic]))
        assert have == want, (
            f"{topic}: {sum((want - have).values())} missing, {sum((have - want).values())} extra"
        )
        assert message_count(chain.stack, chain.names[topic]) == len(expected.records[topic]), (
            f"{topic} duplicates"
        )
    assert message_count(chain.stack, chain.dlq) == 0


def test_a_streamed_backfill_is_the_embedded_run(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    expected = embedded(tmp_path / "embedded", "1,2")
    chain = Chain(stack, tmp_path, dataset, backfill("1,2"))
    try:
        chain.start_all()
        got = consume_chain(chain, expected)
        chain.wait_ready()
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    assert_same_events(chain, got, expected)
