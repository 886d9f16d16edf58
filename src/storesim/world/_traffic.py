"""How many customers come on a day, when they come and how long they stay.

The daily volume follows the foot-traffic seed: DAILY_CUSTOMERS fixes it; otherwise the baseline
(BASE_DAILY_CUSTOMERS, else DEFAULT_DAILY_CUSTOMERS) is shaped by the weekday and the store's size and
varied by up to ±DAILY_VARIATION_PCT unless DISABLE_DAILY_VARIATION is set.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import accumulate

from storesim.world._stores import Store
from storesim.world._weights import weighted_index

__all__ = [
    "MAX_TRIP_MINUTES",
    "TIME_SLOTS",
    "WEEKDAYS",
    "WEEKDAY_FACTORS",
    "SlotPicker",
    "TimeSlot",
    "TrafficVolume",
    "daily_customers",
    "expected_customers",
    "slot_weights",
    "trip_minutes",
]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Mean 1.0: Friday and Saturday are the big shopping days, Monday and Tuesday the quiet ones.
WEEKDAY_FACTORS = (0.85, 0.85, 0.90, 0.95, 1.15, 1.30, 1.00)

MIN_TRIP_MINUTES = 4
MAX_TRIP_MINUTES = 90
_MEDIAN_TRIP_MINUTES = 22.0


@dataclass(frozen=True, slots=True)
class TimeSlot:
    label: str
    start: int  # seconds after local midnight
    end: int  # exclusive


TIME_SLOTS = tuple(
    TimeSlot(f"{h:02d}:00–{h + 2:02d}:59", h * 3600, (h + 3) * 3600) for h in (7, 10, 13, 16, 19)
)

# Share of the day's visitors per slot: weekdays peak after work, weekends around midday.
_WEEKDAY_SLOT_SHAPE = (0.14, 0.20, 0.18, 0.30, 0.18)
_FRIDAY_SLOT_SHAPE = (0.11, 0.18, 0.18, 0.31, 0.22)
_WEEKEND_SLOT_SHAPE = (0.07, 0.30, 0.30, 0.22, 0.11)
_SLOT_SHAPES = (
    _WEEKDAY_SLOT_SHAPE,
    _WEEKDAY_SLOT_SHAPE,
    _WEEKDAY_SLOT_SHAPE,
    _WEEKDAY_SLOT_SHAPE,
    _FRIDAY_SLOT_SHAPE,
    _WEEKEND_SLOT_SHAPE,
    _WEEKEND_SLOT_SHAPE,
)


@dataclass(frozen=True, slots=True)
class TrafficVolume:
    """The seed's daily-volume settings, resolved."""

    baseline: int
    fixed_daily: int | None = None
    variation_pct: float = 0.10
    variation: bool = True


def expected_customers(volume: TrafficVolume, store: Store, weekday: int) -> float:
    """The day's volume before noise: what ±DAILY_VARIATION_PCT is measured against."""
    if store.daily_customers is not None:  # the store's own baseline (a Store resource) comes first
        return store.daily_customers * WEEKDAY_FACTORS[weekday] * store.traffic_multiplier
    if volume.fixed_daily is not None:
        return float(volume.fixed_daily) * store.traffic_multiplier
    return volume.baseline * WEEKDAY_FACTORS[weekday] * store.traffic_factor * store.traffic_multiplier


def daily_customers(volume: TrafficVolume, store: Store, weekday: int, rng: random.Random) -> int:
    expected = expected_customers(volume, store, weekday)
    fixed = volume.fixed_daily is not None and store.daily_customers is None
    if fixed or not volume.variation or volume.variation_pct == 0:
        return round(expected)
    pct = volume.variation_pct
    low, high = math.ceil(expected * (1 - pct)), math.floor(expected * (1 + pct))
    return max(0, min(high, max(low, round(expected * (1 + rng.uniform(-pct, pct))))))


def slot_weights(store: Store, weekday: int) -> list[tuple[TimeSlot, int, int, float]]:
    """Each slot's open window (clipped to opening hours) and its share of the day's visitors.

    A slot that the store opens only partly keeps that fraction of its share; the shares are then
    renormalised so the day's total stays what daily_customers said.
    """
    windows = []
    for slot, share in zip(TIME_SLOTS, _SLOT_SHAPES[weekday], strict=True):
        start, end = max(slot.start, store.opens), min(slot.end, store.closes)
        if end > start:
            windows.append((slot, start, end, share * (end - start) / (slot.end - slot.start)))
    total = sum(w[3] for w in windows)
    return [(slot, start, end, weight / total) for slot, start, end, weight in windows]


class SlotPicker:
    """Draws a slot by weight in O(log n) per draw."""

    __slots__ = ("_cumulative", "_windows")

    def __init__(self, windows: list[tuple[TimeSlot, int, int, float]]) -> None:
        self._windows = windows
        self._cumulative = list(accumulate(w[3] for w in windows))

    def pick(self, rng: random.Random) -> tuple[TimeSlot, int, int, float]:
        return self._windows[weighted_index(self._cumulative, rng)]


def trip_minutes(rng: random.Random) -> int:
    """Visit length: log-normal around 22 minutes, 4 to 90 minutes."""
    minutes = round(rng.lognormvariate(math.log(_MEDIAN_TRIP_MINUTES), 0.55))
    return min(MAX_TRIP_MINUTES, max(MIN_TRIP_MINUTES, minutes))
