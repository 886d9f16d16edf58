"""`storesim run pos`: carts from foot_traffic and shelf_events, checked out on simulated time.

One consumer reads both topics in group GROUP_ID_FOOT with the range assignor, so a replica owns
partition i of both: all of a customer's events. Each partition has its own engine. Events are applied
in event-time order up to the instant the input gate says is complete (the shelf's watermark), with the
checkouts due before each instant released first — exactly the embedded mode's order, so the same
seed checks out the same carts whatever the replica count.

State. A partition's state at instant T (its open carts) depends only on T: it is every input event at
or before T applied. Each step commits, in one Kafka transaction, the checkouts up to T and the input
offsets from which events after T remain to be read, with T in the offsets' metadata; then it saves the
changed carts, T and those offsets in the state store (STATE_DIR). On assignment a partition is
restored from the store and the committed offsets: a store at T goes on from its offsets; a store
behind (killed between the two writes) replays up to T without sending; a partition without a store
(it moved here) is rebuilt from the input log, sending nothing at or before T.

Bad input. An input that cannot be applied — undecodable, of a customer of no visit of this run, a
session that ends before it starts, a shelf event of no open visit, late (older than the progress
already committed), after the run's end — goes to the dead-letter topic in the step's transaction, and
the step commits soon even when it has nothing else to commit. The committed progress also says up to
which offset every input was handled (streaming/_progress.py), so a replay after a rewind neither
dead-letters a message twice nor mistakes an old message for a late one. No input, and no error
applying one, stops the service.
"""

from __future__ import annotations

import contextlib
import heapq
import time
from dataclasses import dataclass, field
from datetime import date

import psycopg2
import redis
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from storesim._keys import decode_customer_id
from storesim._time import day_date, iso_utc
from storesim.engines import Duplicates, PosEngine, PosInputError
from storesim.events import FOOT_TRAFFIC, POS_TRANSACTIONS, SHELF_EVENTS, Record
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
    state_path,
    transactional_id,
)
from storesim.services.shelf import SHELF_STAGE
from storesim.settings import PosSettings, SettingsError
from storesim.streaming import (
    Checkpoint,
    CommitFailedError,
    Customers,
    DeadLetters,
    DecodeError,
    EventTimeGate,
    FencedError,
    GroupMember,
    InputError,
    PricingSource,
    Progress,
    RecordDecoder,
    RedisClock,
    StateStore,
    Watermarks,
    late_input,
)
from storesim.world import ScenarioBook, store_code

__all__ = ["POS_STAGE", "run_pos"]

POS_STAGE = "pos"
# Within one instant: a session opens before shelf events, pickups before putbacks (a putback never
# exceeds what the customer holds in either order the shelf wrote them, and the cart ends the same),
# the scale's reading last.
_RANK = {"pickup": 1, "putback": 2, "weight_change": 3}


@dataclass
class _Partition:
    engine: PosEngine
    until: int  # every input event at or before this instant is applied; checkouts up to it committed
    sent_until: int  # checkouts at or before this instant are committed already (a replay sends none)
    starts: dict[str, int]  # input topic -> the offset this partition was (re)started from
    seen: dict[str, int]  # input topic -> committed offset before which every message was handled
    days: set[date] = field(default_factory=set)  # restored carts' days, priced before any checkout
    inputs: list[tuple[int, int, int, Record, Message]] = field(default_factory=list)


