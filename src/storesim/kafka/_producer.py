"""Producing storesim events: Confluent-framed Avro through the registry (or the seeds' JSON), keyed by
customer_id, idempotent, with delivery reported to the metrics.

Serialisers are called directly (quix-streams style) with auto-registration off: a service uses the
schema the admin Job registered and is not ready until the registry has resolved it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from storesim.events import Record, json_record
from storesim.kafka._registry import subject_for, value_schema
from storesim.service import Metrics

__all__ = ["EventProducer"]

_Serialise = Callable[[Record], bytes]


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
        self._serialisers: dict[str, _Serialise] = {}
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
                self._serialisers[topic] = self._json(topic)
                continue
            schema = value_schema(topic)
            self._registry.lookup_schema(subject_for(name), schema)
            serializer = AvroSerializer(
                self._registry,
                schema.schema_str,
                conf={"auto.register.schemas": False, "use.latest.version": False},
            )
            context = SerializationContext(name, MessageField.VALUE)
            self._serialisers[topic] = lambda record, s=serializer, c=context: s(record, c)  # type: ignore[misc]

    @staticmethod
    def _json(topic: str) -> _Serialise:
        return lambda record: json.dumps(json_record(topic, record), ensure_ascii=False).encode()

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

    def send(self, topic: str, key: str, record: Record) -> None:
        value = self._serialisers[topic](record)
        name = self._names[topic]
        event_type = str(record.get("event_type") or topic)
        sent = time.monotonic()

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                self.failed += 1
                self._metrics.produce_errors.labels(topic=name).inc()
                return
            self._metrics.produced.labels(topic=name, event_type=event_type).inc()
            self._metrics.delivery_latency.labels(topic=name).observe(time.monotonic() - sent)

        while True:
            try:
                self._producer.produce(name, value=value, key=key.encode(), on_delivery=delivered)
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
