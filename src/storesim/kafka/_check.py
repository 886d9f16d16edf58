"""Whether every topic has received events: what the chart's `helm test` asks of a running release.

A topic's count is the sum over its partitions of high minus low watermark. Transaction markers take
offsets too, so the count is an upper bound on the records, which is all a smoke test needs: zero means
nothing was ever written.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, TopicPartition

from storesim.kafka._topics import TopicsError

__all__ = ["topic_event_counts", "wait_for_events"]


def topic_event_counts(bootstrap: str, names: list[str], timeout: float = 10.0) -> dict[str, int]:
    """Offsets written per topic; 0 for a topic that does not exist."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "storesim-topics-check", "log_level": 0})
    try:
        topics = consumer.list_topics(timeout=timeout).topics
        counts: dict[str, int] = {}
        for name in names:
            meta = topics.get(name)
            partitions = meta.partitions if meta is not None and meta.error is None else {}
            counts[name] = 0
            for partition in partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=timeout)
                counts[name] += high - low
        return counts
    except KafkaException as exc:
        raise TopicsError(f"KAFKA_BROKER={bootstrap}: cannot reach Kafka: {exc.args[0]}") from None
    finally:
        consumer.close()


def wait_for_events(
    fetch: Callable[[], dict[str, int]],
    timeout: float,
    *,
    interval: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Polls ``fetch`` until every topic has a count above zero or ``timeout`` seconds passed; returns the
    last counts either way (the caller names the empty topics). Kafka has no notification to wait on."""
    deadline = clock() + timeout
    while True:
        counts = fetch()
        if all(counts.values()) or clock() >= deadline:
            return counts
        pause(min(interval, max(0.0, deadline - clock())))
