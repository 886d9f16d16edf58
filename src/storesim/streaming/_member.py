"""A consumer-group member that outlives a fatal consumer error.

A static member (group.instance.id = REPLICA_ID) that the broker answers with FENCED_INSTANCE_ID gets a
fatal error from librdkafka, and a fatal consumer never joins or consumes again. That is right when
another process runs with the same REPLICA_ID, but a broker restart does it alone: a JoinGroup retried
across the restart gets the instance a new member id, and the request still in flight under the old one
is fenced. So the member closes a consumer that went fatal and joins again with a new one under the
same instance id; fatal errors that keep coming (the twin fences us each time) stop the service, as
:class:`~storesim.streaming.Checkpoint` does for its producer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from storesim.streaming._fencing import Renewals

__all__ = ["GroupMember"]

Rebalance = Callable[[Consumer, list[TopicPartition]], None]


class GroupMember:
    """A consumer that its owner asks to :meth:`renew_if_fatal` once per loop. ``consumer`` is looked up
    each time, since a renewal replaces it."""

    def __init__(self, conf: dict[str, Any], *, renewals: Renewals | None = None) -> None:
        self._conf = dict(conf)
        self._renewals = renewals or Renewals("consumer")
        self._fatal: KafkaError | None = None
        self._callbacks: tuple[Rebalance, Rebalance] | None = None
        self._topics: list[str] | None = None  # the subscription in force, if any
        self._held: list[TopicPartition] | None = None  # the assignment in force, if any
        self.consumer = self._new()

    def _new(self) -> Consumer:
        return Consumer({**self._conf, "error_cb": self.observe})

    def observe(self, error: KafkaError) -> None:
        """An error the consumer reported (through error_cb, or as a polled message's error). A consumer
        reports its fatal error once, as a message whose code is _FATAL and whose fatal() is False."""
        if error.fatal() or error.code() == KafkaError._FATAL:
            self._fatal = error

    def poll(self, timeout: float) -> Message | None:
        """The consumer's poll, watching for a fatal error."""
        message = self.consumer.poll(timeout)
        if message is not None and (error := message.error()) is not None:
            self.observe(error)
        return message

    def subscribe(self, topics: list[str], *, on_assign: Rebalance, on_revoke: Rebalance) -> None:
        self._topics, self._callbacks = list(topics), (on_assign, on_revoke)
        self._subscribe()

    def _subscribe(self) -> None:
        assert self._topics is not None
        self.consumer.subscribe(self._topics, on_assign=self._assigned, on_revoke=self._revoked)

    def unsubscribe(self) -> None:
        """Leaves the group (the revocation still reaches the owner, at the next poll)."""
        self.consumer.unsubscribe()
        self._topics = None

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if consumer is self.consumer and self._callbacks is not None:
            self._held = list(partitions)
            self._callbacks[0](consumer, partitions)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if consumer is self.consumer and self._callbacks is not None:  # not the closing fatal one
            self._held = None
            self._callbacks[1](consumer, partitions)

    def renew_if_fatal(self) -> KafkaError | None:
        """After a fatal error: the old consumer's assignment revoked (if librdkafka has not done it), a
        new consumer in its place subscribed as it was, and the error; else None. Raises FencedError when
        renewals keep coming."""
        error, self._fatal = self._fatal, None
        if error is None:
            return None
        self._renewals.record(error)
        if self._held is not None:
            self._revoked(self.consumer, self._held)
        old, self.consumer = self.consumer, self._new()
        with contextlib.suppress(KafkaException, RuntimeError):  # a fatal consumer may refuse to leave
            old.close()
        if self._topics is not None:
            self._subscribe()
        return error

    def close(self) -> None:
        self.consumer.close()
