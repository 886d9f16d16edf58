"""The engines on their own: POS, shelf, register, ledger, the stand-alone modes and the keys.

Most tests drive the engines directly with hand-made or engine-made inputs; a few run the CLI
in-process (``simulate``) where a whole simulated day is the simplest way to exercise a setting.
Expected values are recomputed here (Decimal money, zoneinfo clocks) rather than taken from storesim.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storesim._keys import (
    MAX_STORE,
    CustomerKey,
    customer_id,
    decode_customer_id,
    keyed_rng,
    ledger_transaction_id,
)
from storesim._time import LocalDay, epoch_day, local_day
from storesim.data import Dataset, build_dataset
from storesim.engines import (
    REFUND_REASONS,
    SAMPLE_ITEMS,
    SEED_PRODUCTS,
    SEED_STORES,
    FootTrafficEngine,
    LedgerEngine,
    PosEngine,
    PosInputError,
    RegisterEngine,
    Session,
    ShelfEngine,
    standalone_ledger,
    standalone_register,
)
from storesim.events import Emitted, Record
from storesim.world import PAYMENT_METHODS, DayPricing, Store, TrafficVolume, employee_id, shifts, store
from tests.conftest import Run, epoch_seconds, simulate

SEED = 20251107
FIRST_DATE, LAST_DATE = date(2025, 3, 1), date(2025, 4, 30)
DAY = date(2025, 3, 10)  # a Monday
FOREVER = 1 << 62
CENT = Decimal("0.01")


# --------------------------------------------------------------------------------------------------
# helpers


@cache
def dataset() -> Dataset:
    return build_dataset(FIRST_DATE, LAST_DATE)


@cache
def pricing(day: date) -> DayPricing:
    return DayPricing(dataset().catalogue, dataset().discounts, day)


def item_ids() -> list[str]:
    return [item.shelf_id for item in dataset().catalogue.items]


def pos_engine(**options: Any) -> PosEngine:
    return PosEngine(dataset().catalogue, pricing, **options)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def dec(value: float) -> Decimal:
    return Decimal(str(value))


def cid(store_no: int, seq: int, day: date = DAY, seed: int = SEED) -> str:
    return customer_id(seed, CustomerKey(store_no, epoch_day(day), seq))


def local(store_no: int, day: date = DAY) -> LocalDay:
    return local_day(epoch_day(day), store(store_no).timezone)


def at(store_no: int, hour: int, minute: int = 0, day: date = DAY) -> int:
    """UTC seconds of a local wall-clock time at the store (checked against zoneinfo)."""
    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(store(store_no).timezone))
    ts = int(wall.timestamp())
    assert local(store_no, day).at(hour * 3600 + minute * 60) == ts
    return ts


def discounted_items(day: date = DAY) -> list[str]:
    found = sorted(shelf_id for shelf_id, pct in pricing(day).discount_pct.items() if pct > 0)
    assert found, f"no discounted item on {day}"
    return found


def undiscounted_items(day: date = DAY) -> list[str]:
    pct = pricing(day).discount_pct
    return [shelf_id for shelf_id in item_ids() if pct.get(shelf_id, 0) == 0]


def make_tx(store_no: int, seq: int, ts: int, lines: dict[str, int], day: date = DAY) -> Record:
    """A pos_transaction made by a fresh PosEngine: a session ending at ``ts`` that picked ``lines``."""
    pos = pos_engine(force_checkout_if_empty=True)
    customer = cid(store_no, seq, day)
    pos.open_session(customer, ts - 600, ts)
    for item_id, quantity in lines.items():
        pos.apply_shelf(customer, "pickup", item_id, quantity, ts - 300)
    [checkout] = pos.due(ts)
    return checkout.record


def line_map(record: Record) -> dict[str, int]:
    lines = {line["item_id"]: line["quantity"] for line in record["items"]}
    assert len(lines) == len(record["items"]), "an item appears on two lines"
    return lines


@cache
def day_checkouts(store_no: int, day: date, customers: int, putback: float = 0.3) -> tuple[Record, ...]:
    """A store-day's pos_transactions, in checkout order, made by the foot-traffic, shelf and POS engines."""
    shop = store(store_no)
    volume = TrafficVolume(baseline=customers, fixed_daily=customers)
    sessions = FootTrafficEngine(SEED, volume).sessions(shop, local(store_no, day))
    assert len(sessions) == customers
    shelf = ShelfEngine(SEED, putback)
    pos = pos_engine()
    for session in sessions:
        pos.open_session(session.customer_id, session.entry, session.exit)
        for action in shelf.actions(session, pricing(day)):
            record = action.record
            pos.apply_shelf(
                session.customer_id,
                record["event_type"],
                record["item_id"],
                record["quantity"] or 0,
                action.ts,
            )
    return tuple(checkout.record for checkout in pos.due(FOREVER))


def expected_amounts(tx: Record, tax_rate_bp: int) -> tuple[Decimal, Decimal, Decimal]:
    subtotal = sum((dec(line["total_price"]) for line in tx["items"]), Decimal(0))
    tax = money(subtotal * tax_rate_bp / 10000)
    return subtotal, tax, subtotal + tax


def local_time(ts: int, timezone: str) -> datetime:
    return datetime.fromtimestamp(ts, ZoneInfo(timezone))


# --------------------------------------------------------------------------------------------------
# POS engine


def test_pos_checkout_fires_at_exit_with_the_net_lines() -> None:
    pos = pos_engine()
    customer = cid(1, 0)
    entry = at(1, 10)
    exit_time = entry + 30 * 60
    item, other = undiscounted_items()[:2]
    pos.open_session(customer, entry, exit_time)
    assert pos.open_carts == 1
    pos.apply_shelf(customer, "pickup", item, 3, entry + 60)
    pos.apply_shelf(customer, "weight_change", item, 0, entry + 60)
    pos.apply_shelf(customer, "pickup", other, 1, entry + 70)
    pos.apply_shelf(customer, "putback", item, 1, entry + 80)
    pos.apply_shelf(customer, "putback", other, 1, entry + 90)

    assert pos.due(entry) == []
    assert pos.due(exit_time - 1) == []
    assert pos.open_carts == 1

    [checkout] = pos.due(exit_time)
    assert checkout.ts == exit_time
    assert checkout.topic == "pos_transactions"
    assert checkout.key == customer
    record = checkout.record
    assert record["event_type"] == "pos_transaction"
    assert record["customer_id"] == customer
    assert record["timestamp"] == exit_time * 1000
    assert record["store_id"] == "STORE-001"
    assert line_map(record) == {item: 2}
    assert pos.open_carts == 0
    assert pos.due(FOREVER) == []
    assert pos.empty_sessions == 0


def test_pos_empty_cart_has_no_checkout_by_default() -> None:
    pos = pos_engine()
    entry = at(1, 11)
    item = item_ids()[0]
    untouched, emptied = cid(1, 0), cid(1, 1)
    pos.open_session(untouched, entry, entry + 600)
    pos.open_session(emptied, entry, entry + 900)
    pos.apply_shelf(emptied, "pickup", item, 2, entry + 60)
    pos.apply_shelf(emptied, "putback", item, 2, entry + 61)
    assert pos.due(FOREVER) == []
    assert pos.empty_sessions == 2
    assert pos.open_carts == 0