def _scope(number: int) -> str:
    return f"partition-{number}"


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
            transactional_id=transactional_id(settings, "pos") if settings.exactly_once else None,
        )
        self.store = StateStore(state_path(settings, "pos"))
        self.topics = {settings.foot_topic: FOOT_TRAFFIC, settings.shelf_topic: SHELF_EVENTS}
        self.dead = DeadLetters(
            self.producer,
            settings.dlq_topic,
            "pos",
            self.metrics,
            self.topics,
        )
        self.checkpoint = Checkpoint(self.producer, self.dead, exactly_once=settings.exactly_once)
        self.decoder = RecordDecoder(settings.schema_registry_url)
        # Static membership: a restarted replica takes its partitions back without a rebalance.
        self.member = GroupMember(
            consumer_conf(
                settings.kafka_broker, settings.group_id_foot, **{"group.instance.id": settings.replica_id}
            )
        )
        self.gate = EventTimeGate(lambda: self.consumer, self.shelf_marks.low, self.metrics)
        self.partitions: dict[int, _Partition] = {}
        self.parts = 0
        self.pricing: PricingSource | None = None
        self.customers: Customers | None = None  # once the run's seed is known
        # The stores' timezones, for the windows of the promotion, shrink and duplicates scenarios.
        self.live_stores = LiveStores(settings, runtime.log)
        self.duplicates = Duplicates(0, ScenarioBook(), "pos", self.live_stores.__getitem__)
        self.restoring = False
        self.assigned: list[TopicPartition] = []
        self.closing = False
        self.rewind_pending = False  # the partitions must be restored again (a failed commit or restore)
        self.unpublished = False  # committed progress whose watermark Redis has not taken yet
        self.seq = 0
        self.stolen: list[tuple[int, int, int, int]] = []  # the engines' shrink, until apply_until counts it
        add_pings(runtime, self.producer, settings, self.clock)
        runtime.health.add_ping("inventory", lambda: self.pricing is not None)
        runtime.health.add_ping("postgres", lambda: self.pricing is not None and self.pricing.ping())
        runtime.health.add_ping("restored", lambda: not self.restoring)

    @property
    def consumer(self) -> Consumer:
        """The group member's consumer, looked up each time: a fatal error replaces it."""
        return self.member.consumer

    def _engine(self) -> PosEngine:
        assert self.pricing is not None
        assert self.customers is not None
        return PosEngine(
            self.pricing.catalogue,
            self.pricing,
            force_checkout_if_empty=self.settings.force_checkout_if_empty,
            max_session_age=self.settings.max_session_age_sec,
            seed=self.customers.seed,
            scenarios=self.settings.scenarios,
            stores=self.live_stores.__getitem__,
            on_shrink=self._stole,
        )

    def _stole(self, store: int, ts: int, units: int, cents: int) -> None:
        self.stolen.append((store, ts, units, cents))

    # -- assignment and restore -------------------------------------------------------------------
    def on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        if self.closing:  # a rebalance that completes inside close(): the next owner restores them
            return
        self.assigned = [TopicPartition(tp.topic, tp.partition) for tp in assigned]
        try:
            self._assign(consumer, assigned)
            self.rewind_pending = False
        except KafkaException as exc:  # the coordinator moved, say: not ready, the loop tries again
            self.log.warning("restore failed; retrying", error=str(exc))
            self.partitions.clear()
            self.rewind_pending = True

    def _assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        self.restoring = True
        started = time.monotonic()
        self.partitions.clear()
        numbers = sorted({tp.partition for tp in assigned})
        for number in numbers:
            self.partitions[number] = self._restore(consumer, number)
        metadata = consumer.list_topics(self.settings.foot_topic, timeout=10)
        self.parts = len(metadata.topics[self.settings.foot_topic].partitions)
        positions = [
            TopicPartition(name, number, part.starts[name])
            for number, part in self.partitions.items()
            for name in self.topics
        ]
        consumer.assign(positions)
        self.gate.reset({(tp.topic, tp.partition): tp.offset for tp in positions})
        self.restoring = False
        self.log.info(
            "assigned",
            partitions=numbers,
            open_carts=sum(p.engine.open_carts for p in self.partitions.values()),
            restore_s=round(time.monotonic() - started, 3),
        )

    def _restore(self, consumer: Consumer, number: int) -> _Partition:
        """The partition as last committed: from the state store where it is (or can catch up), else
        rebuilt from the start of its input."""
        names = list(self.topics)
        committed = consumer.committed([TopicPartition(n, number) for n in names], timeout=10)
        # Both topics' offsets carry the same progress: they are committed together.
        progress = max((Progress.decode(tp.metadata) for tp in committed), key=lambda p: p.until)
        sent_until = progress.until
        engine = self._engine()
        snapshot = self.store.load(_scope(number))
        if snapshot is not None and snapshot.until <= sent_until and snapshot.until >= 0:
            engine.restore(snapshot.entries)
            starts = {n: snapshot.offsets[f"{n}:{number}"] for n in names}
            how = "store" if snapshot.until == sent_until else "store+replay"
            until = snapshot.until
        else:
            if snapshot is not None:  # ahead of Kafka: its offsets were lost; never trust it
                self.store.drop([_scope(number)])
            starts = {
                n: consumer.get_watermark_offsets(TopicPartition(n, number), timeout=10)[0] for n in names
            }
            how, until = "input log", -1
        self.log.info("restoring", partition=number, source=how, until=until, committed_until=sent_until)
        return _Partition(engine, until, sent_until, starts, dict(progress.seen), engine.open_days())

    def on_revoke(self, _consumer: Consumer, revoked: list[TopicPartition]) -> None:
        # Between steps the open transaction holds only dead letters of what was read since the last
        # commit: drop them, the next owner reads those messages again. (A commit racing the rebalance
        # is fenced by the group's generation and rewound.)
        self.checkpoint.drop_dead_letters()
        self.partitions.clear()
        self.assigned = []
        self.rewind_pending = False
        self.gate.reset({})
        self.log.info("revoked", partitions=sorted({tp.partition for tp in revoked}))

    def rewind(self) -> None:
        """After a failed commit: back to the committed state of every partition this replica holds."""
        self.on_assign(self.consumer, self.assigned)

    # -- input --------------------------------------------------------------------------------------
    def take(self, message: Message) -> None:
        name, number, offset = str(message.topic()), int(message.partition() or 0), int(message.offset() or 0)
        part = self.partitions.get(number)
        problem: InputError | None = None
        record: Record | None = None
        if part is not None:
            try:
                record = self.decoder.decode(self.topics[name], name, message.value())
            except DecodeError as exc:
                problem = exc
        self.gate.consumed(
            name, number, offset
        )  # after decoding: a RegistryUnavailableError leaves it unread
        if part is None:
            return
        new = offset >= part.seen.get(name, -1)  # not handled before this replica's last rewind
        if record is not None:
            try:
                self._queue(part, name, record, message, new)
            except InputError as exc:
                problem = exc
            except Exception as exc:  # no input may stop the service, whatever it trips over
                self.log.error("input not applicable", topic=name, partition=number, error=repr(exc))
                problem = InputError("unprocessable", f"{type(exc).__name__}: {exc}")
        if problem is not None and new:
            self.dead.send(message, problem.reason, problem.detail)

    def _queue(self, part: _Partition, name: str, record: Record, message: Message, new: bool) -> None:
        """Queues an input for its instant; InputError when it can be none of this run's."""
        assert self.customers is not None
        self.customers.key_of(record["customer_id"])
        topic = self.topics[name]
        if topic == FOOT_TRAFFIC:
            event_ms, rank = record["entry_time"], 0
            if record["exit_time"] <= event_ms:
                raise InputError(
                    "invalid-session", f"exit {record['exit_time']} is not after entry {event_ms}"
                )
        else:
            event_ms, rank = record["timestamp"], _RANK[record["event_type"]]
        ts = event_ms // 1000
        if new and ts <= part.sent_until:
            where = {"topic": name, "partition": message.partition(), "offset": message.offset()}
            self.log.warning("late input", **where, event_time=iso_utc(ts), progress=iso_utc(part.sent_until))
            raise late_input(ts, part.sent_until)
        if ts <= part.until:
            return  # a replay's input that the restored carts hold already
        state = self.clock.state(refresh=False)
        if state is not None and state.end_ms is not None and event_ms >= state.end_ms:
            raise InputError("after-end", f"event time {iso_utc(ts)} is not before the run's end")
        self.metrics.child(self.metrics.consumed, name, record["event_type"]).inc()
        self.seq += 1
        heapq.heappush(part.inputs, (ts, rank, self.seq, record, message))

    def apply_until(self, part: _Partition, until: int) -> int:
        """Applies the partition's input up to ``until``, sends the checkouts due; returns how far it got
        (less than ``until`` while Postgres cannot give a day's discounts)."""
        assert self.pricing is not None
        engine, out = part.engine, []
        self.stolen.clear()  # what a step that failed half-way left
        try:
            for day in sorted(part.days):
                self.pricing.ensure(day)
                part.days.discard(day)
        except psycopg2.Error as exc:
            self.log.warning("postgres unavailable", error=str(exc).strip().splitlines()[0])
            return part.until
        previous = None
        while part.inputs and part.inputs[0][0] <= until:
            ts, _, _, record, message = part.inputs[0]
            if ts != previous:
                out += engine.due(ts - 1)
                previous = ts
            customer = record["customer_id"]
            problem: tuple[str, str] | None = None
            try:
                if "entry_time" in record:
                    self.pricing.ensure(day_date(decode_customer_id(customer).day))
                    engine.open_session(customer, ts, record["exit_time"] // 1000)
                else:
                    kind, quantity = record["event_type"], record["quantity"] or 0
                    engine.apply_shelf(customer, kind, record["item_id"], quantity, ts)
            except psycopg2.Error as exc:
                self.log.warning("postgres unavailable", error=str(exc).strip().splitlines()[0])
                until = ts - 1
                break
            except PosInputError as exc:
                problem = (exc.reason, str(exc))
            except Exception as exc:  # no input may stop the service, whatever it trips over
                self.log.error("input not applicable", customer=customer, error=repr(exc))
                problem = ("unprocessable", f"{type(exc).__name__}: {exc}")
            if problem is not None and ts > part.sent_until:  # a replayed partition met it already
                self.dead.send(message, *problem)
            heapq.heappop(part.inputs)
        out += engine.due(until)
        for checkout in out:
            if checkout.ts > part.sent_until:
                sent, copies = self.duplicates.expand([checkout], checkout.record)
                for event in sent:
                    self.producer.send(POS_TRANSACTIONS, event.key, event.record)
                for copy in copies:
                    self.metrics.duplicates_sent.labels(
                        self.settings.pos_topic, copy.record["store_id"]
                    ).inc()
                self.metrics.checkout_sent(checkout.record)
        for store, ts, units, cents in self.stolen:
            if ts > part.sent_until:  # as the checkouts: a replay's shrink is counted already
                self.metrics.shrunk(store_code(store), units, cents)
        self.stolen.clear()
        return until

    # -- the step -------------------------------------------------------------------------------------
    def offsets(self, number: int, part: _Partition) -> dict[str, int]:
        """Per input topic: the first offset whose event is not applied yet."""
        result = {name: self.gate.positions.get((name, number), part.starts[name]) for name in self.topics}
        for *_, message in part.inputs:
            name, offset = str(message.topic()), int(message.offset() or 0)
            result[name] = min(result[name], offset)
        return result

    def step(self) -> None:
        now_ms = self.clock.now_ms(refresh=True)
        if now_ms is None or not self.partitions:
            return
        until = min(self.gate.advance(), now_ms // 1000)
        reached = {n: self.apply_until(p, until) for n, p in self.partitions.items() if until > p.until}
        if not reached and not self.dead.pending:
            if self.unpublished:
                self.publish()
            return
        # Dead letters ride in the open transaction: with some there, every partition commits, moved or
        # not, or the broker aborts the transaction after transaction.timeout.ms and fences us.
        numbers = sorted(self.partitions) if self.dead.pending else sorted(reached)
        commits, steps = [], []
        for number in numbers:
            part = self.partitions[number]
            when = reached.get(number, part.until)
            seen = {
                name: max(part.seen.get(name, -1), self.gate.positions.get((name, number), part.starts[name]))
                for name in self.topics
            }
            progress = Progress(max(part.sent_until, when), seen)
            offsets = self.offsets(number, part)
            commits += [TopicPartition(n, number, o, progress.encode()) for n, o in offsets.items()]
            steps.append((number, when, progress, offsets))
        self.checkpoint.commit(self.consumer, commits)
        for number, when, progress, offsets in steps:
            part = self.partitions[number]
            part.until, part.sent_until, part.seen = when, progress.until, dict(progress.seen)
            by_topic = {f"{name}:{number}": offset for name, offset in offsets.items()}
            self.store.save(_scope(number), when, by_topic, part.engine.changes())
        self.unpublished = True
        self.metrics.open_carts.set(sum(p.engine.open_carts for p in self.partitions.values()))
        self.metrics.clock_lag.set(max(0, now_ms // 1000 - min(p.until for p in self.partitions.values())))
        self.publish()

    def publish(self) -> None:
        """The committed progress as the POS watermark, for the register and the ledger."""
        self.marks.advance({n: p.until for n, p in self.partitions.items()}, self.parts)
        self.unpublished = False

    def prepare(self) -> bool:
        self.producer.resolve_schemas()
        if self.clock.state(refresh=True) is None:
            return False
        if self.pricing is None:
            self.pricing = open_pricing(self.settings, self.log)
        if self.pricing is None:
            return False
        if self.customers is None:
            state = self.clock.state(refresh=False)
            assert state is not None
            self.customers = Customers(run_seed(self.settings, state))
            self.duplicates = Duplicates(
                self.customers.seed, self.settings.scenarios, "pos", self.live_stores.__getitem__
            )
        self.checkpoint.prepare()
        self.checkpoint.begin()
        return True

    def run(self) -> None:
        subscribed = False
        while not self.runtime.stopping.is_set():
            try:
                if not self.prepare():
                    self.runtime.wait(1.0)
                    continue
            except (FencedError, SettingsError):  # SettingsError: a promotion the inventory cannot have
                raise
            except Exception as exc:  # registry, Redis or Kafka away: not ready, try again
                self.log.warning("waiting for dependencies", error=str(exc))
                self.runtime.wait(1.0)
                continue
            if not subscribed:
                topics = [self.settings.foot_topic, self.settings.shelf_topic]
                self.member.subscribe(topics, on_assign=self.on_assign, on_revoke=self.on_revoke)
                subscribed = True
            if self.rewind_pending:
                self.rewind()
                if self.rewind_pending:
                    self.runtime.wait(1.0)
                    continue
            try:
                if not consume_into(self.consumer, self.take, self.log, 2000, self.member.observe):
                    self.runtime.wait(0.5)  # the registry is away: read those messages again soon
                if (fatal := self.member.renew_if_fatal()) is not None:  # its partitions were revoked
                    self.log.warning("group member renewed after a fatal error", error=fatal.str())
                    continue
                self.step()
            except CommitFailedError as exc:
                self.abandon_step("step not committed; rewinding", exc)
            except KafkaException as exc:  # a produce or a read refused mid-step: redo it from the commit
                self.checkpoint.recover(exc)
                self.abandon_step("kafka error in a step; rewinding", exc)
            except redis.RedisError as exc:
                self.log.warning("cannot advance", error=str(exc))
                self.runtime.wait(1.0)

    def abandon_step(self, what: str, exc: Exception) -> None:
        """The open transaction is gone (aborted, or with its producer): back to the committed state."""
        self.log.warning(what, error=str(exc))
        self.dead.aborted()  # the replay sends them again (the transaction is gone already)
        self.rewind_pending = True

    def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):  # what is not committed is re-read by the next owner
            self.checkpoint.abort()
        self.member.close()
        self.producer.flush(5)
        self.store.close()


def run_pos(settings: PosSettings) -> int:
    settings.refuse_unstreamed()
    runtime = ServiceRuntime("pos", settings.metrics_port).start()
    pos = _Pos(settings, runtime)
    try:
        pos.run()
    except FencedError as exc:
        runtime.log.error("stopping", error=str(exc))
        return 1
    finally:
        pos.close()
        runtime.log.info("stopped")
        runtime.close()
    return 0
