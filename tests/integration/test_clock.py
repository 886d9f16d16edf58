"""The simulated clock over a real Redis: what the clock service writes, every reader sees."""

from __future__ import annotations

import redis

from storesim.streaming import CLOCK_KEY, ClockState, RedisClock


def test_readers_see_the_clock_the_writer_set(redis_address: tuple[str, int]) -> None:
    host, port = redis_address
    client = redis.Redis(host=host, port=port, db=15)
    client.delete(CLOCK_KEY)
    wall = {"ms": 1_000_000}
    writer = RedisClock(client, wall_ms=lambda: wall["ms"])
    reader = RedisClock(
        redis.Redis(host=host, port=port, db=15, decode_responses=True), wall_ms=lambda: wall["ms"]
    )
    assert reader.now_ms(refresh=True) is None, "no clock before the clock service sets it"
    writer.set(ClockState(start_ms=1_762_500_000_000, anchor_ms=1_000_000, speed=60.0))
    assert reader.now_ms(refresh=True) == 1_762_500_000_000
    wall["ms"] += 2_000
    assert reader.now_ms() == 1_762_500_120_000
    writer.set(ClockState(start_ms=5, anchor_ms=wall["ms"], speed=1.0, mode="backfill", end_ms=99))
    assert reader.now_ms(refresh=True) == 98  # the range ends before end_ms
    client.delete(CLOCK_KEY)
