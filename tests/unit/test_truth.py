"""The answer key of an embedded run: one record per store and UTC hour, equal to what the event topics
add up to, written after every event of its hour, and the same in JSON and Avro."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest

from storesim._keys import decode_customer_id
from storesim.data import build_dataset
from storesim.embedded import SimulationPlan, simulate
from storesim.engines import HOUR, TruthEngine
from storesim.events import POS_TRANSACTIONS, TRUTH, Record, event_time_field
from storesim.settings import (
    FootTrafficSettings,
    LedgerSettings,
    PosSettings,
    RegisterSettings,
    ShelfSettings,
)
from storesim.world import store_code, stores
from tests.answer_key import recompute, truth_by_store_hour
from tests.conftest import CHAIN_END, Run, epoch_seconds

CHAIN_START = CHAIN_END - 4 * 86400


def test_the_answer_key_equals_the_topics_aggregated_by_store_and_hour(chain_run: Run) -> None:
    truth = truth_by_store_hour(chain_run.records[TRUTH])
    expected = recompute(chain_run.records, CHAIN_START, CHAIN_END)
    assert set(truth) == set(expected), "one record per store and hour of the run, zeros included"
    assert len(truth) == 4 * 4 * 24
    for key in sorted(expected):
        assert truth[key] == expected[key], key
    totals = Counter[str]()
    for figures in truth.values():
        totals.update(figures)
    assert totals["checkouts"] == len(chain_run.records[POS_TRANSACTIONS]) > 0
    assert totals["refunds"] > 0
    assert totals["open_carts"] > 0, "some hours end with customers in the store"
    assert totals["visits_started"] >= totals["checkouts"], "a visit checks out once at most"


def test_revenue_is_the_checkouts_line_totals_and_the_ledgers_lines(chain_run: Run) -> None:
    by_hour: Counter[tuple[str, int]] = Counter()
    for record in chain_run.records[POS_TRANSACTIONS]:
        instant = epoch_seconds(record["timestamp"])
        cents = sum(round(line["total_price"] * 100) for line in record["items"])
        by_hour[record["store_id"], instant - instant % HOUR] += cents
    truth = truth_by_store_hour(chain_run.records[TRUTH])
    assert {k: v["revenue"] for k, v in truth.items() if v["revenue"]} == dict(by_hour)


def test_json_and_avro_answer_keys_agree(chain_run: Run, chain_run_json: Run) -> None:
    assert truth_by_store_hour(chain_run_json.records[TRUTH]) == truth_by_store_hour(chain_run.records[TRUTH])


def run_written(numbers: list[int], days: int = 1) -> list[tuple[str, Record]]:
    plan = SimulationPlan(
        stores=tuple(stores(numbers)),
        start=date(2025, 11, 3),
        days=days,
        seed=3,
        foot=FootTrafficSettings(daily_customers=80),
        shelf=ShelfSettings(),
        pos=PosSettings(),
        register=RegisterSettings(),
        ledger=LedgerSettings(refund_probability=0.3),
    )
    written: list[tuple[str, Record]] = []
    simulate(plan, build_dataset(plan.start, plan.start), lambda topic, _key, r: written.append((topic, r)))
    return written


def instant(topic: str, record: dict[str, Any]) -> int:
    """When an engine record happened; an answer-key record stands at its hour's last second."""
    at = int(record[event_time_field(topic)]) // 1000
    return at + HOUR - 1 if topic == TRUTH else at


def test_an_hours_record_follows_every_event_of_the_hour_and_precedes_the_next_hours() -> None:
    written = run_written([2, 9])
    seen_truth: set[tuple[str, int]] = set()
    for topic, record in written:
        at = instant(topic, record)
        if topic == TRUTH:
            seen_truth.add((record["store_id"], at - at % HOUR))
            continue
        store = record.get("store_id") or store_code(decode_customer_id(record["customer_id"]).store)
        assert (store, at - at % HOUR) not in seen_truth, f"a {topic} event after its hour's answer key"
    assert len(seen_truth) == 2 * 24


def test_a_closed_hour_cannot_change() -> None:
    truth = TruthEngine("STORE-001", 0, 2 * HOUR)
    truth.close(truth.open_carts(lambda _t: 0, HOUR))
    with pytest.raises(RuntimeError, match="already closed"):
        truth.visit(10, 20)


def test_a_window_inside_hours_gives_partial_hours_keyed_by_their_start() -> None:
    """A streamed run may start at 10:30 and end at 12:15: three hours, the outer two partial."""
    start, end = 10 * HOUR + 1800, 12 * HOUR + 900
    truth = TruthEngine("STORE-001", start, end)
    truth.visit(start - 1, start + 10)  # entered before the window: only its exit happened in the run
    truth.visit(end - 5, end + 5)  # left after it: only its entry did
    assert not truth.close(truth.open_carts(lambda _t: 0, 11 * HOUR - 1))
    hours = truth.close(truth.open_carts(lambda _t: 0, end))
    assert [h.record["hour"] // 1000 for h in hours] == [10 * HOUR, 11 * HOUR, 12 * HOUR]
    assert [h.ts for h in hours] == [11 * HOUR - 1, 12 * HOUR - 1, end - 1]
    assert [(h.record["visits_started"], h.record["visits_ended"]) for h in hours] == [(0, 1), (0, 0), (1, 0)]


def test_a_store_that_joined_late_counts_only_what_came_after_it_joined() -> None:
    """Declared at 10:00 in a streamed run: foot-traffic sends nothing of it at or before that instant,
    so a visit that entered before counts only its exit; the earlier hours are zeros, not missing."""
    truth = TruthEngine("STORE-001", 0, 12 * HOUR, since=10 * HOUR)
    truth.visit(10 * HOUR - 60, 10 * HOUR + 60)
    truth.visit(10 * HOUR + 5, 11 * HOUR + 5)
    hours = truth.close(truth.open_carts(lambda _t: 0, 12 * HOUR))
    assert len(hours) == 12
    figures = [(h.record["visits_started"], h.record["visits_ended"]) for h in hours]
    assert figures == [(0, 0)] * 10 + [(1, 1), (0, 1)]
