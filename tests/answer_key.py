"""The answer key recomputed from the event topics, as a careful pipeline would: the test of the key.

storesim counts its truth inside the engines; here the same figures are aggregated from what the
topics hold, by store and UTC hour, so a test can say they agree. Money is summed in whole cents.

Like a deduplicating pipeline, it counts each message once (a copy is the same record again) and reports
the copies; it finds the faults a scenario injects from the stream alone: a pickup or putback without its
weight_change (missed), a weight_change without one (phantom), units picked and kept but not paid for at
the visit's checkout (shrink; the value needs prices, which the topics do not carry, and is left out).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from storesim.engines import HOUR
from storesim.events import (
    FOOT_TRAFFIC,
    FOOT_TRAFFIC_REALISTIC,
    POS_EVENTS,
    POS_TRANSACTIONS,
    REFUNDS,
    SHELF_EVENTS,
    TRANSACTIONS,
)
from tests.conftest import epoch_seconds

COUNTS = (
    "visits_started",
    "visits_ended",
    "checkouts",
    "items_sold",
    "refunds",
    "open_carts",
    "duplicates_sent",
    "shrink_items",
    "missed_sensor_events",
    "phantom_sensor_events",
)
MONEY = ("revenue", "refund_amount", "net_revenue")


def _hour(value: Any) -> int:
    instant = epoch_seconds(value)
    return instant - instant % HOUR


def _cents(value: float) -> int:
    return round(value * 100)


def truth_by_store_hour(truth: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, int]]:
    """The answer key's records as (store, hour) → figures, money in cents; a key seen twice fails."""
    out: dict[tuple[str, int], dict[str, int]] = {}
    for record in truth:
        key = (record["store_id"], _hour(record["hour"]))
        assert key not in out, f"two answer-key records for {key}"
        figures = {name: record[name] for name in COUNTS}
        for money in MONEY:
            figures[money] = _cents(record[money])
        out[key] = figures
    return out


def _once(records: list[dict[str, Any]], out: dict[tuple[str, int], dict[str, int]], time: str) -> list[Any]:
    """The records with each copy dropped, the copies counted in the hour of their event time."""
    seen: Counter[str] = Counter()
    kept = []
    for r in records:
        canonical = json.dumps(r, sort_keys=True, default=str)
        seen[canonical] += 1
        if seen[canonical] > 1:
            out[r["store_id"], _hour(r[time])]["duplicates_sent"] += 1
        else:
            kept.append(r)
    return kept


def recompute(
    records: dict[str, list[dict[str, Any]]], start: int, end: int, max_session_age: int = 10800
) -> dict[tuple[str, int], dict[str, int]]:
    """Every store × hour of [start, end) with the figures the event topics add up to."""
    stores = {r["store_id"] for r in records[FOOT_TRAFFIC]}
    out = {
        (store, hour): dict.fromkeys((*COUNTS, *MONEY), 0)
        for store in stores
        for hour in range(start, end, HOUR)
    }
    visits: dict[str, list[tuple[int, int]]] = defaultdict(list)
    deadlines: dict[str, tuple[str, int]] = {}  # customer → (store, the instant of the visit's checkout)
    for r in records[FOOT_TRAFFIC]:
        out[r["store_id"], _hour(r["entry_time"])]["visits_started"] += 1
        entry = epoch_seconds(r["entry_time"])
        deadline = min(epoch_seconds(r["exit_time"]), entry + max_session_age)
        visits[r["store_id"]].append((entry, deadline))
        deadlines[r["customer_id"]] = (r["store_id"], deadline)
    for r in records[FOOT_TRAFFIC_REALISTIC]:
        if r["event_type"] == "exit":
            out[r["store_id"], _hour(r["time"])]["visits_ended"] += 1
    paid: Counter[str] = Counter()
    for r in _once(records[POS_TRANSACTIONS], out, "timestamp"):
        figures = out[r["store_id"], _hour(r["timestamp"])]
        figures["checkouts"] += 1
        figures["items_sold"] += sum(line["quantity"] for line in r["items"])
        paid[r["customer_id"]] += sum(line["quantity"] for line in r["items"])
    _once(records.get(POS_EVENTS, []), out, "timestamp")
    for r in _once(records[TRANSACTIONS], out, "timestamp"):
        out[r["store_id"], _hour(r["timestamp"])]["revenue"] += _cents(r["amount"])
    for r in records[REFUNDS]:
        figures = out[r["store_id"], _hour(r["timestamp"])]
        figures["refunds"] += 1
        figures["refund_amount"] += _cents(r["refund_amount"])
    _sensor_and_shrink(records.get(SHELF_EVENTS, []), deadlines, paid, out, end)
    for (store, hour), figures in out.items():
        figures["net_revenue"] = figures["revenue"] - figures["refund_amount"]
        close = hour + HOUR  # open at the hour's end: entered before it, checked out (or gone) at or after
        figures["open_carts"] = sum(1 for entry, leaves in visits[store] if entry < close <= leaves)
    return out


def _sensor_and_shrink(
    shelf: list[dict[str, Any]],
    deadlines: dict[str, tuple[str, int]],
    paid: Counter[str],
    out: dict[tuple[str, int], dict[str, int]],
    end: int,
) -> None:
    """Missed and phantom weight_changes (an action and its weight_change share customer, item and instant),
    and the units each visit kept at its checkout without paying."""
    actions: Counter[tuple[str, str, str, int]] = Counter()
    weights: Counter[tuple[str, str, str, int]] = Counter()
    kept: Counter[str] = Counter()
    for r in shelf:
        instant = epoch_seconds(r["timestamp"])
        key = (r["store_id"], r["customer_id"], r["item_id"], instant)
        if r["event_type"] == "weight_change":
            weights[key] += 1
            continue
        actions[key] += 1
        if instant <= deadlines[r["customer_id"]][1]:  # later: the cart was checked out already
            kept[r["customer_id"]] += r["quantity"] if r["event_type"] == "pickup" else -r["quantity"]
    for key in actions.keys() | weights.keys():
        store, instant = key[0], key[3]
        out[store, instant - instant % HOUR]["missed_sensor_events"] += max(0, actions[key] - weights[key])
        out[store, instant - instant % HOUR]["phantom_sensor_events"] += max(0, weights[key] - actions[key])
    for customer, units in kept.items():
        store, deadline = deadlines[customer]
        if deadline < end and units > paid[customer]:
            out[store, deadline - deadline % HOUR]["shrink_items"] += units - paid[customer]
