"""The assortment and its discounts, as the simulators use them: integer cents and whole percents.

Money is held in cents and discounts in percent so that a line total is exact integer arithmetic and
the same in every consumer that recomputes it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate

from storesim.world._weights import weighted_index

__all__ = ["Catalogue", "DayPricing", "Discounts", "Item", "line_total_cents"]


@dataclass(frozen=True, slots=True)
class Item:
    shelf_id: str
    name: str
    category: str
    price_cents: int
    weight: float  # kg per unit
    visibility: float


@dataclass(frozen=True, slots=True)
class Catalogue:
    items: tuple[Item, ...]
    by_id: Mapping[str, Item] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {item.shelf_id: item for item in self.items})


@dataclass(frozen=True, slots=True)
class Discounts:
    """Weekly discounts by ISO week number (the parquet's `week`) and daily ones by date, in percent."""

    weekly: Mapping[int, Mapping[str, int]]
    daily: Mapping[date, Mapping[str, int]]

    def for_day(self, day: date) -> dict[str, int]:
        """The combined (weekly + daily) discount of every discounted item on ``day``."""
        combined = dict(self.weekly.get(day.isocalendar().week, {}))
        for shelf_id, pct in self.daily.get(day, {}).items():
            combined[shelf_id] = combined.get(shelf_id, 0) + pct
        return combined


def line_total_cents(quantity: int, price_cents: int, discount_pct: int) -> int:
    """quantity × unit price × (1 − discount), rounded half up to the cent."""
    return (quantity * price_cents * (100 - discount_pct) + 50) // 100


class DayPricing:
    """One day's prices and pick weights, computed once and shared by every store that day."""

    __slots__ = ("_cumulative", "_items", "day", "discount_pct")

    def __init__(self, catalogue: Catalogue, discounts: Discounts, day: date) -> None:
        self.day = day
        self.discount_pct = discounts.for_day(day)
        self._items = catalogue.items
        pct = self.discount_pct
        # Pick probability ∝ item_visibility × (1 + discount), the shelf seed's pick_score.
        self._cumulative = list(
            accumulate(item.visibility * (1 + pct.get(item.shelf_id, 0) / 100) for item in catalogue.items)
        )

    def pick(self, rng: random.Random) -> Item:
        """One draw of ``rng`` (one random number, whatever the weights: see promoted())."""
        return self._items[weighted_index(self._cumulative, rng)]

    def promoted(self, offer: Callable[[Item], tuple[int, float] | None]) -> DayPricing:
        """This day's pricing with promotions: an item with an offer (discount %, display boost) has the
        larger of the day's discount and the offer's, and the pick weight visibility × (1 + that
        discount) × boost; every other item keeps its discount and weight. A pick from it draws exactly
        as many random numbers as one from ``self``, so the draws after it do not shift."""
        out = object.__new__(DayPricing)
        out.day, out._items = self.day, self._items
        pct = dict(self.discount_pct)
        boost: dict[str, float] = {}
        for item in self._items:
            offered = offer(item)
            if offered is not None:
                pct[item.shelf_id] = max(pct.get(item.shelf_id, 0), offered[0])
                boost[item.shelf_id] = offered[1]
        out.discount_pct = pct
        out._cumulative = list(
            accumulate(
                item.visibility * (1 + pct.get(item.shelf_id, 0) / 100) * boost.get(item.shelf_id, 1.0)
                for item in self._items
            )
        )
        return out
