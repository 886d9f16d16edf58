"""The POS engine: carts built from shelf events, checked out at each session's exit.

It works on plain values (ids, instants, event types) so the embedded runner and a Kafka consumer
drive the same code. Checkouts fire on simulated time: ``due(now)`` releases every cart whose exit,
or whose MAX_SESSION_AGE_SEC deadline, has come.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from storesim._keys import decode_customer_id, derived_uuid, keyed_rng
from storesim._time import day_date
from storesim.events._topics import POS_TRANSACTIONS, Emitted
from storesim.world import (
    Catalogue,
    DayPricing,
    Effects,
    PromotionEffect,
    ScenarioBook,
    ShrinkEffect,
    Store,
    best_offer,
    line_total_cents,
    store_code,
)

__all__ = ["PosEngine", "PosInputError", "ShrinkSink"]

# (store number, checkout instant, units stolen, their value in cents)
ShrinkSink = Callable[[int, int, int, int], None]


def _shrink(effects: Effects) -> ShrinkEffect | None:
    return effects.shrink


class PosInputError(ValueError):
    """An input event the POS cannot apply; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(slots=True)
class _Cart:
    customer_id: str
    deadline: int
    lines: dict[str, int] = field(default_factory=dict)
    # When each item was first picked up in this visit (kept after a full putback): the receipt's order.
    first: dict[str, int] = field(default_factory=dict)

    def receipt(self) -> list[tuple[str, int]]:
        """The lines in the order of their first pickup, by item id within one second: a shelf that
        sensed a putback and a pickup in the same second may deliver them in either order, and the
        checkout must not depend on that (the embedded and streamed runs apply them differently)."""
        return sorted(self.lines.items(), key=lambda line: (self.first[line[0]], line[0]))


