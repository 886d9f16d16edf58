"""Producing storesim events: Confluent-framed Avro through the registry (or the seeds' JSON), keyed by
customer_id, idempotent, with delivery reported to the metrics.

Values are encoded by the encoders compiled from our schemas (storesim.kafka._serde), behind the
schema id the registry gives for the topic's subject: looked up once, never registered (the admin Job
registers), and a service is not ready until it has resolved them all. confluent-kafka's AvroSerializer,
which walks the schema and looks the subject up again for every message, took a quarter of the
bridge's time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient

from storesim.events import Record
from storesim.kafka._serde import ValueEncoder, json_encoder, registry_encoder
from storesim.ops import Metrics

__all__ = ["EventProducer"]

_LATENCY_SAMPLE = 16  # one delivery in this many is timed: the histogram's shape, at a sixteenth the cost


class EventProducer:
    def __init__(
        self,
        bootstrap: str,
        registry_url: str,
        names: dict[str, str],
        metrics: Metrics,
        *,
        output_format: str = "avro",
        extra: dict[str, Any] | None = None,
        transactional_id: str | None = None,
    ) -> None:
        self._names = names
        self._metrics = metrics
        self._format = output_format
        self._registry = SchemaRegistryClient({"url": registry_url})
        # Readiness must answer within a probe's timeout: one try, a short one.
        self._registry_probe = SchemaRegistryClient({"url": registry_url, "max.retries": 0, "timeout": 2})
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
            "log_level": 3,
        }
        if transactional_id is not None:
            # A killed replica's open transaction blocks read_committed consumers until it times out
            # (unless its successor fences it first): keep that short.
            conf.update({"transactional.id": transactional_id, "transaction.timeout.ms": 20_000})
        conf.update(extra or {})
        self._conf = conf
        self._producer = Producer(conf)
        self._serialisers: dict[str, ValueEncoder] = {}
        self._sent = 0
        self.failed = 0  # deliveries that failed since the owner last reset it

    def renew(self) -> None:
        """A new client in place of one that hit a fatal error (a transactional producer whose
        transaction the broker gave up on); with the same transactional.id it fences the old one."""
        self._producer = Producer(self._conf)
        self.failed = 0

    def resolve_schemas(self) -> None:
        """Looks every value schema up in the registry (never registers); raises until all resolve."""
        for topic, name in self._names.items():
            if topic in self._serialisers:
                continue
            # A zero series from the start, so that an error rate reads 0 rather than "no data".
            self._metrics.produce_errors.labels(topic=name)
            if self._format == "json":
                self._serialisers[topic] = json_encoder(topic)
            else:
                self._serialisers[topic] = registry_encoder(self._registry, topic, name)

    @property
    def ready(self) -> bool:
        return len(self._serialisers) == len(self._names)

    @property
    def raw(self) -> Producer:
        """The underlying producer, for bytes that need no serialiser (dead letters)."""
        return self._producer

    def registry_ping(self) -> bool:
        """The registry answers (JSON output needs none)."""
        if self._format == "json":
            return True
        try:
            self._registry_probe.get_subjects()
        except Exception:  # connection errors surface unwrapped from the HTTP client
            return False
        return True

    def ping(self) -> bool:
        """Kafka answers a metadata request."""
        try:
            self._producer.list_topics(timeout=2)
        except KafkaException:
            return False
        return True

    def send(self, topic: str, key: str, record: Record, timestamp_ms: int = 0) -> None:
        """``timestamp_ms``: the record's Kafka timestamp; 0, the default, leaves it to the producer."""
        value = self._serialisers[topic](record)
        name = self._names[topic]
        metrics = self._metrics
        produced = metrics.child(metrics.produced, name, str(record.get("event_type") or topic))
        self._sent += 1
        latency = None if self._sent % _LATENCY_SAMPLE else metrics.child(metrics.delivery_latency, name)
        sent = time.monotonic() if latency is not None else 0.0

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                self.failed += 1
                metrics.child(metrics.produce_errors, name).inc()
                return
            produced.inc()
            if latency is not None:
                latency.observe(time.monotonic() - sent)

        while True:
            try:
                self._producer.produce(
                    name, value=value, key=key.encode(), on_delivery=delivered, timestamp=timestamp_ms
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain, then try again
                self._producer.poll(0.1)
        self._producer.poll(0)

    def drain(self, stop: Callable[[], bool], patience: float = 30.0) -> int:
        """Waits until every message sent is delivered or has failed, however long the broker is away,
        unless ``stop()`` turns true; returns how many are still in flight.

        A message still in flight must not be sent again: the idempotent producer retries it itself
        (across a broker restart too) and delivers it once, while sending it again would duplicate it.
        """
        remaining = self.flush(patience)
        while remaining and not stop():
            remaining = self.flush(patience)
        return remaining

    def flush(self, timeout: float = 10.0) -> int:
        """Waits for every delivery; returns how many messages are still undelivered."""
        return int(self._producer.flush(timeout))
