"""What the streaming services share: the simulated clock in Redis, event-time watermarks, the input
gate, store ownership and since when each store is in the run, group members that survive fatal
errors, decoding and input checks, dead letters, committed progress and pricing from Postgres."""

from storesim.streaming._checkpoint import Checkpoint, CommitFailedError
from storesim.streaming._clock import CLOCK_KEY, ClockState, RedisClock
from storesim.streaming._decode import DecodeError, RecordDecoder, RegistryUnavailableError
from storesim.streaming._dlq import DeadLetters
from storesim.streaming._fencing import FencedError
from storesim.streaming._gate import EventTimeGate
from storesim.streaming._inputs import Customers, InputError, check_checkout, late_input
from storesim.streaming._member import GroupMember
from storesim.streaming._ownership import StoreOwnership
from storesim.streaming._pricing import PricingSource
from storesim.streaming._progress import Progress
from storesim.streaming._since import StoreSince
from storesim.streaming._state import Snapshot, StateStore
from storesim.streaming._watermarks import Watermarks

__all__ = [
    "CLOCK_KEY",
    "Checkpoint",
    "ClockState",
    "CommitFailedError",
    "Customers",
    "DeadLetters",
    "DecodeError",
    "EventTimeGate",
    "FencedError",
    "GroupMember",
    "InputError",
    "PricingSource",
    "Progress",
    "RecordDecoder",
    "RedisClock",
    "RegistryUnavailableError",
    "Snapshot",
    "StateStore",
    "StoreOwnership",
    "StoreSince",
    "Watermarks",
    "check_checkout",
    "late_input",
]
