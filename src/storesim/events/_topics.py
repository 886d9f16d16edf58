"""The topics storesim writes, by their seed default names, and what an engine hands to a sink.

TOPICS are the events; TRUTH is the answer key beside them (per store and hour, what happened), so
OUTPUTS is everything a run writes.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

__all__ = [
    "FOOT_TRAFFIC",
    "FOOT_TRAFFIC_REALISTIC",
    "OUTPUTS",
    "POS_EVENTS",
    "POS_TRANSACTIONS",
    "REFUNDS",
    "SHELF_EVENTS",
    "TOPICS",
    "TRANSACTIONS",
    "TRUTH",
    "Emitted",
    "Record",
    "event_time_field",
]

FOOT_TRAFFIC: Final = "foot_traffic"
FOOT_TRAFFIC_REALISTIC: Final = "foot_traffic_realistic"
SHELF_EVENTS: Final = "shelf_events"
POS_TRANSACTIONS: Final = "pos_transactions"
POS_EVENTS: Final = "pos_events"
TRANSACTIONS: Final = "transactions"
REFUNDS: Final = "refunds"
TRUTH: Final = "truth"

TOPICS: Final = (
    FOOT_TRAFFIC,
    FOOT_TRAFFIC_REALISTIC,
    SHELF_EVENTS,
    POS_TRANSACTIONS,
    POS_EVENTS,
    TRANSACTIONS,
    REFUNDS,
)
OUTPUTS: Final = (*TOPICS, TRUTH)

Record = dict[str, Any]

# The field (epoch milliseconds) that says when a topic's event happened: a session is emitted at entry.
_EVENT_TIME_FIELDS: Final = {FOOT_TRAFFIC: "entry_time", FOOT_TRAFFIC_REALISTIC: "time", TRUTH: "hour"}


def event_time_field(topic: str) -> str:
    """The name of the record field holding the event's time, in epoch milliseconds."""
    if topic not in OUTPUTS:
        raise KeyError(topic)
    return _EVENT_TIME_FIELDS.get(topic, "timestamp")


class Emitted(NamedTuple):
    """An event as an engine returns it: its instant (UTC seconds), logical topic, key and Avro record."""

    ts: int
    topic: str
    key: str
    record: Record
