"""Store specs that must be rejected, and ones that must be accepted: shared by the model's unit tests and
the CRD's integration test, which checks that the API server accepts exactly what StoreSpec accepts."""

from __future__ import annotations

import random
from typing import Any

from storesim._keys import MAX_STORE
from storesim.world import store_code, timezones

# (field, value) set beside storeId STORE-001.
BAD_VALUES: list[tuple[str, Any]] = [
    ("dailyCustomers", -1),
    ("putbackProb", 1.5),
    ("refundProbability", -0.1),
    ("taxRate", 2),
    ("registers", 0),
    ("timezone", "Mars/Olympus"),
    ("timezone", "not a zone"),
    ("openingHours", {"opens": "22:00", "closes": "23:00"}),
    ("openingHours", {"opens": "06:00", "closes": "12:00"}),
    ("openingHours", {"opens": "10:00", "closes": "09:00"}),
    ("openingHours", {"opens": "9:00", "closes": "17:00"}),
    ("storeId", "STORE-000"),
    ("colour", "red"),
]

# Where the two validators could part: coercion, bounds, lengths, nesting, the id's edges. Rejected:
EDGE_REJECTED: list[tuple[str, Any]] = [
    ("dailyCustomers", "5"),
    ("dailyCustomers", True),
    ("dailyCustomers", 5.5),
    ("taxRate", "0.5"),
    ("name", 5),
    ("name", ""),
    ("name", "x" * 101),
    ("registers", 100),
    ("trafficMultiplier", 100.5),
    ("dailyCustomers", 1_000_001),
    ("openingHours", {"opens": "09:00"}),
    ("openingHours", {"opens": "09:00", "closes": "17:00", "lunch": "13:00"}),
    ("openingHours", {"opens": "09:00", "closes": "09:00"}),
    ("storeId", "STORE-001\n"),
    ("storeId", store_code(MAX_STORE + 1)),
    ("storeId", "STORE-0001"),
]
# ... and accepted (bounds are inclusive; null is "not set", which the API server prunes).
EDGE_ACCEPTED: list[tuple[str, Any]] = [
    ("storeId", store_code(MAX_STORE)),
    ("name", "x" * 100),
    ("name", "Ünïcødé ストア"),
    ("taxRate", 1),
    ("taxRate", 0),
    ("trafficMultiplier", 100),
    ("dailyCustomers", 0),
    ("registers", 99),
    ("openingHours", {"opens": "07:00", "closes": "22:00"}),
    ("openingHours", {"opens": "21:59", "closes": "22:00"}),
    ("timezone", "UTC"),
    ("city", None),
]

GOOD_SPECS: list[dict[str, Any]] = [
    {"storeId": "STORE-001"},
    {
        "storeId": "STORE-004",
        "name": "Harbour",
        "city": "Muscat",
        "timezone": "Asia/Muscat",
        "openingHours": {"opens": "09:30", "closes": "21:00"},
        "dailyCustomers": 321,
        "registers": 2,
        "taxRate": 0.05,
        "putbackProb": 0.25,
        "refundProbability": 0.5,
        "trafficMultiplier": 2.0,
    },
]


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def random_spec(rng: random.Random) -> dict[str, Any]:
    """A valid spec with a random subset of fields, each a random value inside its bounds."""
    opens = rng.randint(7 * 60, 21 * 60 + 59)
    candidates: dict[str, Any] = {
        "name": "".join(rng.choice("abcdefg hijk") for _ in range(rng.randint(1, 100))),
        "city": rng.choice(["Riyadh", "Jeddah", "São Paulo", "x"]),
        "timezone": rng.choice(timezones()),
        "openingHours": {"opens": _clock(opens), "closes": _clock(rng.randint(opens + 1, 22 * 60))},
        "dailyCustomers": rng.randint(0, 1_000_000),
        "registers": rng.randint(1, 99),
        "taxRate": rng.random(),
        "putbackProb": rng.choice([0, 1, rng.random()]),
        "refundProbability": rng.random(),
        "trafficMultiplier": rng.uniform(0, 100),
    }
    chosen = rng.sample(sorted(candidates), rng.randint(0, len(candidates)))
    return {"storeId": store_code(rng.randint(1, MAX_STORE)), **{key: candidates[key] for key in chosen}}
