"""The Grafana dashboards are what chart/dashboards/generate.py writes, query only metrics that
storesim's services export, and take their datasource from a template variable."""

from __future__ import annotations

import importlib.util
import json
import re
from types import ModuleType
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase
from tests.k8s.chart import CHART, DASHBOARDED

from storesim.ops import Metrics

DASHBOARDS = CHART / "dashboards"
# What Prometheus and kube-state-metrics add beside storesim's own metrics.
OTHER_METRICS = {"up"}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_dashboards", DASHBOARDS / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exported() -> set[str]:
    """Every series name the services expose, from the Metrics collectors themselves."""
    metrics = Metrics()
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                kind = family.type
                base = family.name
                names |= {
                    "counter": {f"{base}_total"},
                    "gauge": {base},
                    "histogram": {f"{base}_bucket", f"{base}_sum", f"{base}_count"},
                }[kind]
    return names


def _dashboards() -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def _queries(dashboard: Any) -> list[str]:
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_the_checked_in_dashboards_are_the_generated_ones() -> None:
    generator = _generator()
    generated = {name: generator.render(d) for name, d in generator.dashboards().items()}
    on_disk = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert on_disk == generated, "run .venv/bin/python chart/dashboards/generate.py"


def test_there_is_an_overview_and_one_dashboard_per_component() -> None:
    assert set(_dashboards()) == {"overview.json", *(f"{c}.json" for c in DASHBOARDED)}


@pytest.mark.parametrize("name", sorted(p.name for p in DASHBOARDS.glob("*.json")))
def test_every_query_uses_exported_metrics_and_the_datasource_variable(name: str) -> None:
    dashboard = _dashboards()[name]
    exported = _exported()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            names = set(re.findall(r"\b((?:storesim_)\w+|up)\{", target["expr"]))
            assert names, target["expr"]
            assert names <= exported | OTHER_METRICS, f"{panel['title']}: {names - exported}"
            assert 'namespace=~"$namespace"' in target["expr"]


def test_the_exported_names_are_the_ones_the_design_names() -> None:
    assert {"storesim_events_produced_total", "storesim_delivery_latency_seconds_bucket"} <= _exported()


def test_the_overview_has_the_panels_the_issue_asks_for() -> None:
    overview = _dashboards()["overview.json"]
    by_title = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in overview["panels"]}
    wanted = {
        "Events/s per topic": "storesim_events_produced_total",
        "Sessions per store (per minute)": "storesim_sessions_total",
        "Open carts": "storesim_open_carts",
        "Revenue per minute": "storesim_revenue_total",
        "Refund rate (refunds per ledger transaction)": 'event_type="refund"',
        "Consumer lag per topic": "storesim_consumer_lag",
        "Dead-lettered messages/s": "storesim_dead_lettered_total",
        "Produce errors/s": "storesim_produce_errors_total",
        "Clock speed (simulated s per wall s)": "storesim_sim_clock_speed",
    }
    for title, metric in wanted.items():
        assert metric in by_title[title], title


@pytest.mark.parametrize("component", DASHBOARDED)
def test_a_component_dashboard_selects_its_component(component: str) -> None:
    dashboard = _dashboards()[f"{component}.json"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["component"]["query"] == component
    assert all('component="$component"' in q for q in _queries(dashboard))
