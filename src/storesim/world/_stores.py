"""The chain's stores: where they are, when they open, how big they are, how they tax and get paid.

Store n is the same store in every run: its attributes follow from n alone, never from the seed, so a
run of stores 4,5,6 and a run of stores 1..6 agree on store 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from storesim._keys import MAX_STORE

__all__ = ["PAYMENT_METHODS", "Store", "store", "store_code", "stores"]

PAYMENT_METHODS = ("credit_card", "debit_card", "cash", "mobile_wallet")

_HOUR = 3600


@dataclass(frozen=True, slots=True)
class _Site:
    name: str
    city: str
    timezone: str
    tax_rate_bp: int  # basis points
    opens: int  # local hour
    closes: int  # local hour, at most 22 so a 90-minute visit ends before midnight
    size: str
    cash_share: float  # share of cash among payments; the rest splits over cards and wallets


# The first three are the ledger seed's stores.
_SITES: tuple[_Site, ...] = (
    _Site("Downtown Mall", "Riyadh", "Asia/Riyadh", 1500, 8, 22, "large", 0.10),
    _Site("Westside Plaza", "Jeddah", "Asia/Riyadh", 1500, 8, 22, "large", 0.12),
    _Site("Tech Hub", "Dammam", "Asia/Riyadh", 1500, 9, 22, "medium", 0.12),
    _Site("Marina Walk", "Dubai", "Asia/Dubai", 500, 8, 22, "large", 0.08),
    _Site("Corniche", "Doha", "Asia/Qatar", 0, 8, 22, "medium", 0.10),
    _Site("Old Town", "Istanbul", "Europe/Istanbul", 1000, 8, 22, "medium", 0.25),
    _Site("Plaka", "Athens", "Europe/Athens", 1300, 8, 21, "small", 0.35),
    _Site("Trastevere", "Rome", "Europe/Rome", 1000, 8, 21, "small", 0.40),
    _Site("Salamanca", "Madrid", "Europe/Madrid", 1000, 9, 22, "medium", 0.30),
    _Site("Le Marais", "Paris", "Europe/Paris", 550, 8, 21, "small", 0.20),
    _Site("Kreuzberg", "Berlin", "Europe/Berlin", 700, 7, 22, "medium", 0.45),
    _Site("Jordaan", "Amsterdam", "Europe/Amsterdam", 900, 8, 22, "small", 0.10),
    _Site("Camden", "London", "Europe/London", 0, 7, 22, "medium", 0.12),
    _Site("Temple Bar", "Dublin", "Europe/Dublin", 0, 7, 22, "small", 0.15),
    _Site("Back Bay", "Boston", "America/New_York", 625, 7, 22, "medium", 0.15),
    _Site("Chelsea", "New York", "America/New_York", 888, 7, 22, "large", 0.18),
    _Site("Wicker Park", "Chicago", "America/Chicago", 1025, 7, 22, "large", 0.15),
    _Site("Montrose", "Houston", "America/Chicago", 825, 7, 22, "large", 0.20),
    _Site("LoDo", "Denver", "America/Denver", 881, 7, 21, "medium", 0.15),
    _Site("Capitol Hill", "Seattle", "America/Los_Angeles", 1035, 7, 22, "medium", 0.08),
    _Site("Mission", "San Francisco", "America/Los_Angeles", 863, 7, 22, "medium", 0.08),
    _Site("Silver Lake", "Los Angeles", "America/Los_Angeles", 950, 7, 22, "large", 0.12),
    _Site("Queen West", "Toronto", "America/Toronto", 1300, 8, 22, "medium", 0.15),
    _Site("Shibuya", "Tokyo", "Asia/Tokyo", 800, 7, 22, "small", 0.35),
)

_SIZES = {  # traffic factor, registers
    "small": (0.6, 3),
    "medium": (1.0, 5),
    "large": (1.5, 8),
}


@dataclass(frozen=True, slots=True)
class Store:
    number: int
    store_id: str
    name: str
    city: str
    timezone: str
    opens: int  # seconds after local midnight
    closes: int
    size: str
    traffic_factor: float
    registers: int
    tax_rate_bp: int
    payment_mix: tuple[tuple[str, float], ...]
    # Set by a Store resource (world/_store_specs.py); None means the component's setting decides.
    daily_customers: int | None = None
    traffic_multiplier: float = 1.0
    putback_prob: float | None = None
    refund_probability: float | None = None


def store_code(number: int) -> str:
    """The chain's store id, as the ledger seed writes it: STORE-004."""
    return f"STORE-{number:03d}"


@cache
def store(number: int) -> Store:
    """Store ``number`` (1-based). Beyond the table, sites repeat as further branches in the same city."""
    if not 1 <= number <= MAX_STORE:
        raise ValueError(f"store number must be between 1 and {MAX_STORE}, got {number}")
    site = _SITES[(number - 1) % len(_SITES)]
    branch = (number - 1) // len(_SITES)
    name = site.name if branch == 0 else f"{site.name} {branch + 1}"
    traffic_factor, registers = _SIZES[site.size]
    card = 1.0 - site.cash_share
    mix = (
        ("credit_card", round(card * 0.5, 4)),
        ("debit_card", round(card * 0.3, 4)),
        ("cash", site.cash_share),
        ("mobile_wallet", round(card * 0.2, 4)),
    )
    return Store(
        number=number,
        store_id=store_code(number),
        name=f"{name}, {site.city}",
        city=site.city,
        timezone=site.timezone,
        opens=site.opens * _HOUR,
        closes=site.closes * _HOUR,
        size=site.size,
        traffic_factor=traffic_factor,
        registers=registers,
        tax_rate_bp=site.tax_rate_bp,
        payment_mix=mix,
    )


def stores(numbers: list[int]) -> list[Store]:
    return [store(n) for n in numbers]
