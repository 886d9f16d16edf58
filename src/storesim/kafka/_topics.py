"""Creating storesim's topics: idempotent, and foot_traffic and shelf_events always co-partitioned.

One POS replica must own partition i of both foot_traffic and shelf_events (the range assignor gives
it both), which holds only while the two topics have the same number of partitions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from storesim.events import FOOT_TRAFFIC, SHELF_EVENTS, TRUTH

__all__ = ["UNLIMITED_RETENTION", "TopicPlan", "TopicsError", "create_topics", "plan_topics"]

# For records stamped with simulated time (a backfill's events, every answer key): under the broker's time
# retention (7 days by default) a record of last month is deleted at the next retention check, minutes
# after it landed. The services' event topics carry the time each record was sent and keep the broker's.
UNLIMITED_RETENTION = {"retention.ms": "-1"}


class TopicsError(RuntimeError):
    """The topics could not be created or are inconsistent."""


@dataclass(frozen=True, slots=True)
class TopicPlan:
    name: str
    partitions: int
    replication: int
    config: dict[str, str] = field(default_factory=dict)  # over create_topics' config


def plan_topics(names: dict[str, str], dlq: str, partitions: int, replication: int) -> list[TopicPlan]:
    """Every topic, the answer key's stamped with its hour (so kept without a time limit)."""
    plans = [
        TopicPlan(name, partitions, replication, UNLIMITED_RETENTION if topic == TRUTH else {})
        for topic, name in names.items()
    ]
    return [*plans, TopicPlan(dlq, partitions, replication)]


def create_topics(
    bootstrap: str,
    plans: list[TopicPlan],
    names: dict[str, str],
    timeout: float = 30.0,
    config: dict[str, str] | None = None,
) -> list[str]:
    """Creates the missing topics (with the topic ``config``); returns the names it created. Existing
    ones are checked, not changed."""
    # log_level 0: connection failures reach the user once, as the one-line error below, not per retry.
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise TopicsError(f"KAFKA_BROKER={bootstrap}: cannot reach Kafka: {exc.args[0]}") from None
    missing = [p for p in plans if p.name not in existing]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    p.name,
                    num_partitions=p.partitions,
                    replication_factor=p.replication,
                    config={**(config or {}), **p.config},
                )
                for p in missing
            ],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result(timeout)
            except KafkaException as exc:
                if exc.args[0].code() != exc.args[0].TOPIC_ALREADY_EXISTS:
                    raise TopicsError(f"cannot create topic {name}: {exc.args[0].str()}") from None
    counts = _partition_counts(admin, [p.name for p in plans], timeout)
    foot, shelf = names[FOOT_TRAFFIC], names[SHELF_EVENTS]
    if counts.get(foot) != counts.get(shelf):
        raise TopicsError(
            f"{foot} has {counts.get(foot)} partitions and {shelf} {counts.get(shelf)}: "
            "they must be equal so that one POS replica owns all of a customer's events"
        )
    return [p.name for p in missing]


def _partition_counts(admin: AdminClient, names: list[str], timeout: float) -> dict[str, int]:
    """Partition counts once every name shows in the metadata: a topic just created can take a moment
    to appear there, and reading too early would mistake it for a missing one."""
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        counts = {name: len(meta.partitions) for name, meta in topics.items() if meta.partitions}
        if all(name in counts for name in names) or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)  # the metadata has no change notification to wait on