def test_pos_empty_cart_is_checked_out_when_forced() -> None:
    pos = pos_engine(force_checkout_if_empty=True)
    entry = at(1, 11)
    customer = cid(1, 7)
    pos.open_session(customer, entry, entry + 600)
    [checkout] = pos.due(entry + 600)
    assert checkout.ts == entry + 600
    assert checkout.record["items"] == []
    assert checkout.record["customer_id"] == customer
    assert pos.empty_sessions == 0
    assert pos.open_carts == 0


def test_pos_janitor_checks_out_stale_sessions_at_max_age() -> None:
    pos = pos_engine(max_session_age=600)
    customer = cid(1, 3)
    entry = at(1, 9, 15)
    exit_time = entry + 30 * 60
    item = item_ids()[5]
    pos.open_session(customer, entry, exit_time)
    pos.apply_shelf(customer, "pickup", item, 1, entry + 60)
    assert pos.due(entry + 599) == []
    [checkout] = pos.due(entry + 600)
    assert checkout.ts == entry + 600
    assert checkout.record["timestamp"] == (entry + 600) * 1000
    assert line_map(checkout.record) == {item: 1}
    assert pos.open_carts == 0
    with pytest.raises(PosInputError) as caught:
        pos.apply_shelf(customer, "pickup", item, 1, entry + 700)
    assert caught.value.reason == "unknown-customer"
    assert pos.due(exit_time) == []


def test_pos_short_session_is_checked_out_at_exit_despite_max_age() -> None:
    pos = pos_engine(max_session_age=600)
    customer = cid(1, 4)
    entry = at(1, 9, 15)
    pos.open_session(customer, entry, entry + 300)
    pos.apply_shelf(customer, "pickup", item_ids()[1], 1, entry + 60)
    [checkout] = pos.due(entry + 600)
    assert checkout.ts == entry + 300


def _reason(call: Any, *args: Any) -> str:
    with pytest.raises(PosInputError) as caught:
        call(*args)
    assert isinstance(caught.value, ValueError)
    return caught.value.reason


def test_pos_rejects_inputs_it_cannot_apply() -> None:
    pos = pos_engine()
    customer = cid(1, 10)
    entry = at(1, 12)
    item, other = item_ids()[:2]
    pos.open_session(customer, entry, entry + 1200)
    pos.apply_shelf(customer, "pickup", item, 2, entry + 60)
    t = entry + 120

    assert _reason(pos.apply_shelf, cid(1, 11), "pickup", item, 1, t) == "unknown-customer"
    assert _reason(pos.apply_shelf, customer, "pickup", "NO-SUCH-SHELF", 1, t) == "unknown-item"
    assert _reason(pos.apply_shelf, customer, "putback", item, 3, t) == "putback-exceeds-cart"
    assert _reason(pos.apply_shelf, customer, "putback", other, 1, t) == "putback-exceeds-cart"
    assert _reason(pos.apply_shelf, customer, "pickup", item, 0, t) == "bad-quantity"
    assert _reason(pos.apply_shelf, customer, "putback", item, -1, t) == "bad-quantity"
    assert _reason(pos.open_session, customer, entry + 5, entry + 60) == "duplicate-session"

    # a weight_change only needs an open visit: the scale's reading changes no cart, whatever it carries
    pos.apply_shelf(customer, "weight_change", item, 0, t)
    pos.apply_shelf(customer, "weight_change", "NO-SUCH-SHELF", 0, t)
    assert _reason(pos.apply_shelf, cid(1, 12), "weight_change", item, 0, t) == "unknown-customer"

    # none of the rejected events changed the cart, and the duplicate did not move the deadline
    assert pos.open_carts == 1
    assert pos.due(entry + 1199) == []
    [checkout] = pos.due(entry + 1200)
    assert line_map(checkout.record) == {item: 2}


def test_pos_line_totals_round_half_up_with_and_without_discounts() -> None:
    catalogue = dataset().catalogue.by_id
    discount_pct = pricing(DAY).discount_pct
    with_discount = discounted_items()[:12]
    without_discount = undiscounted_items()[:12]
    quantities = (1, 2, 3, 7)
    lines = {
        shelf_id: quantities[n % len(quantities)]
        for n, shelf_id in enumerate(with_discount + without_discount)
    }
    record = make_tx(1, 20, at(1, 14), lines)
    assert line_map(record) == lines
    seen_discounts = set()
    for line in record["items"]:
        item = catalogue[line["item_id"]]
        unit = Decimal(item.price_cents) / 100
        discount = Decimal(discount_pct.get(item.shelf_id, 0)) / 100
        seen_discounts.add(discount > 0)
        assert dec(line["unit_price"]) == unit
        assert dec(line["discount"]) == discount
        expected = money(line["quantity"] * unit * (1 - discount))
        assert dec(line["total_price"]) == expected, line
    assert seen_discounts == {True, False}


def test_pos_prices_a_late_checkout_with_the_visit_days_discounts() -> None:
    """A New York checkout at 23:00 local is on the next UTC day; the visit's local day prices it."""
    today, tomorrow = pricing(DAY).discount_pct, pricing(DAY + timedelta(days=1)).discount_pct
    changing = sorted(i for i in today if today[i] != tomorrow.get(i, 0))
    assert changing
    ts = at(16, 23)
    assert datetime.fromtimestamp(ts, ZoneInfo("UTC")).date() == DAY + timedelta(days=1)
    record = make_tx(16, 5, ts, dict.fromkeys(changing, 1))
    for line in record["items"]:
        assert dec(line["discount"]) == Decimal(today[line["item_id"]]) / 100


def test_pos_checkouts_come_out_in_deadline_order() -> None:
    pos = pos_engine(max_session_age=1800)
    base = at(1, 15)
    # (entry, exit): deadlines are min(exit, entry + 1800)
    visits = [
        (base, base + 2400),
        (base + 100, base + 700),
        (base - 500, base + 400),
        (base + 50, base + 900),
    ]
    item = item_ids()[3]
    for seq, (entry, exit_time) in enumerate(visits):
        pos.open_session(cid(1, seq), entry, exit_time)
        pos.apply_shelf(cid(1, seq), "pickup", item, 1, entry + 10)
    checkouts = pos.due(base + 10_000)
    deadlines = {cid(1, seq): min(exit_time, entry + 1800) for seq, (entry, exit_time) in enumerate(visits)}
    assert [c.ts for c in checkouts] == sorted(deadlines.values())
    assert {c.key: c.ts for c in checkouts} == deadlines
    assert pos.open_carts == 0


