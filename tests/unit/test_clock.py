"""The simulated clock's arithmetic (the integration tests run it over a real Redis)."""

from __future__ import annotations

import pytest

from storesim.streaming import ClockState

START = 1_762_500_000_000  # simulated ms
ANCHOR = 1_000_000  # wall ms


@pytest.mark.parametrize(
    ("speed", "wall_elapsed_ms", "sim_elapsed_ms"), [(1.0, 5_000, 5_000), (60.0, 1_000, 60_000)]
)
def test_a_paced_clock_runs_speed_times_the_wall_clock(
    speed: float, wall_elapsed_ms: int, sim_elapsed_ms: int
) -> None:
    clock = ClockState(START, ANCHOR, speed)
    assert clock.now_ms(ANCHOR) == START
    assert clock.now_ms(ANCHOR + wall_elapsed_ms) == START + sim_elapsed_ms


def test_a_paced_clock_stops_just_before_its_end() -> None:
    """The range is [start, end): an event at the end instant itself is outside, as in embedded mode."""
    clock = ClockState(START, ANCHOR, 3600.0, end_ms=START + 7_200_000)
    assert clock.now_ms(ANCHOR + 1_000) == START + 3_600_000
    assert clock.now_ms(ANCHOR + 60_000) == START + 7_200_000 - 1


def test_a_backfill_clock_stands_at_the_last_instant_of_its_range() -> None:
    clock = ClockState(START, ANCHOR, 1.0, mode="backfill", end_ms=START + 86_400_000)
    assert clock.now_ms(ANCHOR) == clock.now_ms(ANCHOR + 10**9) == START + 86_400_000 - 1


@pytest.mark.parametrize(
    "state",
    [ClockState(START, ANCHOR, 2.5), ClockState(START, ANCHOR, 1.0, mode="backfill", end_ms=START + 1)],
)
def test_the_redis_form_round_trips(state: ClockState) -> None:
    assert ClockState.from_redis(state.to_redis()) == state
