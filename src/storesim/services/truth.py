"""`storesim run truth`: the answer key of a streamed run (TRUTH_TOPIC), store by store and UTC hour.

The answer key counts the engines' own acts: visits drawn by foot-traffic, checkouts released by the POS,
refunds booked by the ledger. In a streamed run those acts happen in three services, and reading them
back from the topics would count what Kafka carried, not what happened. So this workload replays each
store's whole chain itself — engines/store_chain.py, the code of the embedded mode, whose events the
seven services reproduce byte for byte for the same seed, stores, window and settings — and keeps only
the answer key's records. It needs the world's settings of every stage for that (settings/truth.py).

An hour's record is sent once the hour can no longer change in the stream either: once the ledger's
watermark for the store has passed the hour's end. The ledger moves a store's mark to T only after every
checkout up to T (which the POS sent after the visits and shelf events before it) and every transaction
and refund up to T are committed, so a consumer reading read_committed finds the answer key's record of
an hour after that hour's events, as in the embedded mode's files. The record's Kafka timestamp is its
hour.

Stores are shared between replicas by StoreOwnership, as in the sources. Each step sends the hours that
became ready and commits, in one Kafka transaction, those records and each store's progress (the last
record's instant, in the store-control group's offsets): exactly once across restarts and rebalances.
A store taken over is replayed from the run's start without sending what its progress covers; the
replay runs at the embedded mode's speed, far ahead of the stream it checks.

A store declared while the run goes on is replayed from the instant foot-traffic started it, which
foot-traffic claims in Redis (StoreSince) before it sends any of the store's events; the replay waits
for that claim. Not followed (the replay would no longer be the stream's world): a store's changed
attributes (foot-traffic takes them from its next local day; the replay keeps the store as it was when
the replay began), and a deleted store's last hours (its replay stops with the ledger's last mark for
it, but foot-traffic stopped admitting its customers at some instant before).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from confluent_kafka import KafkaException

from storesim._time import iso_utc
from storesim.engines import ChainRules, StoreChain, Summary
from storesim.engines.store_chain import ChainRow
from storesim.events import TRUTH, Emitted
from storesim.kafka._producer import EventProducer
from storesim.services._live_stores import LiveStores
from storesim.services._runtime import ServiceRuntime
from storesim.services._wiring import add_pings, open_pricing, redis_client, run_seed, transactional_id
from storesim.settings import SettingsError, TruthSettings
from storesim.streaming import (
    Checkpoint,
    ClockState,
    CommitFailedError,
    DeadLetters,
    FencedError,
    PricingSource,
    Progress,
    RedisClock,
    StoreOwnership,
    StoreSince,
    Watermarks,
)
from storesim.world import DayPricing

__all__ = ["TRUTH_COMPONENT", "run_truth"]

TRUTH_COMPONENT = "truth"
LEDGER_STAGE = "ledger"  # the ledger's watermarks (services/ledger.py): the last stage the key counts
_NO_END = 2**40  # an open-ended run's window: far beyond any simulated instant
_AHEAD = 48  # answer-key records a replay may hold before the stream has caught up with them


class _StoreKey:
    """One store's replayed chain and the answer-key records it has not sent yet.

    The replay runs ahead of the stream (up to _AHEAD records) whenever the service has nothing to send,
    so that its CPU time overlaps the chain's instead of adding to the end of the run."""

    def __init__(self, chain: Iterator[Emitted], sent_until: int, start: int) -> None:
        self._chain = chain
        self.sent_until = sent_until  # records at or before this instant are committed
        self.reached = start  # the replay's last record's instant
        self.ahead: deque[Emitted] = deque()
        self.done = False

    def pull(self) -> bool:
        """Replays one more hour (its record kept if it is not sent yet); False once the run has ended."""
        record = next(self._chain, None)
        if record is None:
            self.done = True
            return False
        self.reached = record.ts
        if record.ts > self.sent_until:
            self.ahead.append(record)
        return True

    def ready(self, mark: int) -> Iterator[Emitted]:
        """The records of the hours that ``mark`` (the ledger's watermark of the store) has passed."""
        while True:
            while not self.ahead and self.pull():
                pass
            if not self.ahead or self.ahead[0].ts > mark:
                return
            yield self.ahead.popleft()


def _answer_key(rows: Iterator[ChainRow]) -> Iterator[Emitted]:
    for ts, _, _, topic, key, record, _ in rows:
        if topic == TRUTH:
            yield Emitted(ts, topic, key, record)


