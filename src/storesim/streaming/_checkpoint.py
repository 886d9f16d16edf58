"""Committing a step of a stage that consumes and produces: its outputs and the input progress behind
them, in one Kafka transaction (EXACTLY_ONCE=true, the default) or as flush-then-commit (false).

The progress goes into the consumer group's committed offsets, with the stage's event-time progress in
each offset's metadata, so outputs and progress become visible together or not at all. A replica's
transactional.id is stable (REPLICA_ID), so a restarted replica fences its killed predecessor's
unfinished transaction at once; the consumer group metadata sent with the offsets fences a replica
that lost its partitions in a rebalance (KIP-447).

The stage's dead letters ride in the same transaction (streaming/_dlq.py): they count once a commit
went through, and are dropped with an aborted transaction, for the replay to send again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from storesim.kafka._producer import EventProducer
from storesim.streaming._dlq import DeadLetters
from storesim.streaming._fencing import Renewals

__all__ = ["Checkpoint", "CommitFailedError"]

_TIMEOUT = 15.0


def _fatal(error: KafkaError) -> bool:
    """A fatal producer: librdkafka says so, or an operation refused because the producer is in its fatal
    state (code _FATAL, whose own fatal() can be False)."""
    return bool(error.fatal()) or error.code() == KafkaError._FATAL


class CommitFailedError(RuntimeError):
    """The step was not committed (and its transaction aborted): rewind to the last committed state."""


class Checkpoint:
    def __init__(self, producer: EventProducer, dead: DeadLetters, *, exactly_once: bool) -> None:
        self._producer = producer
        self._dead = dead
        self.exactly_once = exactly_once
        self._initialised = False
        self._open = False
        self._renewals = Renewals("producer")

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
            self._dead.committed()
            return
        raw = self._producer.raw
        group = consumer.consumer_group_metadata()
        outcome: list[BaseException | None] = []

        def publish() -> None:
            try:
                if offsets:
                    raw.send_offsets_to_transaction(offsets, group, _TIMEOUT)
                raw.commit_transaction(_TIMEOUT)
                outcome.append(None)
            except BaseException as exc:  # handed to the caller's thread
                outcome.append(exc)

        # librdkafka's send_offsets_to_transaction can block past its timeout when the group coordinator
        # went away (librdkafka#5456, #5511: after a broker restart, say). A watchdog gives up on such a
        # producer: a new one with the same transactional.id fences it, and the step is redone.
        worker = threading.Thread(target=publish, name="txn-commit", daemon=True)
        worker.start()
        worker.join(_TIMEOUT * 2 + 5)
        if not outcome:
            self._renew()
            raise CommitFailedError("the transaction commit hung; producer renewed")
        error = outcome[0]
        if isinstance(error, KafkaException):
            self._fail(error)
        elif error is not None:
            raise error
        self._open = False
        self._dead.committed()

    def abort(self) -> None:
        """Drops the open transaction's outputs (after a failed step). If the broker does not take the
        abort, a new producer with the same transactional.id fences the transaction instead."""
        self._dead.aborted()
        if self.exactly_once and self._open:
            self._open = False
            try:
                self._producer.raw.abort_transaction(_TIMEOUT)
            except KafkaException as exc:
                self._check_fatal(exc)
                self._renew()

    def drop_dead_letters(self) -> None:
        """Between steps the open transaction holds nothing but dead letters (a step commits what it
        sends): before a rebalance hands its partitions on, they are dropped, for the next owner to send
        again when it reads those messages."""
        if self._dead.pending:
            self.abort()

    def recover(self, exc: KafkaException) -> None:
        """After a Kafka error in the middle of a step (a produce refused by a producer that went fatal
        or was fenced, a consumer call that failed): the open transaction is dropped — by a new producer
        where this one is fatal — so that the caller can rewind to the committed state and redo the step.
        Raises FencedError when fatal errors keep coming."""
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and _fatal(error):
            self._renewals.record(error)
            self._renew()
        else:
            self.abort()

    def _renew(self) -> None:
        self._dead.aborted()
        self._producer.renew()
        self._initialised = self._open = False

    def _fail(self, exc: KafkaException) -> None:
        """Aborts, and starts over with a new producer: after a broker restart a producer can keep a
        stale coordinator and time out on every commit (librdkafka#5456, #5511); a new one looks the
        coordinators up afresh."""
        self._check_fatal(exc)
        self.abort()
        self._renew()
        raise CommitFailedError(f"transaction aborted: {exc.args[0]}") from exc

    def _call(self, operation: Callable[[], object]) -> None:
        try:
            operation()
        except KafkaException as exc:
            self._check_fatal(exc)
            raise

    def _check_fatal(self, exc: KafkaException) -> None:
        """A fatal error (the broker timed out and fenced our transaction across a broker restart, say)
        costs the producer: a new one takes over and the step fails. Fatal errors that keep coming mean
        another replica with this REPLICA_ID fences us each time: stop (FencedError)."""
        error = exc.args[0] if exc.args else None
        if not isinstance(error, KafkaError) or not _fatal(error):
            return
        self._renewals.record(error)
        self._renew()
        raise CommitFailedError(f"fatal producer error, producer renewed: {error.str()}") from exc
