"""`storesim run redis-kafka-bridge`: forwards the shelf's Redis stream to Kafka's shelf_events.

It reads with a Redis consumer group (BRIDGE_GROUP; one consumer name per replica), produces each entry
keyed by its customer_id, and acknowledges (XACK, then XDEL to bound memory) only after Kafka confirmed
delivery. A bridge that dies leaves its entries pending; it re-reads them when it comes back, and
another replica claims them (XAUTOCLAIM) once they have been idle BRIDGE_CLAIM_IDLE_MS.

The shelf also writes watermark entries ("partition P is written up to T"). A bridge publishes such a
mark only when no entry before it is still pending in the group — that is, when everything the shelf
wrote before the mark has reached Kafka, whichever bridge carried it.

An entry the shelf cannot have written — bytes that are not UTF-8, no key, a record that is not a
shelf event of the schema's types, a watermark that is not three numbers or is ahead of the clock —
goes to the dead-letter topic (its record field as the value, its key as the key, every other field as
a storesim.field.<name> header, all as the bytes Redis holds) and is acknowledged like any other: the
stream never stalls on it.
"""

from __future__ import annotations

import json
import socket
from typing import Any, cast

import redis
from confluent_kafka import KafkaException

from storesim.events import SHELF_EVENTS, Record
from storesim.events._checks import record_check
from storesim.kafka._producer import EventProducer
from storesim.services._runtime import ServiceRuntime
from storesim.services._wiring import add_pings, redis_client
from storesim.services.shelf import SHELF_STAGE
from storesim.settings import BridgeSettings
from storesim.streaming import DeadLetters, InputError, RedisClock, Watermarks

__all__ = ["run_bridge"]

_Entry = tuple[str, dict[bytes, bytes]]  # an entry id and its fields, as Redis holds them


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entries(raw: Any) -> list[_Entry]:
    return [(_text(i), dict(fields)) for i, fields in raw if fields]


def _fields(fields: dict[bytes, bytes]) -> dict[str, str]:
    try:
        return {k.decode(): v.decode() for k, v in fields.items()}
    except UnicodeDecodeError as exc:
        raise InputError("undecodable", f"not UTF-8: {exc}") from None


def _watermark(fields: dict[str, str]) -> tuple[int, int, int]:
    """(partition, parts, instant) of a watermark entry. (Whether the instant is true no bridge can
    tell: a bridge whose wall clock is behind the shelf's would see a paced shelf's marks ahead.)"""
    try:
        partition, parts, mark = (int(fields[name]) for name in ("partition", "parts", "watermark"))
    except (KeyError, ValueError) as exc:
        raise InputError("bad-watermark", f"{type(exc).__name__}: {exc}") from None
    if not 0 <= partition < parts:
        raise InputError("bad-watermark", f"partition {partition} of {parts}")
    return partition, parts, mark


def _shelf_event(fields: dict[str, str]) -> tuple[str, Record]:
    """(key, record) of a data entry."""
    if set(fields) != {"key", "record"}:
        raise InputError("undecodable", f"fields {sorted(fields)}, not key and record")
    try:
        record = json.loads(fields["record"])
    except ValueError as exc:
        raise InputError("undecodable", f"record: {exc}") from None
    try:
        record_check(SHELF_EVENTS)(record)
    except ValueError as exc:
        raise InputError("wrong-schema", f"not a shelf event: {exc}") from None
    return fields["key"], record


