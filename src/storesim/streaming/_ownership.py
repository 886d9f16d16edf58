"""Which stores this replica simulates: a consumer group over the store-control topic.

Store n belongs to whoever holds partition n mod (the topic's partitions). Kafka's group protocol does
the rest: a replica that starts, stops or dies moves stores without any restart, and the eager protocol
revokes a store from its old owner before anyone else gets it. The topic never carries a message; its
partitions are only the units handed out (round robin, so that consecutive stores spread over the
replicas). A store's slot depends on its number alone, so declaring or deleting a store while the chain
runs (:meth:`StoreOwnership.set_stores`) moves no other store.

The same partitions carry a stateful stage's per-store progress: its committed offsets there (offset 0)
hold, in their metadata, how far each store of the partition got (a Progress: the instant, and the input
offsets handled), so that a Kafka transaction can commit a store's outputs and its progress together,
fenced by this group's generation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from storesim.streaming._member import GroupMember
from storesim.streaming._progress import Progress

__all__ = ["StoreOwnership"]

OnChange = Callable[[frozenset[int]], None]
_REJOIN_AFTER = 5.0  # seconds an empty share is tolerated before the replica rejoins the group


class StoreOwnership:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        stores: Iterable[int],
        *,
        on_revoke: OnChange,
        on_assign: OnChange,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self._topic = topic
        self._stores = frozenset(stores)
        self._held: frozenset[int] = frozenset()  # the partitions (slots) this replica holds
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
        self._member = GroupMember(conf)
        self._subscribed = False
        self._empty_since: float | None = None

    def _stores_of(self, held: frozenset[int]) -> frozenset[int]:
        assert self._slots is not None
        return frozenset(s for s in self._stores if s % self._slots in held)

    def set_stores(self, stores: Iterable[int]) -> None:
        """The chain's stores changed (STORES_FILE): this replica's share follows, through on_assign
        with the whole new share (a store declared in a slot it holds is its own at once)."""
        self._stores = frozenset(stores)
        if not self.assigned:
            return  # the next assignment takes the new stores
        owned = self._stores_of(self._held)
        if owned != self.owned:
            self.owned = owned
            self._on_assign(owned)

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Round robin over STORE_SLOTS partitions gives every member at least one while there are fewer
        # members than slots; an empty share comes from a rebalance the leader ran while the topic was
        # not in its metadata (a broker that just restarted), and no later rebalance would fix it.
        self._empty_since = time.monotonic() if not partitions else None
        self._held = frozenset(tp.partition for tp in partitions)
        self.owned = self._stores_of(self._held)
        self.assigned = True
        self._on_assign(self.owned)

    def _revoked(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        gone, self.owned = self.owned, frozenset()
        self._held = frozenset()
        self.assigned = False
        if gone:
            self._on_revoke(gone)

    @property
    def consumer(self) -> Consumer:
        """The group member, for committing progress with its group metadata."""
        return self._member.consumer

    def _slot(self, store: int) -> int:
        assert self._slots is not None
        return store % self._slots

    def progress(self, stores: Sequence[int]) -> dict[int, Progress]:
        """Each store's committed progress (the empty Progress where none is committed)."""
        slots = sorted({self._slot(s) for s in stores})
        found: dict[int, Progress] = {}
        if slots:
            committed = self.consumer.committed([TopicPartition(self._topic, k) for k in slots], timeout=10)
            for tp in committed:
                found.update(
                    {int(s): Progress.from_json(p) for s, p in json.loads(tp.metadata or "{}").items()}
                )
        return {s: found.get(s, Progress()) for s in stores}

    def progress_offsets(self, progress: Mapping[int, Progress]) -> list[TopicPartition]:
        """``progress`` (every store of the slots it touches) as offsets to commit on this topic."""
        by_slot: dict[int, dict[str, object]] = {}
        for store, reached in sorted(progress.items()):
            by_slot.setdefault(self._slot(store), {})[str(store)] = reached.as_json()
        return [
            TopicPartition(self._topic, k, 0, json.dumps(v, separators=(",", ":")))
            for k, v in sorted(by_slot.items())
        ]

    def poll(self) -> KafkaError | None:
        """Keeps the membership alive and runs the callbacks; call it from the service's loop. Returns
        the fatal error that cost the group member, if it was just replaced (its stores revoked first).
        """
        if not self._subscribed:
            metadata = self.consumer.list_topics(self._topic, timeout=5).topics.get(self._topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                raise KafkaException(f"store-control topic {self._topic} does not exist")
            self._slots = len(metadata.partitions)
            self._member.subscribe([self._topic], on_assign=self._assigned, on_revoke=self._revoked)
            self._subscribed = True
        elif self._empty_since is not None and time.monotonic() - self._empty_since > _REJOIN_AFTER:
            self._member.unsubscribe()  # the next poll subscribes again: a new rebalance
            self._subscribed = False
            self._empty_since = None
            return None
        self._member.poll(0)
        return self._member.renew_if_fatal()

    def close(self) -> None:
        """Leaves the group, so the stores move at once instead of after the session timeout."""
        self._member.close()
