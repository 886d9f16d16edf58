"""`storesim run pos`: carts from foot_traffic and shelf_events, checked out on simulated time.

One consumer reads both topics in group GROUP_ID_FOOT with the range assignor, so a replica owns
partition i of both: all of a customer's events. Each partition has its own engine. Events are applied
in event-time order up to the instant the input gate says is complete (the shelf's watermark), with the
checkouts due before each instant released first — exactly the embedded mode's order, so the same
seed checks out the same carts whatever the replica count.

State (this issue): a replica rebuilds a partition by re-reading it from the start and skips the
checkouts already delivered (the POS watermark says up to when). Issue 4 replaces the re-read with a
state store on the pod's volume.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import psycopg2
import redis
from confluent_kafka import Consumer, Message, TopicPartition

from storesim._keys import decode_customer_id
from storesim._time import day_date
from storesim.engines import PosEngine, PosInputError
from storesim.events import FOOT_TRAFFIC, POS_TRANSACTIONS, SHELF_EVENTS, Record
from storesim.kafka._producer import EventProducer
from storesim.service import RedisClock
from storesim.services._runtime import ServiceRuntime
from storesim.services._wiring import add_pings, consume_into, consumer_conf, open_pricing, redis_client
from storesim.services.shelf import SHELF_STAGE
from storesim.settings import PosSettings
from storesim.streaming import (
    DeadLetters,
    DecodeError,
    EventTimeGate,
    PricingSource,
    RecordDecoder,
    Watermarks,
)

__all__ = ["POS_STAGE", "run_pos"]

POS_STAGE = "pos"
# Within one instant: a session opens before shelf events, pickups before putbacks (a putback never
# exceeds what the customer holds in either order the shelf wrote them, and the cart ends the same).
_RANK = {"pickup": 1, "putback": 2}


@dataclass
class _Partition:
    engine: PosEngine
    delivered_until: int  # checkouts at or before this instant are in Kafka already
    inputs: list[tuple[int, int, int, Record, Message]] = field(default_factory=list)


class _Pos:
    def __init__(self, settings: PosSettings, runtime: ServiceRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.log = runtime.log
        self.metrics = runtime.metrics
        self.client = redis_client(settings)
        self.clock = RedisClock(self.client, namespace=settings.sim_namespace)
        self.shelf_marks = Watermarks(self.client, settings.sim_namespace, SHELF_STAGE)
        self.marks = Watermarks(self.client, settings.sim_namespace, POS_STAGE)
        self.producer = EventProducer(
            settings.kafka_broker,
            settings.schema_registry_url,
            {
                POS_TRANSACTIONS: settings.pos_topic,
                FOOT_TRAFFIC: settings.foot_topic,
                SHELF_EVENTS: settings.shelf_topic,
            },
            self.metrics,
            output_format=settings.output_format,
        )
        self.topics = {settings.foot_topic: FOOT_TRAFFIC, settings.shelf_topic: SHELF_EVENTS}
        self.dead = DeadLetters(self.producer.raw, settings.dlq_topic, "pos", self.metrics)
        self.decoder = RecordDecoder(settings.schema_registry_url)
        self.consumer = Consumer(consumer_conf(settings.kafka_broker, settings.group_id_foot))
        self.gate = EventTimeGate(self.consumer, self.shelf_marks.low, self.metrics)
        self.partitions: dict[int, _Partition] = {}
        self.parts = 0
        self.pricing: PricingSource | None = None
        self.seq = 0
        add_pings(runtime, self.producer, settings, self.clock)
        runtime.health.add_ping("inventory", lambda: self.pricing is not None)
        runtime.health.add_ping("postgres", lambda: self.pricing is not None and self.pricing.ping())

    def _engine(self) -> PosEngine:
        assert self.pricing is not None
        return PosEngine(
            self.pricing.catalogue,
            self.pricing,
            force_checkout_if_empty=self.settings.force_checkout_if_empty,
            max_session_age=self.settings.max_session_age_sec,
        )

    def on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        marks = self.marks.read()
        starts: dict[tuple[str, int], int] = {}
        for tp in assigned:
            tp.offset = consumer.get_watermark_offsets(tp, timeout=10)[0]
            starts[(tp.topic, tp.partition)] = tp.offset
            if tp.partition not in self.partitions:
                self.partitions[tp.partition] = _Partition(self._engine(), marks.get(tp.partition, -1))
        metadata = consumer.list_topics(self.settings.foot_topic, timeout=10)
        self.parts = len(metadata.topics[self.settings.foot_topic].partitions)
        consumer.assign(assigned)
        self.gate.reset(starts)
        self.log.info("assigned", partitions=sorted(self.partitions))

    def on_revoke(self, _consumer: Consumer, revoked: list[TopicPartition]) -> None:
        self.producer.flush(8)
        self.partitions.clear()
        self.gate.reset({})
        self.log.info("revoked", partitions=sorted({tp.partition for tp in revoked}))

    def take(self, message: Message) -> None:
        name, number = str(message.topic()), int(message.partition() or 0)
        self.gate.consumed(name, number, int(message.offset() or 0))
        part = self.partitions.get(number)
        if part is None:
            return
        topic = self.topics[name]
        try:
            record = self.decoder.decode(topic, name, message.value())
            decode_customer_id(record["customer_id"])
        except DecodeError as exc:
            self.dead.send(message, exc.reason, exc.detail)
            return
        except ValueError as exc:
            self.dead.send(message, "unknown-customer", str(exc))
            return
        event_type = str(record.get("event_type") or topic)
        self.metrics.consumed.labels(topic=name, event_type=event_type).inc()
        if topic == FOOT_TRAFFIC:
            ts, rank = record["entry_time"] // 1000, 0
        elif event_type == "weight_change":
            return  # the scale's reading: a cart changes with the pickup or putback it follows
        else:
            ts, rank = record["timestamp"] // 1000, _RANK.get(event_type, 3)
        self.seq += 1
        heapq.heappush(part.inputs, (ts, rank, self.seq, record, message))

    def apply_until(self, number: int, part: _Partition, until: int) -> int:
        """Applies the partition's input up to ``until``, sends the checkouts due; returns how far it got
        (less than ``until`` while Postgres cannot give a day's discounts)."""
        assert self.pricing is not None
        engine, out = part.engine, []
        previous = None
        while part.inputs and part.inputs[0][0] <= until:
            ts, _, _, record, message = part.inputs[0]
            if ts != previous:
                out += engine.due(ts - 1)
                previous = ts
            customer = record["customer_id"]
            try:
                if "entry_time" in record:
                    self.pricing.ensure(day_date(decode_customer_id(customer).day))
                    engine.open_session(customer, ts, record["exit_time"] // 1000)
                else:
                    engine.apply_shelf(
                        customer, record["event_type"], record["item_id"], record["quantity"] or 0
                    )
            except psycopg2.Error as exc:
                self.log.warning("postgres unavailable", error=str(exc).strip().splitlines()[0])
                until = ts - 1
                break
            except PosInputError as exc:
                if ts > part.delivered_until:  # a re-read partition met it already
                    self.dead.send(message, exc.reason, str(exc))
            heapq.heappop(part.inputs)
        out += engine.due(until)
        for checkout in out:
            if checkout.ts > part.delivered_until:
                self.producer.send(POS_TRANSACTIONS, checkout.key, checkout.record)
        return until

    def step(self) -> None:
        now_ms = self.clock.now_ms(refresh=True)
        if now_ms is None or not self.partitions:
            return
        until = min(self.gate.advance(), now_ms // 1000)
        if until < 0:
            return
        reached = {n: self.apply_until(n, p, until) for n, p in self.partitions.items()}
        if self.producer.flush(30):
            raise RuntimeError("Kafka did not confirm the checkouts in 30 s")
        for number, when in reached.items():
            self.partitions[number].delivered_until = max(self.partitions[number].delivered_until, when)
        self.marks.advance(reached, self.parts)
        self.metrics.open_carts.set(sum(p.engine.open_carts for p in self.partitions.values()))
        self.metrics.clock_lag.set(max(0, now_ms // 1000 - min(reached.values())))

    def prepare(self) -> bool:
        self.producer.resolve_schemas()
        if self.clock.state(refresh=True) is None:
            return False
        if self.pricing is None:
            self.pricing = open_pricing(self.settings, self.log)
        return self.pricing is not None

    def run(self) -> None:
        subscribed = False
        while not self.runtime.stopping.is_set():
            try:
                if not self.prepare():
                    self.runtime.wait(1.0)
                    continue
            except Exception as exc:  # registry or Redis away: not ready, try again
                self.log.warning("waiting for dependencies", error=str(exc))
                self.runtime.wait(1.0)
                continue
            if not subscribed:
                topics = [self.settings.foot_topic, self.settings.shelf_topic]
                self.consumer.subscribe(topics, on_assign=self.on_assign, on_revoke=self.on_revoke)
                subscribed = True
            consume_into(self.consumer, self.take, self.log, 2000)
            try:
                self.step()
            except (redis.RedisError, RuntimeError) as exc:
                self.log.warning("cannot advance", error=str(exc))
                self.runtime.wait(1.0)

    def close(self) -> None:
        self.consumer.close()
        self.producer.flush(5)


def run_pos(settings: PosSettings) -> int:
    runtime = ServiceRuntime("pos", settings.metrics_port).start()
    pos = _Pos(settings, runtime)
    try:
        pos.run()
    finally:
        pos.close()
        runtime.log.info("stopped")
        runtime.close()
    return 0