def test_pos_transaction_id_is_deterministic_per_customer() -> None:
    item = item_ids()[0]
    first = make_tx(2, 40, at(2, 10), {item: 1})
    again = make_tx(2, 40, at(2, 10), {item: 4})
    other = make_tx(2, 41, at(2, 10), {item: 1})
    elsewhere = make_tx(3, 40, at(3, 10), {item: 1})
    assert first["transaction_id"] == again["transaction_id"]
    ids = {first["transaction_id"], other["transaction_id"], elsewhere["transaction_id"]}
    assert len(ids) == 3
    for tx in (first, other, elsewhere):
        assert str(uuid.UUID(tx["transaction_id"])) == tx["transaction_id"]
        assert tx["transaction_id"] != tx["customer_id"]


POOL = ("A01", "A02", "B17", "C14", "D20", "H05")


@settings(max_examples=150, deadline=None, database=None)
@given(st.data())
def test_pos_lines_are_the_net_held_quantities(data: st.DataObject) -> None:
    pos = pos_engine(force_checkout_if_empty=True)
    customer = cid(4, data.draw(st.integers(0, 2**24 - 1), label="seq"))
    entry = at(4, 10)
    pos.open_session(customer, entry, entry + 3600)
    held: Counter[str] = Counter()
    for _ in range(data.draw(st.integers(0, 40), label="actions")):
        if held and data.draw(st.booleans(), label="putback"):
            item = data.draw(st.sampled_from(sorted(held)))
            quantity = data.draw(st.integers(1, held[item]))
            pos.apply_shelf(customer, "putback", item, quantity, entry + 60)
            held[item] -= quantity
            if not held[item]:
                del held[item]
        else:
            item = data.draw(st.sampled_from(POOL))
            quantity = data.draw(st.integers(1, 5))
            pos.apply_shelf(customer, "pickup", item, quantity, entry + 60)
            held[item] += quantity
    [checkout] = pos.due(entry + 3600)
    lines = line_map(checkout.record)
    assert all(quantity > 0 for quantity in lines.values())
    assert lines == dict(held)


@settings(max_examples=300, deadline=None, database=None)
@given(st.data())
def test_pos_checkout_does_not_depend_on_the_order_of_events_within_a_second(data: st.DataObject) -> None:
    """A shelf that senses a putback and a pickup in the same second may deliver them in either order:
    the embedded run applies them as the shelf made them, the streamed POS pickups first. The checkout
    must be the same byte for byte (issue: a putback and re-pickup of one item in one second moved its
    line, and with it the ledger ids and register events)."""
    customer, entry = cid(4, 77), at(4, 10)
    held: Counter[str] = Counter()
    made: list[tuple[int, str, str, int]] = []  # as the shelf makes them: valid in this order
    ts = entry + 60
    for _ in range(data.draw(st.integers(1, 30), label="actions")):
        ts += data.draw(st.sampled_from((0, 0, 0, 1, 2)), label="gap")  # most actions share a second
        held = +held  # the items still held
        if held and data.draw(st.booleans(), label="putback"):
            item = data.draw(st.sampled_from(sorted(held)))
            quantity = data.draw(st.integers(1, held[item]))
            held[item] -= quantity
            made.append((ts, "putback", item, quantity))
        else:
            item = data.draw(st.sampled_from(POOL))
            quantity = data.draw(st.integers(1, 3))
            held[item] += quantity
            made.append((ts, "pickup", item, quantity))
    # Another valid order: within each second all pickups (shuffled), then all putbacks (shuffled).
    seconds = sorted({event[0] for event in made})
    reordered = []
    for second in seconds:
        for kind in ("pickup", "putback"):
            group = [e for e in made if e[0] == second and e[1] == kind]
            reordered += data.draw(st.permutations(group), label=f"{kind}s at {second}")

    def checkout(events: list[tuple[int, str, str, int]]) -> Record:
        pos = pos_engine(force_checkout_if_empty=True)
        pos.open_session(customer, entry, entry + 3600)
        for when, kind, item, quantity in events:
            pos.apply_shelf(customer, kind, item, quantity, when)
        [done] = pos.due(entry + 3600)
        return done.record

    assert checkout(reordered) == checkout(made)


def test_pos_lines_follow_the_first_pickup_of_each_item() -> None:
    """Put back entirely and picked up again, an item keeps its place on the receipt."""
    pos = pos_engine()
    customer, entry = cid(4, 78), at(4, 11)
    a, b = POOL[5], POOL[0]  # b sorts first by id: the order is by time, ids only break a tie
    pos.open_session(customer, entry, entry + 900)
    pos.apply_shelf(customer, "pickup", a, 1, entry + 60)
    pos.apply_shelf(customer, "pickup", b, 2, entry + 90)
    pos.apply_shelf(customer, "putback", a, 1, entry + 120)
    pos.apply_shelf(customer, "pickup", a, 1, entry + 120)
    pos.apply_shelf(customer, "pickup", POOL[2], 1, entry + 90)
    [done] = pos.due(entry + 900)
    assert [line["item_id"] for line in done.record["items"]] == [a, b, POOL[2]]


def _sessions_and_checkouts(run: Run) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    sessions = {s["customer_id"]: s for s in run.records["foot_traffic"]}
    assert len(sessions) == len(run.records["foot_traffic"])
    counts = Counter(tx["customer_id"] for tx in run.records["pos_transactions"])
    assert counts == Counter(dict.fromkeys(sessions, 1)), "a session without exactly one pos_transaction"
    checkouts = {tx["customer_id"]: tx for tx in run.records["pos_transactions"]}
    return sessions, checkouts


ONE_DAY = ("--store-ids", "1", "--start", DAY.isoformat(), "--days", "1", "--seed", str(SEED))


def test_simulated_forced_checkouts_give_every_session_one_transaction(tmp_path: Path) -> None:
    env = {"FORCE_CHECKOUT_IF_EMPTY": "1", "PUTBACK_PROB": "0.9", "BASE_DAILY_CUSTOMERS": "80"}
    run = simulate(tmp_path, *ONE_DAY, env=env)
    sessions, checkouts = _sessions_and_checkouts(run)
    assert len(sessions) > 50
    assert any(not tx["items"] for tx in checkouts.values()), "PUTBACK_PROB=0.9 left no cart empty"
    assert any(tx["items"] for tx in checkouts.values())
    for customer, tx in checkouts.items():
        assert epoch_seconds(tx["timestamp"]) == epoch_seconds(sessions[customer]["exit_time"])


def test_simulated_max_session_age_moves_checkouts_to_entry_plus_age(tmp_path: Path) -> None:
    env = {"FORCE_CHECKOUT_IF_EMPTY": "1", "MAX_SESSION_AGE_SEC": "300", "BASE_DAILY_CUSTOMERS": "80"}
    run = simulate(tmp_path, *ONE_DAY, env=env)
    sessions, checkouts = _sessions_and_checkouts(run)
    assert len(sessions) > 50
    for customer, tx in checkouts.items():
        session = sessions[customer]
        entry, exit_time = epoch_seconds(session["entry_time"]), epoch_seconds(session["exit_time"])
        assert epoch_seconds(tx["timestamp"]) == min(exit_time, entry + 300)
    # the cart holds what was picked up to the checkout; later shelf events find no cart
    held: dict[str, Counter[str]] = {customer: Counter() for customer in sessions}
    for event in run.records["shelf_events"]:
        customer = event["customer_id"]
        if event["event_type"] == "weight_change":
            continue
        if epoch_seconds(event["timestamp"]) <= epoch_seconds(checkouts[customer]["timestamp"]):
            sign = 1 if event["event_type"] == "pickup" else -1
            held[customer][event["item_id"]] += sign * event["quantity"]
    for customer, tx in checkouts.items():
        assert line_map(tx) == {k: v for k, v in held[customer].items() if v}, customer


