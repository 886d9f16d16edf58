"""The register and the ledger: stages that turn checkouts into events, store by store.

Both keep state per store (who is logged in at which terminal, refunds still to come), so a store is
owned by one replica (StoreOwnership over the store-control topic), and each replica reads every
partition of pos_transactions and keeps its stores' checkouts. Checkouts are applied in (time,
customer) order up to the POS watermark, as the embedded mode applies them; events are sent when the
simulated clock reaches them.

State, as in the POS: a store's state at instant T depends only on T. Each step commits, in one Kafka
transaction, the events up to T and each store's T (in the store-control group's offsets); then it
saves the store's engine, its events still to send, T and the pos_transactions offsets from which
checkouts after T remain, in the state store. A store restored from the state store goes on from
there (replaying without sending up to the committed T if the store is behind); a store without one is
rebuilt from the start of pos_transactions.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from storesim._keys import decode_customer_id
from storesim.events import POS_TRANSACTIONS, Emitted, Record
from storesim.kafka._producer import EventProducer
from storesim.service import RedisClock
from storesim.services._live_stores import LiveStores
from storesim.services._runtime import ServiceRuntime
from storesim.services._wiring import (
    add_pings,
    consume_into,
    consumer_conf,
    redis_client,
    run_seed,
    state_path,
    transactional_id,
)
from storesim.services.pos import POS_STAGE
from storesim.settings import LedgerSettings, RegisterSettings
from storesim.streaming import (
    Checkpoint,
    CommitFailedError,
    DeadLetters,
    DecodeError,
    EventTimeGate,
    FencedError,
    RecordDecoder,
    StateStore,
    StoreOwnership,
    Watermarks,
)

__all__ = ["CheckoutEngine", "CheckoutStage"]


class CheckoutEngine(Protocol):
    """What the register and ledger engines offer a checkout stage."""

    def on_checkout(self, tx: Record) -> list[Emitted]: ...

    def due(self, now: int) -> list[Emitted]:
        """What falls due by ``now`` without a checkout (logouts, refunds)."""
        ...

    def snapshot(self) -> Any:
        """The engine's state, JSON-ready."""
        ...

    def restore(self, state: Any) -> None: ...


@dataclass
class _Store:
    engine: CheckoutEngine
    until: int  # every checkout at or before this instant is applied, every event up to it committed
    sent_until: int  # events at or before this instant are committed already (a replay sends none)
    starts: dict[int, int]  # pos_transactions partition -> offset to read this store's checkouts from
    checkouts: list[tuple[int, str, int, int, Record]] = field(default_factory=list)
    out: list[tuple[int, int, Emitted]] = field(default_factory=list)


def _scope(number: int) -> str:
    return f"store-{number}"


