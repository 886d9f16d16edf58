"""The five simulators as engines: plain Python that takes time and keyed randomness and returns events.

They know nothing of Kafka, Redis or files; the embedded runner and the services drive the same code.
"""

from storesim.engines.duplicates import Duplicates
from storesim.engines.foot_traffic import FootTrafficEngine, Session
from storesim.engines.ledger import REFUND_REASONS, LedgerEngine
from storesim.engines.pos import PosEngine, PosInputError
from storesim.engines.register import RegisterEngine, register_amounts
from storesim.engines.shelf import MAX_ACTIONS, MIN_ACTIONS, ShelfEngine
from storesim.engines.standalone import (
    SAMPLE_ITEMS,
    SEED_PRODUCTS,
    SEED_STORES,
    standalone_ledger,
    standalone_register,
)
from storesim.engines.store_chain import ChainRules, StoreChain, Summary
from storesim.engines.truth import HOUR, TruthEngine

__all__ = [
    "HOUR",
    "MAX_ACTIONS",
    "MIN_ACTIONS",
    "REFUND_REASONS",
    "SAMPLE_ITEMS",
    "SEED_PRODUCTS",
    "SEED_STORES",
    "ChainRules",
    "Duplicates",
    "FootTrafficEngine",
    "LedgerEngine",
    "PosEngine",
    "PosInputError",
    "RegisterEngine",
    "Session",
    "ShelfEngine",
    "StoreChain",
    "Summary",
    "TruthEngine",
    "register_amounts",
    "standalone_ledger",
    "standalone_register",
]
