"""`storesim run shelf`: the shelf engine over foot_traffic, writing to the Redis stream REDIS_STREAM
(forwarded by the redis-kafka-bridge) or, with SHELF_OUTPUT=kafka, straight to Kafka.

Each session read from foot_traffic schedules its pickups and putbacks; an action is written when the
event time it is safe to act on (the foot-traffic watermark, see streaming/_gate.py) and the simulated
clock have both reached it. After every batch the shelf publishes, per foot_traffic partition it owns,
the instant up to which it has written everything. The committed offset of a partition is the oldest
session with actions still to come, so a replica that takes a partition over re-reads those sessions and
skips the actions written already: none lost, none twice.

A foot_traffic message that is no session of this run (undecodable, a stranger's customer, an unknown
store, an exit before the entry, an entry after the run's end) goes to the dead-letter topic, flushed
before the offsets past it are committed; no input, and no error applying one, stops the service.
"""

from __future__ import annotations

import heapq
import json
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import redis
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from storesim._time import day_date, local_day
from storesim.engines import Session, ShelfEngine
from storesim.events import FOOT_TRAFFIC, SHELF_EVENTS, Emitted
from storesim.kafka._producer import EventProducer
from storesim.services._live_stores import LiveStores
from storesim.services._runtime import ServiceRuntime
from storesim.services._wiring import (
    add_pings,
    consume_into,
    consumer_conf,
    open_pricing,
    redis_client,
    run_seed,
)
from storesim.services.foot_traffic import FOOT_STAGE
from storesim.settings import SettingsError, ShelfSettings
from storesim.streaming import (
    Customers,
    DeadLetters,
    DecodeError,
    EventTimeGate,
    InputError,
    PricingSource,
    RecordDecoder,
    RedisClock,
    Watermarks,
)
from storesim.world import Store

__all__ = ["SHELF_APPENDED_STAGE", "SHELF_STAGE", "run_shelf", "session_of"]

SHELF_STAGE = "shelf"  # delivered to Kafka (by the bridge, or by the shelf itself)
SHELF_APPENDED_STAGE = "shelf-appended"  # written to the Redis stream
_BATCH = 5000


def session_of(
    record: dict[str, Any], stores: Mapping[int, Store], customers: Customers, end_ms: int | None = None
) -> Session:
    """The engine's Session of a foot_traffic record; InputError when it cannot be one of this run's."""
    customer = record["customer_id"]
    key = customers.key_of(customer)
    if key.store not in stores:
        raise InputError("unknown-store", f"store {key.store} is not one of this run's stores")
    shop = stores[key.store]
    entry, exit_time = record["entry_time"] // 1000, record["exit_time"] // 1000
    if exit_time <= entry:
        raise InputError("invalid-session", f"exit {exit_time} is not after entry {entry}")
    if end_ms is not None and record["entry_time"] >= end_ms:
        raise InputError("after-end", f"entry {entry} is not before the run's end")
    return Session(
        customer_id=customer,
        key=key,
        store=shop,
        day=local_day(key.day, shop.timezone),
        entry=entry,
        exit=exit_time,
        minutes=(exit_time - entry) // 60,
        time_slot=str(record.get("time_slot") or ""),
    )


@dataclass
class _Partition:
    """One foot_traffic partition's actions waiting for their time, and where to resume it."""

    written_until: int  # actions at or before this instant are out already (by us or a former owner)
    actions: list[tuple[int, int, Emitted, int]] = field(default_factory=list)  # (ts, seq, event, offset)
    waiting: dict[int, int] = field(default_factory=dict)  # session offset → actions still to write


@dataclass
class _Held:
    """A session of a store the stores file does not name yet: it waits for the file until ``deadline``
    (monotonic seconds), and the partition's output waits for it."""

    number: int
    offset: int
    entry: int
    message: Message
    record: dict[str, Any]
    deadline: float


