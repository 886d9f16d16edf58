"""Bad input to plant in a running chain, and how to find each planted message on the dead-letter topic.

The mix is what an independent check once planted to break the chain: random bytes, unknown schema ids,
truncated Avro, bad JSON, empty and null values, a 900 KB value, seed-shaped JSON with a field of the
wrong type, and well-formed events that make no sense (a store nobody simulates, an exit before the
entry, an unknown item, quantity 0, a customer who never walked in, a checkout that does not add up,
an event after the run's end); into the shelf's Redis stream also bytes that are not UTF-8, entries with
the wrong fields and watermarks that are not numbers. None of it may change what the chain produces:
no planted message is a record a stage could apply.
"""

from __future__ import annotations

import json
import random
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient

from storesim._keys import CustomerKey, customer_id, decode_customer_id, derived_uuid
from storesim.events import FOOT_TRAFFIC, POS_TRANSACTIONS, SHELF_EVENTS, Record, json_record, raw_schema
from storesim.events._avro import compile_encoder
from storesim.kafka._registry import subject_for
from tests.conftest import Run, epoch_seconds
from tests.integration.helpers import GARBAGE_KEY

KAFKA_TOPICS = (FOOT_TRAFFIC, SHELF_EVENTS, POS_TRANSACTIONS)
REDIS = "redis"
UNKNOWN_STORE = 99
NO_VISIT = 10_000_000  # a visit number no store-day reaches
HUGE = 900 * 1024


@dataclass
class Plant:
    """One planted message and the reasons a stage may give for refusing it."""

    topic: str  # a logical Kafka topic, or REDIS for the shelf's stream
    value: bytes | None = None
    reasons: frozenset[str] = frozenset({"undecodable"})
    fields: dict[bytes, bytes] = field(default_factory=dict)  # a Redis entry's
    forwarded: str | None = None  # a Redis entry the bridge forwards: its customer, found by content
    partition: int | None = None  # where it must go (a real customer's partition), else anywhere
    offset: int = -1  # where it landed (Kafka), or
    entry: str = ""  # its Redis entry id


def _event_ms(rng: random.Random, run: Run, topic: str) -> int:
    records = run.records[topic]
    pick = records[int(rng.random() * len(records))]
    return ms(pick["entry_time"] if topic == FOOT_TRAFFIC else pick["timestamp"])


def ms(value: Any) -> int:
    """An embedded run's timestamp (fastavro's datetime) in epoch milliseconds."""
    return epoch_seconds(value) * 1000


