"""One store's whole chain — foot traffic, shelf, POS, register, ledger and the answer key — as one
time-ordered stream of events, without Kafka, Redis or files.

A source event at instant t first releases everything due before t (checkouts, logouts, refunds), then
is applied; after that nothing earlier than t can appear any more, so the events before t leave the
store's buffer. Memory holds the customers in the store at that moment, not the day. The embedded mode
merges these streams across stores; the streamed answer key (services/truth.py) runs one per store it
owns and keeps only the answer key's records: the same code, so the same world.

The chain covers the instants [start, end) of its rules' window, as a streamed backfill covers
[SIM_START, SIM_END): a source event outside it is never sent (so it has no consequences either), and
what falls due at or after the end is left in the buffer (``Summary.after_end`` counts it).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from storesim._time import epoch_day, local_day
from storesim.engines.duplicates import Duplicates
from storesim.engines.foot_traffic import FootTrafficEngine, Session
from storesim.engines.ledger import LedgerEngine
from storesim.engines.pos import PosEngine, PosInputError
from storesim.engines.register import RegisterEngine
from storesim.engines.shelf import ShelfEngine
from storesim.engines.truth import TruthEngine
from storesim.events._topics import FOOT_TRAFFIC, SHELF_EVENTS, TRUTH, Emitted, Record
from storesim.world import (
    Catalogue,
    DayPricing,
    DuplicateStage,
    ScenarioBook,
    Store,
    TrafficVolume,
    UplinkOutages,
)

__all__ = ["ChainRow", "ChainRules", "StoreChain", "Summary"]


# (ts, store number, sequence, topic, key, record, late): ordered by the first three, which are unique
# across the stores' streams (a stream's own rows are in time order). ``late``: an uplink outage held the
# row, and ts is its release.
ChainRow = tuple[int, int, int, str, str, Record, bool]


@dataclass(frozen=True, slots=True)
class ChainRules:
    """The world's rules (each stage's settings) and the run's window: what makes two chains alike."""

    seed: int
    volume: TrafficVolume
    putback_prob: float
    force_checkout_if_empty: bool
    max_session_age: int
    refund_probability: float
    register: bool  # the coherent register (not the seed's stand-alone loop)
    ledger: bool  # the coherent ledger
    start: int  # the window [start, end) in UTC seconds
    end: int
    first: date  # the first local day simulated
    last: date | None  # the day after the last one; None: open-ended
    scenarios: ScenarioBook = field(default_factory=ScenarioBook)

    def dates(self) -> Iterator[date]:
        day = self.first
        while self.last is None or day < self.last:
            yield day
            day += timedelta(days=1)


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


