"""Today's figures of each store, read from Prometheus' HTTP API, for the Stores' status.

The simulators export per-store gauges; Prometheus labels every scraped series with the pod's namespace
(the chart's ServiceMonitor, or the stack's file-based targets), so the queries keep to the controller's
own namespace: two simulations in two namespaces never mix their figures. `max by (store_id)` folds the
replicas that report one store (during a hand-over two may, briefly) into one value.

urllib, not an HTTP library: three GETs every STATUS_INTERVAL need nothing more. They are sent from a
thread of their own (FiguresPoller), so that a slow Prometheus can never delay a lease renewal.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "FIGURE_METRICS",
    "FiguresPoller",
    "MetricsState",
    "MetricsUnavailableError",
    "StoreFigures",
    "query_figures",
    "rfc3339",
]

# Status field → the gauge it comes from.
FIGURE_METRICS = {
    "sessionsToday": "storesim_store_sessions_today",
    "revenueToday": "storesim_store_revenue_today",
    "lastEventTime": "storesim_store_last_event_timestamp_seconds",
}


class MetricsUnavailableError(Exception):
    """Prometheus did not answer, or answered with an error: the message says which."""


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """One store's figures as the Store's status shows them; None where Prometheus has no series."""

    sessions_today: int | None = None
    revenue_today: float | None = None
    last_event_time: str | None = None

    def to_status(self) -> dict[str, Any]:
        """The status fields, None for the ones to remove (a merge patch's null)."""
        return {
            "sessionsToday": self.sessions_today,
            "revenueToday": self.revenue_today,
            "lastEventTime": self.last_event_time,
        }


def rfc3339(epoch_seconds: float) -> str:
    """Whole seconds in UTC, as a metav1.Time: 2025-11-03T09:30:00Z."""
    return datetime.fromtimestamp(int(epoch_seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _instant(url: str, query: str, timeout: float) -> dict[str, float]:
    """store_id → value of an instant query that is a vector by store_id; non-finite values left out."""
    address = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # Prometheus explains a 4xx/5xx in its JSON body
        raise MetricsUnavailableError(
            f"{url}: HTTP {exc.code}: {exc.read()[:200].decode('utf-8', 'replace')}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MetricsUnavailableError(f"{url}: {reason}") from None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise MetricsUnavailableError(f"{url}: {answer.get('error') if isinstance(answer, dict) else answer}")
    found: dict[str, float] = {}
    for row in answer.get("data", {}).get("result", []):
        store_id = row.get("metric", {}).get("store_id")
        try:
            value = float(row["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if store_id and math.isfinite(value):
            found[store_id] = value
    return found


def query_figures(url: str, namespace: str, timeout: float) -> dict[str, StoreFigures]:
    """store_id (STORE-004) → its figures, for every store with at least one series in `namespace`."""
    values = {
        field: _instant(url, f'max by (store_id) ({metric}{{namespace="{namespace}"}})', timeout)
        for field, metric in FIGURE_METRICS.items()
    }
    stores = set().union(*values.values())
    figures = {}
    for store_id in stores:
        sessions = values["sessionsToday"].get(store_id)
        revenue = values["revenueToday"].get(store_id)
        last = values["lastEventTime"].get(store_id)
        figures[store_id] = StoreFigures(
            sessions_today=None if sessions is None else round(sessions),
            revenue_today=None if revenue is None else round(revenue, 2),
            last_event_time=None if last is None else rfc3339(last),
        )
    return figures


@dataclass(frozen=True, slots=True)
class MetricsState:
    """Prometheus' last answer: not configured, unavailable (error), or the figures by store id."""

    configured: bool
    error: str | None = None
    figures: Mapping[str, StoreFigures] = field(default_factory=dict)


NOT_CONFIGURED = MetricsState(configured=False)


class FiguresPoller:
    """Asks Prometheus every `interval` seconds from a daemon thread; `state` is the last answer and
    `version` counts its changes, so the controller reconciles statuses only when a figure moved."""

    def __init__(
        self,
        url: str,
        namespace: str,
        interval: float,
        timeout: float,
        on_change: Callable[[MetricsState], None] = lambda _state: None,
    ) -> None:
        self._url = url
        self._namespace = namespace
        self._interval = interval
        self._timeout = timeout
        self._on_change = on_change
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._state = MetricsState(configured=True, error="not asked yet")
        self.version = 0
        self._thread = threading.Thread(target=self._loop, name="prometheus", daemon=True)

    @property
    def state(self) -> MetricsState:
        with self._lock:
            return self._state

    def poll(self) -> MetricsState:
        """Ask once, now; the new state."""
        try:
            state = MetricsState(True, figures=query_figures(self._url, self._namespace, self._timeout))
        except MetricsUnavailableError as exc:
            state = MetricsState(True, error=str(exc))
        with self._lock:
            changed = state != self._state
            if changed:
                self._state = state
                self.version += 1
        if changed:
            self._on_change(state)
        return state

    def start(self) -> FiguresPoller:
        """The first answer before anything else, so that no status is written from "not asked yet"."""
        self.poll()
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            self.poll()

    def stop(self) -> None:
        self._stopping.set()
