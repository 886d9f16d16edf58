"""The register and the ledger: stages that turn checkouts into events, store by store.

Both keep state per store (who is logged in at which terminal, refunds still to come), so a store is
owned by one replica (StoreOwnership over the store-control topic), and each replica reads every
partition of pos_transactions and keeps its stores' checkouts. Checkouts are applied in (time,
customer) order up to the POS watermark, as the embedded mode applies them; events are sent when the
simulated clock reaches them, and the stage's own per-store watermark says what is out already, so a
store that moves (or a replica that restarts) is rebuilt by re-reading and sends nothing twice.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import redis
from confluent_kafka import Consumer, Message, TopicPartition

from storesim._keys import decode_customer_id
from storesim.events import POS_TRANSACTIONS, Emitted, Record
from storesim.kafka._producer import EventProducer
from storesim.service import RedisClock
from storesim.services._runtime import ServiceRuntime
from storesim.services._wiring import add_pings, consume_into, consumer_conf, redis_client, run_seed
from storesim.services.pos import POS_STAGE
from storesim.settings import ServiceSettings
from storesim.streaming import (
    DeadLetters,
    DecodeError,
    EventTimeGate,
    RecordDecoder,
    StoreOwnership,
    Watermarks,
)

__all__ = ["CheckoutStage"]


@dataclass
class _Store:
    engine: Any
    sent_until: int  # this stage's events at or before this instant are in Kafka already
    checkouts: list[tuple[int, str, Record]] = field(default_factory=list)
    out: list[tuple[int, int, Emitted]] = field(default_factory=list)


class CheckoutStage(ABC):
    component: str

    def __init__(
        self,
        settings: ServiceSettings,
        runtime: ServiceRuntime,
        bootstrap: str,
        pos_topic: str,
        outputs: dict[str, str],
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.log = runtime.log
        self.metrics = runtime.metrics
        self.pos_topic = pos_topic
        self.outputs = outputs
        self.client = redis_client(settings)
        self.clock = RedisClock(self.client, namespace=settings.sim_namespace)
        ns = settings.sim_namespace
        self.pos_marks = Watermarks(self.client, ns, POS_STAGE)
        self.marks = Watermarks(self.client, ns, self.component)
        self.producer = EventProducer(
            bootstrap,
            settings.schema_registry_url,
            {**outputs, POS_TRANSACTIONS: pos_topic},
            self.metrics,
            output_format=settings.output_format,
        )
        self.dead = DeadLetters(self.producer.raw, settings.dlq_topic, self.component, self.metrics)
        self.decoder = RecordDecoder(settings.schema_registry_url)
        self.consumer = Consumer(consumer_conf(bootstrap, f"{ns}.{self.component}.reader"))
        self.gate = EventTimeGate(self.consumer, self.pos_marks.low, self.metrics)
        self.ownership = StoreOwnership(
            bootstrap,
            settings.store_control_topic,
            f"{ns}.{self.component}",
            settings.store_ids,
            on_revoke=self.on_revoke,
            on_assign=self.on_assign,
        )
        self.stores: dict[int, _Store] = {}
        self.seed: int | None = None
        self.seq = 0
        add_pings(runtime, self.producer, settings, self.clock)
        runtime.health.add_ping("stores", lambda: self.ownership.assigned)

    @abstractmethod
    def engine(self, seed: int, number: int) -> Any:
        """A new engine for one store."""

    @abstractmethod
    def on_checkout(self, engine: Any, checkout: Record) -> list[Emitted]: ...

    @abstractmethod
    def advance(self, engine: Any, until: int) -> list[Emitted]:
        """What falls due by ``until`` without a checkout (logouts, refunds)."""

    @abstractmethod
    def sent(self, event: Emitted) -> None:
        """Called for every event delivered, for the stage's own metrics."""

    # -- ownership --------------------------------------------------------------------------------
    def on_assign(self, owned: frozenset[int]) -> None:
        assert self.seed is not None
        marks = self.marks.read()
        self.stores = {n: _Store(self.engine(self.seed, n), marks.get(n, -1)) for n in sorted(owned)}
        metadata = self.consumer.list_topics(self.pos_topic, timeout=10).topics[self.pos_topic]
        partitions = []
        for number in metadata.partitions:
            tp = TopicPartition(self.pos_topic, number)
            tp.offset = self.consumer.get_watermark_offsets(tp, timeout=10)[0]
            partitions.append(tp)
        self.consumer.assign(partitions)
        self.gate.reset({(tp.topic, tp.partition): tp.offset for tp in partitions} if owned else {})
        self.log.info("stores assigned", stores=sorted(owned))

    def on_revoke(self, gone: frozenset[int]) -> None:
        self.producer.flush(8)
        self.stores.clear()
        self.consumer.unassign()
        self.gate.reset({})
        self.log.info("stores revoked", stores=sorted(gone))

    # -- input and output -------------------------------------------------------------------------
    def take(self, message: Message) -> None:
        number = int(message.partition() or 0)
        self.gate.consumed(self.pos_topic, number, int(message.offset() or 0))
        try:
            record = self.decoder.decode(POS_TRANSACTIONS, self.pos_topic, message.value())
            key = decode_customer_id(record["customer_id"])
        except (DecodeError, ValueError) as exc:
            # Every replica reads every partition: the owner of one store per partition reports it.
            ids = self.settings.store_ids
            if ids[number % len(ids)] in self.stores:
                reason = exc.reason if isinstance(exc, DecodeError) else "unknown-customer"
                self.dead.send(message, reason, str(exc))
            return
        shop = self.stores.get(key.store)
        if shop is None:
            return
        self.metrics.consumed.labels(topic=self.pos_topic, event_type="pos_transaction").inc()
        heapq.heappush(shop.checkouts, (record["timestamp"] // 1000, record["customer_id"], record))

    def step(self) -> None:
        now_ms = self.clock.now_ms(refresh=True)
        if now_ms is None or not self.stores:
            return
        until = min(self.gate.advance(), now_ms // 1000)
        if until < 0:
            return
        for shop in self.stores.values():
            events: list[Emitted] = []
            while shop.checkouts and shop.checkouts[0][0] <= until:
                events += self.on_checkout(shop.engine, heapq.heappop(shop.checkouts)[2])
            events += self.advance(shop.engine, until)
            for event in events:
                self.seq += 1
                heapq.heappush(shop.out, (event.ts, self.seq, event))
            while shop.out and shop.out[0][0] <= until:
                event = heapq.heappop(shop.out)[2]
                if event.ts > shop.sent_until:
                    self.producer.send(event.topic, event.key, event.record)
                    self.sent(event)
        if self.producer.flush(30):
            raise RuntimeError("Kafka did not confirm the events in 30 s")
        for shop in self.stores.values():
            shop.sent_until = max(shop.sent_until, until)
        self.marks.advance(dict.fromkeys(self.stores, until))
        self.metrics.clock_lag.set(max(0, now_ms // 1000 - until))

    def run(self) -> None:
        while not self.runtime.stopping.is_set():
            try:
                self.producer.resolve_schemas()
                state = self.clock.state(refresh=True)
                if state is None:
                    self.runtime.wait(1.0)
                    continue
                self.seed = run_seed(self.settings, state)
                self.ownership.poll()
            except Exception as exc:  # registry, Redis or Kafka away: not ready, try again
                self.log.warning("waiting for dependencies", error=str(exc))
                self.runtime.wait(1.0)
                continue
            if self.stores:
                consume_into(self.consumer, self.take, self.log, 2000)
            try:
                self.step()
            except (redis.RedisError, RuntimeError) as exc:
                self.log.warning("cannot advance", error=str(exc))
                self.runtime.wait(1.0)
            if not self.stores:
                self.runtime.wait(0.2)

    def close(self) -> None:
        self.producer.flush(5)
        self.ownership.close()
        self.consumer.close()
