"""`storesim run clock` on a real Redis: it sets the clock, and a restart keeps it."""

from __future__ import annotations

import signal
import subprocess

import redis

from storesim.streaming import CLOCK_KEY, RedisClock
from tests.integration.helpers import STORESIM, base_env, free_port, wait_ready

REDIS_DB = "12"


def run_clock_until_ready(env: dict[str, str]) -> str:
    """Runs the clock service until it is ready (it has set or kept the clock), stops it, returns its log."""
    service = subprocess.Popen([STORESIM, "run", "clock"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        ready = wait_ready(service, int(env["METRICS_PORT"]))
    finally:
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=15)
    assert ready, stderr[-2000:]
    assert service.returncode == 0, stderr[-2000:]
    return stderr


def test_the_clock_service_sets_the_clock_and_a_restart_keeps_it(stack: dict[str, str]) -> None:
    client = redis.Redis(stack["REDIS_HOST"], int(stack["REDIS_PORT"]), int(REDIS_DB))
    client.delete(CLOCK_KEY)
    clock = RedisClock(client)
    env = base_env(
        stack,
        REDIS_DB=REDIS_DB,
        TIME_SCALE="3600",
        SIM_START="2025-11-03T06:00:00+00:00",
        METRICS_PORT=str(free_port()),
    )
    assert "set the clock" in run_clock_until_ready(env)
    first = clock.state(refresh=True)
    assert first is not None
    assert (first.start_ms, first.speed, first.mode) == (1_762_149_600_000, 3600.0, "paced")
    now = clock.now_ms(refresh=True)
    assert now is not None
    assert now > first.start_ms, "an hour a second: simulated time has moved on"

    env["METRICS_PORT"] = str(free_port())
    assert "keeping the clock" in run_clock_until_ready(env)
    assert clock.state(refresh=True) == first, "a restarted clock must not reset simulated time"

    env.update(TIME_SCALE="60", METRICS_PORT=str(free_port()))
    assert "set the clock" in run_clock_until_ready(env)
    changed = clock.state(refresh=True)
    assert changed is not None
    assert changed.speed == 60.0
    client.delete(CLOCK_KEY)
