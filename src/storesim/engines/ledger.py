"""The ledger engine: a sales-ledger transaction per checkout line, and some refunds, later.

Refunds are drawn when the sale is booked (from the visit's own generator, so a replay draws the same)
and held as pending until their simulated time comes; ``due(now)`` releases them.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import Any

from storesim._keys import CustomerKey, decode_customer_id, keyed_rng, ledger_transaction_id
from storesim._time import local_day
from storesim.events._topics import REFUNDS, TRANSACTIONS, Emitted, Record
from storesim.world import Store, store

__all__ = ["REFUND_REASONS", "LedgerEngine"]

COMPONENT = "ledger"
REFUND_REASONS = ("defective", "wrong_item", "not_as_described", "changed_mind", "damaged_shipping")
_REASON_WEIGHTS = (0.25, 0.15, 0.20, 0.32, 0.08)
_DAY_OFFSETS = (0, 1, 2, 3)  # refunds come back the same day or up to three days later
_DAY_OFFSET_WEIGHTS = (0.15, 0.40, 0.28, 0.17)
_MIN_SAME_DAY_DELAY = 15 * 60
_FULL_REFUND_SHARE = 0.6


def _refund_time(shop: Store, key: CustomerKey, sale: int, rng: random.Random) -> int:
    offset = rng.choices(_DAY_OFFSETS, _DAY_OFFSET_WEIGHTS)[0]
    day = local_day(key.day, shop.timezone)
    earliest = sale + _MIN_SAME_DAY_DELAY
    if offset == 0 and earliest < day.at(shop.closes):
        return earliest + int(rng.random() * (day.at(shop.closes) - earliest))
    later = local_day(key.day + max(1, offset), shop.timezone)
    return later.at(shop.opens + int(rng.random() * (shop.closes - shop.opens)))


def _refund_cents(amount_cents: int, rng: random.Random) -> int:
    if amount_cents <= 1 or rng.random() < _FULL_REFUND_SHARE:
        return amount_cents
    return max(1, min(amount_cents, round(amount_cents * rng.uniform(0.2, 0.9))))


class LedgerEngine:
    def __init__(self, seed: int, refund_probability: float, stores: Callable[[int], Store] = store) -> None:
        self.seed = seed
        self.refund_probability = refund_probability
        self.stores = stores  # the run's stores, as declared (STORES_FILE) or built in
        self._pending: list[tuple[int, int, Record]] = []
        self._booked = (-1, 0)  # the latest sale's local day and that day's revenue in cents so far

    @property
    def pending_refunds(self) -> int:
        return len(self._pending)

    def revenue_on(self, day: int) -> float:
        """Revenue of the sales of local day ``day`` (an epoch day) taken so far."""
        booked_day, cents = self._booked
        return cents / 100 if day == booked_day else 0.0

    def snapshot(self) -> dict[str, Any]:
        """The pending refunds (a heap stays a heap in a list) and the day's revenue, JSON-ready, for a
        state store."""
        return {"pending": list(self._pending), "booked": list(self._booked)}

    def restore(self, state: dict[str, Any]) -> None:
        """Takes back what snapshot() gave."""
        self._pending = [(int(when), int(refund_id), refund) for when, refund_id, refund in state["pending"]]
        heapq.heapify(self._pending)
        day, cents = state["booked"]
        self._booked = (int(day), int(cents))

    def on_checkout(self, tx: Record) -> list[Emitted]:
        customer = tx["customer_id"]
        key = decode_customer_id(customer)
        shop = self.stores(key.store)
        rng = keyed_rng(self.seed, key.store, key.day, COMPONENT, key.seq)
        sale = tx["timestamp"] // 1000
        declared = shop.refund_probability  # a Store resource's, before REFUND_PROBABILITY
        refund_probability = self.refund_probability if declared is None else declared
        out = []
        for line_no, line in enumerate(tx["items"]):
            transaction_id = ledger_transaction_id(key, line_no)
            amount = line["total_price"]
            record: Record = {
                "event_type": "transaction",
                "transaction_id": transaction_id,
                "product_id": line["item_id"],
                "store_id": shop.store_id,
                "customer_id": customer,
                "amount": amount,
                "timestamp": sale * 1000,
                "pos_transaction_id": tx["transaction_id"],
            }
            out.append(Emitted(sale, TRANSACTIONS, customer, record))
            day, cents = self._booked
            self._booked = (key.day, (cents if key.day == day else 0) + round(amount * 100))
            if rng.random() < refund_probability:
                when = _refund_time(shop, key, sale, rng)
                refund: Record = {
                    "event_type": "refund",
                    "refund_id": transaction_id,
                    "original_transaction_id": transaction_id,
                    "product_id": line["item_id"],
                    "store_id": shop.store_id,
                    "customer_id": customer,
                    "refund_amount": _refund_cents(round(amount * 100), rng) / 100,
                    "reason": rng.choices(REFUND_REASONS, _REASON_WEIGHTS)[0],
                    "timestamp": when * 1000,
                }
                heapq.heappush(self._pending, (when, transaction_id, refund))
        return out

    def due(self, now: int) -> list[Emitted]:
        """Refunds whose time has come (≤ now), in time order."""
        out = []
        while self._pending and self._pending[0][0] <= now:
            when, _, refund = heapq.heappop(self._pending)
            out.append(Emitted(when, REFUNDS, refund["customer_id"], refund))
        return out
