"""Reading topics for `storesim tail`: read_committed, every partition assigned by hand, nothing committed.

A tail is a bystander: it joins no consumer group (librdkafka insists on a group.id, so it gets a
throwaway one that never reaches a coordinator) and commits no offset, so it takes no partition from a
service and leaves nothing behind. It reads read_committed because simulate --kafka and the stateful
services write in transactions: an aborted batch must not show, and a batch still open shows once it
commits.

Where to stop is fixed when the reader starts: the end of each partition then (for a read_committed
consumer librdkafka reports the last stable offset, so an open transaction is not waited for). A
partition is done at its first end-of-partition event or at a message at or past that offset; offsets
alone cannot say it, since transaction markers take offsets that no message comes with.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import NamedTuple, Self

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

__all__ = ["CONNECT_TIMEOUT", "Fetched", "TailError", "TopicReader", "check_registry"]

CONNECT_TIMEOUT = 5.0  # seconds a broker or registry that does not answer is waited for
_BATCH = 500
# Errors that no retry mends: the topic or partition went away under the tail.
_GONE = frozenset(
    {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION, KafkaError._UNKNOWN_TOPIC}
)


class TailError(RuntimeError):
    """Kafka or the registry cannot be read: the message is the one line the user sees."""


class Fetched(NamedTuple):
    """A message as it was read: its configured topic name, where it was, and its undecoded value."""

    name: str
    partition: int
    offset: int
    value: bytes | None


def check_registry(url: str, setting: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raises TailError unless the registry answers, so that a tail waiting for new messages does not
    find out only at the first one."""
    client = SchemaRegistryClient({"url": url, "max.retries": 0, "timeout": timeout})
    try:
        client.get_subjects()
    except Exception as exc:  # connection errors come from the HTTP client, unwrapped
        raise TailError(f"{setting}: cannot reach the schema registry: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class TopicReader:
    """The messages of ``names`` as they come, all topics interleaved; see the module's docstring.

    ``setting`` says where the broker address came from (``--broker X`` or ``KAFKA_BROKER=X``), for
    the errors.
    """

    def __init__(
        self,
        broker: str,
        setting: str,
        names: Sequence[str],
        *,
        from_beginning: bool,
        follow: bool,
        timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self._setting = setting
        self._follow = follow
        self._ends: dict[tuple[str, int], int] = {}  # with --from-beginning: each partition's end at start
        self._pending: set[tuple[str, int]] = set()  # partitions not yet read to that end
        self._consumer = Consumer(
            {
                "bootstrap.servers": broker,
                "group.id": f"storesim-tail-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                # An offset gone under retention: the start of what is left, or the end.
                "auto.offset.reset": "earliest" if from_beginning else "latest",
                # Connection failures reach the user once, as one line, not as librdkafka's log.
                "log_level": 0,
            }
        )
        try:
            self._assign(names, from_beginning, timeout)
        except BaseException:
            self._consumer.close()
            raise

    def _assign(self, names: Sequence[str], from_beginning: bool, timeout: float) -> None:
        try:
            topics = self._consumer.list_topics(timeout=timeout).topics
        except KafkaException as exc:
            raise TailError(f"{self._setting}: cannot reach Kafka: {exc.args[0].str()}") from None
        missing = [name for name in names if name not in topics or topics[name].error is not None]
        if missing:
            raise TailError(f"no topic {', '.join(missing)} on {self._setting}")
        assignment = []
        for name in names:
            for partition in sorted(topics[name].partitions):
                start = OFFSET_BEGINNING if from_beginning else OFFSET_END
                assignment.append(TopicPartition(name, partition, start))
                if from_beginning:
                    low, high = self._watermarks(name, partition, timeout)
                    self._ends[name, partition] = high
                    if high <= low:
                        continue
                self._pending.add((name, partition))
        self._consumer.assign(assignment)

    def _watermarks(self, name: str, partition: int, timeout: float) -> tuple[int, int]:
        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(name, partition), timeout=timeout, cached=False
            )
        except KafkaException as exc:
            raise TailError(f"{self._setting}: {name} [{partition}]: {exc.args[0].str()}") from None
        return int(low), int(high)

    @property
    def caught_up(self) -> bool:
        """Every partition has been read to its end (the end at start, with --from-beginning)."""
        return not self._pending

    @property
    def finished(self) -> bool:
        """Nothing more to read: caught up, and not following."""
        return not self._follow and not self._pending

    def poll(self, timeout: float) -> list[Fetched]:
        """The messages that arrived within ``timeout`` seconds (without --follow, none past the ends)."""
        out: list[Fetched] = []
        for message in self._consumer.consume(_BATCH, timeout):
            name, partition, offset = str(message.topic()), int(message.partition() or 0), message.offset()
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._pending.discard((name, partition))
                elif error.fatal() or error.code() in _GONE:
                    raise TailError(f"{self._setting}: {name} [{partition}]: {error.str()}")
                continue  # transient (a broker away, a leader moving): librdkafka retries
            assert offset is not None
            end = self._ends.get((name, partition))
            if end is not None and offset + 1 >= end:
                self._pending.discard((name, partition))
                if offset >= end and not self._follow:
                    continue
            out.append(Fetched(name, partition, offset, message.value()))
        return out

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