class _Shelf:
    def __init__(self, settings: ShelfSettings, runtime: ServiceRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.log = runtime.log
        self.metrics = runtime.metrics
        self.client = redis_client(settings)
        self.clock = RedisClock(self.client, namespace=settings.sim_namespace)
        ns = settings.sim_namespace
        self.foot_marks = Watermarks(self.client, ns, FOOT_STAGE)
        self.delivered = Watermarks(self.client, ns, SHELF_STAGE)
        self.appended = Watermarks(self.client, ns, SHELF_APPENDED_STAGE)
        self.to_redis = settings.shelf_output == "redis"
        outputs = {} if self.to_redis else {SHELF_EVENTS: settings.kafka_topic_shelf}
        self.producer = EventProducer(
            settings.kafka_broker,
            settings.schema_registry_url,
            {**outputs, FOOT_TRAFFIC: settings.kafka_topic_foot},
            self.metrics,
            output_format=settings.output_format,
        )
        self.dead = DeadLetters(
            self.producer, settings.dlq_topic, "shelf", self.metrics, [settings.kafka_topic_foot]
        )
        self.decoder = RecordDecoder(settings.schema_registry_url)
        self.consumer = Consumer(consumer_conf(settings.kafka_broker, settings.shelf_group_id))
        self.stores = LiveStores(settings, runtime.log)
        self.gate = EventTimeGate(
            lambda: self.consumer, lambda: self.foot_marks.low(self.stores.numbers), self.metrics
        )
        self.partitions: dict[int, _Partition] = {}
        self.parts = 0
        self.pricing: PricingSource | None = None
        self.engine: ShelfEngine | None = None
        self.customers: Customers | None = None
        self.closing = False
        # Sessions whose day's discounts are not read yet: (partition, session, offset, message).
        self.stalled: list[tuple[int, Session, int, Message]] = []
        self.held: list[_Held] = []  # sessions of a store not declared here yet
        self.seq = 0
        add_pings(runtime, self.producer, settings, self.clock)
        runtime.health.add_ping("inventory", lambda: self.pricing is not None)
        runtime.health.add_ping("stores", lambda: self.stores.declared)
        runtime.health.add_ping("postgres", lambda: self.pricing is not None and self.pricing.ping())

    # -- partitions -------------------------------------------------------------------------------
    def _marks(self) -> Watermarks:
        return self.appended if self.to_redis else self.delivered

    def on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        if self.closing:  # a rebalance that completes inside close(): the next owner takes them
            return
        committed = consumer.committed(assigned, timeout=10)
        marks = self._marks().read()
        starts: dict[tuple[str, int], int] = {}
        for tp in committed:
            if tp.offset < 0:
                tp.offset = consumer.get_watermark_offsets(tp, timeout=10)[0]
            starts[(tp.topic, tp.partition)] = tp.offset
            self.partitions[tp.partition] = _Partition(written_until=marks.get(tp.partition, -1))
        metadata = consumer.list_topics(self.settings.kafka_topic_foot, timeout=10)
        self.parts = len(metadata.topics[self.settings.kafka_topic_foot].partitions)
        self.gate.reset(starts)
        consumer.assign(committed)
        self.log.info("assigned", partitions=sorted(self.partitions), starts=list(starts.values()))

    def on_revoke(self, consumer: Consumer, revoked: list[TopicPartition]) -> None:
        self._commit(asynchronous=False)
        self.partitions.clear()
        self.stalled.clear()
        self.held.clear()
        self.gate.reset({})
        self.log.info("revoked", partitions=[tp.partition for tp in revoked])

    def reread(self) -> None:
        """Back to the committed offsets of the partitions held (what was read since is read again)."""
        held = [TopicPartition(tp.topic, tp.partition) for tp in self.consumer.assignment()]
        self.partitions.clear()
        self.stalled.clear()
        self.held.clear()
        self.dead.aborted()
        if held:
            self.on_assign(self.consumer, held)

    def _commit(self, asynchronous: bool = True) -> None:
        if self.dead.pending:  # at least once: the dead letters are out before the offsets past them
            if self.producer.flush(10):
                return
            self.dead.committed()
        offsets = []
        for number, part in self.partitions.items():
            position = self.gate.positions.get((self.settings.kafka_topic_foot, number))
            if position is None:
                continue
            oldest = min((o for o, n in part.waiting.items() if n), default=position)
            oldest = min([oldest, *(o for p, _, o, _ in self.stalled if p == number)])
            oldest = min([oldest, *(h.offset for h in self.held if h.number == number)])
            offsets.append(TopicPartition(self.settings.kafka_topic_foot, number, oldest))
        if offsets:
            try:
                if asynchronous:
                    self.consumer.commit(offsets=offsets, asynchronous=True)
                else:
                    self.consumer.commit(offsets=offsets, asynchronous=False)
            except Exception as exc:  # a commit lost to a rebalance only means re-reading a little more
                self.log.warning("commit failed", error=str(exc))

    # -- input ------------------------------------------------------------------------------------
    def take(self, message: Message) -> None:
        number, offset = int(message.partition() or 0), int(message.offset() or 0)
        if number not in self.partitions:
            self.gate.consumed(str(message.topic()), number, offset)
            return
        try:
            record = self.decoder.decode(FOOT_TRAFFIC, self.settings.kafka_topic_foot, message.value())
        except DecodeError as exc:
            self.gate.consumed(str(message.topic()), number, offset)
            self.dead.send(message, exc.reason, exc.detail)
            return
        self.gate.consumed(str(message.topic()), number, offset)  # after decoding: see consume_into
        grace = self.settings.unknown_store_grace_seconds if self.stores.follows_file else 0
        self.admit(
            _Held(number, offset, record["entry_time"] // 1000, message, record, time.monotonic() + grace)
        )

    def admit(self, item: _Held) -> None:
        """The session to schedule; held while its store is unknown here and its grace lasts, then
        dead-lettered."""
        assert self.customers is not None
        state = self.clock.state(refresh=False)
        end_ms = state.end_ms if state is not None else None
        try:
            session = session_of(item.record, self.stores, self.customers, end_ms)
        except InputError as exc:
            if exc.reason == "unknown-store" and time.monotonic() < item.deadline:
                self.held.append(item)
            else:
                self.dead.send(item.message, exc.reason, exc.detail)
            return
        except Exception as exc:  # no input may stop the service, whatever it trips over
            self.log.error("input not applicable", offset=item.offset, error=repr(exc))
            self.dead.send(item.message, "unprocessable", f"{type(exc).__name__}: {exc}")
            return
        self.metrics.child(self.metrics.consumed, self.settings.kafka_topic_foot, "foot_traffic").inc()
        self.stalled.append((item.number, session, item.offset, item.message))

    def release(self, stores_changed: bool) -> None:
        """Held sessions again, when the stores file changed or a grace ran out."""
        now = time.monotonic()
        if self.held and (stores_changed or any(h.deadline <= now for h in self.held)):
            held, self.held = self.held, []
            for item in held:
                self.admit(item)

    def schedule(self) -> None:
        """Turns the sessions read into actions, once their day's discounts are at hand."""
        assert self.pricing is not None
        assert self.engine is not None
        waiting, self.stalled = self.stalled, []
        for i, (number, session, offset, message) in enumerate(waiting):
            try:
                pricing = self.pricing.ensure(day_date(session.key.day))
            except psycopg2.Error as exc:
                self.log.warning("postgres unavailable", error=str(exc).strip().splitlines()[0])
                self.stalled = waiting[i:]
                return
            part = self.partitions[number]
            try:
                actions = self.engine.actions(session, pricing)
            except Exception as exc:  # no input may stop the service, whatever it trips over
                self.log.error("session not applicable", offset=offset, error=repr(exc))
                self.dead.send(message, "unprocessable", f"{type(exc).__name__}: {exc}")
                continue
            for action in actions:
                if action.ts <= part.written_until:
                    continue
                self.seq += 1
                heapq.heappush(part.actions, (action.ts, self.seq, action, offset))
                part.waiting[offset] = part.waiting.get(offset, 0) + 1

    # -- output -----------------------------------------------------------------------------------
    def write_until(self, until: int) -> None:
        """Writes every action at or before ``until`` and marks each partition written up to it."""
        for number, part in self.partitions.items():
            if until <= part.written_until:
                continue
            marked = False
            while part.actions and part.actions[0][0] <= until:
                batch: list[Emitted] = []
                while part.actions and part.actions[0][0] <= until and len(batch) < _BATCH:
                    _, _, action, offset = heapq.heappop(part.actions)
                    batch.append(action)
                    part.waiting[offset] -= 1
                    if not part.waiting[offset]:
                        del part.waiting[offset]
                # Actions of the last instant may still be in the heap: mark just before it, until done.
                marked = not part.actions or part.actions[0][0] > until
                self._write(number, batch, until if marked else batch[-1].ts - 1)
            if not marked:
                self._write(number, [], until)
            part.written_until = until

    def _write(self, number: int, batch: list[Emitted], mark: int) -> None:
        if self.to_redis:
            pipe = self.client.pipeline(transaction=True)
            for action in batch:
                record = json.dumps(action.record, separators=(",", ":"))
                pipe.xadd(self.settings.redis_stream, {"key": action.key, "record": record})
            pipe.xadd(
                self.settings.redis_stream,
                {"watermark": str(mark), "partition": str(number), "parts": str(self.parts)},
            )
            self.appended.advance_in(pipe, {number: mark}, self.parts)
            pipe.execute()
            # Counted per batch: labels() per event was a twentieth of the shelf's time.
            for event_type, count in Counter(action.record["event_type"] for action in batch).items():
                self.metrics.child(self.metrics.produced, self.settings.redis_stream, event_type).inc(count)
            return
        for action in batch:
            self.producer.send(SHELF_EVENTS, action.key, action.record)
        if self.producer.drain(self.runtime.stopping.is_set):
            raise RuntimeError("stopping before Kafka confirmed the shelf events")
        self.delivered.advance({number: mark}, self.parts)

    # -- loop -------------------------------------------------------------------------------------
    def prepare(self) -> bool:
        """Schemas, the clock, the seed and the inventory; False (not ready yet) while one is missing."""
        self.producer.resolve_schemas()
        state = self.clock.state(refresh=True)
        if state is None:
            return False
        if self.engine is None:
            seed = run_seed(self.settings, state)
            self.engine = ShelfEngine(seed, self.settings.putback_prob, scenarios=self.settings.scenarios)
            self.customers = Customers(seed)
        if self.pricing is None:
            self.pricing = open_pricing(self.settings, self.log)
            if self.pricing is None:
                self.runtime.wait(self.settings.store_file_retry_seconds)
                return False
        return True

    def run(self) -> None:
        subscribed = False
        while not self.runtime.stopping.is_set():
            try:
                if not self.prepare():
                    self.runtime.wait(0.5)
                    continue
            except SettingsError:  # a promotion the inventory cannot have: no retry mends it
                raise
            except Exception as exc:  # registry or Redis away: not ready, try again
                self.log.warning("waiting for dependencies", error=str(exc))
                self.runtime.wait(1.0)
                continue
            if not subscribed:
                self.consumer.subscribe(
                    [self.settings.kafka_topic_foot], on_assign=self.on_assign, on_revoke=self.on_revoke
                )
                subscribed = True
            changed = self.stores.refresh() is not None  # the gate waits for the stores declared now
            try:
                if not consume_into(self.consumer, self.take, self.log, 1000):
                    self.runtime.wait(0.5)  # the registry is away: read those messages again soon
                self.release(changed)
                self.schedule()
            except KafkaException as exc:  # the producer went fatal sending a dead letter
                self.log.warning("kafka error; reading again from the committed offsets", error=str(exc))
                self.producer.renew()
                self.reread()
                continue
            try:
                self.step()
            except (redis.RedisError, RuntimeError) as exc:
                self.log.warning("cannot write", error=str(exc))
                self.runtime.wait(1.0)
                continue
            if not self.consumer.assignment():
                self.runtime.wait(self.settings.shelf_idle_sleep * 10)

    def step(self) -> None:
        now_ms = self.clock.now_ms(refresh=True)
        if now_ms is None or not self.partitions:
            return
        safe = self.gate.advance()
        until = min(safe, now_ms // 1000)
        if self.stalled:  # an action of a session still waiting for its discounts may be due
            until = min(until, min(s.entry for _, s, _, _ in self.stalled))
        if self.held:  # nor may the output pass a session that waits for its store
            until = min(until, min(h.entry for h in self.held))
        if until < 0:
            return
        self.write_until(until)
        self.metrics.clock_lag.set(max(0, now_ms // 1000 - until))
        self._commit()
        if not any(part.actions for part in self.partitions.values()):
            self.runtime.wait(self.settings.shelf_idle_sleep)

    def close(self) -> None:
        self.closing = True
        try:
            self._commit(asynchronous=False)
        finally:
            self.consumer.close()
            self.producer.flush(5)


def run_shelf(settings: ShelfSettings) -> int:
    settings.refuse_unstreamed()
    runtime = ServiceRuntime("shelf", settings.metrics_port).start()
    shelf = _Shelf(settings, runtime)
    try:
        shelf.run()
    finally:
        shelf.close()
        runtime.log.info("stopped")
        runtime.close()
    return 0
