"""`storesim run foot-traffic`: the foot-traffic engine as a source service.

It simulates the local days of STORE_IDS from SIM_START's date to SIM_END's (exclusive; open-ended
without it) and sends each event when the simulated clock reaches it: sessions to KAFKA_TOPIC at entry,
door events to KAFKA_TOPIC_REALISTIC. Events before SIM_START are skipped. After every flushed round it
checkpoints, per store, the last instant it delivered, so a restart resumes instead of repeating.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import redis

from storesim._time import epoch_day, local_day
from storesim.engines import FootTrafficEngine
from storesim.events import FOOT_TRAFFIC, FOOT_TRAFFIC_REALISTIC, Emitted
from storesim.kafka._producer import EventProducer
from storesim.service import RedisClock
from storesim.services._runtime import ServiceRuntime
from storesim.settings import FootTrafficSettings
from storesim.world import Store, store

__all__ = ["PROGRESS_KEY", "run_foot_traffic", "store_events"]

PROGRESS_KEY = "storesim:progress:foot-traffic"


def store_events(engine: FootTrafficEngine, shop: Store, first: date, last: date | None) -> Iterator[Emitted]:
    """A store's foot-traffic events, day after day, in the embedded mode's order."""
    day = first
    while last is None or day < last:
        local = local_day(epoch_day(day), shop.timezone)
        events = [event for session in engine.sessions(shop, local) for event in engine.events(session)]
        # A stable sort by time: ties keep the embedded mode's order (by visit: session, entry, exit).
        yield from sorted(events, key=lambda event: event.ts)
        day += timedelta(days=1)


class _StoreFeed:
    """One store's events, waiting for the clock."""

    def __init__(self, events: Iterator[Emitted], skip_until: int) -> None:
        self._events = events
        self._skip_until = skip_until
        self.next: Emitted | None = None
        self.last_sent = skip_until
        self._advance()

    def _advance(self) -> None:
        self.next = next(self._events, None)
        while self.next is not None and self.next.ts <= self._skip_until:
            self.next = next(self._events, None)

    def due(self, now: int) -> Iterator[Emitted]:
        while self.next is not None and self.next.ts <= now:
            event = self.next
            self.last_sent = event.ts
            self._advance()
            yield event


def run_foot_traffic(settings: FootTrafficSettings) -> int:
    runtime = ServiceRuntime("foot-traffic", settings.metrics_port).start()
    log, metrics = runtime.log, runtime.metrics
    names = {FOOT_TRAFFIC: settings.kafka_topic, FOOT_TRAFFIC_REALISTIC: settings.kafka_topic_realistic}
    producer = EventProducer(
        settings.kafka_broker,
        settings.schema_registry_url,
        names,
        metrics,
        output_format=settings.output_format,
    )
    client = redis.Redis(settings.redis_host, settings.redis_port, settings.redis_db, socket_timeout=2)
    clock = RedisClock(client)
    runtime.health.add_ping("kafka", producer.ping)
    runtime.health.add_ping("schemas", lambda: producer.ready)
    runtime.health.add_ping("redis", lambda: bool(client.ping()))
    runtime.health.add_ping("clock", lambda: clock.state(refresh=False) is not None)

    seed = settings.seed if settings.seed is not None else secrets.randbelow(2**31)
    engine = FootTrafficEngine(seed, settings.volume())
    start = settings.sim_start
    log.info(
        "simulating", seed=seed, stores=list(settings.store_ids), start=str(start), end=str(settings.sim_end)
    )
    feeds: dict[int, _StoreFeed] | None = None
    try:
        while not runtime.stopping.is_set():
            try:
                producer.resolve_schemas()
                state = clock.state(refresh=True)
            except Exception as exc:  # registry or Redis away: not ready, try again
                log.warning("waiting for dependencies", error=str(exc))
                runtime.wait(1.0)
                continue
            if state is None:
                runtime.wait(settings.sleep)
                continue
            if feeds is None:
                feeds = _open_feeds(settings, engine, client, state.start_ms // 1000)
            now = state.now_ms(clock.wall_ms()) // 1000
            sent = 0
            for number, feed in feeds.items():
                for event in feed.due(now):
                    producer.send(event.topic, event.key, event.record)
                    if event.topic == FOOT_TRAFFIC:
                        metrics.sessions.labels(store_id=store(number).store_id).inc()
                    sent += 1
            if sent and producer.flush(30) == 0:
                client.hset(PROGRESS_KEY, mapping={str(n): f.last_sent for n, f in feeds.items()})
            if all(feed.next is None for feed in feeds.values()):
                runtime.wait(settings.sleep * 10)
            else:
                runtime.wait(settings.sleep)
    finally:
        undelivered = producer.flush(8)
        log.info("stopped", undelivered=undelivered)
        runtime.close()
    return 0


def _open_feeds(
    settings: FootTrafficSettings, engine: FootTrafficEngine, client: redis.Redis, clock_start: int
) -> dict[int, _StoreFeed]:
    start = int(settings.sim_start.timestamp()) if settings.sim_start else clock_start
    first = (
        settings.sim_start.date() if settings.sim_start else datetime.fromtimestamp(clock_start, UTC).date()
    )
    last = settings.sim_end.date() if settings.sim_end else None
    progress = {int(k): int(v) for k, v in client.hgetall(PROGRESS_KEY).items()}
    return {
        number: _StoreFeed(
            store_events(engine, store(number), first, last), max(start - 1, progress.get(number, -1))
        )
        for number in settings.store_ids
    }
