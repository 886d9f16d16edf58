"""/healthz, /readyz and /metrics as a probe or Prometheus sees them, over real HTTP on loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from storesim.ops import Health, Metrics, OpsServer


@pytest.fixture
def served() -> Iterator[tuple[Health, Metrics, str]]:
    health, metrics = Health(), Metrics()
    server = OpsServer(health, metrics.registry, port=0, host="127.0.0.1").start()
    yield health, metrics, f"http://127.0.0.1:{server.port}"
    server.stop()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_readiness_is_the_conjunction_of_pings_and_recovers(served: tuple[Health, Metrics, str]) -> None:
    health, _, base = served
    kafka_up = {"value": False}
    health.add_ping("kafka", lambda: kafka_up["value"])
    health.add_ping("registry", lambda: True)
    status, body = get(f"{base}/readyz")
    assert status == 503
    assert json.loads(body)["checks"] == {"kafka": "down", "registry": "ok"}
    kafka_up["value"] = True
    assert get(f"{base}/readyz")[0] == 200


def test_a_service_that_registered_no_ping_yet_is_not_ready(served: tuple[Health, Metrics, str]) -> None:
    """The ops port opens before a service adds its pings: that moment must not read as ready."""
    _, _, base = served
    assert get(f"{base}/readyz")[0] == 503
    assert get(f"{base}/healthz")[0] == 200


def test_a_ping_that_raises_is_down_and_liveness_ignores_dependencies(
    served: tuple[Health, Metrics, str],
) -> None:
    health, _, base = served

    def broken() -> bool:
        raise ConnectionError("redis refused")

    health.add_ping("redis", broken)
    status, body = get(f"{base}/readyz")
    assert status == 503
    assert "redis refused" in json.loads(body)["checks"]["redis"]
    assert get(f"{base}/healthz")[0] == 200


def test_draining_turns_readiness_false_first(served: tuple[Health, Metrics, str]) -> None:
    health, _, base = served
    health.add_ping("kafka", lambda: True)
    assert get(f"{base}/readyz")[0] == 200
    health.draining = True
    assert get(f"{base}/readyz")[0] == 503
    assert get(f"{base}/healthz")[0] == 200


def test_metrics_follow_prometheus_conventions(served: tuple[Health, Metrics, str]) -> None:
    _, metrics, base = served
    metrics.produced.labels(topic="shelf_events", event_type="pickup").inc(3)
    metrics.delivery_latency.labels(topic="shelf_events").observe(0.02)
    status, body = get(f"{base}/metrics")
    text = body.decode()
    assert status == 200
    assert 'storesim_events_produced_total{event_type="pickup",topic="shelf_events"} 3.0' in text
    assert 'storesim_delivery_latency_seconds_bucket{le="0.025",topic="shelf_events"} 1.0' in text
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert all(name.startswith("storesim_") for name in names)
    assert get(f"{base}/nope")[0] == 404