class _Bridge:
    def __init__(self, settings: BridgeSettings, runtime: ServiceRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.log = runtime.log
        self.client = redis_client(settings)
        self.clock = RedisClock(self.client, namespace=settings.sim_namespace)
        self.marks = Watermarks(self.client, settings.sim_namespace, SHELF_STAGE)
        self.producer = EventProducer(
            settings.kafka_broker,
            settings.schema_registry_url,
            {SHELF_EVENTS: settings.kafka_topic_shelf},
            runtime.metrics,
            output_format=settings.output_format,
        )
        self.stream = settings.redis_stream
        self.dead = DeadLetters(
            self.producer, settings.dlq_topic, "redis-kafka-bridge", runtime.metrics, [self.stream]
        )
        self.group = settings.bridge_group
        self.name = settings.bridge_consumer or socket.gethostname()
        self.held: dict[str, dict[str, str]] = {}  # watermark entries waiting for older ones to be acked
        self.claim_from = "0-0"
        self.group_ready = False
        add_pings(runtime, self.producer, settings, self.clock)
        runtime.health.add_ping("stream", lambda: self.group_ready)

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self.group_ready = True

    def read(self, start: str) -> list[_Entry]:
        """New entries (start ">"), or the ones this consumer still holds after ``start`` (after a restart
        or a failed delivery)."""
        reply = self.client.xreadgroup(
            self.group, self.name, {self.stream: start}, count=self.settings.bridge_batch, block=200
        )
        entries: list[_Entry] = []
        for _stream, raw in cast(list[Any], reply or []):
            entries += _entries(raw)
        return entries

    def claim(self) -> list[_Entry]:
        """Entries of a dead replica, idle long enough to be taken over."""
        reply: Any = self.client.xautoclaim(
            self.stream,
            self.group,
            self.name,
            min_idle_time=self.settings.bridge_claim_idle_ms,
            start_id=self.claim_from,
            count=self.settings.bridge_batch,
        )
        self.claim_from = _text(reply[0])
        return _entries(reply[1])

    def forward(self, entries: list[_Entry]) -> bool:
        """Produces the data entries, acknowledges them once delivered; True when all went through."""
        done: list[str] = []
        for entry_id, raw in entries:
            try:
                fields = _fields(raw)
                if "watermark" in fields:
                    _watermark(fields)
                    self.held[entry_id] = fields
                    continue
                self.runtime.metrics.child(self.runtime.metrics.consumed, self.stream, "shelf_event").inc()
                self.producer.send(SHELF_EVENTS, *_shelf_event(fields))
            except InputError as exc:
                self.dead_letter(entry_id, raw, exc)
            done.append(entry_id)
        if self.producer.drain(self.runtime.stopping.is_set) or self.producer.failed:
            self.producer.failed = 0
            self.dead.aborted()
            return False
        self.dead.committed()
        if done:
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(self.stream, self.group, *done)
            pipe.xdel(self.stream, *done)
            pipe.execute()
        return True

    def dead_letter(self, entry_id: str, raw: dict[bytes, bytes], problem: InputError) -> None:
        """Not something the shelf wrote: the dead-letter topic keeps it byte for byte rather than lose it."""
        self.log.warning("bad stream entry", entry=entry_id, error=str(problem))
        extra = [
            (f"storesim.field.{name.decode(errors='backslashreplace')}", value)
            for name, value in raw.items()
            if name not in (b"key", b"record")
        ]
        self.dead.send_bytes(
            raw.get(b"record"),
            raw.get(b"key"),
            problem.reason,
            problem.detail,
            self.stream,
            {"entry": entry_id},
            extra,
        )

    def publish_marks(self) -> None:
        """Publishes each held mark once nothing older is pending anywhere in the group."""
        for entry_id in sorted(self.held, key=lambda i: tuple(map(int, i.split("-")))):
            older = self.client.xpending_range(self.stream, self.group, min="-", max=f"({entry_id}", count=1)
            if older:
                break  # later marks wait for this one
            fields = self.held.pop(entry_id)
            self.marks.advance({int(fields["partition"]): int(fields["watermark"])}, int(fields["parts"]))
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(self.stream, self.group, entry_id)
            pipe.xdel(self.stream, entry_id)
            pipe.execute()

    def run(self) -> None:
        pending: str | None = "0"  # where to read this consumer's own pending entries from; None: new ones
        ticks = 0
        while not self.runtime.stopping.is_set():
            try:
                self.producer.resolve_schemas()
                if not self.group_ready:
                    self.ensure_group()
                entries = self.read(pending or ">")
                if pending is not None:
                    pending = entries[-1][0] if entries else None
                ticks += 1
                if ticks % 50 == 0:
                    entries += self.claim()
                if not self.forward(entries):
                    pending = "0"  # read them again from our pending list
                    self.runtime.wait(0.5)
                    continue
                self.publish_marks()
            except redis.RedisError as exc:
                self.group_ready = False
                self.log.warning("redis unavailable", error=str(exc))
                self.runtime.wait(1.0)
            except KafkaException as exc:  # a producer gone fatal: a new one, and the entries again
                self.log.warning("kafka producer failed; renewed", error=str(exc))
                self.producer.renew()
                self.dead.aborted()
                pending = "0"
                self.runtime.wait(1.0)
            except Exception as exc:  # the registry away: not ready, try again
                self.log.warning("waiting for dependencies", error=str(exc))
                pending = "0"
                self.runtime.wait(1.0)


def run_bridge(settings: BridgeSettings) -> int:
    runtime = ServiceRuntime("redis-kafka-bridge", settings.metrics_port).start()
    bridge = _Bridge(settings, runtime)
    try:
        bridge.run()
    finally:
        undelivered = bridge.producer.flush(8)
        runtime.log.info("stopped", undelivered=undelivered)
        runtime.close()
    return 0
