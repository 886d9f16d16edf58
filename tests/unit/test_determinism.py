"""Same arguments, same bytes; and a run of stores A ∪ B is exactly the runs of A and of B together."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from storesim.events import TOPICS
from tests.conftest import simulate

ARGS = ("--start", "2025-11-03", "--days", "2", "--seed", "99")
ENV = {"BASE_DAILY_CUSTOMERS": "60"}


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


@pytest.mark.parametrize("fmt", ["avro", "json"])
def test_the_same_arguments_give_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    first = simulate(tmp_path / "a", "--stores", "3", *ARGS, env=ENV, fmt=fmt)
    second = simulate(tmp_path / "b", "--stores", "3", *ARGS, env=ENV, fmt=fmt)
    for topic in TOPICS:
        assert first.file(topic).read_bytes() == second.file(topic).read_bytes(), topic


def test_another_seed_gives_other_events(tmp_path: Path) -> None:
    first = simulate(tmp_path / "a", "--stores", "1", *ARGS, env=ENV)
    other = simulate(
        tmp_path / "b", "--stores", "1", "--start", "2025-11-03", "--days", "2", "--seed", "100", env=ENV
    )
    assert first.file("shelf_events").read_bytes() != other.file("shelf_events").read_bytes()


@pytest.mark.parametrize("fmt", ["avro", "json"])
def test_a_run_of_six_stores_is_the_union_of_two_runs_of_three(tmp_path: Path, fmt: str) -> None:
    whole = simulate(tmp_path / "all", "--store-ids", "1,2,3,4,5,6", *ARGS, env=ENV, fmt=fmt)
    low = simulate(tmp_path / "low", "--store-ids", "1,2,3", *ARGS, env=ENV, fmt=fmt)
    high = simulate(tmp_path / "high", "--store-ids", "4,5,6", *ARGS, env=ENV, fmt=fmt)
    for topic in TOPICS:
        union = Counter(map(canonical, low.records[topic])) + Counter(map(canonical, high.records[topic]))
        assert Counter(map(canonical, whole.records[topic])) == union, topic
        assert len(low.records[topic]) > 0 or topic == "refunds"


def test_store_order_in_the_argument_does_not_matter(tmp_path: Path) -> None:
    a = simulate(tmp_path / "a", "--store-ids", "5,2", *ARGS, env=ENV)
    b = simulate(tmp_path / "b", "--store-ids", "2,5", *ARGS, env=ENV)
    for topic in TOPICS:
        assert a.file(topic).read_bytes() == b.file(topic).read_bytes()


def test_a_day_is_the_same_whether_or_not_the_days_before_it_ran(tmp_path: Path) -> None:
    """Keys are per day: day 2 of a two-day run equals a run that starts on day 2 (refunds aside)."""
    both = simulate(tmp_path / "both", "--stores", "2", *ARGS, env=ENV)
    second = simulate(
        tmp_path / "second", "--stores", "2", "--start", "2025-11-04", "--days", "1", "--seed", "99", env=ENV
    )
    for topic in ("foot_traffic", "shelf_events", "pos_transactions", "transactions"):
        alone = [canonical(r) for r in second.records[topic]]
        wanted = set(alone)
        later = [text for text in map(canonical, both.records[topic]) if text in wanted]
        assert later == alone, topic
        assert later
