"""Committing a step of a stage that consumes and produces: its outputs and the input progress behind
them, in one Kafka transaction (EXACTLY_ONCE=true, the default) or as flush-then-commit (false).

The progress goes into the consumer group's committed offsets, with the stage's event-time progress in
each offset's metadata, so outputs and progress become visible together or not at all. A replica's
transactional.id is stable (REPLICA_ID), so a restarted replica fences its killed predecessor's
unfinished transaction at once; the consumer group metadata sent with the offsets fences a replica
that lost its partitions in a rebalance (KIP-447).
"""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from storesim.kafka._producer import EventProducer

__all__ = ["Checkpoint", "CommitFailedError", "ProducerFencedError"]

_TIMEOUT = 30.0


class CommitFailedError(RuntimeError):
    """The step was not committed (and its transaction aborted): rewind to the last committed state."""


class ProducerFencedError(RuntimeError):
    """Another instance took this replica's transactional.id (or group.instance.id): this one must stop."""


class Checkpoint:
    def __init__(self, producer: EventProducer, *, exactly_once: bool) -> None:
        self._producer = producer
        self.exactly_once = exactly_once
        self._initialised = False
        self._open = False

    def prepare(self) -> None:
        """Registers the transactional.id with the broker (aborting a predecessor's open transaction);
        raises KafkaException while the broker cannot be reached."""
        if self.exactly_once and not self._initialised:
            self._call(lambda: self._producer.raw.init_transactions(_TIMEOUT))
            self._initialised = True

    def begin(self) -> None:
        """Opens the step's transaction (a local operation); outputs sent from here on belong to it."""
        if self.exactly_once and not self._open:
            self._call(self._producer.raw.begin_transaction)
            self._open = True
        self._producer.failed = 0

    def commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> None:
        """Publishes the step's outputs with ``offsets`` as the group's committed input progress."""
        if not self.exactly_once:
            if self._producer.flush(_TIMEOUT) or self._producer.failed:
                raise CommitFailedError("Kafka did not confirm every output")
            if offsets:
                try:
                    consumer.commit(offsets=offsets, asynchronous=False)
                except KafkaException as exc:
                    raise CommitFailedError(f"offset commit failed: {exc}") from exc
            return
        raw = self._producer.raw
        try:
            if offsets:
                raw.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), _TIMEOUT)
            raw.commit_transaction(_TIMEOUT)
        except KafkaException as exc:
            self._fail(exc)
        self._open = False

    def abort(self) -> None:
        """Drops the open transaction's outputs (after a failed step)."""
        if self.exactly_once and self._open:
            try:
                self._producer.raw.abort_transaction(_TIMEOUT)
            except KafkaException as exc:
                self._check_fatal(exc)
            self._open = False

    def _fail(self, exc: KafkaException) -> None:
        self._check_fatal(exc)
        self.abort()
        raise CommitFailedError(f"transaction aborted: {exc.args[0]}") from exc

    def _call(self, operation: object) -> None:
        assert callable(operation)
        try:
            operation()
        except KafkaException as exc:
            self._check_fatal(exc)
            raise

    @staticmethod
    def _check_fatal(exc: KafkaException) -> None:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.fatal():
            raise ProducerFencedError(
                f"the producer is fenced ({error.str()}): another replica runs with this REPLICA_ID"
            ) from exc
