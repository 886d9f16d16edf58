"""Names that the admin Job creates and every service uses: the dead-letter, store-control and answer-key
topics."""

from __future__ import annotations

from typing import Final

__all__ = ["DLQ_TOPIC", "STORE_CONTROL_TOPIC", "STORE_SLOTS", "TRUTH_TOPIC"]

DLQ_TOPIC: Final = "storesim.dlq"
# A consumer group over this topic's partitions shares the stores among a component's replicas: the
# k-th store of STORE_IDS belongs to whoever holds partition k mod STORE_SLOTS.
STORE_CONTROL_TOPIC: Final = "storesim.stores"
STORE_SLOTS: Final = 64
# The answer key (storesim.events.TRUTH): per store and UTC hour, what really happened.
TRUTH_TOPIC: Final = "storesim.truth"