# --------------------------------------------------------------------------------------------------
# shelf engine


def _check_actions(session: Session, events: list[Emitted], putback_prob: float) -> None:
    catalogue = dataset().catalogue.by_id
    assert len(events) % 2 == 0
    actions = events[0::2]
    assert 3 <= len(actions) <= 30
    times = [event.ts for event in events]
    assert times == sorted(times)
    assert session.entry + 60 <= times[0]
    assert times[-1] <= session.exit - 30
    held: Counter[str] = Counter()
    for action, change in zip(events[0::2], events[1::2], strict=True):
        a, w = action.record, change.record
        for event in (action, change):
            assert event.topic == "shelf_events"
            assert event.key == session.customer_id
            assert event.record["customer_id"] == session.customer_id
            assert event.record["store_id"] == session.store.store_id
            assert event.record["timestamp"] == event.ts * 1000
        assert change.ts == action.ts
        assert w["event_type"] == "weight_change"
        assert w["item_id"] == a["item_id"]
        assert w["weight"] is None
        assert w["quantity"] is None
        assert a["delta_weight"] is None
        item = catalogue[a["item_id"]]
        assert a["weight"] == item.weight
        quantity = a["quantity"]
        assert quantity >= 1
        if a["event_type"] == "pickup":
            held[a["item_id"]] += quantity
            assert w["delta_weight"] == pytest.approx(-item.weight * quantity, abs=6e-4)
        else:
            assert a["event_type"] == "putback"
            assert putback_prob > 0
            assert quantity <= held[a["item_id"]], "putback of more than is held"
            held[a["item_id"]] -= quantity
            assert w["delta_weight"] == pytest.approx(item.weight * quantity, abs=6e-4)
        if held[a["item_id"]] == 0:
            del held[a["item_id"]]


@settings(max_examples=200, deadline=None, database=None)
@given(
    seed=st.integers(0, 2**64),
    putback_prob=st.floats(0, 1),
    store_no=st.integers(1, 60),
    day_offset=st.integers(0, (LAST_DATE - FIRST_DATE).days),
    second=st.integers(0, 86399),
    minutes=st.integers(4, 90),
    seq=st.integers(0, 2**24 - 1),
)
def test_shelf_actions_are_well_formed(
    seed: int, putback_prob: float, store_no: int, day_offset: int, second: int, minutes: int, seq: int
) -> None:
    day_date = FIRST_DATE + timedelta(days=day_offset)
    shop = store(store_no)
    day = local(store_no, day_date)
    key = CustomerKey(store_no, day.number, seq)
    entry = day.at(second)
    session = Session(customer_id(seed, key), key, shop, day, entry, entry + minutes * 60, minutes, "any")
    engine = ShelfEngine(seed, putback_prob)
    events = engine.actions(session, pricing(day_date))
    _check_actions(session, events, putback_prob)
    assert ShelfEngine(seed, putback_prob).actions(session, pricing(day_date)) == events
    if putback_prob == 1:
        # a putback whenever something is held: the hand is never holding two items at once
        held: Counter[str] = Counter()
        for action in events[0::2]:
            record = action.record
            assert record["event_type"] == ("putback" if held else "pickup")
            held[record["item_id"]] += record["quantity"] * (1 if record["event_type"] == "pickup" else -1)
            held = +held


def test_shelf_actions_of_foot_traffic_sessions() -> None:
    for store_no, putback_prob in ((1, 0.0), (7, 0.35), (16, 0.9)):
        engine = FootTrafficEngine(SEED, TrafficVolume(baseline=120))
        sessions = engine.sessions(store(store_no), local(store_no))
        assert sessions
        shelf = ShelfEngine(SEED, putback_prob)
        kinds: Counter[str] = Counter()
        for session in sessions:
            events = shelf.actions(session, pricing(DAY))
            _check_actions(session, events, putback_prob)
            kinds.update(e.record["event_type"] for e in events)
        assert kinds["pickup"] > 0
        assert (kinds["putback"] > 0) == (putback_prob > 0)


# --------------------------------------------------------------------------------------------------
# register engine


def _types(events: Iterable[Emitted]) -> list[str]:
    return [event.record["event_type"] for event in events]


def _check_checkout_sequence(shop: Store, tx: Record, events: list[Emitted]) -> None:
    """The basket_started … payment_completed part of one checkout's events."""
    n = len(tx["items"])
    assert _types(events) == [
        "basket_started",
        "customer_identified",
        *["item_added"] * n,
        "subtotal_calculated",
        "payment_completed",
    ]
    times = [e.ts for e in events]
    assert times == sorted(set(times)), "a checkout's steps are not strictly in time order"
    assert events[0].ts >= tx["timestamp"] // 1000
    customer = tx["customer_id"]
    basket = events[0].record["basket_id"]
    assert str(uuid.UUID(basket)) == basket
    for event in events:
        assert event.topic == "pos_events"
        assert event.key == customer
        assert event.record["store_id"] == shop.store_id
        assert event.record["timestamp"] == event.ts * 1000
        assert event.record["basket_id"] == basket
    assert events[1].record["customer_id"] == customer
    for line, added in zip(tx["items"], events[2 : 2 + n], strict=True):
        record = added.record
        assert record["item_id"] == line["item_id"]
        assert record["quantity"] == line["quantity"]
        assert record["price"] == line["unit_price"]
        assert record["discount"] == line["discount"]
        assert record["total_price"] == line["total_price"]
    subtotal, tax, amount = expected_amounts(tx, shop.tax_rate_bp)
    assert dec(events[-2].record["subtotal"]) == subtotal
    assert dec(events[-2].record["tax"]) == tax
    payment = events[-1].record
    assert dec(payment["amount"]) == amount
    assert payment["transaction_id"] == tx["transaction_id"]
    assert payment["payment_method"] in PAYMENT_METHODS


def _split_checkout(events: list[Emitted]) -> tuple[list[Emitted], list[Emitted]]:
    """(logouts and login before the basket, the basket's events)."""
    start = _types(events).index("basket_started")
    return events[:start], events[start:]


