"""`storesim run clock`: owns the simulated clock in Redis.

A restarted clock keeps the clock Redis already holds when its settings are the same (time must not
jump back because a pod moved); changed settings set a new clock.
"""

from __future__ import annotations

import secrets

import redis

from storesim.services._runtime import ServiceRuntime
from storesim.services._wiring import redis_client, redis_ping
from storesim.settings import ClockSettings
from storesim.streaming import ClockState, RedisClock

__all__ = ["desired_clock", "run_clock"]


def desired_clock(settings: ClockSettings, wall_ms: int) -> ClockState:
    start = settings.sim_start
    return ClockState(
        start_ms=int(start.timestamp() * 1000) if start is not None else wall_ms,
        anchor_ms=wall_ms,
        speed=settings.time_scale,
        mode=settings.clock_mode,
        end_ms=int(settings.sim_end.timestamp() * 1000) if settings.sim_end is not None else None,
        seed=settings.seed if settings.seed is not None else secrets.randbelow(2**31),
    )


def _same_clock(a: ClockState, b: ClockState, settings: ClockSettings) -> bool:
    """Unset settings (SIM_START, SEED) keep what the running clock chose."""
    same_start = a.start_ms == b.start_ms or settings.sim_start is None
    same_seed = a.seed == b.seed or settings.seed is None
    return same_start and same_seed and (a.speed, a.mode, a.end_ms) == (b.speed, b.mode, b.end_ms)


def run_clock(settings: ClockSettings) -> int:
    runtime = ServiceRuntime("clock", settings.metrics_port).start()
    client = redis_client(settings)
    clock = RedisClock(client, namespace=settings.sim_namespace)
    owned = {"set": False}
    runtime.health.add_ping("redis", redis_ping(settings))
    runtime.health.add_ping("clock", lambda: owned["set"])
    runtime.metrics.clock_speed.set(settings.time_scale)
    try:
        while not runtime.stopping.is_set():
            try:
                if not owned["set"]:
                    wanted = desired_clock(settings, clock.wall_ms())
                    current = clock.state(refresh=True)
                    if current is not None and _same_clock(current, wanted, settings):
                        runtime.log.info("keeping the clock", start_ms=current.start_ms, speed=current.speed)
                    else:
                        clock.set(wanted)
                        runtime.log.info(
                            "set the clock", start_ms=wanted.start_ms, speed=wanted.speed, mode=wanted.mode
                        )
                    owned["set"] = True
                elif clock.state(refresh=True) is None:  # someone deleted it (a reset): set it again
                    owned["set"] = False
                    continue
            except redis.RedisError as exc:
                runtime.log.warning("redis unavailable", error=str(exc))
            runtime.wait(1.0)
    finally:
        runtime.close()
    return 0
