"""The dead-letter topic: a message that cannot be applied goes there untouched, with why in its headers.

Headers: storesim.reason (a short code such as undecodable, unknown-item), storesim.detail, the source
(topic and partition/offset, or Redis stream and entry id) and the component, so that a message can be
inspected and replayed.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Message

from storesim.kafka._producer import EventProducer
from storesim.service import Metrics

__all__ = ["DeadLetters"]


class DeadLetters:
    def __init__(
        self, producer: EventProducer, topic: str, component: str, metrics: Metrics, sources: Iterable[str]
    ) -> None:
        self._producer = producer
        self.topic = topic
        self._component = component
        self._metrics = metrics
        # A zero series per input from the start: a counter born at 1 hides its first increment from
        # rate(), and the first undecodable message is the one an operator most needs to see.
        for source in sources:
            metrics.dead_lettered.labels(topic=source, reason="undecodable")

    def send(self, message: Message, reason: str, detail: str) -> None:
        """A Kafka message that cannot be applied."""
        position = {"partition": str(message.partition()), "offset": str(message.offset())}
        self.send_bytes(message.value(), message.key(), reason, detail, str(message.topic()), position)

    def send_bytes(
        self,
        value: bytes | None,
        key: bytes | None,
        reason: str,
        detail: str,
        source: str,
        position: dict[str, str],
    ) -> None:
        """Bytes from any source (a Kafka partition, a Redis stream); ``position`` says where in it, as
        storesim.source.<name> headers."""
        headers: list[tuple[str, str | bytes | None]] = [
            ("storesim.reason", reason.encode()),
            ("storesim.detail", detail[:1000].encode()),
            ("storesim.source.topic", source.encode()),
            *((f"storesim.source.{name}", text.encode()) for name, text in position.items()),
            ("storesim.component", self._component.encode()),
        ]
        raw = self._producer.raw  # looked up each time: a transactional producer can be renewed
        while True:
            try:
                raw.produce(self.topic, value=value, key=key, headers=headers)
                break
            except BufferError:
                raw.poll(0.1)
        self._metrics.dead_lettered.labels(topic=source, reason=reason).inc()
