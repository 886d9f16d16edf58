"""The simulated clock, kept in Redis so that every service reads the same time.

The clock service writes a start instant, the wall time it was anchored and a speed (TIME_SCALE);
everyone else computes now = start + (wall − anchor) × speed. In backfill mode the clock stands at the
end of the range: sources produce everything up to it as fast as they can, and consumers go by event
time. All values are whole milliseconds or floats in one Redis hash, written in one command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

import redis

__all__ = ["CLOCK_KEY", "ClockState", "RedisClock"]

CLOCK_KEY = "storesim:clock"
ClockMode = Literal["paced", "backfill"]


@dataclass(frozen=True, slots=True)
class ClockState:
    start_ms: int  # simulated instant at the anchor
    anchor_ms: int  # wall-clock instant the clock was set
    speed: float  # simulated seconds per wall second
    mode: ClockMode = "paced"
    end_ms: int | None = None  # a backfill's end (exclusive); paced clocks may have one too
    seed: int | None = None  # the run's seed, for services started without SEED

    def now_ms(self, wall_ms: int) -> int:
        """Simulated time at the wall instant ``wall_ms``, never at or past the end: the range is
        [start, end), and the stages send what is due up to now, inclusive."""
        if self.mode == "backfill":
            assert self.end_ms is not None
            return self.end_ms - 1
        now = self.start_ms + int((wall_ms - self.anchor_ms) * self.speed)
        return now if self.end_ms is None else min(now, self.end_ms - 1)

    def to_redis(self) -> dict[str, str]:
        fields = {
            "start_ms": self.start_ms,
            "anchor_ms": self.anchor_ms,
            "speed": self.speed,
            "mode": self.mode,
        }
        if self.end_ms is not None:
            fields["end_ms"] = self.end_ms
        if self.seed is not None:
            fields["seed"] = self.seed
        return {key: str(value) for key, value in fields.items()}

    @classmethod
    def from_redis(cls, fields: dict[str, str]) -> ClockState:
        mode: ClockMode = "backfill" if fields.get("mode") == "backfill" else "paced"
        end, seed = fields.get("end_ms"), fields.get("seed")
        return cls(
            start_ms=int(fields["start_ms"]),
            anchor_ms=int(fields["anchor_ms"]),
            speed=float(fields["speed"]),
            mode=mode,
            end_ms=int(end) if end else None,
            seed=int(seed) if seed else None,
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class RedisClock:
    """Reads (and, for the clock service, writes) the clock; caches the state between reads."""

    def __init__(
        self, client: redis.Redis, wall_ms: Callable[[], int] = _wall_ms, namespace: str = "storesim"
    ) -> None:
        self._client = client
        self.key = f"{namespace}:clock"
        self.wall_ms = wall_ms
        self._state: ClockState | None = None

    def set(self, state: ClockState) -> None:
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(self.key)
        pipe.hset(self.key, mapping=cast(Any, state.to_redis()))
        pipe.execute()
        self._state = state

    def state(self, refresh: bool = True) -> ClockState | None:
        """The clock as Redis holds it (None until the clock service has set it)."""
        if refresh or self._state is None:
            fields: dict[Any, Any] = cast(Any, self._client.hgetall(self.key))
            self._state = (
                ClockState.from_redis({_text(k): _text(v) for k, v in fields.items()}) if fields else None
            )
        return self._state

    def now_ms(self, refresh: bool = False) -> int | None:
        state = self.state(refresh)
        return None if state is None else state.now_ms(self.wall_ms())
