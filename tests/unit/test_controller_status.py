"""A Store's status: the conditions for each verdict and each state of Prometheus, lastTransitionTime that
moves only with a condition's status, no patch when nothing changed, and today's figures read from
Prometheus' HTTP API (a canned answer from a local HTTP server, or nothing listening)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from storesim.operator._prometheus import (
    NOT_CONFIGURED,
    FiguresPoller,
    MetricsState,
    MetricsUnavailableError,
    StoreFigures,
    query_figures,
    rfc3339,
)
from storesim.operator._reconcile import DUPLICATE, StoreObject, Verdict
from storesim.operator._status import desired_status, status_patch
from storesim.world import StoreSpec

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
LAST_EVENT = 1_762_162_200  # 2025-11-03T09:30:00Z, simulated
SPEC = StoreSpec(store_id="STORE-004")
ACCEPTED = Verdict(SPEC)
FIGURES = StoreFigures(17, 123.45, rfc3339(LAST_EVENT))
SIMULATING = MetricsState(True, figures={"STORE-004": FIGURES})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def store(generation: int = 1, status: dict[str, Any] | None = None) -> StoreObject:
    return StoreObject("shop", generation, T0, {"storeId": "STORE-004"}, status or {})


def conditions_of(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_an_accepted_store_is_ready_and_simulating_with_its_figures() -> None:
    status = desired_status(store(3), ACCEPTED, SIMULATING, "storesim-stores", T0)
    assert status["observedGeneration"] == 3
    assert conditions_of(status) == {"Ready": ("True", "Reconciled"), "Degraded": ("False", "Simulating")}
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])
    assert all(c["lastTransitionTime"] == "2026-03-01T12:00:00Z" for c in status["conditions"])
    assert "storesim-stores" in status["conditions"][0]["message"]
    assert (status["sessionsToday"], status["revenueToday"], status["lastEventTime"]) == (
        17,
        123.45,
        "2025-11-03T09:30:00Z",
    )


@pytest.mark.parametrize(
    ("metrics", "degraded"),
    [
        (NOT_CONFIGURED, ("False", "MetricsNotConfigured")),
        (MetricsState(True, error="connection refused"), ("True", "MetricsUnavailable")),
        (MetricsState(True, figures={"STORE-005": FIGURES}), ("True", "NoEvents")),
        (SIMULATING, ("False", "Simulating")),
    ],
)
def test_degraded_follows_prometheus(metrics: MetricsState, degraded: tuple[str, str]) -> None:
    status = desired_status(store(), ACCEPTED, metrics, "storesim-stores", T0)
    assert conditions_of(status) == {"Ready": ("True", "Reconciled"), "Degraded": degraded}


def test_figures_are_kept_while_prometheus_is_away_and_removed_when_it_has_none() -> None:
    before = desired_status(store(), ACCEPTED, SIMULATING, "cm", T0)
    away = desired_status(store(status=before), ACCEPTED, MetricsState(True, error="timeout"), "cm", T0)
    assert (away["sessionsToday"], away["revenueToday"]) == (17, 123.45), "the last figures seen stay"
    gone = desired_status(store(status=before), ACCEPTED, MetricsState(True), "cm", T0)
    assert (gone["sessionsToday"], gone["revenueToday"], gone["lastEventTime"]) == (None, None, None)
    patch = status_patch(before, gone)
    assert patch is not None
    assert patch["sessionsToday"] is None, "a merge patch's null removes the field"


def test_a_rejected_store_is_not_ready_without_degraded_or_figures() -> None:
    verdict = Verdict(None, DUPLICATE, "STORE-004 is already held by the Store first")
    status = desired_status(store(2), verdict, SIMULATING, "cm", T0)
    assert conditions_of(status) == {"Ready": ("False", DUPLICATE)}
    assert status["conditions"][0]["message"] == verdict.message
    assert status["observedGeneration"] == 2
    assert (status["sessionsToday"], status["revenueToday"], status["lastEventTime"]) == (None, None, None)


def test_last_transition_time_moves_only_when_the_status_does() -> None:
    first = desired_status(store(1), ACCEPTED, MetricsState(True), "cm", T0)
    later = T0 + timedelta(minutes=5)
    # New generation, same statuses: reason/message/generation may change, the transition time may not.
    second = desired_status(store(2, first), ACCEPTED, MetricsState(True, error="down"), "cm", later)
    assert [c["lastTransitionTime"] for c in second["conditions"]] == ["2026-03-01T12:00:00Z"] * 2
    assert conditions_of(second)["Degraded"] == ("True", "MetricsUnavailable")
    third = desired_status(store(2, second), ACCEPTED, SIMULATING, "cm", later)
    times = {c["type"]: c["lastTransitionTime"] for c in third["conditions"]}
    assert times == {"Ready": "2026-03-01T12:00:00Z", "Degraded": "2026-03-01T12:05:00Z"}


def test_no_patch_when_nothing_changed() -> None:
    status = desired_status(store(), ACCEPTED, SIMULATING, "cm", T0)
    again = desired_status(store(status=status), ACCEPTED, SIMULATING, "cm", T0 + timedelta(hours=1))
    assert status_patch(status, again) is None
    assert status_patch({}, desired_status(store(), ACCEPTED, NOT_CONFIGURED, "cm", T0)) is not None
    # Fields the controller does not own, or that are absent and should stay absent, need no patch.
    extra = {**desired_status(store(), ACCEPTED, NOT_CONFIGURED, "cm", T0), "other": 1}
    same = desired_status(store(status=extra), ACCEPTED, NOT_CONFIGURED, "cm", T0)
    assert status_patch(extra, same) is None


def test_a_new_generation_is_a_patch_of_the_generation_and_conditions_only() -> None:
    status = desired_status(store(1), ACCEPTED, SIMULATING, "cm", T0)
    patch = status_patch(status, desired_status(store(2, status), ACCEPTED, SIMULATING, "cm", T0))
    assert patch is not None
    assert set(patch) == {"observedGeneration", "conditions"}


# --- Prometheus' HTTP API -----------------------------------------------------------------------------


@dataclass
class FakePrometheus:
    """Answers /api/v1/query with a vector per metric name found in the query; records the queries."""

    answers: dict[str, list[tuple[dict[str, str], str]]] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    error: str | None = None
    url: str = ""


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parsed = urllib.parse.urlparse(self.path)
            query = urllib.parse.parse_qs(parsed.query).get("query", [""])[0]
            fake.queries.append(query)
            if parsed.path != "/api/v1/query":
                self._send(404, {"status": "error", "error": "not found"})
            elif fake.error is not None:
                self._send(400, {"status": "error", "errorType": "bad_data", "error": fake.error})
            else:
                metric = next((name for name in fake.answers if name in query), None)
                rows = fake.answers.get(metric, []) if metric else []
                result = [{"metric": labels, "value": [1772366400.0, value]} for labels, value in rows]
                self._send(200, {"status": "success", "data": {"resultType": "vector", "result": result}})

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


def test_figures_come_from_the_namespaces_series(prometheus: FakePrometheus) -> None:
    prometheus.answers = {
        "storesim_store_sessions_today": [
            ({"store_id": "STORE-004"}, "17"),
            ({"store_id": "STORE-009"}, "3"),
        ],
        "storesim_store_revenue_today": [({"store_id": "STORE-004"}, "123.4549")],
        "storesim_store_last_event_timestamp_seconds": [
            ({"store_id": "STORE-004"}, str(LAST_EVENT) + ".75"),
            ({"store_id": "STORE-010"}, "NaN"),
        ],
    }
    figures = query_figures(prometheus.url, "shop-ns", timeout=5)
    assert figures == {
        "STORE-004": StoreFigures(17, 123.45, "2025-11-03T09:30:00Z"),
        "STORE-009": StoreFigures(3, None, None),
    }, "NaN is no value; revenue to cents; event time in whole seconds"
    assert prometheus.queries == [
        'max by (store_id) (storesim_store_sessions_today{namespace="shop-ns"})',
        'max by (store_id) (storesim_store_revenue_today{namespace="shop-ns"})',
        'max by (store_id) (storesim_store_last_event_timestamp_seconds{namespace="shop-ns"})',
    ]


def test_an_error_answer_is_unavailable(prometheus: FakePrometheus) -> None:
    prometheus.error = "parse error"
    with pytest.raises(MetricsUnavailableError, match="parse error"):
        query_figures(prometheus.url, "ns", timeout=5)


def test_an_unreachable_prometheus_makes_the_store_degraded() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    with pytest.raises(MetricsUnavailableError):
        query_figures(url, "ns", timeout=2)
    poller = FiguresPoller(url, "ns", interval=60, timeout=2)
    state = poller.poll()
    assert state.configured
    assert state.error is not None
    assert url in state.error
    status = desired_status(store(), ACCEPTED, state, "cm", T0)
    assert conditions_of(status)["Degraded"] == ("True", "MetricsUnavailable")
    assert url in status["conditions"][1]["message"]


def test_the_poller_counts_changes_not_polls(prometheus: FakePrometheus) -> None:
    prometheus.answers = {"storesim_store_sessions_today": [({"store_id": "STORE-004"}, "1")]}
    seen: list[MetricsState] = []
    poller = FiguresPoller(prometheus.url, "ns", interval=3600, timeout=5, on_change=seen.append)
    first = poller.poll()
    version = poller.version
    assert poller.poll() == first
    assert poller.version == version, "the same answer is no change: no status patch"
    prometheus.answers = {"storesim_store_sessions_today": [({"store_id": "STORE-004"}, "2")]}
    assert poller.poll().figures["STORE-004"].sessions_today == 2
    assert poller.version == version + 1
    assert [s.figures["STORE-004"].sessions_today for s in seen] == [1, 2]
