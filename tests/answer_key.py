"""The answer key recomputed from the event topics, as a careful pipeline would: the test of the key.

storesim counts its truth inside the engines; here the same figures are aggregated from what the
topics hold, by store and UTC hour, so a test can say they agree. Money is summed in whole cents.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from storesim.engines import HOUR
from storesim.events import FOOT_TRAFFIC, FOOT_TRAFFIC_REALISTIC, POS_TRANSACTIONS, REFUNDS, TRANSACTIONS
from tests.conftest import epoch_seconds

COUNTS = ("visits_started", "visits_ended", "checkouts", "items_sold", "refunds", "open_carts")


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
        for money in ("revenue", "refund_amount", "net_revenue"):
            figures[money] = _cents(record[money])
        out[key] = figures
    return out


def recompute(
    records: dict[str, list[dict[str, Any]]], start: int, end: int, max_session_age: int = 10800
) -> dict[tuple[str, int], dict[str, int]]:
    """Every store × hour of [start, end) with the figures the event topics add up to."""
    stores = {r["store_id"] for r in records[FOOT_TRAFFIC]}
    out = {
        (store, hour): dict.fromkeys((*COUNTS, "revenue", "refund_amount", "net_revenue"), 0)
        for store in stores
        for hour in range(start, end, HOUR)
    }
    visits: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in records[FOOT_TRAFFIC]:
        out[r["store_id"], _hour(r["entry_time"])]["visits_started"] += 1
        entry = epoch_seconds(r["entry_time"])
        visits[r["store_id"]].append((entry, min(epoch_seconds(r["exit_time"]), entry + max_session_age)))
    for r in records[FOOT_TRAFFIC_REALISTIC]:
        if r["event_type"] == "exit":
            out[r["store_id"], _hour(r["time"])]["visits_ended"] += 1
    for r in records[POS_TRANSACTIONS]:
        figures = out[r["store_id"], _hour(r["timestamp"])]
        figures["checkouts"] += 1
        figures["items_sold"] += sum(line["quantity"] for line in r["items"])
    for r in records[TRANSACTIONS]:
        out[r["store_id"], _hour(r["timestamp"])]["revenue"] += _cents(r["amount"])
    for r in records[REFUNDS]:
        figures = out[r["store_id"], _hour(r["timestamp"])]
        figures["refunds"] += 1
        figures["refund_amount"] += _cents(r["refund_amount"])
    for (store, hour), figures in out.items():
        figures["net_revenue"] = figures["revenue"] - figures["refund_amount"]
        close = hour + HOUR  # open at the hour's end: entered before it, checked out (or gone) at or after
        figures["open_carts"] = sum(1 for entry, leaves in visits[store] if entry < close <= leaves)
    return out