class StoreChain:
    """One store's chain, day after day, yielding its events in time order."""

    def __init__(
        self,
        rules: ChainRules,
        store: Store,
        catalogue: Catalogue,
        pricing: Callable[[date], DayPricing],
        summary: Summary,
        since: int | None = None,
    ) -> None:
        """``since``: the store joined a streamed run then (StoreSince); its chain starts after it."""
        self.rules = rules
        self.store = store
        self.summary = summary
        self.pricing = pricing
        active = self._scenarios_at if rules.scenarios else None
        self.truth = TruthEngine(store.store_id, rules.start, rules.end, since=since, scenarios=active)
        stores = {store.number: store}.__getitem__
        self.foot = FootTrafficEngine(rules.seed, rules.volume, rules.scenarios)
        self.shelf = ShelfEngine(
            rules.seed, rules.putback_prob, scenarios=rules.scenarios, on_fault=self.truth.sensor_fault
        )
        self.pos = PosEngine(
            catalogue,
            pricing,
            force_checkout_if_empty=rules.force_checkout_if_empty,
            max_session_age=rules.max_session_age,
            seed=rules.seed,
            scenarios=rules.scenarios,
            stores=stores,
            on_shrink=lambda _store, instant, units, cents: self.truth.shrink(instant, units, cents),
        )
        self.register = RegisterEngine(rules.seed, store, rules.scenarios) if rules.register else None
        self.ledger = LedgerEngine(rules.seed, rules.refund_probability, stores) if rules.ledger else None
        self.copies = {
            stage: Duplicates(rules.seed, rules.scenarios, stage, stores)
            for stage in ("pos", "register", "ledger")
        }
        self._since = since
        # Released at the run's end at the latest; an open-ended run's stages release them themselves.
        release_by = rules.end if rules.last is not None else None
        outages = UplinkOutages(rules.scenarios, store.number, store.timezone, release_by)
        # None without any: tested at every event, where a plain None test is cheaper than __bool__.
        self._outages = outages if outages else None
        self._out: list[tuple[int, int, str, str, Record]] = []
        self._seq = 0

    def _scenarios_at(self, start: int, end: int) -> list[str]:
        """The scenarios acting on the store in [start, end): its local days around that UTC time."""
        utc_day = datetime.fromtimestamp(start, UTC).date()
        zone = self.store.timezone
        days = (local_day(epoch_day(utc_day + timedelta(days=k)), zone) for k in (-1, 0, 1))
        return self.rules.scenarios.active(self.store.number, days, start, end)

    def _late(self, ts: int) -> None:
        """Counts a message an outage will hold, when it is made (its hour is still open then)."""
        release = self._release_of(ts)
        if release is not None:
            self.truth.late(ts, release - ts)

    def _emit(self, events: list[Emitted] | tuple[Emitted, ...]) -> None:
        for event in events:
            if self._outages and event.topic != TRUTH:
                self._late(event.ts)
            self._seq += 1
            heapq.heappush(self._out, (event.ts, self._seq, event.topic, event.key, event.record))

    def _send(self, stage: DuplicateStage, events: list[Emitted], checkout: Record) -> None:
        """A stage's events of one checkout, with the copies a duplicates scenario adds."""
        duplicates = self.copies[stage]
        if duplicates:
            events, copies = duplicates.expand(events, checkout)
            self.truth.duplicates(copies)
        self._emit(events)

    def _release(self, until: int) -> None:
        """Everything due at or before ``until``: checkouts and what follows from them, logouts, refunds."""
        for checkout in self.pos.due(until):
            self.summary.checkouts += 1
            self.truth.checkout(checkout)
            self._send("pos", [checkout], checkout.record)
            if self.register is not None:
                self._send("register", self.register.on_checkout(checkout.record), checkout.record)
            if self.ledger is not None:
                self._send("ledger", self.ledger.on_checkout(checkout.record), checkout.record)
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

    def _drain_before(self, ts: int) -> Iterator[ChainRow]:
        out, number = self._out, self.store.number
        while out and out[0][0] < ts:
            when, seq, topic, key, record = heapq.heappop(out)
            yield when, number, seq, topic, key, record, False

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

    def __iter__(self) -> Iterator[ChainRow]:
        return self._held(self._rows()) if self._outages else self._rows()

    def _release_of(self, ts: int) -> int | None:
        """When a message sent at ``ts`` reaches Kafka, if an outage holds it."""
        return None if self._outages is None else self._outages.release_of(ts)

    def _held(self, rows: Iterator[ChainRow]) -> Iterator[ChainRow]:
        """``rows`` with the ones an outage holds moved to its release, in their order. The answer key's
        records are not the store's messages: they pass."""
        held: list[ChainRow] = []
        release = 0
        for row in rows:
            if held and row[0] >= release:
                yield from ((release, *rest, True) for _, *rest, _ in held)  # type: ignore[misc]
                held.clear()
            if row[3] != TRUTH and (when := self._release_of(row[0])) is not None:
                held.append(row)
                release = when
                continue
            yield row
        yield from ((release, *rest, True) for _, *rest, _ in held)  # type: ignore[misc]

    def _rows(self) -> Iterator[ChainRow]:
        start, end = self.rules.start, self.rules.end
        if self._since is not None:
            start = max(start, self._since + 1)
        out, number, pop, push = self._out, self.store.number, heapq.heappop, heapq.heappush
        for day_date in self.rules.dates():
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
                        yield when, number, seq, topic, key, record, False
                self._seq += 1
                push(out, (ts, self._seq, event.topic, event.key, event.record))
                if self._outages:
                    self._late(ts)
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
