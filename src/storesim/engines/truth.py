"""The answer key: what really happened in a store, hour by UTC hour, as the engines made it happen.

A pipeline's result is only as good as what it can be compared with. These figures are counted from
the engines' own acts (a visit the foot-traffic engine drew, a checkout the POS released, a refund
the ledger booked), never by reading the topics back, so that a fault on the way to Kafka (a message
sent twice, held back, lost) changes the topics but not the answer key.

An hour is closed once the store has released everything due before its end: nothing can change it
any more. Its record is emitted at the hour's last second (the run's, if it ends inside the hour),
after every event of that hour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from storesim.events._topics import TRUTH, Emitted, Record

__all__ = ["HOUR", "TruthEngine"]

HOUR = 3600


@dataclass(slots=True)
class _Hour:
    visits_started: int = 0
    visits_ended: int = 0
    checkouts: int = 0
    items_sold: int = 0
    revenue_cents: int = 0
    refunds: int = 0
    refund_cents: int = 0
    duplicates_sent: int = 0
    shrink_items: int = 0
    shrink_cents: int = 0
    missed_sensor_events: int = 0
    phantom_sensor_events: int = 0
    late_events: int = 0
    max_lateness: int = 0


class TruthEngine:
    """One store's UTC hours over the run window [start, end). A window that starts or ends inside an
    hour (a streamed run's SIM_START at 10:30) makes that hour a partial one, still keyed by its start."""

    def __init__(
        self,
        store_id: str,
        start: int,
        end: int,
        *,
        since: int | None = None,
        scenarios: Callable[[int, int], list[str]] | None = None,
    ) -> None:
        """``since``: a store declared while a streamed run went on has no event at or before it; its
        earlier hours are zeros. ``scenarios(start, end)``: the scenarios acting on the store then."""
        self.store_id = store_id
        self._scenarios = scenarios
        self.start, self.end = start, end
        self._visits_from = start if since is None else max(start, since + 1)
        self.next_end = start - start % HOUR + HOUR  # the end of the first hour not yet closed
        self.last_end = end + -end % HOUR
        self._hours: dict[int, _Hour] = {}

    def _hour(self, instant: int) -> _Hour:
        start = instant - instant % HOUR
        hour = self._hours.get(start)
        if hour is None:
            if start < self.next_end - HOUR:
                raise RuntimeError(f"the answer key's hour {start} is already closed")
            hour = self._hours[start] = _Hour()
        return hour

    def visit(self, entry: int, exit_time: int) -> None:
        """A visit; only what falls inside the window happened in this run."""
        if self._visits_from <= entry < self.end:
            self._hour(entry).visits_started += 1
        if self._visits_from <= exit_time < self.end:
            self._hour(exit_time).visits_ended += 1

    def checkout(self, checkout: Emitted) -> None:
        hour = self._hour(checkout.ts)
        hour.checkouts += 1
        for line in checkout.record["items"]:
            hour.items_sold += line["quantity"]
            hour.revenue_cents += round(line["total_price"] * 100)

    def refunds(self, refunds: list[Emitted]) -> None:
        for refund in refunds:
            hour = self._hour(refund.ts)
            hour.refunds += 1
            hour.refund_cents += round(refund.record["refund_amount"] * 100)

    def duplicates(self, copies: list[Emitted]) -> None:
        """Messages sent a second time (the duplicates effect), in the hour of their event time, where a
        pipeline finds them. A copy due at or after the run's end is never sent."""
        for copy in copies:
            if copy.ts < self.end:
                self._hour(copy.record["timestamp"] // 1000).duplicates_sent += 1

    def shrink(self, instant: int, units: int, cents: int) -> None:
        """Units that left unpaid at a checkout at ``instant``, and their value."""
        hour = self._hour(instant)
        hour.shrink_items += units
        hour.shrink_cents += cents

    def sensor_fault(self, kind: str, instant: int) -> None:
        """A weight_change missed or a phantom one sent at ``instant``. The shelf draws a visit's actions
        when it begins, so a fault can lie after the run's end (never sent): it does not count."""
        if not self._visits_from <= instant < self.end:
            return
        hour = self._hour(instant)
        if kind == "missed":
            hour.missed_sensor_events += 1
        else:
            hour.phantom_sensor_events += 1

    def late(self, instant: int, lateness: int) -> None:
        """A message sent at ``instant`` that reaches Kafka ``lateness`` seconds later (an uplink outage).
        One due at or after the run's end is never sent."""
        if self._visits_from <= instant < self.end:
            hour = self._hour(instant)
            hour.late_events += 1
            hour.max_lateness = max(hour.max_lateness, lateness)

    def ends_through(self, instant: int) -> range:
        """The ends of the hours that close once everything before ``instant`` is released."""
        last = self.last_end if instant >= self.end else instant
        return range(self.next_end, last + 1, HOUR)

    def open_carts(self, count: Callable[[int], int], instant: int) -> list[tuple[int, int]]:
        """(end, carts open then) of each hour that closes by ``instant``, from ``count(t)``. Asked
        before the checkouts due before ``instant`` are released: the carts that close between an
        hour's end and ``instant`` are still there to be counted."""
        return [(end, count(end)) for end in self.ends_through(instant)]

    def close(self, hours: list[tuple[int, int]]) -> list[Emitted]:
        """The records of the hours open_carts() named, once their checkouts and refunds are in."""
        return [self._record(end, carts) for end, carts in hours]

    def _record(self, end: int, open_carts: int) -> Emitted:
        start = end - HOUR
        hour = self._hours.pop(start, None) or _Hour()
        self.next_end = end + HOUR
        record: Record = {
            "store_id": self.store_id,
            "hour": start * 1000,
            "visits_started": hour.visits_started,
            "visits_ended": hour.visits_ended,
            "checkouts": hour.checkouts,
            "items_sold": hour.items_sold,
            "revenue": hour.revenue_cents / 100,
            "refunds": hour.refunds,
            "refund_amount": hour.refund_cents / 100,
            "net_revenue": (hour.revenue_cents - hour.refund_cents) / 100,
            "open_carts": open_carts,
            "duplicates_sent": hour.duplicates_sent,
            "shrink_items": hour.shrink_items,
            "shrink_value": hour.shrink_cents / 100,
            "missed_sensor_events": hour.missed_sensor_events,
            "phantom_sensor_events": hour.phantom_sensor_events,
            "late_events": hour.late_events,
            "max_lateness_seconds": hour.max_lateness,
            "scenarios": self._scenarios(start, end) if self._scenarios is not None else [],
        }
        return Emitted(min(end, self.end) - 1, TRUTH, self.store_id, record)
