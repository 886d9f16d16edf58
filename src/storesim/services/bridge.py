"""`storesim run redis-kafka-bridge`: forwards the shelf's Redis stream to Kafka's shelf_events.

It reads with a Redis consumer group (BRIDGE_GROUP; one consumer name per replica), produces each entry
keyed by its customer_id, and acknowledges (XACK, then XDEL to bound memory) only after Kafka confirmed
delivery. A bridge that dies leaves its entries pending; it re-reads them when it comes back, and
another replica claims them (XAUTOCLAIM) once they have been idle BRIDGE_CLAIM_IDLE_MS.

The shelf also writes watermark entries ("partition P is written up to T"). A bridge publishes such a
mark only when no entry before it is still pending in the group — that is, when everything the shelf
wrote before the mark has reached Kafka, whichever bridge carried it.
"""

from __future__ import annotations

import json
import socket
from typing import Any, cast

import redis

from storesim.events import SHELF_EVENTS
from storesim.kafka._producer import EventProducer
from storesim.service import RedisClock
from storesim.services._runtime import ServiceRuntime
from storesim.services._wiring import add_pings, redis_client
from storesim.services.shelf import SHELF_STAGE
from storesim.settings import BridgeSettings
from storesim.streaming import DeadLetters, Watermarks

__all__ = ["run_bridge"]

_Entry = tuple[str, dict[str, str]]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entries(raw: Any) -> list[_Entry]:
    return [(_text(i), {_text(k): _text(v) for k, v in fields.items()}) for i, fields in raw if fields]


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
        for entry_id, fields in entries:
            if "watermark" in fields:
                self.held[entry_id] = fields
                continue
            self.runtime.metrics.consumed.labels(topic=self.stream, event_type="shelf_event").inc()
            try:
                record = json.loads(fields["record"])
                self.producer.send(SHELF_EVENTS, fields["key"], record)
            except (KeyError, ValueError, TypeError) as exc:
                # Not something the shelf wrote: keep it in the dead-letter topic rather than lose it.
                self.log.warning("bad stream entry", entry=entry_id, error=str(exc))
                value = json.dumps(fields).encode()
                self.dead.send_bytes(value, None, "undecodable", str(exc), self.stream, {"entry": entry_id})
            done.append(entry_id)
        if self.producer.drain(self.runtime.stopping.is_set) or self.producer.failed:
            self.producer.failed = 0
            return False
        if done:
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(self.stream, self.group, *done)
            pipe.xdel(self.stream, *done)
            pipe.execute()
        return True

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
            except Exception as exc:  # the registry away: not ready, try again
                self.log.warning("waiting for dependencies", error=str(exc))
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