class _Truth:
    def __init__(self, settings: TruthSettings, runtime: ServiceRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.log = runtime.log
        self.metrics = runtime.metrics
        ns = settings.sim_namespace
        self.producer = EventProducer(
            settings.kafka_broker,
            settings.schema_registry_url,
            {TRUTH: settings.truth_topic},
            self.metrics,
            output_format=settings.output_format,
            transactional_id=transactional_id(settings, TRUTH_COMPONENT) if settings.exactly_once else None,
        )
        # Nothing is consumed, so nothing is dead-lettered; the checkpoint commits through the same type.
        dead = DeadLetters(self.producer, settings.dlq_topic, TRUTH_COMPONENT, self.metrics, [])
        self.checkpoint = Checkpoint(self.producer, dead, exactly_once=settings.exactly_once)
        self.client = redis_client(settings)
        self.clock = RedisClock(self.client, namespace=ns)
        self.ledger_marks = Watermarks(self.client, ns, LEDGER_STAGE)
        self.stores = LiveStores(settings, runtime.log)
        self.ownership = StoreOwnership(
            settings.kafka_broker,
            settings.store_control_topic,
            f"{ns}.{TRUTH_COMPONENT}",
            self.stores.numbers,
            on_revoke=self.on_revoke,
            on_assign=self.on_assign,
            extra={"group.instance.id": settings.replica_id},
        )
        self.since = StoreSince(self.client, ns)
        self.owned: frozenset[int] = frozenset()
        self.committed: dict[int, int] = {}  # owned store -> its committed progress
        self.keys: dict[int, _StoreKey] = {}  # owned store -> its replay, once it has begun
        self.rules: ChainRules | None = None
        self.pricing: PricingSource | None = None
        self.rewind_pending = False
        add_pings(runtime, self.producer, settings, self.clock)
        runtime.health.add_ping("inventory", lambda: self.pricing is not None)
        runtime.health.add_ping("postgres", lambda: self.pricing is not None and self.pricing.ping())
        runtime.health.add_ping(
            "stores", lambda: self.ownership.assigned and not self.rewind_pending and self.stores.declared
        )

    # -- the replayed world -----------------------------------------------------------------------
    def chain_rules(self, state: ClockState) -> ChainRules:
        """The streamed run's world: its seed, the stages' settings, and [SIM_START, SIM_END) — the local
        days from SIM_START's date to SIM_END's, as foot-traffic simulates them."""
        settings = self.settings
        start = int(settings.sim_start.timestamp()) if settings.sim_start else state.start_ms // 1000
        end = int(settings.sim_end.timestamp()) if settings.sim_end else _NO_END
        return ChainRules(
            seed=run_seed(settings, state),
            volume=settings.volume(),
            putback_prob=settings.putback_prob,
            force_checkout_if_empty=settings.force_checkout_if_empty,
            max_session_age=settings.max_session_age_sec,
            refund_probability=settings.refund_probability,
            # Its sequences are not in the answer key, but their copies are (and when they are sent).
            register=any(
                s.effects.duplicates is not None and s.effects.duplicates.covers("register")
                for s in settings.scenarios.scenarios
            ),
            ledger=True,
            start=start,
            end=end,
            first=datetime.fromtimestamp(start, UTC).date(),
            last=settings.sim_end.date() if settings.sim_end else None,
            scenarios=settings.scenarios,
        )

    def price(self, day: date) -> DayPricing:
        """The POS's prices of a day, read from Postgres the first time (see ensure_ahead)."""
        assert self.pricing is not None
        return self.pricing.ensure(day)

    def ensure_ahead(self) -> None:
        """Reads the discounts of the days the replays' next hours touch before the replays ask for them:
        an error inside a replay ends it (a generator cannot go on after raising), this one only waits."""
        assert self.pricing is not None
        for key in self.keys.values():
            day = datetime.fromtimestamp(key.reached, UTC).date()
            for offset in (-1, 0, 1, 2):
                self.pricing.ensure(day + timedelta(days=offset))

    def read_ahead(self) -> bool:
        """One more hour of every replay that is not _AHEAD records ahead; True if any moved."""
        self.ensure_ahead()
        moved = False
        for key in self.keys.values():
            if len(key.ahead) < _AHEAD and not key.done:
                moved = key.pull() or moved
        return moved

    def _replay(self, number: int, sent_until: int, since: int) -> _StoreKey:
        assert self.rules is not None
        assert self.pricing is not None
        shop, catalogue = self.stores[number], self.pricing.catalogue
        chain = StoreChain(self.rules, shop, catalogue, self.price, Summary(0), since=since)
        return _StoreKey(_answer_key(iter(chain)), sent_until, self.rules.start)

    def replay_new(self) -> None:
        """Starts the replay of each owned store once foot-traffic has claimed since when it is in the run
        (StoreSince): until then, a store declared a moment ago could be replayed from the wrong instant."""
        waiting = [n for n in self.owned if n not in self.keys]
        if not waiting:
            return
        since = self.since.read()
        for n in waiting:
            if n in since:
                self.keys[n] = self._replay(n, self.committed[n], since[n])
        self.keys = dict(sorted(self.keys.items()))

    # -- ownership --------------------------------------------------------------------------------
    def on_assign(self, owned: frozenset[int]) -> None:
        if self.rules is None or self.pricing is None:  # the first step assigns again once it has them
            self.rewind_pending = True
            return
        try:
            committed = self.ownership.progress(sorted(owned))
        except KafkaException as exc:
            self.log.warning("progress not readable; retrying", error=str(exc))
            self.keys.clear()
            self.rewind_pending = True
            return
        self.metrics.forget_stores([self.stores[n].store_id for n in set(self.keys) - owned])
        self.keys = {n: key for n, key in self.keys.items() if n in owned}
        self.owned = owned
        self.committed = {n: progress.until for n, progress in committed.items()}
        self.rewind_pending = False
        self.log.info("stores assigned", stores=sorted(owned))

    def on_revoke(self, gone: frozenset[int]) -> None:
        self.metrics.forget_stores([self.stores[n].store_id for n in self.keys])
        self.keys.clear()
        self.owned = frozenset()
        self.log.info("stores revoked", stores=sorted(gone))

    def rewind(self) -> None:
        """Back to the committed progress of every store owned: their replays start over."""
        self.keys.clear()
        self.on_assign(self.ownership.owned)

    # -- the loop ---------------------------------------------------------------------------------
    def step(self) -> bool:
        """Sends and commits the records that became ready; True when it sent any."""
        self.replay_new()
        marks = self.ledger_marks.read()
        self.ensure_ahead()
        self.checkpoint.begin()
        sent: dict[str, str] = {}  # store -> the last hour sent, for the log
        for number, key in self.keys.items():
            mark = marks.get(number)
            if mark is None:
                continue
            store_id = self.stores[number].store_id
            for record in key.ready(mark):
                self.producer.send(TRUTH, record.key, record.record, timestamp_ms=record.record["hour"])
                key.sent_until = record.ts
                self.metrics.store_last_event.labels(store_id=store_id).set(record.ts)
                sent[store_id] = iso_utc(record.record["hour"] // 1000)
        if sent:
            progress = {n: Progress(self.committed[n]) for n in self.owned}
            progress.update((n, Progress(key.sent_until)) for n, key in self.keys.items())
            self.checkpoint.commit(self.ownership.consumer, self.ownership.progress_offsets(progress))
            self.log.info("hours sent", through=sent)
        return bool(sent)

    def prepare(self) -> bool:
        """The clock, the prices, the transactional producer and the group: False while one is missing."""
        self.producer.resolve_schemas()
        state = self.clock.state(refresh=True)
        if state is None:
            return False
        if self.rules is None:
            self.rules = self.chain_rules(state)
            self.log.info("replaying", seed=self.rules.seed, stores=list(self.stores.numbers))
        if self.pricing is None:
            self.pricing = open_pricing(self.settings, self.log)
            if self.pricing is None:
                return False
        self.checkpoint.prepare()
        if (fatal := self.ownership.poll()) is not None:
            self.log.warning("group member renewed after a fatal error", error=fatal.str())
        if self.stores.refresh() is not None:
            self.ownership.set_stores(self.stores.numbers)
        if self.rewind_pending:
            self.rewind()
        return not self.rewind_pending

    def run(self) -> int:
        while not self.runtime.stopping.is_set():
            try:
                if not self.prepare():
                    self.runtime.wait(1.0)
                    continue
                if self.step() or self.read_ahead():
                    continue
            except FencedError as exc:
                self.log.error("stopping", error=str(exc))
                return 1
            except SettingsError:  # a promotion the inventory cannot have: no retry mends it
                raise
            except CommitFailedError as exc:
                self.log.warning("step not committed; rewinding", error=str(exc))
                self.rewind_pending = True
            except KafkaException as exc:  # a produce refused mid-step: redo it from the commit
                try:
                    self.checkpoint.recover(exc)
                except FencedError as fenced:
                    self.log.error("stopping", error=str(fenced))
                    return 1
                self.log.warning("kafka error in a step; rewinding", error=str(exc))
                self.rewind_pending = True
            except Exception as exc:  # registry, Redis, Postgres away: not ready, start the step over
                self.log.warning("waiting for dependencies", error=str(exc))
                with contextlib.suppress(Exception):
                    self.checkpoint.abort()
                self.rewind_pending = True
                self.runtime.wait(1.0)
                continue
            self.runtime.wait(self.settings.sleep)
        return 0

    def close(self) -> None:
        with contextlib.suppress(Exception):  # what is not committed is sent again by the next owner
            self.checkpoint.abort()
        self.ownership.close()


def run_truth(settings: TruthSettings) -> int:
    settings.refuse_unstreamed()
    if settings.ledger_mode != "coherent":
        raise SettingsError(
            "invalid setting LEDGER_MODE=standalone: the stand-alone ledger's refunds have no answer key"
        )
    runtime = ServiceRuntime(TRUTH_COMPONENT, settings.metrics_port).start()
    service = _Truth(settings, runtime)
    try:
        return service.run()
    finally:
        service.close()
        runtime.log.info("stopped")
        runtime.close()
