"""Why a stage refuses an input, and the checks of what an input claims: its customer, its checkout.

Every customer id of a run is ``customer_id(seed, key)`` of its visit: the key (store, local day, visit)
is inside the id, and the rest of its bits are a hash of the seed and the key. So a stage that knows the
seed tells a customer of this run from a stranger's id, or a well-formed forgery, with one hash, and an
event of a customer who never walked in is dead-lettered at the edge instead of opening a cart.
"""

from __future__ import annotations

from storesim._keys import CustomerKey, customer_id, decode_customer_id, derived_uuid
from storesim._time import iso_utc
from storesim.events import Record
from storesim.world import line_total_cents, store_code

__all__ = ["Customers", "InputError", "check_checkout", "late_input"]

_REMEMBERED = 65_536  # customers whose check is kept: a visit's events arrive close together


class InputError(ValueError):
    """An input a stage cannot apply; ``reason`` is the dead letter's short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def late_input(event_time: int, progress: int) -> InputError:
    """An input whose instant the stage's committed progress has passed: the stage upstream promised
    everything up to there, and the outputs up to there are out, so applying it now would change what
    an earlier step already sent. It is a dead letter of its own (the stage also logs it)."""
    return InputError(
        "late", f"event time {iso_utc(event_time)} is not after the progress {iso_utc(progress)}"
    )


class Customers:
    """The visit of a customer id of this run's seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._known: dict[str, CustomerKey] = {}

    def key_of(self, customer: str) -> CustomerKey:
        """The visit ``customer`` stands for; InputError (unknown-customer) when no visit of this run
        has that id."""
        key = self._known.get(customer)
        if key is not None:
            return key
        try:
            key = decode_customer_id(customer)
            genuine = customer_id(self.seed, key) == customer
        except ValueError as exc:
            raise InputError("unknown-customer", str(exc)) from None
        if not genuine:
            raise InputError("unknown-customer", f"{customer} is no customer of this run")
        if len(self._known) >= _REMEMBERED:
            self._known.clear()
        self._known[customer] = key
        return key


def check_checkout(record: Record, key: CustomerKey) -> None:
    """Raises InputError unless ``record`` is a checkout the POS could have made for visit ``key``: its id
    follows from the customer's, its store is the visit's, and every line is a positive quantity priced
    as the POS prices it (quantity × unit price × (1 − discount), to the cent)."""
    customer = record["customer_id"]
    if record["transaction_id"] != derived_uuid(customer, "checkout"):
        raise InputError(
            "inconsistent-checkout", f"transaction {record['transaction_id']} is not {customer}'s"
        )
    if record["store_id"] not in (None, store_code(key.store)):
        raise InputError(
            "inconsistent-checkout", f"store {record['store_id']} is not the visit's {key.store}"
        )
    items: set[str] = set()
    for line in record["items"]:
        item, quantity = line["item_id"], line["quantity"]
        if quantity <= 0:
            raise InputError("bad-quantity", f"{item}: quantity {quantity} is not positive")
        if item in items:
            raise InputError("inconsistent-checkout", f"{item} is on two lines")
        items.add(item)
        cents, pct = round(line["unit_price"] * 100), round(line["discount"] * 100)
        priced = cents >= 0 and 0 <= pct < 100 and abs(line["discount"] * 100 - pct) < 1e-6
        if not priced or round(line["total_price"] * 100) != line_total_cents(quantity, cents, pct):
            raise InputError("inconsistent-checkout", f"{item}: the line's prices do not add up")
