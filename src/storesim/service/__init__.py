"""What a long-running storesim service shares: health, readiness, metrics."""

from storesim.service._health import Health, OpsServer
from storesim.service._metrics import Metrics

__all__ = ["Health", "Metrics", "OpsServer"]
