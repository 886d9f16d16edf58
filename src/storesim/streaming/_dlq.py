"""The dead-letter topic: a message that cannot be applied goes there untouched, with why in its headers.

Headers: storesim.reason (a short code such as undecodable, unknown-item, late), storesim.detail, the
source (topic and partition/offset, or Redis stream and entry id) and the component, so that a message
can be inspected and replayed.

In a stage that commits in Kafka transactions a dead letter belongs to the open transaction: it
becomes visible with the step that read its message, and the stage must commit soon even when the step
has no output (``pending`` says it holds some), or the broker aborts the transaction and fences the
producer. Elsewhere (the sources) a stage flushes its dead letters before it commits the offsets past
them: at least once. Either way a dead letter is counted once :meth:`committed` says it is out, so that a
rewound step does not count it twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException, Message

from storesim.kafka._producer import EventProducer
from storesim.ops import Metrics

__all__ = ["DeadLetters"]

_KEPT_OF_A_HUGE_VALUE = 64 * 1024  # bytes of a value too large for the dead-letter topic that are kept


class DeadLetters:
    def __init__(
        self,
        producer: EventProducer,
        topic: str,
        component: str,
        metrics: Metrics,
        sources: Iterable[str],
    ) -> None:
        self._producer = producer
        self.topic = topic
        self._component = component
        self._metrics = metrics
        self._pending: list[tuple[str, str]] = []  # (source, reason) sent, not committed or flushed yet
        # A zero series per input from the start: a counter born at 1 hides its first increment from
        # rate(), and the first undecodable message is the one an operator most needs to see.
        for source in sources:
            metrics.dead_lettered.labels(topic=source, reason="undecodable")

    @property
    def pending(self) -> int:
        """Dead letters sent and not yet committed (or flushed)."""
        return len(self._pending)

    def committed(self) -> None:
        """The open transaction committed, or the producer delivered everything: they count."""
        for source, reason in self._pending:
            self._metrics.dead_lettered.labels(topic=source, reason=reason).inc()
        self._pending.clear()

    def aborted(self) -> None:
        """The open transaction was dropped: its dead letters will be sent again by the replay."""
        self._pending.clear()

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
        extra: Iterable[tuple[str, bytes]] = (),
    ) -> None:
        """Bytes from any source (a Kafka partition, a Redis stream); ``position`` says where in it, as
        storesim.source.<name> headers, ``extra`` adds headers of its own. A KafkaException (a producer
        that went fatal) reaches the caller, which renews the producer and redoes the step."""
        headers: list[tuple[str, str | bytes | None]] = [
            ("storesim.reason", reason.encode()),
            ("storesim.detail", detail[:1000].encode(errors="backslashreplace")),
            ("storesim.source.topic", source.encode()),
            *((f"storesim.source.{name}", text.encode()) for name, text in position.items()),
            ("storesim.component", self._component.encode()),
            *extra,
        ]
        raw = self._producer.raw  # looked up each time: a transactional producer can be renewed
        while True:
            try:
                raw.produce(self.topic, value=value, key=key, headers=headers)
                break
            except BufferError:
                raw.poll(0.1)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                too_large = isinstance(error, KafkaError) and error.code() == KafkaError.MSG_SIZE_TOO_LARGE
                if not too_large or value is None or len(value) <= _KEPT_OF_A_HUGE_VALUE:
                    raise
                # The input's topic took it, the dead-letter topic cannot with our headers: keep its
                # head, and say how long it was.
                headers.append(("storesim.truncated-from", str(len(value)).encode()))
                value = value[:_KEPT_OF_A_HUGE_VALUE]
        self._pending.append((source, reason))
