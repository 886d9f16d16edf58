"""Deterministic randomness and ids.

Every random draw comes from a generator keyed by (seed, store, simulated day, component[, entity]), and
every id is derived from such a key. Nothing depends on processing order, on how many stores run
together or on which replica runs them, so the same seed gives the same events byte for byte.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from typing import NamedTuple

__all__ = [
    "CustomerKey",
    "customer_id",
    "decode_customer_id",
    "derived_uuid",
    "keyed_rng",
    "ledger_transaction_id",
]

_STORE_BITS = 14
_DAY_BITS = 16
_SEQ_BITS = 24
_LINE_BITS = 7
MAX_STORE = (1 << _STORE_BITS) - 1
MAX_DAY = (1 << _DAY_BITS) - 1  # 2149-06-05, the last local day a customer id can carry
MAX_LINES = 1 << _LINE_BITS


class CustomerKey(NamedTuple):
    """What a customer id encodes: the store visit it stands for."""

    store: int
    day: int  # days since 1970-01-01 of the store's local date
    seq: int  # the visit's rank in that store-day, by entry time


def _pack(key: CustomerKey) -> int:
    """(store, day, visit) as one integer: the common core of customer ids and ledger ids."""
    store, day, seq = key
    return (store << _DAY_BITS | day) << _SEQ_BITS | seq


def _digest(text: str, size: int) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=size).digest(), "big")


def keyed_rng(seed: int, store: int, day: int, component: str, entity: int | str = "") -> random.Random:
    """A generator that belongs to one (seed, store, day, component[, entity]) and to nothing else."""
    return random.Random(_digest(f"{seed}/{store}/{day}/{component}/{entity}", 16))


def customer_id(seed: int, key: CustomerKey) -> str:
    """A UUIDv8 that carries its store visit.

    Downstream stages (the ledger's integer ids, a refund's store) need the visit's key, and the seeds'
    JSON has no field for it; carrying it inside the id keeps those shapes exact. The other bits are a
    keyed hash, so ids of different seeds differ and the ids still look random.
    """
    store, day, seq = key
    if not (0 < store <= MAX_STORE and 0 <= day < 1 << _DAY_BITS and 0 <= seq < 1 << _SEQ_BITS):
        raise ValueError(f"customer key out of range: {key}")
    noise = _digest(f"{seed}/{store}/{day}/{seq}/customer", 10)
    high = noise >> 16  # 64 bits
    low_tag = noise & 0xFF
    packed = (_pack(key) << 8) | low_tag  # 62 bits
    value = (high & ~(0xF << 12)) | (0x8 << 12)  # version 8 in bits 76..79 of the UUID
    value = (value << 64) | (0b10 << 62) | packed  # RFC 9562 variant
    return str(uuid.UUID(int=value))


def decode_customer_id(customer: str) -> CustomerKey:
    """Reads the store visit out of a customer id made by :func:`customer_id`."""
    value = uuid.UUID(customer).int
    if (value >> 76) & 0xF != 8 or (value >> 62) & 0b11 != 0b10:
        raise ValueError(f"not a storesim customer id: {customer}")
    packed = (value & ((1 << 62) - 1)) >> 8
    seq = packed & ((1 << _SEQ_BITS) - 1)
    day = (packed >> _SEQ_BITS) & ((1 << _DAY_BITS) - 1)
    store = packed >> (_SEQ_BITS + _DAY_BITS)
    return CustomerKey(store, day, seq)


def derived_uuid(parent: str, purpose: str) -> str:
    """An id that follows from another (a checkout's from its customer, a basket's from its checkout)."""
    return str(uuid.UUID(int=_digest(f"{parent}/{purpose}", 16), version=4))


def ledger_transaction_id(key: CustomerKey, line: int) -> int:
    """The ledger's integer id: unique across the chain, and the same on every replay."""
    if not 0 <= line < MAX_LINES:
        raise ValueError(f"line {line} out of range")
    return (_pack(key) << _LINE_BITS) | line
