"""The register and ledger seeds' stand-alone modes: their own sample worlds, paced by their own delays.

They ignore the coherent world (no stores' checkouts feed them) and reproduce what the seeds did:
the register's five sample items in 2–4-item sequences every DELAY_BETWEEN_SEQUENCES seconds, the
ledger's six products and three stores every PRODUCER_SLEEP_SECONDS with refunds of recent sales.
Each UTC day draws from its own keyed generator (store 0 stands for "the chain").
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from storesim._keys import keyed_rng
from storesim.engines.ledger import REFUND_REASONS
from storesim.events._schemas import blank_record
from storesim.events._topics import POS_EVENTS, REFUNDS, TRANSACTIONS, Emitted, Record

__all__ = ["SAMPLE_ITEMS", "SEED_PRODUCTS", "SEED_STORES", "standalone_ledger", "standalone_register"]

SAMPLE_ITEMS = (("milk", 3.99), ("bread", 2.49), ("eggs", 4.99), ("beer", 8.99), ("wine", 15.99))
SEED_PRODUCTS = (
    ("LAPTOP-001", 1299.99),
    ("PHONE-001", 899.99),
    ("MONITOR-001", 349.99),
    ("HEADPHONES-001", 199.99),
    ("KEYBOARD-001", 89.99),
    ("MOUSE-001", 39.99),
)
SEED_STORES = ("STORE-001", "STORE-002", "STORE-003")
_STANDALONE_TAX_BP = 800
_PAYMENT_METHODS = ("credit_card", "debit_card", "cash", "mobile_wallet")
_RECENT = 100


def _days(start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(epoch day, first second, end second) of each UTC day overlapping [start, end)."""
    day = start // 86400
    while day * 86400 < end:
        yield day, max(start, day * 86400), min(end, (day + 1) * 86400)
        day += 1


def _ticks(first: int, end: int, interval: float) -> Iterator[tuple[int, int]]:
    """(index, second) of each tick of a loop that sleeps ``interval`` seconds, within [first, end)."""
    index = 0
    while (ts := first + int(index * interval)) < end:
        yield index, ts
        index += 1


def _register_event(ts: int, key: str, event_type: str, **fields: object) -> Emitted:
    record = blank_record(POS_EVENTS)
    record.update(event_type=event_type, timestamp=ts * 1000, **fields)
    return Emitted(ts, POS_EVENTS, key, record)


def standalone_register(seed: int, start: int, end: int, delay: float) -> Iterator[Emitted]:
    """The register seed's loop: login, basket, customer, 2–4 items, subtotal, payment, logout."""
    for day, first, last in _days(start, end):
        rng = keyed_rng(seed, 0, day, "register-standalone")
        for _, ts in _ticks(first, last, delay):
            employee = f"EMP-{1 + int(rng.random() * 10):03d}"
            terminal = f"T-{1 + int(rng.random() * 5):02d}"
            customer = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            basket = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            yield _register_event(ts, terminal, "employee_login", employee_id=employee, terminal_id=terminal)
            yield _register_event(ts, customer, "basket_started", basket_id=basket, employee_id=employee)
            yield _register_event(ts, customer, "customer_identified", customer_id=customer, basket_id=basket)
            subtotal = 0
            for item_id, price in rng.sample(SAMPLE_ITEMS, 2 + int(rng.random() * 3)):
                quantity = 1 + int(rng.random() * 3)
                subtotal += quantity * round(price * 100)
                yield _register_event(
                    ts,
                    customer,
                    "item_added",
                    item_id=item_id,
                    basket_id=basket,
                    quantity=quantity,
                    price=price,
                )
            tax = (subtotal * _STANDALONE_TAX_BP + 5000) // 10000
            yield _register_event(
                ts, customer, "subtotal_calculated", basket_id=basket, subtotal=subtotal / 100, tax=tax / 100
            )
            method = _PAYMENT_METHODS[int(rng.random() * len(_PAYMENT_METHODS))]
            yield _register_event(
                ts,
                customer,
                "payment_completed",
                basket_id=basket,
                amount=(subtotal + tax) / 100,
                payment_method=method,
            )
            yield _register_event(ts, terminal, "employee_logout", employee_id=employee, terminal_id=terminal)


def standalone_ledger(
    seed: int, start: int, end: int, interval: float, refund_probability: float
) -> Iterator[Emitted]:
    """The ledger seed's loop: a sale each tick and, with REFUND_PROBABILITY, a refund of a recent one."""
    for day, first, last in _days(start, end):
        rng = keyed_rng(seed, 0, day, "ledger-standalone")
        recent: list[Record] = []
        refunds = 0
        for index, ts in _ticks(first, last, interval):
            product, price = SEED_PRODUCTS[int(rng.random() * len(SEED_PRODUCTS))]
            sale: Record = {
                "event_type": "transaction",
                "transaction_id": day * 1_000_000 + index + 1,
                "product_id": product,
                "store_id": SEED_STORES[int(rng.random() * len(SEED_STORES))],
                "customer_id": f"CUST-{1 + int(rng.random() * 1000):04d}",
                "amount": price,
                "timestamp": ts * 1000,
                "pos_transaction_id": None,
            }
            yield Emitted(ts, TRANSACTIONS, sale["customer_id"], sale)
            recent = [*recent[-(_RECENT - 1) :], sale]
            if rng.random() < refund_probability and len(recent) > 1:
                original = recent.pop(int(rng.random() * (len(recent) - 1)))
                cents = round(original["amount"] * 100)
                refunds += 1
                refund: Record = {
                    "event_type": "refund",
                    "refund_id": day * 1_000_000 + refunds,
                    "original_transaction_id": original["transaction_id"],
                    "product_id": original["product_id"],
                    "store_id": original["store_id"],
                    "customer_id": original["customer_id"],
                    "refund_amount": (cents if rng.random() < 0.5 else max(1, cents // 2)) / 100,
                    "reason": REFUND_REASONS[int(rng.random() * len(REFUND_REASONS))],
                    "timestamp": ts * 1000,
                }
                yield Emitted(ts, REFUNDS, refund["customer_id"], refund)
