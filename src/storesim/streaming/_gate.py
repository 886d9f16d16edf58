"""The event time up to which a consumer has read all of its input.

The upstream stage publishes a watermark W only after everything at or before W was delivered. So a
consumer that reads W, then the end offsets of its partitions, and then consumes up to those offsets,
has read every input event at or before W. That is exact however many replicas write a partition and
however far apart in wall time they run, so a stage can apply its input in event-time order and
reproduce the embedded mode's result.
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, TopicPartition

from storesim.ops import Metrics

__all__ = ["EventTimeGate"]

_Partition = tuple[str, int]
NEVER = -1


class EventTimeGate:
    def __init__(
        self, consumer: Callable[[], Consumer], upstream: Callable[[], int | None], metrics: Metrics
    ) -> None:
        self._consumer = consumer  # looked up each time: a GroupMember can replace its consumer
        self._upstream = upstream
        self._metrics = metrics
        self.safe = NEVER
        self._target: tuple[int, dict[_Partition, int]] | None = None
        self.positions: dict[_Partition, int] = {}

    def reset(self, starts: dict[_Partition, int]) -> None:
        """After an assignment: the new partitions are read from ``starts``, nothing is safe yet."""
        self.safe = NEVER
        self._target = None
        self.positions = dict(starts)

    def consumed(self, topic: str, partition: int, offset: int) -> None:
        self.positions[(topic, partition)] = offset + 1

    def advance(self) -> int:
        """Moves the safe time forward where it can (a few broker round trips); returns it."""
        if not self.positions:
            return self.safe
        if self._target is None:
            mark = self._upstream()
            if mark is None or mark <= self.safe:
                return self.safe
            consumer = self._consumer()
            try:
                ends = {
                    tp: consumer.get_watermark_offsets(TopicPartition(*tp), timeout=5, cached=False)[1]
                    for tp in self.positions
                }
            except KafkaException:
                return self.safe
            self._target = (mark, ends)
        mark, ends = self._target
        behind = False
        for tp, end in ends.items():
            position = self._position(tp)
            self._metrics.consumer_lag.labels(topic=tp[0], partition=str(tp[1])).set(max(0, end - position))
            behind = behind or position < end
        if not behind:
            self.safe = max(self.safe, mark)
            self._target = None
        return self.safe

    def _position(self, tp: _Partition) -> int:
        """Our own next offset, or the client's where it skipped transaction markers past it."""
        own = self.positions.get(tp, 0)
        try:
            (client,) = self._consumer().position([TopicPartition(*tp)])
        except KafkaException:
            return own
        return max(own, client.offset)