def test_register_first_checkout_logs_in_then_runs_the_basket() -> None:
    shop = store(1)
    register = RegisterEngine(SEED, shop)
    ts = at(1, 10)
    item, discounted = undiscounted_items()[0], discounted_items()[0]
    tx = make_tx(1, 0, ts, {item: 2, discounted: 1})
    events = register.on_checkout(tx)
    before, basket = _split_checkout(events)
    assert _types(before) == ["employee_login"]
    login = before[0]
    assert login.ts == ts
    assert login.key == "T-001-01"
    assert login.record["terminal_id"] == "T-001-01"
    assert login.record["employee_id"] == employee_id(shop, 0, 0) == "EMP-001-01"
    assert login.record["store_id"] == "STORE-001"
    assert basket[0].ts > login.ts
    assert basket[0].record["employee_id"] == login.record["employee_id"]
    _check_checkout_sequence(shop, tx, basket)


def test_register_second_checkout_takes_another_free_terminal() -> None:
    shop = store(1)
    register = RegisterEngine(SEED, shop)
    ts = at(1, 10)
    item = item_ids()[0]
    first = register.on_checkout(make_tx(1, 0, ts, {item: 1}))
    second = register.on_checkout(make_tx(1, 1, ts + 1, {item: 1}))
    assert _types(second)[0] == "employee_login"
    assert second[0].ts == ts + 1
    assert first[0].record["terminal_id"] == "T-001-01"
    assert second[0].record["terminal_id"] == "T-001-02"
    assert second[1].record["employee_id"] == "EMP-001-02"


def test_register_queues_when_every_terminal_is_busy() -> None:
    shop = store(7)  # three registers
    assert shop.registers == 3
    register = RegisterEngine(SEED, shop)
    ts = at(7, 10)
    items = item_ids()
    outputs = [register.on_checkout(make_tx(7, n, ts, {items[n]: n + 1})) for n in range(3)]
    payments = {}
    for n, events in enumerate(outputs):
        before, basket = _split_checkout(events)
        assert _types(before) == ["employee_login"]
        assert before[0].ts == ts
        assert before[0].record["terminal_id"] == f"T-007-0{n + 1}"
        payments[before[0].record["employee_id"]] = basket[-1].ts
    first_free = min(payments, key=lambda e: (payments[e], e))
    queued = register.on_checkout(make_tx(7, 3, ts, {items[3]: 1}))
    assert _types(queued)[0] == "basket_started"
    assert queued[0].record["employee_id"] == first_free
    assert payments[first_free] < queued[0].ts <= payments[first_free] + 60


def test_register_logs_out_at_shift_end() -> None:
    shop = store(1)
    early, late = shifts(shop)
    day = local(1)
    register = RegisterEngine(SEED, shop)
    item = item_ids()[0]
    register.on_checkout(make_tx(1, 0, at(1, 10), {item: 1}))
    register.on_checkout(make_tx(1, 1, at(1, 10), {item: 1}))
    assert register.due(day.at(early.end) - 1) == []
    logouts = register.due(day.at(early.end) + 3600)
    assert _types(logouts) == ["employee_logout", "employee_logout"]
    assert {(e.record["terminal_id"], e.record["employee_id"]) for e in logouts} == {
        ("T-001-01", "EMP-001-01"),
        ("T-001-02", "EMP-001-02"),
    }
    for event in logouts:
        assert event.ts == day.at(early.end)
        assert event.key == event.record["terminal_id"]
    assert register.due(FOREVER) == []
    assert early.end == late.start


def test_register_queued_checkout_at_shift_change_gets_the_late_employee() -> None:
    """A checkout that waits for a terminal past the shift end: the early employee finishes the basket
    in hand, logs out when it is paid, and the late employee logs in for the waiting customer."""
    shop = store(7)
    early = shifts(shop)[0]
    day = local(7)
    register = RegisterEngine(SEED, shop)
    items = item_ids()
    shift_end = day.at(early.end)
    busy: dict[str, int] = {}
    for n in range(3):
        events = register.on_checkout(
            make_tx(7, n, shift_end - 10, dict.fromkeys(items[10 * n : 10 * n + 8], 1))
        )
        assert events[0].record["event_type"] == "employee_login"
        assert events[-1].ts > shift_end
        busy[events[0].record["terminal_id"]] = events[-1].ts
    terminal = min(busy, key=lambda t: (busy[t], t))
    index = int(terminal[-2:]) - 1
    events = register.on_checkout(make_tx(7, 3, shift_end, {items[40]: 1}))
    before, basket = _split_checkout(events)
    assert _types(before) == ["employee_logout", "employee_login"]
    logout, login = before
    assert logout.record["terminal_id"] == login.record["terminal_id"] == terminal
    assert logout.record["employee_id"] == employee_id(shop, 0, index)
    assert login.record["employee_id"] == employee_id(shop, 1, index)
    assert busy[terminal] < logout.ts <= busy[terminal] + 60
    assert login.ts == logout.ts
    assert basket[0].record["employee_id"] == login.record["employee_id"]
    assert basket[0].ts > login.ts


def test_register_late_shift_checkout_replaces_the_early_employee() -> None:
    shop = store(7)
    early, late = shifts(shop)
    day = local(7)
    register = RegisterEngine(SEED, shop)
    items = item_ids()
    payments: dict[str, int] = {}
    for n in range(3):
        events = register.on_checkout(make_tx(7, n, at(7, 10), {items[n]: 1}))
        payments[events[0].record["terminal_id"]] = events[-1].ts
    late_ts = at(7, 16)
    assert day.local_seconds(late_ts) >= late.start
    events = register.on_checkout(make_tx(7, 3, late_ts, {items[3]: 2}))
    before, basket = _split_checkout(events)
    assert _types(before) == ["employee_logout"] * 3 + ["employee_login"]
    assert {e.record["employee_id"] for e in before[:3]} == {employee_id(shop, 0, t) for t in range(3)}
    for logout in before[:3]:
        assert logout.ts == day.at(early.end)
    login = before[3]
    terminal = min(payments, key=lambda t: (payments[t], t))
    index = int(terminal[-2:]) - 1
    assert login.record["terminal_id"] == terminal
    assert login.record["employee_id"] == employee_id(shop, 1, index)
    assert login.ts == late_ts
    assert basket[0].record["employee_id"] == login.record["employee_id"]
    [logout] = register.due(FOREVER)
    assert logout.record["employee_id"] == login.record["employee_id"]
    assert logout.ts == day.at(late.end)


@settings(max_examples=150, deadline=None, database=None)
@given(
    store_no=st.sampled_from([1, 4, 5, 7, 10, 13, 16, 22]),
    lines=st.dictionaries(st.sampled_from(item_ids()), st.integers(1, 6), min_size=0, max_size=8),
)
def test_register_amounts_follow_the_lines(store_no: int, lines: dict[str, int]) -> None:
    shop = store(store_no)
    tx = make_tx(store_no, 9, at(store_no, 12), lines)
    events = RegisterEngine(SEED, shop).on_checkout(tx)
    subtotal = sum((dec(line["total_price"]) for line in tx["items"]), Decimal(0))
    tax = money(subtotal * shop.tax_rate_bp / 10000)
    totals = events[-2].record
    assert dec(totals["subtotal"]) == subtotal
    assert dec(totals["tax"]) == tax
    assert dec(events[-1].record["amount"]) == subtotal + tax
    if shop.tax_rate_bp == 0:
        assert dec(totals["tax"]) == 0


