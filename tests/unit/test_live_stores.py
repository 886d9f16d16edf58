"""Stores that change while a service runs: STORES_FILE read again (LiveStores), the share of stores a
replica owns (StoreOwnership by store number), and the per-store day figures the Store status shows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import structlog
from confluent_kafka import TopicPartition

from storesim._keys import CustomerKey, customer_id
from storesim._time import epoch_day
from storesim.engines import FootTrafficEngine, LedgerEngine
from storesim.events import FOOT_TRAFFIC, TRANSACTIONS
from storesim.services._live_stores import LiveStores
from storesim.services.foot_traffic import _StoreFeed, store_events
from storesim.settings import FootTrafficSettings
from storesim.streaming import Progress, StoreOwnership
from storesim.world import StoreSpec, TrafficVolume, store, write_stores_file

LOG = structlog.get_logger()
DAY = date(2025, 3, 4)


def write(path: Path, *specs: dict[str, object]) -> None:
    path.write_text(write_stores_file(StoreSpec.model_validate(spec) for spec in specs))


def live(path: Path) -> LiveStores:
    return LiveStores(FootTrafficSettings.from_env(stores_file=str(path)), LOG)


def test_a_changed_file_says_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "stores.json"
    write(path, {"storeId": "STORE-001"}, {"storeId": "STORE-002"})
    stores = live(path)
    assert stores.numbers == (1, 2)
    assert stores.refresh(force=True) is None  # the same bytes
    write(path, {"storeId": "STORE-002", "dailyCustomers": 9}, {"storeId": "STORE-007"})
    change = stores.refresh(force=True)
    assert change is not None
    assert (change.added, change.removed, change.changed) == ({7}, {1}, {2})
    assert stores.numbers == (2, 7)
    assert stores[2].daily_customers == 9
    assert stores[1] == store(1)  # deleted: still known by number, for its events in flight
    assert 1 not in stores.numbers
    assert stores.refresh(force=True) is None


def test_an_invalid_file_keeps_the_stores(tmp_path: Path) -> None:
    path = tmp_path / "stores.json"
    write(path, {"storeId": "STORE-003"})
    stores = live(path)
    path.write_text('{"stores": [{"storeId": "STORE-003", "registers": 0}]}')
    assert stores.refresh(force=True) is None
    assert stores.rejected == 1
    assert stores.numbers == (3,)


def test_a_missing_file_is_no_store_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "stores.json"
    stores = live(path)
    assert not stores.declared
    assert stores.numbers == ()
    write(path, {"storeId": "STORE-004"})
    change = stores.refresh(force=True)
    assert stores.declared
    assert change is not None
    assert change.added == {4}
    assert change.appeared  # the run's own stores, from its start: not stores added just now
    write(path, {"storeId": "STORE-004"}, {"storeId": "STORE-005"})
    later = stores.refresh(force=True)
    assert later is not None
    assert later.added == {5}
    assert not later.appeared


def test_a_file_there_from_the_start_never_appears(tmp_path: Path) -> None:
    path = tmp_path / "stores.json"
    write(path, {"storeId": "STORE-001"})
    stores = live(path)
    write(path, {"storeId": "STORE-001"}, {"storeId": "STORE-002"})
    change = stores.refresh(force=True)
    assert change is not None
    assert not change.appeared


def test_a_store_declared_a_moment_ago_is_found_before_the_next_poll(tmp_path: Path) -> None:
    path = tmp_path / "stores.json"
    write(path, {"storeId": "STORE-001"})
    stores = live(path)
    write(path, {"storeId": "STORE-001"}, {"storeId": "STORE-009", "city": "Oslo"})
    assert stores[9].city == "Oslo"  # looked up: read again at once
    change = stores.refresh()  # and the service still hears of it
    assert change is not None
    assert change.added == {9}


def test_without_a_stores_file_the_stores_never_change() -> None:
    stores = LiveStores(FootTrafficSettings.from_env(store_ids="2,5"), LOG)
    assert stores.declared
    assert stores.numbers == (2, 5)
    assert stores.refresh(force=True) is None


def test_a_store_keeps_its_slot_when_others_come_and_go() -> None:
    shares: list[frozenset[int]] = []
    ownership = StoreOwnership(
        "127.0.0.1:9",
        "store-control",
        "unit",
        [1, 2, 3],
        on_revoke=lambda _gone: None,
        on_assign=shares.append,
    )
    try:
        ownership._slots = 4
        ownership._assigned(ownership.consumer, [TopicPartition("store-control", k) for k in (1, 3)])
        assert shares[-1] == {1, 3}
        ownership.set_stores([1, 3, 5, 6, 7])  # 5 falls in slot 1, 7 in slot 3, 6 in slot 2
        assert shares[-1] == {1, 3, 5, 7}
        assert ownership.progress_offsets({5: Progress(10), 1: Progress(20)})[0].partition == 1
        calls = len(shares)
        ownership.set_stores([1, 3, 5, 6, 7, 2])  # someone else's slot: no change here
        assert len(shares) == calls
        ownership.set_stores([3, 7])
        assert shares[-1] == {3, 7}
    finally:
        ownership.close()


def test_visits_today_count_what_the_feed_passed_on_the_day_of_now() -> None:
    shop = store(2)
    engine = FootTrafficEngine(11, TrafficVolume(baseline=80, variation=False))
    events = list(store_events(engine, shop, DAY, date(2025, 3, 6)))
    sessions = [e for e in events if e.topic == FOOT_TRAFFIC]
    day = epoch_day(DAY)
    noon = next(e.ts for e in sessions if e.ts > sessions[0].ts + 5 * 3600)
    feed = _StoreFeed(iter(events), skip_until=noon, count_from=-1)  # resumed at noon: all counted
    assert feed.visits_on(day) == sum(1 for e in sessions if e.ts <= noon)
    joined = _StoreFeed(iter(events), skip_until=noon, count_from=noon)  # declared at noon
    assert joined.visits_on(day) == 0
    sent = list(joined.due(noon + 3600))
    assert joined.visits_on(day) == sum(1 for e in sent if e.topic == FOOT_TRAFFIC) > 0
    assert joined.visits_on(day + 1) == 0


def test_revenue_today_is_the_sales_of_the_day_and_survives_a_snapshot() -> None:
    engine = LedgerEngine(5, 0.0)
    key = customer_id(5, CustomerKey(store=1, day=20000, seq=1))
    emitted = engine.on_checkout(
        {
            "customer_id": key,
            "transaction_id": "t1",
            "timestamp": 20000 * 86400 * 1000,
            "items": [{"item_id": "a", "total_price": 3.25}, {"item_id": "b", "total_price": 1.5}],
        }
    )
    assert [e.topic for e in emitted] == [TRANSACTIONS, TRANSACTIONS]
    assert engine.revenue_on(20000) == 4.75
    assert engine.revenue_on(20001) == 0.0
    again = LedgerEngine(5, 0.0)
    again.restore(engine.snapshot())
    assert again.revenue_on(20000) == 4.75
