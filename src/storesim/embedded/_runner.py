"""The embedded mode: the whole chain in one process, in event-time order, without sleeping.

Each store runs as its own time-ordered stream (foot traffic → shelf → POS → register and ledger);
the streams are merged by (time, store, sequence). Within a store, a source event at instant t first
releases everything due before t (checkouts, logouts, refunds), then is applied; after that nothing
earlier than t can appear any more, so the events before t leave the store's buffer. Memory holds
the customers in the stores at that moment, not the day.

The run covers the instants [start, end) of the plan's UTC window, as a streamed backfill covers
[SIM_START, SIM_END): a source event outside it is never sent (so it has no consequences either), and
what falls due at or after the end — a register sequence still queued at a busy store, a refund — is
not written (the summary counts it). Both modes cut the range alike, so they write the same events.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cache

from storesim._time import epoch_day, local_day
from storesim.data import Dataset
from storesim.embedded._plan import SimulationPlan
from storesim.engines import (
    FootTrafficEngine,
    LedgerEngine,
    PosEngine,
    PosInputError,
    RegisterEngine,
    Session,
    ShelfEngine,
    TruthEngine,
    standalone_ledger,
    standalone_register,
)
from storesim.events import FOOT_TRAFFIC, REFUNDS, SHELF_EVENTS, TRANSACTIONS, Emitted, Record
from storesim.world import Catalogue, DayPricing, Store

__all__ = ["Sink", "Summary", "simulate"]

# (ts, store number, sequence, topic, key, record): ordered by the first three, which are unique.
_Row = tuple[int, int, int, str, str, Record]
# What the run hands each event to: topic, Kafka key (the one the services send), record.
Sink = Callable[[str, str, Record], None]


@dataclass(slots=True)
class Summary:
    seed: int
    events: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    checkouts: int = 0
    empty_sessions: int = 0
    rejected_shelf_events: int = 0
    revenue_cents: int = 0
    refunds: int = 0
    refunded_cents: int = 0
    pending_refunds: int = 0
    after_end: int = 0  # events computed but due at or after the end (register sequences still queued)


class _StoreStream:
    """One store's chain, day after day, yielding its events in time order."""

    def __init__(
        self,
        plan: SimulationPlan,
        store: Store,
        catalogue: Catalogue,
        pricing: Callable[[date], DayPricing],
        summary: Summary,
    ) -> None:
        self.plan = plan
        self.store = store
        self.summary = summary
        self.pricing = pricing
        self.foot = FootTrafficEngine(plan.seed, plan.foot.volume())
        self.shelf = ShelfEngine(plan.seed, plan.shelf.putback_prob)
        self.pos = PosEngine(
            catalogue,
            pricing,
            force_checkout_if_empty=plan.pos.force_checkout_if_empty,
            max_session_age=plan.pos.max_session_age_sec,
        )
        self.register = (
            RegisterEngine(plan.seed, store) if plan.register.register_mode == "coherent" else None
        )
        coherent_ledger = plan.ledger.ledger_mode == "coherent"
        ledger = LedgerEngine(plan.seed, plan.ledger.refund_probability, {store.number: store}.__getitem__)
        self.ledger = ledger if coherent_ledger else None
        self.truth = TruthEngine(store.store_id, *plan.utc_window)
        self._out: list[tuple[int, int, str, str, Record]] = []
        self._seq = 0

    def _emit(self, events: list[Emitted] | tuple[Emitted, ...]) -> None:
        for event in events:
            self._seq += 1
            heapq.heappush(self._out, (event.ts, self._seq, event.topic, event.key, event.record))

    def _release(self, until: int) -> None:
        """Everything due at or before ``until``: checkouts and what follows from them, logouts, refunds."""
        for checkout in self.pos.due(until):
            self.summary.checkouts += 1
            self.truth.checkout(checkout)
            self._emit((checkout,))
            if self.register is not None:
                self._emit(self.register.on_checkout(checkout.record))
            if self.ledger is not None:
                self._emit(self.ledger.on_checkout(checkout.record))
        if self.register is not None:
            self._emit(self.register.due(until))
        if self.ledger is not None:
            refunds = self.ledger.due(until)
            self.truth.refunds(refunds)
            self._emit(refunds)

    def _advance(self, instant: int) -> None:
        """Releases everything due before ``instant`` and closes the answer key's hours that end by then."""
        if instant < self.truth.next_end:
            self._release(instant - 1)
            return
        hours = self.truth.open_carts(self.pos.open_at, instant)
        self._release(instant - 1)
        self._emit(self.truth.close(hours))

    def _drain_before(self, ts: int) -> Iterator[_Row]:
        out, number = self._out, self.store.number
        while out and out[0][0] < ts:
            when, seq, topic, key, record = heapq.heappop(out)
            yield when, number, seq, topic, key, record

    def _apply(self, event: Emitted) -> None:
        record = event.record
        try:
            if event.topic == SHELF_EVENTS:
                self.pos.apply_shelf(
                    event.key, record["event_type"], record["item_id"], record["quantity"] or 0, event.ts
                )
            elif event.topic == FOOT_TRAFFIC:
                self.pos.open_session(event.key, record["entry_time"] // 1000, record["exit_time"] // 1000)
        except PosInputError:
            # A shelf event after a MAX_SESSION_AGE_SEC checkout: the cart is gone, as in a live POS.
            self.summary.rejected_shelf_events += 1

    def __iter__(self) -> Iterator[_Row]:
        start, end = self.plan.utc_window
        out, number, pop, push = self._out, self.store.number, heapq.heappop, heapq.heappush
        for day_date in self.plan.dates:
            day = local_day(epoch_day(day_date), self.store.timezone)
            pricing = self.pricing(day_date)
            # Pending source events: (ts, order, event, session whose actions it triggers).
            source: list[tuple[int, int, Emitted, Session | None]] = []
            order = 0
            for session in self.foot.sessions(self.store, day):
                self.truth.visit(session.entry, session.exit)
                for event in self.foot.events(session):
                    if not start <= event.ts < end:
                        continue  # foot-traffic skips it too: a visit that began before the start has no cart
                    order += 1
                    opened = session if event.topic == FOOT_TRAFFIC else None
                    self.summary.sessions += opened is not None
                    source.append((event.ts, order, event, opened))
            heapq.heapify(source)
            released = -1
            while source:
                ts, _, event, opened = pop(source)
                if ts >= end:
                    break  # a shelf action after the end: the run stops there
                if ts != released:  # several source events share an instant (a pickup and its weight change)
                    released = ts
                    self._advance(ts)
                    while out and out[0][0] < ts:  # inlined _drain_before: this loop runs for every event
                        when, seq, topic, key, record = pop(out)
                        yield when, number, seq, topic, key, record
                self._seq += 1
                push(out, (ts, self._seq, event.topic, event.key, event.record))
                self._apply(event)
                if opened is not None:
                    for action in self.shelf.actions(opened, pricing):
                        order += 1
                        push(source, (action.ts, order, action, None))
            day_end = min(day.start + 86400, end)
            self._advance(day_end)
            yield from self._drain_before(day_end)
        self._advance(end)
        yield from self._drain_before(end)
        self.summary.after_end += len(out)
        self.summary.empty_sessions += self.pos.empty_sessions
        if self.ledger is not None:
            self.summary.pending_refunds += self.ledger.pending_refunds


def _chain_rows(events: Iterator[Emitted]) -> Iterator[_Row]:
    for seq, event in enumerate(events):
        yield event.ts, 0, seq, event.topic, event.key, event.record


def simulate(
    plan: SimulationPlan,
    dataset: Dataset,
    write: Sink,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Runs the plan and hands every event, in time order, to ``write(topic, key, record)``."""
    summary = Summary(plan.seed)

    @cache
    def pricing(day: date) -> DayPricing:
        return DayPricing(dataset.catalogue, dataset.discounts, day)

    streams: list[Iterator[_Row]] = [
        iter(_StoreStream(plan, s, dataset.catalogue, pricing, summary)) for s in plan.stores
    ]
    first, end = plan.utc_window
    if plan.register.register_mode == "standalone":
        streams.append(
            _chain_rows(standalone_register(plan.seed, first, end, plan.register.delay_between_sequences))
        )
    if plan.ledger.ledger_mode == "standalone":
        streams.append(
            _chain_rows(
                standalone_ledger(
                    plan.seed, first, end, plan.ledger.producer_sleep_seconds, plan.ledger.refund_probability
                )
            )
        )
    counts = summary.events
    written = 0
    ts = 0
    for ts, _, _, topic, key, record in heapq.merge(*streams):
        write(topic, key, record)
        counts[topic] += 1
        if topic == TRANSACTIONS:
            summary.revenue_cents += round(record["amount"] * 100)
        elif topic == REFUNDS:
            summary.refunds += 1
            summary.refunded_cents += round(record["refund_amount"] * 100)
        written += 1
        if progress is not None and not written & 0xFFFF:
            progress(written, ts)
    if progress is not None:
        progress(written, ts)
    return summary