class CheckoutStage(ABC):
    component: str

    def __init__(
        self,
        settings: RegisterSettings | LedgerSettings,
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
            transactional_id=transactional_id(settings, self.component) if settings.exactly_once else None,
        )
        self.checkpoint = Checkpoint(self.producer, exactly_once=settings.exactly_once)
        self.store = StateStore(state_path(settings, self.component))
        self.dead = DeadLetters(
            self.producer, settings.dlq_topic, self.component, self.metrics, [self.pos_topic]
        )
        self.decoder = RecordDecoder(settings.schema_registry_url)
        self.consumer = Consumer(consumer_conf(bootstrap, f"{ns}.{self.component}.reader"))
        self.gate = EventTimeGate(lambda: self.consumer, self.pos_marks.low, self.metrics)
        self.live_stores = LiveStores(settings, runtime.log)
        # Static membership: a restarted replica takes its stores back without a rebalance.
        self.ownership = StoreOwnership(
            bootstrap,
            settings.store_control_topic,
            f"{ns}.{self.component}",
            self.live_stores.numbers,
            on_revoke=self.on_revoke,
            on_assign=self.on_assign,
            extra={"group.instance.id": settings.replica_id},
        )
        self.stores: dict[int, _Store] = {}
        self.seed: int | None = None
        self.restoring = False
        self.closing = False
        self.rewind_pending = False  # the stores must be restored again (a failed commit or restore)
        self.unpublished = False
        self.seq = 0
        add_pings(runtime, self.producer, settings, self.clock)
        runtime.health.add_ping(
            "stores", lambda: self.ownership.assigned and not self.restoring and self.live_stores.declared
        )

    @abstractmethod
    def engine(self, seed: int, number: int) -> CheckoutEngine:
        """A new engine for one store."""

    @abstractmethod
    def sent(self, event: Emitted) -> None:
        """Called for every event sent, for the stage's own metrics."""

    @abstractmethod
    def progressed(self, number: int, engine: CheckoutEngine, until: int) -> None:
        """Called when a store's progress to ``until`` is committed, for per-store gauges."""

    # -- ownership and restore --------------------------------------------------------------------
    def on_assign(self, owned: frozenset[int]) -> None:
        if self.closing:  # a rebalance that completes inside close(): the next owner restores them
            return
        self.metrics.forget_stores([self.live_stores[n].store_id for n in set(self.stores) - owned])
        try:
            self._assign(owned)
            self.rewind_pending = False
        except KafkaException as exc:  # the coordinator moved, say: not ready, the loop tries again
            self.log.warning("restore failed; retrying", error=str(exc))
            self.stores.clear()
            self.rewind_pending = True

    def _assign(self, owned: frozenset[int]) -> None:
        self.restoring = True
        started = time.monotonic()
        assert self.seed is not None
        metadata = self.consumer.list_topics(self.pos_topic, timeout=10).topics[self.pos_topic]
        numbers = sorted(metadata.partitions)
        lows = {
            n: self.consumer.get_watermark_offsets(TopicPartition(self.pos_topic, n), timeout=10)[0]
            for n in numbers
        }
        committed = self.ownership.progress(sorted(owned))
        self.stores = {n: self._restore(n, committed[n], lows) for n in sorted(owned)}
        partitions = [
            TopicPartition(self.pos_topic, n, min(s.starts.get(n, lows[n]) for s in self.stores.values()))
            for n in numbers
            if self.stores
        ]
        self.consumer.assign(partitions)
        self.gate.reset({(tp.topic, tp.partition): tp.offset for tp in partitions})
        self.restoring = False
        self.log.info("stores assigned", stores=sorted(owned), restore_s=round(time.monotonic() - started, 3))

    def _restore(self, number: int, sent_until: int, lows: dict[int, int]) -> _Store:
        assert self.seed is not None
        engine = self.engine(self.seed, number)
        snapshot = self.store.load(_scope(number))
        if snapshot is not None and 0 <= snapshot.until <= sent_until:
            engine.restore(json.loads(snapshot.entries["engine"]))
            shop = _Store(engine, snapshot.until, sent_until, {})
            shop.starts = {int(k.rsplit(":", 1)[1]): v for k, v in snapshot.offsets.items()}
            for ts, topic, key, record in json.loads(snapshot.entries["out"]):
                self.seq += 1
                shop.out.append((ts, self.seq, Emitted(ts, topic, key, record)))
            how = "store" if snapshot.until == sent_until else "store+replay"
        else:
            if snapshot is not None:
                self.store.drop([_scope(number)])
            shop, how = _Store(engine, -1, sent_until, dict(lows)), "input log"
        self.log.info("restoring", store=number, source=how, until=shop.until, committed_until=sent_until)
        return shop

    def on_revoke(self, gone: frozenset[int]) -> None:
        self.metrics.forget_stores([self.live_stores[n].store_id for n in self.stores])
        self.stores.clear()
        self.consumer.unassign()
        self.gate.reset({})
        self.log.info("stores revoked", stores=sorted(gone))

    def rewind(self) -> None:
        """After a failed commit or restore: back to the committed state of every store this replica owns."""
        self.on_assign(self.ownership.owned)

    # -- input and output -------------------------------------------------------------------------
    def take(self, message: Message) -> None:
        number, offset = int(message.partition() or 0), int(message.offset() or 0)
        self.gate.consumed(self.pos_topic, number, offset)
        try:
            record = self.decoder.decode(POS_TRANSACTIONS, self.pos_topic, message.value())
            key = decode_customer_id(record["customer_id"])
        except (DecodeError, ValueError) as exc:
            # Every replica reads every partition: the owner of one store per partition reports it.
            ids = self.live_stores.numbers
            if ids and ids[number % len(ids)] in self.stores:
                reason = exc.reason if isinstance(exc, DecodeError) else "unknown-customer"
                self.dead.send(message, reason, str(exc))
            return
        shop = self.stores.get(key.store)
        ts = record["timestamp"] // 1000
        if shop is None or ts <= shop.until:
            return
        self.metrics.consumed.labels(topic=self.pos_topic, event_type="pos_transaction").inc()
        heapq.heappush(shop.checkouts, (ts, record["customer_id"], number, offset, record))

    def apply_until(self, shop: _Store, until: int) -> None:
        events: list[Emitted] = []
        while shop.checkouts and shop.checkouts[0][0] <= until:
            events += shop.engine.on_checkout(heapq.heappop(shop.checkouts)[4])
        events += shop.engine.due(until)
        for event in events:
            self.seq += 1
            heapq.heappush(shop.out, (event.ts, self.seq, event))
        while shop.out and shop.out[0][0] <= until:
            event = heapq.heappop(shop.out)[2]
            if event.ts > shop.sent_until:
                self.producer.send(event.topic, event.key, event.record)
                self.sent(event)

    def offsets(self, shop: _Store) -> dict[str, int]:
        """Per pos_transactions partition: the first offset with a checkout of this store not applied."""
        result = {n: self.gate.positions.get((self.pos_topic, n), start) for n, start in shop.starts.items()}
        for _, _, number, offset, _ in shop.checkouts:
            result[number] = min(result[number], offset)
        return {f"{self.pos_topic}:{n}": offset for n, offset in result.items()}

    def step(self) -> None:
        now_ms = self.clock.now_ms(refresh=True)
        if now_ms is None or not self.stores:
            return
        until = min(self.gate.advance(), now_ms // 1000)
        moved = [n for n, shop in self.stores.items() if until > shop.until]
        if not moved:
            if self.unpublished:
                self.publish()
            return
        for number in moved:
            self.apply_until(self.stores[number], until)
        progress = {
            n: max(shop.sent_until, until if n in moved else shop.until) for n, shop in self.stores.items()
        }
        self.checkpoint.commit(self.ownership.consumer, self.ownership.progress_offsets(progress))
        for number in moved:
            shop = self.stores[number]
            shop.until, shop.sent_until = until, max(shop.sent_until, until)
            pending = [[e.ts, e.topic, e.key, e.record] for _, _, e in sorted(shop.out)]
            entries = {"engine": json.dumps(shop.engine.snapshot()), "out": json.dumps(pending)}
            self.store.save(_scope(number), until, self.offsets(shop), entries, replace=True)
            self.progressed(number, shop.engine, until)
        self.unpublished = True
        self.metrics.clock_lag.set(max(0, now_ms // 1000 - until))
        self.publish()

    def publish(self) -> None:
        """The committed progress as this stage's watermark."""
        self.marks.advance({n: shop.until for n, shop in self.stores.items()})
        self.unpublished = False

    def run(self) -> int:
        while not self.runtime.stopping.is_set():
            try:
                self.producer.resolve_schemas()
                state = self.clock.state(refresh=True)
                if state is None:
                    self.runtime.wait(1.0)
                    continue
                self.seed = run_seed(self.settings, state)
                self.checkpoint.prepare()
                self.checkpoint.begin()
                if (fatal := self.ownership.poll()) is not None:
                    self.log.warning("group member renewed after a fatal error", error=fatal.str())
                if self.live_stores.refresh() is not None:  # a store declared or deleted: its owner
                    self.ownership.set_stores(self.live_stores.numbers)  # restores its share again
            except FencedError as exc:
                self.log.error("stopping", error=str(exc))
                return 1
            except Exception as exc:  # registry, Redis or Kafka away: not ready, try again
                self.log.warning("waiting for dependencies", error=str(exc))
                self.runtime.wait(1.0)
                continue
            if self.rewind_pending:
                self.rewind()
                if self.rewind_pending:
                    self.runtime.wait(1.0)
                    continue
            if self.stores:
                consume_into(self.consumer, self.take, self.log, 2000)
            try:
                self.step()
            except CommitFailedError as exc:
                self.log.warning("step not committed; rewinding", error=str(exc))
                self.rewind_pending = True
            except FencedError as exc:
                self.log.error("stopping", error=str(exc))
                return 1
            except redis.RedisError as exc:
                self.log.warning("cannot advance", error=str(exc))
                self.runtime.wait(1.0)
            if not self.stores:
                self.runtime.wait(0.2)
        return 0

    def serve(self) -> int:
        """run() until SIGTERM or a fatal error, then close everything; the service's exit code."""
        try:
            return self.run()
        finally:
            self.close()
            self.runtime.log.info("stopped")
            self.runtime.close()

    def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):  # what is not committed is re-read by the next owner
            self.checkpoint.abort()
        self.ownership.close()
        self.consumer.close()
        self.store.close()