def test_register_doha_has_no_tax() -> None:
    shop = store(5)
    assert shop.city == "Doha"
    assert shop.tax_rate_bp == 0
    register = RegisterEngine(SEED, shop)
    for tx in day_checkouts(5, DAY, 60):
        events = register.on_checkout(tx)
        assert dec(events[-2].record["tax"]) == 0
        assert dec(events[-1].record["amount"]) == dec(events[-2].record["subtotal"])


@pytest.mark.parametrize(("store_no", "customers"), [(7, 1500), (1, 600), (16, 400)])
def test_register_over_a_busy_day(store_no: int, customers: int) -> None:
    """Every checkout of a simulated day through one store's registers: one basket per terminal at a
    time, the free terminal first, logins by the shift's employee and logouts at the shift's end."""
    shop = store(store_no)
    day = local(store_no)
    day_shifts = shifts(shop)
    staff = {employee_id(shop, s.index, t): (s, t) for s in day_shifts for t in range(shop.registers)}
    register = RegisterEngine(SEED, shop)
    logged_in: dict[int, str | None] = dict.fromkeys(range(shop.registers))
    last_payment: dict[int, int | None] = dict.fromkeys(range(shop.registers))
    queued = 0

    def apply_logout(event: Emitted) -> None:
        shift, terminal = staff[event.record["employee_id"]]
        assert event.record["terminal_id"] == f"T-{store_no:03d}-{terminal + 1:02d}"
        assert logged_in[terminal] == event.record["employee_id"]
        paid = last_payment[terminal]
        assert paid is not None
        assert event.ts >= max(day.at(shift.end), paid)
        if paid + 60 < day.at(shift.end):
            assert event.ts == day.at(shift.end)
        logged_in[terminal] = None

    checkouts = day_checkouts(store_no, DAY, customers)
    for tx in checkouts:
        checkout_ts = tx["timestamp"] // 1000
        expected_terminal = min(
            range(shop.registers), key=lambda t: (-1 if last_payment[t] is None else last_payment[t], t)
        )
        events = register.on_checkout(tx)
        before, basket = _split_checkout(events)
        start = before.pop() if before and before[-1].record["event_type"] == "employee_login" else None
        for logout in before:
            assert logout.record["event_type"] == "employee_logout"
            apply_logout(logout)
        employee = basket[0].record["employee_id"]
        shift, terminal = staff[employee]
        assert terminal == expected_terminal
        if start is None:
            assert logged_in[terminal] == employee
            begin = basket[0].ts
            assert begin < day.at(shift.end), "a basket started after its employee's shift ended"
        else:
            assert start.record["event_type"] == "employee_login"
            assert logged_in[terminal] is None
            assert start.record["employee_id"] == employee
            assert start.record["terminal_id"] == f"T-{store_no:03d}-{terminal + 1:02d}"
            local_start = day.local_seconds(start.ts)
            expected_shift = next((s for s in day_shifts if local_start < s.end), day_shifts[-1])
            assert shift == expected_shift
            logged_in[terminal] = employee
            begin = start.ts
        paid = last_payment[terminal]
        if paid is None or paid + 60 < checkout_ts:
            assert begin == checkout_ts
        elif paid >= checkout_ts:
            queued += 1
            assert paid < begin <= paid + 60
        else:
            assert begin >= checkout_ts
        _check_checkout_sequence(shop, tx, basket)
        last_payment[terminal] = basket[-1].ts
    for logout in register.due(FOREVER):
        apply_logout(logout)
    assert all(employee is None for employee in logged_in.values())
    if store_no == 7:
        assert queued > 0, "a busy day at three registers never queued"


# --------------------------------------------------------------------------------------------------
# ledger engine


LEDGER_DAYS = ((1, DAY), (7, date(2025, 3, 29)), (16, date(2025, 3, 8)), (22, date(2025, 4, 25)))


def _ledger_checkouts() -> list[Record]:
    return [tx for store_no, day in LEDGER_DAYS for tx in day_checkouts(store_no, day, 250)]


def test_ledger_without_refund_probability_never_refunds() -> None:
    engine = LedgerEngine(SEED, 0.0)
    lines = 0
    for tx in _ledger_checkouts():
        lines += len(engine.on_checkout(tx))
        assert engine.pending_refunds == 0
    assert lines > 1000
    assert engine.due(FOREVER) == []


def test_ledger_refunds_wait_for_their_time() -> None:
    for tx in _ledger_checkouts()[:200:7]:
        if not tx["items"]:
            continue
        engine = LedgerEngine(SEED, 1.0)
        engine.on_checkout(tx)
        sale = tx["timestamp"] // 1000
        assert engine.pending_refunds == len(tx["items"])
        assert engine.due(sale) == []
        assert engine.due(sale + 14 * 60) == []
        released = engine.due(FOREVER)
        assert len(released) == len(tx["items"])
        assert engine.pending_refunds == 0


