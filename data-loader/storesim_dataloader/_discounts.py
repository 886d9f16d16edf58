"""Weekly and daily discounts, drawn from a data seed.

Each week's and each date's discounts depend only on (data seed, week or date), so building any
date range gives the same rows for the dates it shares with any other range.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta

import pyarrow as pa

__all__ = ["DAILY_SCHEMA", "DEFAULT_DATA_SEED", "WEEKLY_SCHEMA", "daily_discounts", "weekly_discounts"]

DEFAULT_DATA_SEED = 2025

WEEKLY_SCHEMA = pa.schema([("shelf_id", pa.string()), ("discount", pa.float64()), ("week", pa.int32())])
DAILY_SCHEMA = pa.schema([("date", pa.date32()), ("shelf_id", pa.string()), ("discount", pa.float64())])

_WEEKLY_SHARE = 0.06  # of the assortment on promotion in a week
_WEEKLY_PCTS = ((5, 0.25), (10, 0.30), (15, 0.20), (20, 0.15), (25, 0.06), (30, 0.04))
_DAILY_SHARE = 0.02
_DAILY_PCTS = ((5, 0.5), (10, 0.35), (15, 0.15))


def _rng(seed: int, *key: object) -> random.Random:
    text = "/".join(str(part) for part in (seed, *key))
    return random.Random(int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big"))


def _draw(
    rng: random.Random, shelf_ids: list[str], share: float, pcts: tuple[tuple[int, float], ...]
) -> list[tuple[str, float]]:
    count = max(1, round(len(shelf_ids) * share))
    chosen = sorted(rng.sample(shelf_ids, count))
    values = [p for p, _ in pcts]
    weights = [w for _, w in pcts]
    return [(shelf_id, rng.choices(values, weights)[0] / 100) for shelf_id in chosen]


def weekly_discounts(shelf_ids: list[str], seed: int = DEFAULT_DATA_SEED) -> pa.Table:
    """Discounts for ISO weeks 1..53; `week` carries no year, as in the seeds' parquet."""
    rows: dict[str, list[object]] = {"shelf_id": [], "discount": [], "week": []}
    for week in range(1, 54):
        for shelf_id, discount in _draw(_rng(seed, "weekly", week), shelf_ids, _WEEKLY_SHARE, _WEEKLY_PCTS):
            rows["shelf_id"].append(shelf_id)
            rows["discount"].append(discount)
            rows["week"].append(week)
    return pa.table(rows, schema=WEEKLY_SCHEMA)


def daily_discounts(shelf_ids: list[str], first: date, last: date, seed: int = DEFAULT_DATA_SEED) -> pa.Table:
    """Rows of analytics.daily_discounts for every date from ``first`` to ``last`` inclusive."""
    if last < first:
        raise ValueError(f"last date {last} is before first date {first}")
    rows: dict[str, list[object]] = {"date": [], "shelf_id": [], "discount": []}
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        for shelf_id, discount in _draw(
            _rng(seed, "daily", day.isoformat()), shelf_ids, _DAILY_SHARE, _DAILY_PCTS
        ):
            rows["date"].append(day)
            rows["shelf_id"].append(shelf_id)
            rows["discount"].append(discount)
    return pa.table(rows, schema=DAILY_SCHEMA)
