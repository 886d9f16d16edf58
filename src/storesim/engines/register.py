"""The register engine: each checkout as the register seed's event sequence, at one store's terminals.

State is per store: which terminal is busy until when and who is logged in. An employee logs in when
a checkout reaches a terminal with nobody logged in and logs out at the end of the shift.

A checkout goes to the terminal that can start it first (the free one idle longest, else the one free
soonest). Under a registerOutage scenario a terminal that is down starts nothing until the outage's end:
the outages are the scenarios' (the same for the embedded chain and the register service), not state, so
a snapshot stays the terminals' and a store without an outage takes the same terminals as without
scenarios.
"""

from __future__ import annotations

from storesim._keys import decode_customer_id, derived_uuid, keyed_rng
from storesim._time import epoch_day_at, local_day
from storesim.events._schemas import blank_record
from storesim.events._topics import POS_EVENTS, Emitted, Record
from storesim.world import (
    Effects,
    RegisterOutageEffect,
    ScenarioBook,
    Store,
    employee_id,
    shifts,
    terminal_id,
)

__all__ = ["RegisterEngine", "register_amounts"]

COMPONENT = "register"
_IDLE_AFTER_PAYMENT = 5
_NEVER = 1 << 62


def register_amounts(tx: Record, tax_rate_bp: int) -> tuple[int, int, int]:
    """(subtotal, tax, amount) in cents of a pos_transaction: subtotal is the sum of its line totals."""
    subtotal = sum(round(line["total_price"] * 100) for line in tx["items"])
    tax = (subtotal * tax_rate_bp + 5000) // 10000
    return subtotal, tax, subtotal + tax


def _register_outage(effects: Effects) -> RegisterOutageEffect | None:
    return effects.register_outage


class _Terminal:
    __slots__ = ("busy_until", "employee", "index", "logout_at")

    def __init__(self, index: int) -> None:
        self.index = index
        self.busy_until = 0
        self.employee: str | None = None
        self.logout_at = 0