def test_ledger_transactions_and_refunds_of_every_line() -> None:
    engine = LedgerEngine(SEED, 1.0)
    sales: dict[int, tuple[Record, Record]] = {}  # ledger transaction id -> (transaction, its pos checkout)
    for tx in _ledger_checkouts():
        key = decode_customer_id(tx["customer_id"])
        out = engine.on_checkout(tx)
        assert len(out) == len(tx["items"])
        for line_no, (event, line) in enumerate(zip(out, tx["items"], strict=True)):
            record = event.record
            tid = record["transaction_id"]
            assert event.topic == "transactions"
            assert event.ts == tx["timestamp"] // 1000
            assert record["timestamp"] == tx["timestamp"]
            assert tid == ledger_transaction_id(key, line_no)
            assert tid >> 7 == ((key.store << 16 | key.day) << 24) | key.seq
            assert tid & 0x7F == line_no
            assert record["product_id"] == line["item_id"]
            assert record["amount"] == line["total_price"]
            assert record["customer_id"] == tx["customer_id"]
            assert record["store_id"] == f"STORE-{key.store:03d}" == tx["store_id"]
            assert record["pos_transaction_id"] == tx["transaction_id"]
            assert tid not in sales, "a ledger transaction id is used twice"
            sales[tid] = (record, tx)
    assert engine.pending_refunds == len(sales)

    # released hour by hour, each refund exactly once and only once its time has come
    first = min(tx["timestamp"] // 1000 for _, tx in sales.values())
    last = max(tx["timestamp"] // 1000 for _, tx in sales.values())
    refunds: list[Emitted] = []
    previous, clock = 0, first
    while engine.pending_refunds:
        released = engine.due(clock)
        assert all(previous < r.ts <= clock for r in released)
        assert [r.ts for r in released] == sorted(r.ts for r in released)
        refunds.extend(released)
        previous, clock = clock, clock + 3600
        assert clock < last + 5 * 86400, "a refund more than four days after the last sale"
    assert engine.due(FOREVER) == []

    assert Counter(r.record["original_transaction_id"] for r in refunds) == Counter(dict.fromkeys(sales, 1))
    full = partial = 0
    for event in refunds:
        refund = event.record
        sale_record, tx = sales[refund["original_transaction_id"]]
        shop = store(decode_customer_id(tx["customer_id"]).store)
        assert event.topic == "refunds"
        assert refund["event_type"] == "refund"
        assert refund["refund_id"] == refund["original_transaction_id"] == sale_record["transaction_id"]
        for name in ("product_id", "store_id", "customer_id"):
            assert refund[name] == sale_record[name]
        assert refund["reason"] in REFUND_REASONS
        amount, refunded = dec(sale_record["amount"]), dec(refund["refund_amount"])
        assert 0 < refunded <= amount
        assert refunded == money(refunded)
        full, partial = full + (refunded == amount), partial + (refunded < amount)
        sale = tx["timestamp"] // 1000
        assert refund["timestamp"] == event.ts * 1000
        assert event.ts > sale
        when, sold = local_time(event.ts, shop.timezone), local_time(sale, shop.timezone)
        seconds = when.hour * 3600 + when.minute * 60 + when.second
        assert shop.opens <= seconds < shop.closes, (shop.store_id, when)
        assert sold.date() == date(1970, 1, 1) + timedelta(days=decode_customer_id(tx["customer_id"]).day)
        assert 0 <= (when.date() - sold.date()).days <= 3, (sold, when)
    assert full > 0
    assert partial > 0


def test_ledger_refund_share_follows_the_probability() -> None:
    probability = 0.3
    engine = LedgerEngine(SEED, probability)
    lines = sum(len(engine.on_checkout(tx)) for tx in _ledger_checkouts())
    refunds = engine.pending_refunds
    sigma = math.sqrt(lines * probability * (1 - probability))
    assert abs(refunds - lines * probability) <= 4.5 * sigma, (refunds, lines)


# --------------------------------------------------------------------------------------------------
# stand-alone modes

SAMPLE_PRICES = {"milk": 3.99, "bread": 2.49, "eggs": 4.99, "beer": 8.99, "wine": 15.99}
PRODUCT_PRICES = {
    "LAPTOP-001": 1299.99,
    "PHONE-001": 899.99,
    "MONITOR-001": 349.99,
    "HEADPHONES-001": 199.99,
    "KEYBOARD-001": 89.99,
    "MOUSE-001": 39.99,
}
LEDGER_STORES = {"STORE-001", "STORE-002", "STORE-003"}
CUSTOMER = re.compile(r"CUST-\d{4}")


def test_standalone_samples_are_the_seeds() -> None:
    assert dict(SAMPLE_ITEMS) == SAMPLE_PRICES
    assert dict(SEED_PRODUCTS) == PRODUCT_PRICES
    assert set(SEED_STORES) == LEDGER_STORES


def _register_sequences(records: Sequence[dict[str, Any]], times: Sequence[int]) -> list[int]:
    """Checks the seed's grammar over a stream of register records; returns each sequence's time."""
    starts = []
    n = 0
    while n < len(records):
        assert records[n]["event_type"] == "employee_login", n
        end = n + 1
        while records[end]["event_type"] != "employee_logout":
            end += 1
        sequence, when = records[n : end + 1], times[n : end + 1]
        kinds = [r["event_type"] for r in sequence]
        items = kinds.count("item_added")
        assert 2 <= items <= 4, kinds
        assert kinds == [
            "employee_login",
            "basket_started",
            "customer_identified",
            *["item_added"] * items,
            "subtotal_calculated",
            "payment_completed",
            "employee_logout",
        ]
        assert len(set(when)) == 1
        login, basket, customer, *added, totals, payment, logout = sequence
        assert logout["employee_id"] == login["employee_id"] == basket["employee_id"]
        assert logout["terminal_id"] == login["terminal_id"]
        assert re.fullmatch(r"EMP-\d{3}", login["employee_id"])
        assert re.fullmatch(r"T-\d{2}", login["terminal_id"])
        basket_id = basket["basket_id"]
        assert all(r["basket_id"] == basket_id for r in (customer, *added, totals, payment))
        assert str(uuid.UUID(customer["customer_id"])) == customer["customer_id"]
        subtotal = Decimal(0)
        assert len({r["item_id"] for r in added}) == items
        for record in added:
            assert record["item_id"] in SAMPLE_PRICES
            assert record["price"] == SAMPLE_PRICES[record["item_id"]]
            assert record["quantity"] >= 1
            subtotal += record["quantity"] * dec(record["price"])
        assert dec(totals["subtotal"]) == subtotal
        assert dec(totals["tax"]) >= 0
        assert dec(payment["amount"]) == subtotal + dec(totals["tax"])
        assert payment["payment_method"] in PAYMENT_METHODS
        starts.append(when[0])
        n = end + 1
    return starts


@pytest.mark.parametrize("delay", [60.0, 7.5, 3600.0, 7.0])
def test_standalone_register_sequences(delay: float) -> None:
    start = epoch_day(DAY) * 86400
    events = list(standalone_register(SEED, start, start + 86400, delay))
    assert all(e.topic == "pos_events" for e in events)
    for event in events:
        assert event.record["timestamp"] == event.ts * 1000
    starts = _register_sequences([e.record for e in events], [e.ts for e in events])
    assert len(starts) == math.ceil(86400 / delay)
    assert starts == [start + int(n * delay) for n in range(len(starts))]
    assert list(standalone_register(SEED, start, start + 86400, delay)) == events
    assert list(standalone_register(SEED + 1, start, start + 86400, delay)) != events


def test_standalone_register_over_two_days() -> None:
    start = epoch_day(DAY) * 86400
    events = list(standalone_register(SEED, start, start + 2 * 86400, 120))
    starts = _register_sequences([e.record for e in events], [e.ts for e in events])
    assert len(starts) == 2 * 720


def _check_ledger(
    records: Sequence[tuple[str, dict[str, Any]]], interval: float, days: int, probability: float
) -> None:
    sales: dict[int, tuple[int, dict[str, Any]]] = {}
    refunded: set[int] = set()
    times: list[int] = []
    refunds = 0
    for topic, record in records:
        stamp = record["timestamp"]  # millis from an engine, a datetime from an Avro file
        ts = stamp // 1000 if isinstance(stamp, int) else epoch_seconds(stamp)
        if topic == "transactions":
            assert record["product_id"] in PRODUCT_PRICES
            assert record["amount"] == PRODUCT_PRICES[record["product_id"]]
            assert record["store_id"] in LEDGER_STORES
            assert CUSTOMER.fullmatch(record["customer_id"])
            assert record["transaction_id"] not in sales, "a transaction id is used twice"
            sales[record["transaction_id"]] = (ts, record)
            times.append(ts)
            continue
        assert topic == "refunds"
        refunds += 1
        original = record["original_transaction_id"]
        assert original in sales, "a refund of an unknown transaction"
        assert original not in refunded, "a transaction refunded twice"
        refunded.add(original)
        sold_at, sale = sales[original]
        assert sold_at < ts
        for name in ("product_id", "store_id", "customer_id"):
            assert record[name] == sale[name]
        assert 0 < dec(record["refund_amount"]) <= dec(sale["amount"])
        assert record["reason"] in REFUND_REASONS
    assert len(times) == days * math.ceil(86400 / interval)
    assert times == sorted(times)
    per_day = len(times) // days
    for d in range(days):
        day_times = times[d * per_day : (d + 1) * per_day]
        assert day_times == [day_times[0] + int(n * interval) for n in range(per_day)]
    eligible = len(times) - days  # each UTC day's first sale has nothing earlier to refund
    sigma = math.sqrt(eligible * probability * (1 - probability))
    assert abs(refunds - eligible * probability) <= 4.5 * sigma, (refunds, eligible)


@pytest.mark.parametrize("probability", [0.0, 0.1, 0.5, 1.0])
def test_standalone_ledger(probability: float) -> None:
    start = epoch_day(DAY) * 86400
    events = list(standalone_ledger(SEED, start, start + 2 * 86400, 30, probability))
    assert {e.topic for e in events} <= {"transactions", "refunds"}
    for event in events:
        assert event.record["timestamp"] == event.ts * 1000
        assert event.record["event_type"] == ("refund" if event.topic == "refunds" else "transaction")
    _check_ledger([(e.topic, e.record) for e in events], 30, 2, probability)


@pytest.fixture(scope="module")
def standalone_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    env = {
        "REGISTER_MODE": "standalone",
        "DELAY_BETWEEN_SEQUENCES": "60",
        "LEDGER_MODE": "standalone",
        "PRODUCER_SLEEP_SECONDS": "30",
        "BASE_DAILY_CUSTOMERS": "80",
    }
    return simulate(tmp_path_factory.mktemp("standalone"), *ONE_DAY, env=env)


def test_simulated_standalone_register(standalone_run: Run) -> None:
    records = standalone_run.records["pos_events"]
    times = [epoch_seconds(r["timestamp"]) for r in records]
    assert times == sorted(times)
    starts = _register_sequences(records, times)
    assert len(starts) == 86400 // 60
    day_start = epoch_day(DAY) * 86400
    assert starts == [day_start + 60 * n for n in range(1440)]
    # no coherent checkouts leak in: every basket is one of the sample items'
    assert {r["item_id"] for r in records if r["event_type"] == "item_added"} <= set(SAMPLE_PRICES)


def test_simulated_standalone_ledger(standalone_run: Run) -> None:
    transactions = standalone_run.records["transactions"]
    refunds = standalone_run.records["refunds"]
    merged = sorted(
        [("transactions", r) for r in transactions] + [("refunds", r) for r in refunds],
        key=lambda pair: (epoch_seconds(pair[1]["timestamp"]), pair[0] == "refunds"),
    )
    assert len(transactions) == 86400 // 30
    _check_ledger(merged, 30, 1, 0.1)
    # the coherent chain still ran beside it
    assert standalone_run.records["pos_transactions"]


# --------------------------------------------------------------------------------------------------
# keys

EDGE_KEYS = [
    CustomerKey(1, 0, 0),
    CustomerKey(MAX_STORE, 65535, 2**24 - 1),
    CustomerKey(1, 65535, 2**24 - 1),
    CustomerKey(MAX_STORE, 0, 0),
    CustomerKey(1, 0, 2**24 - 1),
    CustomerKey(MAX_STORE, 65535, 0),
]


@pytest.mark.parametrize("key", EDGE_KEYS)
def test_customer_id_round_trips_at_the_edges(key: CustomerKey) -> None:
    for seed in (0, 1, SEED, 2**64 - 1):
        value = customer_id(seed, key)
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 8
        assert parsed.variant == uuid.RFC_4122
        assert decode_customer_id(value) == key
        assert customer_id(seed, key) == value
    assert customer_id(SEED, key) != customer_id(SEED + 1, key)


@settings(max_examples=300, deadline=None, database=None)
@given(
    seed=st.integers(0, 2**64),
    key=st.builds(CustomerKey, st.integers(1, MAX_STORE), st.integers(0, 65535), st.integers(0, 2**24 - 1)),
    other=st.builds(CustomerKey, st.integers(1, MAX_STORE), st.integers(0, 65535), st.integers(0, 2**24 - 1)),
)
def test_customer_id_round_trips(seed: int, key: CustomerKey, other: CustomerKey) -> None:
    value = customer_id(seed, key)
    assert uuid.UUID(value).version == 8
    assert decode_customer_id(value) == key
    assert customer_id(seed + 1, key) != value
    if other != key:
        assert customer_id(seed, other) != value


@pytest.mark.parametrize(
    "key",
    [
        CustomerKey(0, 0, 0),
        CustomerKey(MAX_STORE + 1, 0, 0),
        CustomerKey(-1, 0, 0),
        CustomerKey(1, -1, 0),
        CustomerKey(1, 65536, 0),
        CustomerKey(1, 0, -1),
        CustomerKey(1, 0, 2**24),
    ],
)
def test_customer_id_rejects_out_of_range_keys(key: CustomerKey) -> None:
    with pytest.raises(ValueError, match="out of range"):
        customer_id(SEED, key)


def test_decode_rejects_foreign_ids() -> None:
    with pytest.raises(ValueError, match="not a storesim customer id"):
        decode_customer_id(str(uuid.UUID(int=random.Random(1).getrandbits(128), version=4)))


def test_ledger_transaction_id_line_range() -> None:
    key = CustomerKey(3, 20000, 77)
    ids = {ledger_transaction_id(key, line) for line in range(128)}
    assert len(ids) == 128
    for line in (-1, 128):
        with pytest.raises(ValueError, match="out of range"):
            ledger_transaction_id(key, line)


def _stream(rng: random.Random) -> list[int]:
    return [rng.getrandbits(64) for _ in range(4)]


RNG_KEY = st.tuples(
    st.integers(0, 2**64),
    st.integers(0, MAX_STORE),
    st.integers(0, 65535),
    st.sampled_from(["foot-traffic", "shelf", "register", "ledger", "ledger-standalone"]),
    st.one_of(st.just(""), st.integers(0, 2**24)),
)


@settings(max_examples=300, deadline=None, database=None)
@given(key=RNG_KEY, other=RNG_KEY)
def test_keyed_rng_streams_belong_to_their_key(
    key: tuple[int, int, int, str, int | str], other: tuple[int, int, int, str, int | str]
) -> None:
    stream = _stream(keyed_rng(*key))
    assert _stream(keyed_rng(*key)) == stream
    if other != key:
        assert _stream(keyed_rng(*other)) != stream
    for part in range(5):
        changed = list(key)
        value = changed[part]
        changed[part] = value + "x" if isinstance(value, str) else value + 1
        assert _stream(keyed_rng(*changed)) != stream, part
