"""`storesim run foot-traffic`: the foot-traffic engine as a source service.

It simulates the local days of the stores it owns (its share of the stores, see StoreOwnership) from
SIM_START's date to SIM_END's (exclusive; open-ended without it) and sends each event when the simulated
clock reaches it: sessions to KAFKA_TOPIC at entry, door events to KAFKA_TOPIC_REALISTIC. Events before
SIM_START are skipped. After every delivered round it publishes, per store, the instant up to which
everything is in Kafka: the watermark the shelf waits for, and where a replica that takes the store over
(or this one, restarted) resumes.

The stores follow STORES_FILE while it runs (LiveStores): a store declared later starts at the clock's
instant of that moment (the events it would have had before are never sent; the instant is claimed in
Redis, StoreSince, so that restarts, other replicas and the answer key agree on it), a deleted one stops
admitting customers at once, and a changed one takes its new attributes from its next local day, so that
a day's visits always come from one model (no exit without its entry).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

from storesim._keys import decode_customer_id
from storesim._time import epoch_day, epoch_day_at, local_day
from storesim.engines import FootTrafficEngine
from storesim.events import FOOT_TRAFFIC, FOOT_TRAFFIC_REALISTIC, Emitted
from storesim.kafka._producer import EventProducer
from storesim.services._live_stores import LiveStores
from storesim.services._runtime import ServiceRuntime
from storesim.services._wiring import add_pings, redis_client, run_seed
from storesim.settings import FootTrafficSettings
from storesim.streaming import RedisClock, StoreOwnership, StoreSince, Watermarks
from storesim.world import ScenarioBook, Store

__all__ = ["FOOT_STAGE", "run_foot_traffic", "scenario_states", "store_events"]

FOOT_STAGE = "foot-traffic"
_SLICE = 3 * 3600


def store_events(
    engine: FootTrafficEngine, shop: Store | Callable[[], Store], first: date, last: date | None
) -> Iterator[Emitted]:
    """A store's foot-traffic events, day after day, in the embedded mode's order. ``shop`` may be a
    function, asked at each day's start: a running service's store whose attributes can change."""
    day = first
    while last is None or day < last:
        today = shop() if callable(shop) else shop
        local = local_day(epoch_day(day), today.timezone)
        events = [event for session in engine.sessions(today, local) for event in engine.events(session)]
        # A stable sort by time: ties keep the embedded mode's order (by visit: session, entry, exit).
        yield from sorted(events, key=lambda event: event.ts)
        day += timedelta(days=1)


def scenario_states(book: ScenarioBook, number: int, timezone: str, instant: int) -> dict[str, bool]:
    """Each scenario that applies to store ``number`` (in ``timezone``), and whether it acts at
    ``instant``: what foot-traffic exports as storesim_scenario_active."""
    if not book:
        return {}
    acting = {scenario.name for scenario in book.at(number, timezone, instant)}
    return {s.name: s.name in acting for s in book.scenarios if s.applies_to(number)}


class _StoreFeed:
    """One store's events, waiting for the clock, and its visits of the day so far."""

    def __init__(self, events: Iterator[Emitted], skip_until: int, count_from: int) -> None:
        self._events = events
        self._skip_until = skip_until
        self._count_from = count_from  # visits before this instant were never simulated here
        self.next: Emitted | None = None
        self.marked = skip_until  # delivered up to here
        self.day, self.visits = -1, 0  # the local day of the latest visit, and its visits up to it
        self._advance()

    def _count(self, event: Emitted) -> None:
        if event.topic == FOOT_TRAFFIC and event.ts > self._count_from:
            day = decode_customer_id(event.record["customer_id"]).day
            self.day, self.visits = day, (self.visits + 1 if day == self.day else 1)

    def _advance(self) -> None:
        self.next = next(self._events, None)
        while self.next is not None and self.next.ts <= self._skip_until:
            self._count(self.next)
            self.next = next(self._events, None)

    def visits_on(self, day: int) -> int:
        """Visits of local day ``day`` up to the events skipped or sent so far."""
        return self.visits if day == self.day else 0

    def due(self, now: int) -> Iterator[Emitted]:
        while self.next is not None and self.next.ts <= now:
            event = self.next
            self._count(event)
            self._advance()
            yield event