class Mix:
    """Makes the planted messages of one chain run (its seed, stores and embedded result)."""

    def __init__(
        self,
        rng: random.Random,
        seed: int,
        run: Run,
        registry_url: str,
        names: dict[str, str],
        partitions: int,
    ) -> None:
        self.rng = rng
        self.partitions = partitions
        self.seed = seed
        self.run = run
        registry = SchemaRegistryClient({"url": registry_url})
        self.ids = {t: registry.get_latest_version(subject_for(names[t])).schema_id for t in KAFKA_TOPICS}
        self.encoders = {t: compile_encoder(raw_schema(t)) for t in KAFKA_TOPICS}
        self.day = decode_customer_id(run.records[FOOT_TRAFFIC][0]["customer_id"]).day
        self.end_ms = max(ms(r["timestamp"]) for r in run.records["pos_events"]) + 86_400_000
        checked_out = {tx["customer_id"] for tx in run.records[POS_TRANSACTIONS]}
        self.visits = [r for r in run.records[FOOT_TRAFFIC] if r["customer_id"] in checked_out]
        self.huge_sent = False

    def avro(self, topic: str, record: Record) -> bytes:
        return b"\x00" + self.ids[topic].to_bytes(4, "big") + self.encoders[topic](record)

    def nobody(self, store: int = 1) -> str:
        """A well-formed id of this run's seed for a visit that never happened."""
        return customer_id(self.seed, CustomerKey(store, self.day, NO_VISIT + int(self.rng.random() * 1e6)))

    # -- records ----------------------------------------------------------------------------------
    def session(self, customer: str, entry_ms: int, exit_ms: int) -> Record:
        return {
            "event_type": "foot_traffic",
            "customer_id": customer,
            "entry_time": entry_ms,
            "exit_time": exit_ms,
            "trip_duration_minutes": max(0, (exit_ms - entry_ms) // 60_000),
            "weekday": "Friday",
            "time_slot": "10:00–12:59",
            "store_id": None,
        }

    def shelf_event(self, customer: str, ts_ms: int, item: str = "A01", quantity: int = 1) -> Record:
        return {
            "event_type": "pickup",
            "customer_id": customer,
            "item_id": item,
            "weight": 0.5,
            "quantity": quantity,
            "delta_weight": None,
            "timestamp": ts_ms,
            "store_id": None,
        }

    def checkout(self, customer: str, ts_ms: int, quantity: int = 1) -> Record:
        return {
            "event_type": "pos_transaction",
            "transaction_id": derived_uuid(customer, "checkout"),
            "customer_id": customer,
            "timestamp": ts_ms,
            "items": [
                {
                    "item_id": "A01",
                    "quantity": quantity,
                    "unit_price": 2.5,
                    "discount": 0.0,
                    "total_price": 2.5,
                }
            ],
            "store_id": None,
        }

    # -- the mix ----------------------------------------------------------------------------------
    def plants(self, count: int) -> list[Plant]:
        kinds: list[Callable[[], Plant]] = [
            self.random_bytes,
            self.unknown_schema_id,
            self.truncated_avro,
            self.bad_json,
            self.empty_or_null,
            self.wrong_type_json,
            self.senseless_session,
            self.senseless_shelf_event,
            self.senseless_checkout,
            self.redis_not_utf8,
            self.redis_wrong_fields,
            self.redis_bad_watermark,
            self.redis_wrong_types,
            self.redis_forwarded,
        ]
        out = [] if self.huge_sent else [self.huge(), self.huge_entry()]
        self.huge_sent = True
        while len(out) < count:
            out.append(self.rng.choice(kinds)())
        for item in out:
            if item.topic != REDIS and item.partition is None:
                item.partition = self.rng.randrange(self.partitions)
        return out

    def topic(self) -> str:
        return self.rng.choice(KAFKA_TOPICS)

    def random_bytes(self) -> Plant:
        value = self.rng.randbytes(1 + int(self.rng.random() * 300))
        return Plant(self.topic(), value, frozenset({"undecodable", "wrong-schema"}))

    def unknown_schema_id(self) -> Plant:
        schema_id = 1_000_000 + int(self.rng.random() * 1e6)
        return Plant(self.topic(), b"\x00" + schema_id.to_bytes(4, "big") + self.rng.randbytes(40))

    def truncated_avro(self) -> Plant:
        topic = self.topic()
        ts = _event_ms(self.rng, self.run, topic if topic != POS_TRANSACTIONS else SHELF_EVENTS)
        record = {
            FOOT_TRAFFIC: lambda: self.session(str(uuid.uuid4()), ts, ts + 600_000),
            SHELF_EVENTS: lambda: self.shelf_event(str(uuid.uuid4()), ts),
            POS_TRANSACTIONS: lambda: self.checkout(str(uuid.uuid4()), ts),
        }[topic]()
        whole = self.avro(topic, record)
        return Plant(topic, whole[: 5 + int(self.rng.random() * (len(whole) - 6))])

    def bad_json(self) -> Plant:
        return Plant(self.topic(), b'{"event_type": "pickup", "customer_id": ' + self.rng.randbytes(8))

    def empty_or_null(self) -> Plant:
        return Plant(self.topic(), self.rng.choice([b"", None]))

    def huge(self) -> Plant:
        return Plant(self.topic(), b"\x01" + self.rng.randbytes(HUGE))

    def huge_entry(self) -> Plant:
        return Plant(REDIS, fields={b"key": GARBAGE_KEY, b"record": b"\xff" + self.rng.randbytes(HUGE)})

    def wrong_type_json(self) -> Plant:
        """Seed-shaped JSON with a number as customer_id: what once stopped four services."""
        topic = self.topic()
        ts = _event_ms(self.rng, self.run, FOOT_TRAFFIC if topic == FOOT_TRAFFIC else SHELF_EVENTS)
        record = {
            FOOT_TRAFFIC: lambda: self.session(self.nobody(), ts, ts + 600_000),
            SHELF_EVENTS: lambda: self.shelf_event(self.nobody(), ts),
            POS_TRANSACTIONS: lambda: self.checkout(self.nobody(), ts),
        }[topic]()
        document = {**json_record(topic, record), "customer_id": int(self.rng.random() * 1e9)}
        return Plant(topic, json.dumps(document).encode(), frozenset({"wrong-schema"}))

    def senseless_session(self) -> Plant:
        ts = _event_ms(self.rng, self.run, FOOT_TRAFFIC)
        kind = self.rng.randrange(3)
        if kind == 0:  # a store nobody simulates: the shelf refuses it; the POS, when it comes late, too
            record, reasons = (
                self.session(self.nobody(UNKNOWN_STORE), ts, ts + 600_000),
                {"unknown-store", "late"},
            )
        elif kind == 1:
            record, reasons = self.session(self.nobody(), ts, ts - 60_000), {"invalid-session"}
        else:
            record, reasons = self.session(str(uuid.uuid4()), ts, ts + 600_000), {"unknown-customer"}
        return Plant(FOOT_TRAFFIC, self.avro(FOOT_TRAFFIC, record), frozenset(reasons))

    def senseless_shelf_event(self) -> Plant:
        kind = self.rng.randrange(5)
        if kind == 0:
            ts = _event_ms(self.rng, self.run, SHELF_EVENTS)
            record, reasons = self.shelf_event(str(uuid.uuid4()), ts), {"unknown-customer"}
        elif kind == 1:  # a customer who never walked in: refused when its instant comes, or as late
            ts = _event_ms(self.rng, self.run, SHELF_EVENTS)
            record, reasons = self.shelf_event(self.nobody(), ts), {"unknown-customer", "late"}
        elif kind == 2:
            record, reasons = self.shelf_event(self.nobody(), self.end_ms), {"after-end"}
        else:  # a real customer in the store: an unknown item, or quantity 0, changes no cart
            visit = self.rng.choice(self.visits)
            ts = ms(visit["entry_time"]) + 30_000
            if kind == 3:
                record, reasons = (
                    self.shelf_event(visit["customer_id"], ts, item="NO-SUCH-ITEM"),
                    {"unknown-item"},
                )
            else:
                record, reasons = self.shelf_event(visit["customer_id"], ts, quantity=0), {"bad-quantity"}
            reasons.add("late")
            # In the customer's own partition, where the POS holds the cart (librdkafka's default
            # partitioner: CRC-32 of the key).
            where = zlib.crc32(visit["customer_id"].encode()) % self.partitions
            return Plant(SHELF_EVENTS, self.avro(SHELF_EVENTS, record), frozenset(reasons), partition=where)
        return Plant(SHELF_EVENTS, self.avro(SHELF_EVENTS, record), frozenset(reasons))

    def senseless_checkout(self) -> Plant:
        ts = _event_ms(self.rng, self.run, SHELF_EVENTS)
        kind = self.rng.randrange(4)
        if kind == 0:
            record, reasons = self.checkout(self.nobody(UNKNOWN_STORE), ts), {"unknown-store"}
        elif kind == 1:
            record, reasons = self.checkout(str(uuid.uuid4()), ts), {"unknown-customer"}
        else:  # of a real customer, but not one the POS could have made
            visit = self.rng.choice(self.visits)
            record = self.checkout(
                visit["customer_id"], ms(visit["exit_time"]), quantity=0 if kind == 2 else 1
            )
            if kind == 3:
                record["transaction_id"] = str(uuid.uuid4())
            reasons = {"bad-quantity"} if kind == 2 else {"inconsistent-checkout"}
        return Plant(POS_TRANSACTIONS, self.avro(POS_TRANSACTIONS, record), frozenset(reasons))

    def redis_not_utf8(self) -> Plant:
        fields = {b"key": GARBAGE_KEY, b"record": b"\xff\xfe" + self.rng.randbytes(20)}
        if self.rng.random() < 0.3:
            fields = {b"\xff" + self.rng.randbytes(3): b"\xfe", b"key": GARBAGE_KEY}
        return Plant(REDIS, fields=fields)

    def redis_wrong_fields(self) -> Plant:
        record = json.dumps(self.shelf_event(str(uuid.uuid4()), 0)).encode()
        fields = self.rng.choice(
            [
                {b"record": record},
                {b"key": GARBAGE_KEY},
                {b"key": GARBAGE_KEY, b"record": b"{not json"},
                {b"key": GARBAGE_KEY, b"record": record, b"extra": b"1"},
                {b"key": GARBAGE_KEY, b"record": b'"a string"'},
            ]
        )
        return Plant(REDIS, fields=fields, reasons=frozenset({"undecodable", "wrong-schema"}))

    def redis_bad_watermark(self) -> Plant:
        fields = self.rng.choice(
            [
                {b"watermark": b"soon", b"partition": b"0", b"parts": b"3"},
                {b"watermark": b"1", b"partition": b"7", b"parts": b"3"},
                {b"watermark": b"1"},
            ]
        )
        return Plant(REDIS, fields=fields, reasons=frozenset({"bad-watermark"}))

    def redis_wrong_types(self) -> Plant:
        record: dict[str, Any] = self.shelf_event(self.nobody(), 0)
        name, value = self.rng.choice(
            [("customer_id", 12), ("customer_id", 1.5), ("quantity", "2"), ("timestamp", "0")]
        )
        record[name] = value
        fields = {b"key": GARBAGE_KEY, b"record": json.dumps(record).encode()}
        return Plant(REDIS, fields=fields, reasons=frozenset({"wrong-schema"}))

    def redis_forwarded(self) -> Plant:
        """A well-formed shelf event of a stranger: the bridge forwards it, the POS refuses it."""
        customer = str(uuid.uuid4())
        record = self.shelf_event(customer, _event_ms(self.rng, self.run, SHELF_EVENTS))
        fields = {b"key": GARBAGE_KEY, b"record": json.dumps(record).encode()}
        return Plant(REDIS, fields=fields, reasons=frozenset({"unknown-customer"}), forwarded=customer)


def plant(stack: dict[str, str], names: dict[str, str], stream: str, plants: list[Plant]) -> None:
    """Writes them: Kafka messages keyed GARBAGE_KEY on their partitions, Redis entries with XADD."""
    producer = Producer({"bootstrap.servers": stack["KAFKA_BROKER"], "message.max.bytes": 2_000_000})
    client = redis.Redis(stack["REDIS_HOST"], int(stack["REDIS_PORT"]))
    pending: list[Plant] = []

    def landed(item: Plant) -> Callable[[Any, Message], None]:
        def record(error: Any, message: Message) -> None:
            assert error is None, error
            item.partition, item.offset = int(message.partition() or 0), int(message.offset() or 0)

        return record

    for item in plants:
        if item.topic == REDIS:
            item.entry = client.xadd(stream, item.fields).decode()  # type: ignore[union-attr]
            continue
        assert item.partition is not None
        producer.produce(
            names[item.topic],
            value=item.value,
            key=GARBAGE_KEY,
            partition=item.partition,
            on_delivery=landed(item),
        )
        pending.append(item)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert all(item.offset >= 0 for item in pending)


@dataclass(frozen=True)
class DeadLetter:
    value: bytes | None
    headers: dict[str, str]

    @property
    def source(self) -> tuple[str, str]:
        h = self.headers
        return h["storesim.source.topic"], h.get("storesim.source.entry") or (
            f"{h['storesim.source.partition']}:{h['storesim.source.offset']}"
        )


def read_dead_letters(
    stack: dict[str, str], dlq: str, done: Callable[[list[DeadLetter]], bool], deadline_seconds: float
) -> list[DeadLetter]:
    """The dead-letter topic (read_committed: what a consumer sees), from the start until ``done``."""
    consumer = Consumer(
        {
            "bootstrap.servers": stack["KAFKA_BROKER"],
            "group.id": f"dlq-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([dlq])
    out: list[DeadLetter] = []
    deadline = time.monotonic() + deadline_seconds
    try:
        while time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=0.5):
                if message.error() is None:
                    headers = {k: (v or b"").decode(errors="replace") for k, v in message.headers() or []}
                    out.append(DeadLetter(message.value(), headers))
            if done(out):
                break
    finally:
        consumer.close()
    return out
