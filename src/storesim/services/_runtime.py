"""What every `storesim run <component>` process does around its work: logging, the ops port,
readiness pings, and a SIGTERM that turns readiness false first, then stops the loop."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import structlog

from storesim.ops import Health, Metrics, OpsServer

__all__ = ["ServiceRuntime"]


def _configure_logging(component: str) -> structlog.stdlib.BoundLogger:
    renderer = structlog.dev.ConsoleRenderer() if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    logger: structlog.stdlib.BoundLogger = structlog.get_logger().bind(component=component)
    return logger


class ServiceRuntime:
    def __init__(self, component: str, metrics_port: int) -> None:
        self.component = component
        self.log = _configure_logging(component)
        self.metrics = Metrics()
        self.health = Health()
        self.stopping = threading.Event()
        self.server = OpsServer(self.health, self.metrics.registry, metrics_port)

    def start(self) -> ServiceRuntime:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.server.start()
        self.log.info("started", metrics_port=self.server.port)
        return self

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.health.draining = True
        self.stopping.set()
        self.log.info("stopping", signal=signal.Signals(signum).name)

    def wait(self, seconds: float) -> bool:
        """Sleeps up to ``seconds``; True when the service should stop."""
        return self.stopping.wait(seconds)

    def close(self) -> None:
        self.server.stop()
