"""What a long-running storesim service shares: health, readiness, metrics."""

from storesim.service._clock import CLOCK_KEY, ClockState, RedisClock
from storesim.service._health import Health, OpsServer
from storesim.service._metrics import Metrics

__all__ = ["CLOCK_KEY", "ClockState", "Health", "Metrics", "OpsServer", "RedisClock"]
