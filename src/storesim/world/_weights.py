"""Drawing an index in proportion to weights, given their running sums (O(log n) a draw)."""

from __future__ import annotations

import bisect
import random

__all__ = ["weighted_index"]


def weighted_index(cumulative: list[float], rng: random.Random) -> int:
    """One draw of ``rng.random()``; the min() guards the float edge where the draw equals the total."""
    return min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)
