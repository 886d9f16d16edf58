"""An embedded run covers the instants [start, end) of its UTC dates, as a streamed backfill covers
[SIM_START, SIM_END): nothing before the start, nothing at or after the end, and what would fall due
later (a register queue still being served at a heavy store, a refund) is counted, not written."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from storesim._time import epoch_day, local_day
from storesim.data import build_dataset
from storesim.embedded import SimulationPlan, Summary, simulate
from storesim.events import POS_EVENTS, POS_TRANSACTIONS, Record
from storesim.settings import (
    FootTrafficSettings,
    LedgerSettings,
    PosSettings,
    RegisterSettings,
    ShelfSettings,
)
from storesim.world import store, stores

DAY = date(2025, 3, 28)
START, END = epoch_day(DAY) * 86400, (epoch_day(DAY) + 1) * 86400
_TIME_FIELDS = ("timestamp", "entry_time", "time", "hour")


def run(numbers: list[int], customers: int) -> tuple[Summary, list[tuple[str, Record]]]:
    plan = SimulationPlan(
        stores=tuple(stores(numbers)),
        start=DAY,
        days=1,
        seed=11,
        foot=FootTrafficSettings(daily_customers=customers),
        shelf=ShelfSettings(),
        pos=PosSettings(),
        register=RegisterSettings(),
        ledger=LedgerSettings(),
    )
    written: list[tuple[str, Record]] = []
    summary = simulate(plan, build_dataset(DAY, DAY), lambda topic, _key, r: written.append((topic, r)))
    return summary, written


def when(record: Record) -> int:
    """An engine record's instant, in seconds (they carry epoch milliseconds)."""
    return int(next(record[f] for f in _TIME_FIELDS if f in record)) // 1000


@pytest.fixture(scope="module")
def heavy_day() -> tuple[Summary, list[tuple[str, Record]]]:
    """8,000 visits at store 1: its eight registers cannot serve them all before the day is over."""
    return run([1], 8000)


def test_a_heavy_day_stops_at_the_end_and_counts_what_would_come_later(
    heavy_day: tuple[Summary, list[tuple[str, Record]]],
) -> None:
    summary, written = heavy_day
    assert all(START <= when(r) < END for _, r in written)
    assert summary.after_end > 1000, "the queue at the registers outlasts the run"
    # The range is instants, not the store's local day: Riyadh's day ends at 21:00Z, the queue goes on.
    local_end = local_day(epoch_day(DAY), store(1).timezone).start + 86400
    late = [r for topic, r in written if topic == POS_EVENTS and when(r) >= local_end]
    assert late, "no register event after the store's local midnight"
    # Every checkout was made before the end; the register got to only some of them.
    paid = {
        r["transaction_id"] for t, r in written if t == POS_EVENTS and r["event_type"] == "payment_completed"
    }
    checkouts = {r["transaction_id"] for t, r in written if t == POS_TRANSACTIONS}
    assert paid < checkouts


def test_a_visit_before_the_start_is_not_simulated() -> None:
    """Tokyo opens at 07:00 local, 22:00Z the day before: those visits are outside the run, and so is
    everything they would cause."""
    summary, written = run([24], 200)
    assert all(START <= when(r) < END for _, r in written)
    sessions = [r for topic, r in written if topic == "foot_traffic"]
    assert summary.sessions == len(sessions)
    assert 0 < len(sessions) < 200
    customers = {r["customer_id"] for r in sessions}
    assert all(r["customer_id"] in customers for t, r in written if t in ("shelf_events", POS_TRANSACTIONS))
    # A visit that began before the start and ended after it: its exit is there, with nothing else.
    exits = Counter(r["event_type"] for t, r in written if t == "foot_traffic_realistic")
    assert exits["exit"] > exits["entry"]