class _FootTraffic:
    def __init__(self, settings: FootTrafficSettings, runtime: ServiceRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.log = runtime.log
        names = {FOOT_TRAFFIC: settings.kafka_topic, FOOT_TRAFFIC_REALISTIC: settings.kafka_topic_realistic}
        self.producer = EventProducer(
            settings.kafka_broker,
            settings.schema_registry_url,
            names,
            runtime.metrics,
            output_format=settings.output_format,
        )
        self.client = redis_client(settings)
        self.clock = RedisClock(self.client, namespace=settings.sim_namespace)
        self.marks = Watermarks(self.client, settings.sim_namespace, FOOT_STAGE)
        self.stores = LiveStores(settings, runtime.log)
        self.joined: dict[int, int] = {}  # stores declared while running: the clock's instant then
        self.since = StoreSince(self.client, settings.sim_namespace)  # ... as the first replica claimed it
        self.ownership = StoreOwnership(
            settings.kafka_broker,
            settings.store_control_topic,
            f"{settings.sim_namespace}.foot-traffic",
            self.stores.numbers,
            on_revoke=self.on_revoke,
            on_assign=self.on_assign,
        )
        self.feeds: dict[int, _StoreFeed] = {}
        self.engine: FootTrafficEngine | None = None
        self.clock_start = 0
        self.behind = False
        add_pings(runtime, self.producer, settings, self.clock)
        runtime.health.add_ping("stores", lambda: self.ownership.assigned and self.stores.declared)

    def on_assign(self, owned: frozenset[int]) -> None:
        assert self.engine is not None
        settings = self.settings
        start = int(settings.sim_start.timestamp()) if settings.sim_start else self.clock_start
        first = datetime.fromtimestamp(start, UTC).date()
        last = settings.sim_end.date() if settings.sim_end else None
        marks = self.marks.read()
        kept = {n: feed for n, feed in self.feeds.items() if n in owned}
        self._forget(set(self.feeds) - owned)
        new = sorted(owned - set(kept))
        since = self.since.claim({n: self.joined.get(n, start - 1) for n in new})
        for n in new:
            # A store deleted and declared again goes on from its second declaration (this replica's).
            begins = max(since[n], self.joined.get(n, -1))
            events = store_events(self.engine, self._store_of(n), first, last)
            kept[n] = _StoreFeed(events, max(start - 1, marks.get(n, -1), begins), begins)
        self.feeds = dict(sorted(kept.items()))
        self.log.info("stores assigned", stores=sorted(owned))

    def _store_of(self, number: int) -> Callable[[], Store]:
        return lambda: self.stores[number]

    def _forget(self, numbers: set[int]) -> None:
        self.runtime.metrics.forget_stores([self.stores[n].store_id for n in numbers])

    def on_revoke(self, gone: frozenset[int]) -> None:
        """Everything sent is delivered and marked before another replica takes the stores over."""
        self.producer.flush(8)
        self._forget(set(self.feeds))
        self.feeds.clear()
        self.log.info("stores revoked", stores=sorted(gone))

    def follow_stores(self, clock_now: int) -> None:
        """Takes in a new STORES_FILE: a store declared now starts at ``clock_now``; the stores of a file that
        only now appeared are the run's own, from its start (as if the file had been there all along)."""
        change = self.stores.refresh()
        if change is None:
            return
        if not change.appeared:
            self.joined.update(dict.fromkeys(change.added, clock_now))
        self.ownership.set_stores(self.stores.numbers)

    def step(self) -> None:
        state = self.clock.state(refresh=True)
        if state is None:
            return
        if self.engine is None:
            seed = run_seed(self.settings, state)
            self.engine = FootTrafficEngine(seed, self.settings.volume(), self.settings.scenarios)
            self.clock_start = state.start_ms // 1000
            self.log.info("simulating", seed=seed, stores=list(self.stores.numbers))
        if (fatal := self.ownership.poll()) is not None:
            self.log.warning("group member renewed after a fatal error", error=fatal.str())
        clock_now = state.now_ms(self.clock.wall_ms()) // 1000
        self.follow_stores(clock_now)
        # A backfill goes in slices of simulated time, so that the stages downstream start at once.
        now = min(clock_now, min((f.marked for f in self.feeds.values()), default=clock_now) + _SLICE)
        metrics = self.runtime.metrics
        for number, feed in self.feeds.items():
            shop = self.stores[number]
            for event in feed.due(now):
                self.producer.send(event.topic, event.key, event.record)
                metrics.store_last_event.labels(store_id=shop.store_id).set(event.ts)
                if event.topic == FOOT_TRAFFIC:
                    metrics.sessions.labels(store_id=shop.store_id).inc()
            today = feed.visits_on(epoch_day_at(now, shop.timezone))
            metrics.store_sessions_today.labels(store_id=shop.store_id).set(today)
            self.report_scenarios(number, shop, now)
        if self.producer.drain(self.runtime.stopping.is_set):
            raise RuntimeError("stopping before Kafka confirmed the events")
        # Every event at or before now is delivered: the watermark the shelf waits for.
        self.marks.advance(dict.fromkeys(self.feeds, now))
        for feed in self.feeds.values():
            feed.marked = max(feed.marked, now)
        self.behind = now < clock_now

    def report_scenarios(self, number: int, shop: Store, now: int) -> None:
        """storesim_scenario_active of each scenario that names the store (or every store): 1 while its
        window covers ``now``, the instant up to which the store's events are sent."""
        for name, active in scenario_states(self.settings.scenarios, number, shop.timezone, now).items():
            self.runtime.metrics.set_scenario_active(name, shop.store_id, active)

    def run(self) -> None:
        while not self.runtime.stopping.is_set():
            try:
                self.producer.resolve_schemas()
                self.step()
            except Exception as exc:  # registry, Redis or Kafka away: not ready, try again
                self.log.warning("waiting for dependencies", error=str(exc))
                self.runtime.wait(1.0)
                continue
            if self.behind:
                continue
            idle = all(feed.next is None for feed in self.feeds.values())
            self.runtime.wait(self.settings.sleep * (10 if idle and self.feeds else 1))


def run_foot_traffic(settings: FootTrafficSettings) -> int:
    settings.refuse_unstreamed()
    runtime = ServiceRuntime("foot-traffic", settings.metrics_port).start()
    service = _FootTraffic(settings, runtime)
    try:
        service.run()
    finally:
        undelivered = service.producer.flush(8)
        service.ownership.close()
        runtime.log.info("stopped", undelivered=undelivered)
        runtime.close()
    return 0
