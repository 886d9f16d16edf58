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

Bad input, as in the POS (services/pos.py): a checkout that cannot be applied — undecodable, of a
customer of no visit of this run, of a store no stores file names (unknown-store), whose ids, store or
prices do not add up, late, after the run's end — is dead-lettered in the step's transaction by the
replica that owns its store (by the owner of the partition's reporting store where it has none), and
each store's committed progress says up to which offset of each partition it handled its input.
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

from storesim._time import iso_utc
from storesim.engines import Duplicates
from storesim.events import POS_TRANSACTIONS, Emitted, Record
from storesim.kafka._producer import EventProducer
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
    Customers,
    DeadLetters,
    DecodeError,
    EventTimeGate,
    FencedError,
    InputError,
    Progress,
    RecordDecoder,
    RedisClock,
    StateStore,
    StoreOwnership,
    Watermarks,
    check_checkout,
    late_input,
)
from storesim.world import DuplicateStage, ScenarioBook

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
    seen: dict[str, int] = field(default_factory=dict)  # partition -> committed offset of handled input
    checkouts: list[tuple[int, str, int, int, Record, Message]] = field(default_factory=list)
    queued: set[str] = field(default_factory=set)  # the customers of ``checkouts``: a second one is a copy
    out: list[tuple[int, int, Emitted]] = field(default_factory=list)

    def new(self, partition: int, offset: int) -> bool:
        """Not handled before this replica's last rewind (so not dead-lettered either)."""
        return offset >= self.seen.get(str(partition), -1)


def _scope(number: int) -> str:
    return f"store-{number}"


