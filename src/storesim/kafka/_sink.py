"""`storesim simulate --kafka`: the embedded run's events produced into Kafka, exactly once per run.

The records, keys and partitions are the services': the same encoders (Confluent-framed Avro through
the registry, or the seeds' JSON), customer-id keys and librdkafka's default partitioner, into the
admin Job's topics (AdminSettings' names, partition and replication counts; the missing ones are created,
with unlimited retention: see TOPIC_CONFIG). Each record's Kafka timestamp is its event time (the
schema's time field), not the time it was produced; one an uplink outage held is stamped with its
release, as a store's burst reaches a broker.

Exactly once per run, with transactions and a checkpoint inside them: the producer's transactional.id
and a consumer group are named after the run's fingerprint (seed, stores, dates, settings, data,
format, topics). Every transaction also commits, as that group's offset on partition 0 of the
foot-traffic topic, how many of the run's events it has produced so far. A run that is stopped, by
Ctrl-C or a kill, leaves its open transaction to be aborted (by itself, or by the next run's
init_transactions, which fences it); the same command started again reads the count, regenerates the
run (it is deterministic) and produces only what follows. A finished run started again produces nothing.
Deleting the topics deletes the checkpoint with them (Kafka drops a deleted topic's committed offsets).
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Self

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

from storesim.events import FOOT_TRAFFIC, Record, event_time_field
from storesim.kafka._registry import register_schemas
from storesim.kafka._serde import ValueEncoder, json_encoder, registry_encoder
from storesim.kafka._topics import UNLIMITED_RETENTION, TopicPlan, create_topics

__all__ = ["TOPIC_CONFIG", "KafkaSink", "SinkError"]

EVENTS_PER_TRANSACTION = 200_000
# Every record this sink writes is stamped with simulated time: the topics it creates keep them.
TOPIC_CONFIG = UNLIMITED_RETENTION
_POLL_EVERY = 4096


class SinkError(RuntimeError):
    """Kafka or the registry refused, in one line for the user."""


class KafkaSink:
    """A `write(topic, key, record)` that produces into Kafka in checkpointed transactions."""

    def __init__(
        self,
        bootstrap: str,
        registry_url: str | None,
        names: dict[str, str],
        *,
        run_id: str,
        partitions: int,
        replication: int,
        events_per_transaction: int = EVENTS_PER_TRANSACTION,
        timeout: float = 30.0,
    ) -> None:
        self.names = names
        self._timeout = timeout
        self._per_transaction = events_per_transaction
        plans = [TopicPlan(name, partitions, replication) for name in names.values()]
        create_topics(bootstrap, plans, names, timeout, TOPIC_CONFIG)
        self._encoders = self._encoders_for(registry_url, names)
        self._time_fields = {topic: event_time_field(topic) for topic in names}
        group = f"storesim-simulate-{run_id}"
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "transactional.id": group,
                "enable.idempotence": True,
                "acks": "all",
                "compression.type": "lz4",
                "linger.ms": 50,
                "batch.size": 1_000_000,
                "queue.buffering.max.kbytes": 1_048_576,
                "queue.buffering.max.messages": 1_000_000,
                "transaction.timeout.ms": 120_000,
                "log_level": 3,
            }
        )
        self._checkpoint = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False, "log_level": 3}
        )
        self._mark = names[FOOT_TRAFFIC]
        try:
            # Fences an earlier run of the same command that is still open, aborting its transaction.
            self._producer.init_transactions(timeout)
            committed = self._checkpoint.committed([TopicPartition(self._mark, 0)], timeout)[0].offset
        except KafkaException as exc:
            raise SinkError(f"KAFKA_BROKER={bootstrap}: {exc.args[0].str()}") from None
        self.resumed = max(committed, 0)  # events an earlier run of this command already committed
        self.seen = 0  # events handed to write(), the resumed ones included
        self.produced = 0  # events this process produced and committed
        self._open = 0  # events in the open transaction

    @staticmethod
    def _encoders_for(registry_url: str | None, names: dict[str, str]) -> dict[str, ValueEncoder]:
        if registry_url is None:
            return {topic: json_encoder(topic) for topic in names}
        register_schemas(registry_url, names)  # raises RegistryError with the setting's name
        registry = SchemaRegistryClient({"url": registry_url})
        return {topic: registry_encoder(registry, topic, name) for topic, name in names.items()}

    def write(self, topic: str, key: str, record: Record) -> None:
        self.write_late(topic, key, record, record[self._time_fields[topic]])

    def write_late(self, topic: str, key: str, record: Record, timestamp: int) -> None:
        """``timestamp``: the record's Kafka time, which is its release for one an uplink outage held."""
        self.seen += 1
        if self.seen <= self.resumed:
            return
        if not self._open:
            self._producer.begin_transaction()
        value = self._encoders[topic](record)
        name = self.names[topic]
        while True:
            try:
                self._producer.produce(name, value, key.encode(), timestamp=timestamp)
                break
            except BufferError:  # the local queue is full: let librdkafka send some
                self._producer.poll(0.05)
        self._open += 1
        if not self._open % _POLL_EVERY:
            self._producer.poll(0)
        if self._open >= self._per_transaction:
            self.commit()

    def commit(self) -> None:
        """Commits the open transaction together with the count of the run's events it brings us to."""
        if not self._open:
            return
        position = [TopicPartition(self._mark, 0, self.seen)]
        try:
            metadata = self._checkpoint.consumer_group_metadata()
            self._producer.send_offsets_to_transaction(position, metadata, self._timeout)
            self._producer.commit_transaction(self._timeout)
        except KafkaException as exc:
            raise SinkError(f"Kafka refused a transaction: {exc.args[0].str()}") from None
        self.produced += self._open
        self._open = 0

    def abort(self) -> None:
        """Gives up the open transaction (its events are never read by a read_committed consumer)."""
        if self._open:
            with contextlib.suppress(KafkaException):  # else the next run's init_transactions aborts it
                self._producer.abort_transaction(self._timeout)
            self._open = 0

    def close(self) -> None:
        self._checkpoint.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.abort()
        finally:
            self.close()