class PosEngine:
    def __init__(
        self,
        catalogue: Catalogue,
        pricing: Callable[[date], DayPricing],
        *,
        force_checkout_if_empty: bool = False,
        max_session_age: int = 10800,
        seed: int = 0,
        scenarios: ScenarioBook = ScenarioBook(),  # noqa: B008 (immutable)
        stores: Callable[[int], Store] | None = None,
        on_shrink: ShrinkSink | None = None,
    ) -> None:
        """``seed``, ``scenarios`` and ``stores`` (a store by number, for its timezone): the promotions'
        windows and the shrink effect's draws and windows. ``on_shrink``: told of each checkout's stolen
        units (for the answer key and the POS service's metrics)."""
        self._seed = seed
        self._promotions = ScenarioBook(s for s in scenarios.scenarios if s.effects.promotion is not None)
        self._shrinks = ScenarioBook(s for s in scenarios.scenarios if s.effects.shrink is not None)
        if (self._promotions or self._shrinks) and stores is None:
            raise ValueError("a promotion or shrink scenario needs the stores (their timezones)")
        self._stores = stores
        self._on_shrink = on_shrink
        self._items = catalogue.by_id
        self._pricing = pricing
        self._force = force_checkout_if_empty
        self._max_age = max_session_age
        self._carts: dict[str, _Cart] = {}
        self._deadlines: list[tuple[int, str]] = []
        self._changed: set[str] = set()  # carts opened, changed or closed since the last changes()
        self.empty_sessions = 0  # sessions that ended with nothing in the cart and no checkout

    @property
    def open_carts(self) -> int:
        return len(self._carts)

    def open_at(self, instant: int) -> int:
        """The carts of the sessions opened so far that are still open at ``instant`` (checked out at
        or after it), whether or not due() has released the earlier ones yet."""
        return sum(1 for cart in self._carts.values() if cart.deadline >= instant)

    def open_session(self, customer_id: str, entry: int, exit_time: int) -> None:
        if customer_id in self._carts:
            raise PosInputError("duplicate-session", f"customer {customer_id} already has an open session")
        # The janitor's deadline: a session still open MAX_SESSION_AGE_SEC after entry is checked out then.
        deadline = min(exit_time, entry + self._max_age)
        self._carts[customer_id] = _Cart(customer_id, deadline)
        heapq.heappush(self._deadlines, (deadline, customer_id))
        self._changed.add(customer_id)

    def apply_shelf(self, customer_id: str, event_type: str, item_id: str, quantity: int, at: int) -> None:
        """One shelf event at instant ``at``. A weight_change only has to belong to an open visit: the
        cart changes with the pickup or putback it follows."""
        cart = self._carts.get(customer_id)
        if cart is None:
            raise PosInputError("unknown-customer", f"no open session for customer {customer_id}")
        if event_type == "weight_change":
            return
        if item_id not in self._items:
            raise PosInputError("unknown-item", f"item {item_id} is not in the inventory")
        if quantity <= 0:
            raise PosInputError("bad-quantity", f"quantity {quantity} is not positive")
        held = cart.lines.get(item_id, 0)
        self._changed.add(customer_id)
        if event_type == "pickup":
            cart.lines[item_id] = held + quantity
            cart.first[item_id] = min(at, cart.first.get(item_id, at))
        elif event_type == "putback":
            if quantity > held:
                raise PosInputError(
                    "putback-exceeds-cart", f"putback of {quantity} {item_id}, cart holds {held}"
                )
            if quantity == held:
                del cart.lines[item_id]
            else:
                cart.lines[item_id] = held - quantity
        else:
            raise PosInputError("unknown-event-type", f"shelf event type {event_type!r}")

    def due(self, now: int) -> list[Emitted]:
        """Checkouts whose time has come (deadline ≤ now), in deadline order."""
        out: list[Emitted] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, customer = heapq.heappop(self._deadlines)
            cart = self._carts.pop(customer)
            self._changed.add(customer)
            checkout = self._checkout(cart, deadline)
            if checkout is not None:
                out.append(checkout)
        return out

    def changes(self) -> dict[str, str | None]:
        """The carts changed since the last call, encoded for a state store (None: the cart is gone)."""
        out: dict[str, str | None] = {}
        for customer in self._changed:
            cart = self._carts.get(customer)
            out[customer] = None if cart is None else json.dumps([cart.deadline, cart.lines, cart.first])
        self._changed.clear()
        return out

    def restore(self, carts: Mapping[str, str]) -> None:
        """Takes the carts of a state store's snapshot (as changes() encoded them) as the open carts."""
        self._carts.clear()
        self._changed.clear()
        for customer, encoded in carts.items():
            deadline, lines, first = json.loads(encoded)
            self._carts[customer] = _Cart(customer, int(deadline), dict(lines), dict(first))
        self._deadlines = [(cart.deadline, customer) for customer, cart in self._carts.items()]
        heapq.heapify(self._deadlines)

    def open_days(self) -> set[date]:
        """The visit days of the open carts: the pricing their checkouts will need."""
        return {day_date(decode_customer_id(customer).day) for customer in self._carts}

    def _steal(self, cart: _Cart, receipt: list[tuple[str, int]], ts: int) -> list[tuple[str, int]]:
        """The receipt without the units that leave unpaid under a shrink scenario at checkout time. Each
        unit is a draw of the scenario's own generator for this visit: no other draw moves."""
        assert self._stores is not None
        key = decode_customer_id(cart.customer_id)
        shop = self._stores(key.store)
        windows = self._shrinks.acting(key.store, shop.timezone, ts, _shrink)
        if not windows:
            return receipt
        pricing = self._pricing(day_date(key.day))
        promotions = self._promotions_at(key.store, ts)
        paid = dict(receipt)
        units = cents = 0
        for window in windows:
            rng = keyed_rng(self._seed, key.store, key.day, f"shrink/{window.scenario}", key.seq)
            for item_id, quantity in receipt:
                stolen = min(paid[item_id], sum(rng.random() < window.effect.share for _ in range(quantity)))
                if stolen:
                    paid[item_id] -= stolen
                    units += stolen
                    price = self._items[item_id].price_cents  # what they would have paid, on offer or not
                    cents += line_total_cents(stolen, price, self._discount(item_id, pricing, promotions))
        if units and self._on_shrink is not None:
            self._on_shrink(key.store, ts, units, cents)
        return [(item_id, paid[item_id]) for item_id, _ in receipt if paid[item_id]]

    def _checkout(self, cart: _Cart, ts: int) -> Emitted | None:
        if not cart.lines and not self._force:
            self.empty_sessions += 1
            return None
        receipt = cart.receipt()
        if receipt and self._shrinks:
            receipt = self._steal(cart, receipt, ts)
            if not receipt and not self._force:
                return None  # everything left unpaid: nothing to check out (the answer key has the shrink)
        key = decode_customer_id(cart.customer_id)
        # The discounts in force on the visit's (local) day.
        pricing = self._pricing(day_date(key.day))
        # A promotion acting at the checkout instant: the register prices a line when it scans it.
        promotions = self._promotions_at(key.store, ts)
        items = []
        for item_id, quantity in receipt:
            price = self._items[item_id].price_cents
            pct = self._discount(item_id, pricing, promotions)
            items.append(
                {
                    "item_id": item_id,
                    "quantity": quantity,
                    "unit_price": price / 100,
                    "discount": pct / 100,
                    "total_price": line_total_cents(quantity, price, pct) / 100,
                }
            )
        return Emitted(
            ts,
            POS_TRANSACTIONS,
            cart.customer_id,
            {
                "event_type": "pos_transaction",
                "transaction_id": derived_uuid(cart.customer_id, "checkout"),
                "customer_id": cart.customer_id,
                "timestamp": ts * 1000,
                "items": items,
                "store_id": store_code(key.store),
            },
        )

    def _promotions_at(self, number: int, ts: int) -> list[PromotionEffect]:
        if not self._promotions:
            return []
        assert self._stores is not None
        return self._promotions.promotions_at(number, self._stores(number).timezone, ts)

    def _discount(self, item_id: str, pricing: DayPricing, promotions: list[PromotionEffect]) -> int:
        """A line's discount in percent: the day's, or a promotion's where that is larger."""
        pct = pricing.discount_pct.get(item_id, 0)
        if promotions and (offer := best_offer(promotions, self._items[item_id])) is not None:
            pct = max(pct, offer[0])
        return pct
