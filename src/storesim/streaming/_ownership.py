"""Which stores this replica simulates: a consumer group over the store-control topic.

The k-th store of STORE_IDS belongs to whoever holds partition k mod (the topic's partitions). Kafka's
group protocol does the rest: a replica that starts, stops or dies moves stores without any restart,
and the eager protocol revokes a store from its old owner before anyone else gets it. The topic never
carries a message; its partitions are only the units handed out (round robin, so that consecutive
stores spread over the replicas).

The same partitions carry a stateful stage's per-store progress: its committed offsets there (offset 0)
hold, in their metadata, how far each store of the partition got, so that a Kafka transaction can commit
a store's outputs and its progress together, fenced by this group's generation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

__all__ = ["StoreOwnership"]

OnChange = Callable[[frozenset[int]], None]
_REJOIN_AFTER = 5.0  # seconds an empty share is tolerated before the replica rejoins the group


class StoreOwnership:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        store_ids: Sequence[int],
        *,
        on_revoke: OnChange,
        on_assign: OnChange,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self._topic = topic
        self._store_ids = tuple(store_ids)
        self._on_revoke = on_revoke
        self._on_assign = on_assign
        self._slots: int | None = None
        self.owned: frozenset[int] = frozenset()
        self.assigned = False  # the group has given this replica its share (perhaps none) at least once
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "partition.assignment.strategy": "roundrobin",
            "enable.auto.commit": False,
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "log_level": 3,
        }
        conf.update(extra or {})
        self._consumer = Consumer(conf)
        self._subscribed = False
        self._empty_since: float | None = None

    def _stores_of(self, partitions: list[TopicPartition]) -> frozenset[int]:
        assert self._slots is not None
        held = {tp.partition for tp in partitions}
        return frozenset(s for k, s in enumerate(self._store_ids) if k % self._slots in held)

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Round robin over STORE_SLOTS partitions gives every member at least one while there are fewer
        # members than slots; an empty share comes from a rebalance the leader ran while the topic was
        # not in its metadata (a broker that just restarted), and no later rebalance would fix it.
        self._empty_since = time.monotonic() if not partitions else None
        self.owned = self._stores_of(partitions)
        self.assigned = True
        self._on_assign(self.owned)

    def _revoked(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        gone, self.owned = self.owned, frozenset()
        self.assigned = False
        if gone:
            self._on_revoke(gone)

    @property
    def consumer(self) -> Consumer:
        """The group member, for committing progress with its group metadata."""
        return self._consumer

    def _slot(self, store: int) -> int:
        assert self._slots is not None
        return self._store_ids.index(store) % self._slots

    def progress(self, stores: Sequence[int]) -> dict[int, int]:
        """Each store's committed progress (-1 where none is committed)."""
        slots = sorted({self._slot(s) for s in stores})
        found: dict[int, int] = {}
        if slots:
            committed = self._consumer.committed([TopicPartition(self._topic, k) for k in slots], timeout=10)
            for tp in committed:
                found.update({int(s): int(t) for s, t in json.loads(tp.metadata or "{}").items()})
        return {s: found.get(s, -1) for s in stores}

    def progress_offsets(self, progress: Mapping[int, int]) -> list[TopicPartition]:
        """``progress`` (every store of the slots it touches) as offsets to commit on this topic."""
        by_slot: dict[int, dict[str, int]] = {}
        for store, until in sorted(progress.items()):
            by_slot.setdefault(self._slot(store), {})[str(store)] = until
        return [TopicPartition(self._topic, k, 0, json.dumps(v)) for k, v in sorted(by_slot.items())]

    def poll(self) -> None:
        """Keeps the membership alive and runs the callbacks; call it from the service's loop."""
        if not self._subscribed:
            metadata = self._consumer.list_topics(self._topic, timeout=5).topics.get(self._topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                raise KafkaException(f"store-control topic {self._topic} does not exist")
            self._slots = len(metadata.partitions)
            self._consumer.subscribe([self._topic], on_assign=self._assigned, on_revoke=self._revoked)
            self._subscribed = True
        elif self._empty_since is not None and time.monotonic() - self._empty_since > _REJOIN_AFTER:
            self._consumer.unsubscribe()  # the next poll subscribes again: a new rebalance
            self._subscribed = False
            self._empty_since = None
            return
        self._consumer.poll(0)

    def close(self) -> None:
        """Leaves the group, so the stores move at once instead of after the session timeout."""
        self._consumer.close()