class RegisterEngine:
    def __init__(self, seed: int, store: Store, scenarios: ScenarioBook | None = None) -> None:
        self.seed = seed
        self.store = store
        # Only this store's register outages: a store without one asks nothing at a checkout.
        self._outages = ScenarioBook(
            s
            for s in (scenarios or ScenarioBook()).scenarios
            if s.effects.register_outage is not None and s.applies_to(store.number)
        )
        self._down: dict[int, list[tuple[int, int, RegisterOutageEffect]]] = {}  # local day -> windows
        self._shifts = shifts(store)
        self._terminals = [_Terminal(i) for i in range(store.registers)]
        self._methods = [m for m, _ in store.payment_mix]
        self._method_weights = [w for _, w in store.payment_mix]
        self._next_logout = _NEVER

    def snapshot(self) -> list[list[object]]:
        """The terminals' state, JSON-ready, for a state store."""
        return [[t.busy_until, t.employee, t.logout_at] for t in self._terminals]

    def restore(self, terminals: list[list[object]]) -> None:
        """Takes back what snapshot() gave. A store whose Store resource changed its registers since has
        more terminals (they start idle) or fewer (the others' state is dropped)."""
        for terminal, (busy_until, employee, logout_at) in zip(self._terminals, terminals, strict=False):
            terminal.busy_until = int(str(busy_until))
            terminal.employee = None if employee is None else str(employee)
            terminal.logout_at = int(str(logout_at))
        self._schedule_next_logout()

    def _event(self, ts: int, key: str, event_type: str, **fields: object) -> Emitted:
        record = blank_record(POS_EVENTS)
        record.update(event_type=event_type, timestamp=ts * 1000, store_id=self.store.store_id, **fields)
        return Emitted(ts, POS_EVENTS, key, record)

    def _logout(self, terminal: _Terminal) -> Emitted:
        ts = max(terminal.logout_at, terminal.busy_until)
        tid = terminal_id(self.store, terminal.index)
        event = self._event(ts, tid, "employee_logout", employee_id=terminal.employee, terminal_id=tid)
        terminal.employee = None
        return event

    def due(self, now: int) -> list[Emitted]:
        """Logouts of every shift that has ended by ``now``."""
        if now < self._next_logout:
            return []
        out = [
            self._logout(t)
            for t in self._terminals
            if t.employee is not None and max(t.logout_at, t.busy_until) <= now
        ]
        self._schedule_next_logout()
        return out

    def _schedule_next_logout(self) -> None:
        """When due() next has work: it is called at every step of a run and is usually idle."""
        pending = [max(t.logout_at, t.busy_until) for t in self._terminals if t.employee is not None]
        self._next_logout = min(pending, default=_NEVER)

    def _windows(self, day: int) -> list[tuple[int, int, RegisterOutageEffect]]:
        """The register outages of local day ``day``, [start, end) in UTC seconds."""
        windows = self._down.get(day)
        if windows is None:
            local = local_day(day, self.store.timezone)
            found = self._outages.windows(self.store.number, local, _register_outage)
            windows = self._down[day] = [(w.start, w.end, w.effect) for w in found]
        return windows

    def _up_from(self, index: int, ready: int) -> int:
        """The first instant from ``ready`` at which terminal ``index`` is not down. A window is cut at the
        local midnights, so an outage over several days is several windows end to end: each is stepped
        over in turn (the day before's too, which reaches past a midnight whose offset changed)."""
        if not self._outages:
            return ready
        registers = self.store.registers
        moved = True
        while moved:
            moved = False
            day = epoch_day_at(ready, self.store.timezone)
            for start, end, effect in self._windows(day - 1) + self._windows(day):
                if start <= ready < end and index >= effect.first_down(registers):
                    ready, moved = end, True
        return ready

    def on_checkout(self, tx: Record) -> list[Emitted]:
        checkout_ts = tx["timestamp"] // 1000
        customer = tx["customer_id"]
        key = decode_customer_id(customer)
        out = self.due(checkout_ts)
        # The terminal that can start soonest; among those free already, the one idle longest. Without an
        # outage this is min(busy_until, index), the choice the register has always made.
        start, _, index = min(
            (self._up_from(t.index, max(checkout_ts, t.busy_until)), t.busy_until, t.index)
            for t in self._terminals
        )
        terminal = self._terminals[index]
        day = local_day(key.day, self.store.timezone)
        local = day.local_seconds(start)
        shift = next((s for s in self._shifts if local < s.end), self._shifts[-1])
        if terminal.employee is not None and terminal.logout_at <= start:
            out.append(self._logout(terminal))
        rng = keyed_rng(self.seed, key.store, key.day, COMPONENT, key.seq)
        tid = terminal_id(self.store, terminal.index)
        ts = start
        if terminal.employee is None:
            terminal.employee = employee_id(self.store, shift.index, terminal.index)
            terminal.logout_at = day.at(shift.end)
            out.append(self._event(ts, tid, "employee_login", employee_id=terminal.employee, terminal_id=tid))
            ts += 2 + int(rng.random() * 5)
        basket = derived_uuid(tx["transaction_id"], "basket")
        out.append(
            self._event(ts, customer, "basket_started", basket_id=basket, employee_id=terminal.employee)
        )
        ts += 2 + int(rng.random() * 6)
        out.append(self._event(ts, customer, "customer_identified", customer_id=customer, basket_id=basket))
        for line in tx["items"]:
            ts += 2 + int(rng.random() * 5)
            out.append(
                self._event(
                    ts,
                    customer,
                    "item_added",
                    item_id=line["item_id"],
                    basket_id=basket,
                    quantity=line["quantity"],
                    price=line["unit_price"],
                    discount=line["discount"],
                    total_price=line["total_price"],
                )
            )
        subtotal, tax, amount = register_amounts(tx, self.store.tax_rate_bp)
        ts += 2 + int(rng.random() * 4)
        out.append(
            self._event(
                ts, customer, "subtotal_calculated", basket_id=basket, subtotal=subtotal / 100, tax=tax / 100
            )
        )
        ts += 8 + int(rng.random() * 40)
        method = rng.choices(self._methods, self._method_weights)[0]
        out.append(
            self._event(
                ts,
                customer,
                "payment_completed",
                basket_id=basket,
                amount=amount / 100,
                payment_method=method,
                transaction_id=tx["transaction_id"],
            )
        )
        terminal.busy_until = ts + _IDLE_AFTER_PAYMENT
        self._schedule_next_logout()
        return out
