"""What the streaming services share: event-time watermarks, the input gate, store ownership,
group members that survive fatal errors, decoding, dead letters and pricing from Postgres."""

from storesim.streaming._checkpoint import Checkpoint, CommitFailedError
from storesim.streaming._decode import DecodeError, RecordDecoder
from storesim.streaming._dlq import DeadLetters
from storesim.streaming._fencing import FencedError
from storesim.streaming._gate import EventTimeGate
from storesim.streaming._member import GroupMember
from storesim.streaming._ownership import StoreOwnership
from storesim.streaming._pricing import PricingSource
from storesim.streaming._state import Snapshot, StateStore
from storesim.streaming._watermarks import Watermarks

__all__ = [
    "Checkpoint",
    "CommitFailedError",
    "DeadLetters",
    "DecodeError",
    "EventTimeGate",
    "FencedError",
    "GroupMember",
    "PricingSource",
    "RecordDecoder",
    "Snapshot",
    "StateStore",
    "StoreOwnership",
    "Watermarks",
]