class CheckoutStage(ABC):
    component: DuplicateStage  # its name, which is also the stage a duplicates scenario names

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
        self.store = StateStore(state_path(settings, self.component))
        self.dead = DeadLetters(
            self.producer,
            settings.dlq_topic,
            self.component,
            self.metrics,
            [self.pos_topic],
        )
        self.checkpoint = Checkpoint(self.producer, self.dead, exactly_once=settings.exactly_once)
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
        self.duplicates = Duplicates(0, ScenarioBook(), self.component, self.live_stores.__getitem__)
        self.customers: Customers | None = None
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

    def _restore(self, number: int, progress: Progress, lows: dict[int, int]) -> _Store:
        assert self.seed is not None
        engine = self.engine(self.seed, number)
        snapshot = self.store.load(_scope(number))
        sent_until = progress.until
        if snapshot is not None and 0 <= snapshot.until <= sent_until:
            engine.restore(json.loads(snapshot.entries["engine"]))
            shop = _Store(engine, snapshot.until, sent_until, {}, dict(progress.seen))
            shop.starts = {int(k.rsplit(":", 1)[1]): v for k, v in snapshot.offsets.items()}
            for ts, topic, key, record in json.loads(snapshot.entries["out"]):
                self.seq += 1
                shop.out.append((ts, self.seq, Emitted(ts, topic, key, record)))
            how = "store" if snapshot.until == sent_until else "store+replay"
        else:
            if snapshot is not None:
                self.store.drop([_scope(number)])
            shop, how = _Store(engine, -1, sent_until, dict(lows), dict(progress.seen)), "input log"
        self.log.info("restoring", store=number, source=how, until=shop.until, committed_until=sent_until)
        return shop

    def on_revoke(self, gone: frozenset[int]) -> None:
        self.checkpoint.drop_dead_letters()
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
        problem: InputError | None = None
        record: Record | None = None
        try:
            record = self.decoder.decode(POS_TRANSACTIONS, self.pos_topic, message.value())
        except DecodeError as exc:
            problem = exc
        self.gate.consumed(self.pos_topic, number, offset)  # after decoding: see consume_into
        owner: _Store | None = None  # the store the checkout is of, when this replica owns it
        if record is not None:
            try:
                owner = self._owner(record)
                if owner is not None:
                    self._admit(owner, number, offset, record, message)
            except InputError as exc:
                problem = exc
            except Exception as exc:  # no input may stop the service, whatever it trips over
                self.log.error("input not applicable", partition=number, error=repr(exc))
                problem = InputError("unprocessable", f"{type(exc).__name__}: {exc}")
        if problem is None:
            return
        # Every replica reads every partition: a checkout's problem is its store owner's to report, one
        # that has no store the owner's of the partition's reporting store.
        reporter = owner or self._reporter(number)
        if reporter is not None and reporter.new(number, offset):
            self.dead.send(message, problem.reason, problem.detail)

    def _reporter(self, partition: int) -> _Store | None:
        ids = self.live_stores.numbers
        return self.stores.get(ids[partition % len(ids)]) if ids else None

    def _owner(self, record: Record) -> _Store | None:
        """The store of the checkout, if this replica owns it; InputError when it is of no visit or no
        store of this run."""
        assert self.customers is not None
        key = self.customers.key_of(record["customer_id"])
        shop = self.stores.get(key.store)
        if shop is None and key.store not in self.live_stores.numbers:
            raise InputError("unknown-store", f"store {key.store} is not one of this run's stores")
        if shop is not None:
            check_checkout(record, key)
        return shop

    def _admit(self, shop: _Store, number: int, offset: int, record: Record, message: Message) -> None:
        """Queues a checkout of a store this replica owns for its instant."""
        ts = record["timestamp"] // 1000
        if shop.new(number, offset) and ts <= shop.sent_until:
            where = {"partition": number, "offset": offset}
            self.log.warning("late input", **where, event_time=iso_utc(ts), progress=iso_utc(shop.sent_until))
            raise late_input(ts, shop.sent_until)
        if ts <= shop.until:
            return  # a replay's checkout that the restored engine holds already
        state = self.clock.state(refresh=False)
        if state is not None and state.end_ms is not None and record["timestamp"] >= state.end_ms:
            raise InputError("after-end", f"event time {iso_utc(ts)} is not before the run's end")
        customer = record["customer_id"]
        if customer in shop.queued:
            # A visit has one checkout: this is a duplicates scenario's copy, sent in the same transaction
            # right after it (so it is read before the gate lets the original be applied).
            return
        self.metrics.child(self.metrics.consumed, self.pos_topic, "pos_transaction").inc()
        shop.queued.add(customer)
        heapq.heappush(shop.checkouts, (ts, customer, number, offset, record, message))

    def apply_until(self, shop: _Store, until: int) -> None:
        events: list[Emitted] = []
        while shop.checkouts and shop.checkouts[0][0] <= until:
            ts, customer, _, _, record, message = heapq.heappop(shop.checkouts)
            shop.queued.discard(customer)
            try:
                made, copies = self.duplicates.expand(shop.engine.on_checkout(record), record)
                events += made
                if ts > shop.sent_until:  # not a replay's
                    for copy in copies:
                        name = self.outputs[copy.topic]
                        self.metrics.duplicates_sent.labels(name, copy.record["store_id"]).inc()
            except Exception as exc:  # no input may stop the service, whatever it trips over
                self.log.error("checkout not applicable", customer=record["customer_id"], error=repr(exc))
                if ts > shop.sent_until:  # a replayed store met it already
                    self.dead.send(message, "unprocessable", f"{type(exc).__name__}: {exc}")
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
        for _, _, number, offset, _, _ in shop.checkouts:
            result[number] = min(result[number], offset)
        return {f"{self.pos_topic}:{n}": offset for n, offset in result.items()}

    def step(self) -> None:
        now_ms = self.clock.now_ms(refresh=True)
        if now_ms is None or not self.stores:
            return
        until = min(self.gate.advance(), now_ms // 1000)
        moved = [n for n, shop in self.stores.items() if until > shop.until]
        if not moved and not self.dead.pending:  # dead letters must not wait for a step: see pos.py
            if self.unpublished:
                self.publish()
            return
        for number in moved:
            self.apply_until(self.stores[number], until)
        progress = {
            n: self._progress(shop, until if n in moved else shop.until) for n, shop in self.stores.items()
        }
        self.checkpoint.commit(self.ownership.consumer, self.ownership.progress_offsets(progress))
        for number, shop in self.stores.items():
            shop.sent_until, shop.seen = progress[number].until, progress[number].seen
            if number in moved:
                shop.until = until
            pending = [[e.ts, e.topic, e.key, e.record] for _, _, e in sorted(shop.out)]
            entries = {"engine": json.dumps(shop.engine.snapshot()), "out": json.dumps(pending)}
            self.store.save(_scope(number), shop.until, self.offsets(shop), entries, replace=True)
            if number in moved:
                self.progressed(number, shop.engine, until)
        self.unpublished = True
        self.metrics.clock_lag.set(max(0, now_ms // 1000 - until))
        self.publish()

    def _progress(self, shop: _Store, reached: int) -> Progress:
        """The store's progress to commit: ``reached``, and every input read so far handled."""
        seen = dict(shop.seen)
        for (_, partition), position in self.gate.positions.items():
            seen[str(partition)] = max(seen.get(str(partition), -1), position)
        return Progress(max(shop.sent_until, reached), seen)

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
                self.duplicates = Duplicates(
                    self.seed, self.settings.scenarios, self.component, self.live_stores.__getitem__
                )
                if self.customers is None or self.customers.seed != self.seed:
                    self.customers = Customers(self.seed)
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
            try:
                if self.stores and not consume_into(self.consumer, self.take, self.log, 2000):
                    self.runtime.wait(0.5)  # the registry is away: read those messages again soon
                self.step()
            except CommitFailedError as exc:
                self.abandon_step("step not committed; rewinding", exc)
            except KafkaException as exc:  # a produce or a read refused mid-step: redo it from the commit
                try:
                    self.checkpoint.recover(exc)
                except FencedError as fenced:
                    self.log.error("stopping", error=str(fenced))
                    return 1
                self.abandon_step("kafka error in a step; rewinding", exc)
            except FencedError as exc:
                self.log.error("stopping", error=str(exc))
                return 1
            except redis.RedisError as exc:
                self.log.warning("cannot advance", error=str(exc))
                self.runtime.wait(1.0)
            if not self.stores:
                self.runtime.wait(0.2)
        return 0

    def abandon_step(self, what: str, exc: Exception) -> None:
        """The open transaction is gone (aborted, or with its producer): back to the committed state."""
        self.log.warning(what, error=str(exc))
        self.dead.aborted()  # the replay sends them again (the transaction is gone already)
        self.rewind_pending = True

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
