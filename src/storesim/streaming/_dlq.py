"""The dead-letter topic: a message that cannot be applied goes there untouched, with why in its headers.

Headers: storesim.reason (a short code such as undecodable, unknown-item), storesim.detail, the source
topic/partition/offset and the component, so that a message can be inspected and replayed.
"""

from __future__ import annotations

from confluent_kafka import Message, Producer

from storesim.service import Metrics

__all__ = ["DeadLetters"]


class DeadLetters:
    def __init__(self, producer: Producer, topic: str, component: str, metrics: Metrics) -> None:
        self._producer = producer
        self.topic = topic
        self._component = component
        self._metrics = metrics

    def send(self, message: Message, reason: str, detail: str) -> None:
        source = str(message.topic())
        headers: list[tuple[str, str | bytes | None]] = [
            ("storesim.reason", reason.encode()),
            ("storesim.detail", detail[:1000].encode()),
            ("storesim.source.topic", source.encode()),
            ("storesim.source.partition", str(message.partition()).encode()),
            ("storesim.source.offset", str(message.offset()).encode()),
            ("storesim.component", self._component.encode()),
        ]
        while True:
            try:
                self._producer.produce(self.topic, value=message.value(), key=message.key(), headers=headers)
                break
            except BufferError:
                self._producer.poll(0.1)
        self._metrics.dead_lettered.labels(topic=source, reason=reason).inc()
