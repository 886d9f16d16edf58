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
    return [t["expr"] for panel in _graphs(dashboard) for t in panel["targets"]]


def _graphs(dashboard: Any) -> list[Any]:
    """The panels that query (not the row headers)."""
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def _annotation_queries(dashboard: Any) -> dict[str, Any]:
    """Name → the Prometheus annotations (not Grafana's built-in one)."""
    listed = dashboard.get("annotations", {"list": []})["list"]
    return {a["name"]: a for a in listed if not a.get("builtIn")}


def _check_expr(where: str, expr: str) -> None:
    names = set(re.findall(r"\b((?:storesim_)\w+|up)\{", expr))
    assert names, expr
    unknown = names - _exported() - OTHER_METRICS
    assert not unknown, f"{where}: {unknown}"
    assert 'namespace=~"$namespace"' in expr


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
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in _graphs(dashboard):
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            _check_expr(panel["title"], target["expr"])
    for title, annotation in _annotation_queries(dashboard).items():
        assert annotation["datasource"]["uid"] == "${datasource}"
        _check_expr(f"annotation {title}", annotation["expr"])


def test_the_exported_names_are_the_ones_the_design_names() -> None:
    assert {"storesim_events_produced_total", "storesim_delivery_latency_seconds_bucket"} <= _exported()


def test_the_overview_has_the_panels_the_issue_asks_for() -> None:
    overview = _dashboards()["overview.json"]
    by_title = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in _graphs(overview)}
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
        # The Business row: per store, from the services that send the events.
        "Conversion per store (checkouts per visit)": "storesim_checkouts_total",
        "Average basket size per store (units per checkout)": "storesim_basket_items_total",
        "Average basket value per store": "storesim_basket_value_total",
        "Refund rate per store (refunded share of revenue)": "storesim_refund_amount_total",
        "Shrink per store (units leaving unpaid per minute)": "storesim_shrink_units_total",
        "Duplicate messages per store (per minute)": "storesim_duplicates_sent_total",
    }
    for title, metric in wanted.items():
        assert metric in by_title[title], title
    business = [p["title"] for p in overview["panels"]]
    business = business[business.index("Business") :]
    assert business[1:] == list(wanted)[-6:], "the Business row holds the business panels"
    assert all("by (store_id" in by_title[title] for title in business[1:])
    scenarios = _annotation_queries(overview)["Scenarios"]
    assert "storesim_scenario_active" in scenarios["expr"]
    assert set(scenarios["tagKeys"].split(",")) == {"scenario", "store_id"}


def test_row_headers_start_a_line_and_panels_do_not_overlap() -> None:
    for name, dashboard in _dashboards().items():
        taken: set[tuple[int, int]] = set()
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            if panel["type"] == "row":
                assert (grid["x"], grid["w"], "targets" in panel) == (0, 24, False), name
            cells = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & taken, f"{name}: {panel['title']} overlaps another panel"
            taken |= cells


@pytest.mark.parametrize("component", DASHBOARDED)
def test_a_component_dashboard_selects_its_component(component: str) -> None:
    dashboard = _dashboards()[f"{component}.json"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["component"]["query"] == component
    assert all('component="$component"' in q for q in _queries(dashboard))
