"""What a long-running storesim service runs beside its work: the ops server (/healthz, /readyz,
/metrics) with its readiness pings, and the metrics every service exports."""

from storesim.ops._health import Health, OpsServer
from storesim.ops._metrics import Metrics

__all__ = ["Health", "Metrics", "OpsServer"]
