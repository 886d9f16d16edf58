"""Liveness, readiness and metrics on one port, as every storesim service serves them.

Readiness is a list of pings (hynek/svcs style): each dependency registers one, and /readyz is their
conjunction, re-evaluated on every request so it turns true by itself when a dependency comes back.
/healthz only says the process is alive and never checks dependencies: a broker outage must make the
pod not-ready, not restart it. On SIGTERM readiness goes false first (draining), then the service
drains and flushes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["Health", "OpsServer"]

Ping = Callable[[], bool]


class Health:
    def __init__(self) -> None:
        self._pings: dict[str, Ping] = {}
        self._lock = threading.Lock()
        self.draining = False

    def add_ping(self, name: str, ping: Ping) -> None:
        with self._lock:
            self._pings[name] = ping

    def check(self) -> tuple[bool, dict[str, str]]:
        """(ready, state per ping); a ping that raises counts as down, with the error as its state."""
        with self._lock:
            pings = dict(self._pings)
        states: dict[str, str] = {}
        for name, ping in pings.items():
            try:
                states[name] = "ok" if ping() else "down"
            except Exception as exc:
                states[name] = f"down: {type(exc).__name__}: {exc}"
        if self.draining:
            states["draining"] = "shutting down"
        # No ping yet: the service is still wiring itself up (its ops port opens first), not ready.
        ready = bool(pings) and not self.draining and all(state == "ok" for state in states.values())
        return ready, states


class OpsServer:
    """/metrics, /healthz and /readyz on METRICS_PORT, served from a daemon thread."""

    def __init__(self, health: Health, registry: CollectorRegistry, port: int, host: str = "0.0.0.0") -> None:
        handler = _handler(health, registry)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ops-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> OpsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(health: Health, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b'{"status":"alive"}', "application/json")
            elif path == "/readyz":
                ready, states = health.check()
                body = json.dumps({"ready": ready, "checks": states}).encode()
                self._send(200 if ready else 503, body, "application/json")
            else:
                self._send(404, b'{"error":"not found"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes hit these endpoints every few seconds; access logs would drown the service's own."""

    return Handler
