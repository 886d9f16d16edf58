"""Writes the Grafana dashboards (overview.json and one per component) from the metrics that
src/storesim/ops/_metrics.py defines. Generated rather than hand-edited so that every panel follows
one shape and the test suite can check that the checked-in files are what this script writes:

    .venv/bin/python chart/dashboards/generate.py

Every query filters on the `namespace` template variable; component dashboards also on `component`,
the label the chart's ServiceMonitor copies from the pod's app.kubernetes.io/component.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# The simulators. The Store controller (component "controller": storesim_controller_leader,
# storesim_controller_reconciles_total, storesim_controller_configmap_writes_total) has no dashboard yet:
# tests/integration/test_dashboards.py proves every panel against a running chain, which has no controller.
# Nor has it the answer key's workload (component "truth"), so the truth has none either; its records are
# counted in the overview's events per topic.
COMPONENTS = ("clock", "foot-traffic", "shelf", "redis-kafka-bridge", "pos", "register", "ledger")
NS = 'namespace=~"$namespace"'
RATE = "$__rate_interval"


def _panel(title: str, exprs: list[tuple[str, str]], unit: str, kind: str = "timeseries") -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr,
                "legendFormat": legend,
                "refId": chr(ord("A") + i),
            }
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def _row(title: str) -> dict[str, Any]:
    """A row header: the panels after it, up to the next row, are its own."""
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def _per_minute_by_store(metric: str, selector: str) -> list[tuple[str, str]]:
    return [(f"sum by (store_id) (rate({metric}{{{selector}}}[{RATE}])) * 60", "{{store_id}}")]


def _by_store(metric: str) -> str:
    return f"sum by (store_id) (rate({metric}{{{NS}}}[{RATE}]))"


def _ratio_by_store(numerator: str, denominator: str) -> list[tuple[str, str]]:
    """Per store, the rate of one counter over another's (checkouts per visit, units per checkout)."""
    return [(f"{_by_store(numerator)} / {_by_store(denominator)}", "{{store_id}}")]


def _variables(component: str | None) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"},
        {
            "name": "namespace",
            "label": "Namespace",
            "type": "query",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": {"query": "label_values(storesim_events_produced_total, namespace)", "refId": "ns"},
            "refresh": 2,
            "includeAll": True,
            "allValue": ".*",
            "multi": False,
        },
    ]
    if component is not None:
        variables.append(
            {
                "name": "component",
                "type": "constant",
                "query": component,
                "hide": 2,
            }
        )
    return variables


def _layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two panels a row, 8 units high; a row header across the width, 1 high, starts a new line."""
    y, column = 0, 0
    for i, panel in enumerate(panels):
        panel["id"] = i + 1
        if panel["type"] == "row":
            y += 8 if column else 0
            panel["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            y, column = y + 1, 0
            continue
        panel["gridPos"] = {"h": 8, "w": 12, "x": 12 * column, "y": y}
        y, column = (y + 8, 0) if column else (y, 1)
    return panels


def _annotations(extra: list[dict[str, Any]]) -> dict[str, Any]:
    """Grafana's own annotations (built in), then ``extra``."""
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {"list": [builtin, *extra]}


# The scenarios acting on each store, as regions on every time series of the overview: foot-traffic sets
# storesim_scenario_active to 1 while a scenario's window covers the store's simulated instant.
SCENARIOS_ANNOTATION: dict[str, Any] = {
    "name": "Scenarios",
    "datasource": {"type": "prometheus", "uid": "${datasource}"},
    "enable": True,
    "iconColor": "rgba(255, 152, 48, 1)",
    "expr": f"max by (scenario, store_id) (storesim_scenario_active{{{NS}}}) > 0",
    "step": "60s",
    "titleFormat": "{{scenario}}",
    "textFormat": "scenario {{scenario}} on {{store_id}}",
    "tagKeys": "scenario,store_id",
    "useValueForTime": False,
}


def _dashboard(
    uid: str,
    title: str,
    panels: list[dict[str, Any]],
    component: str | None,
    annotations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    dashboard: dict[str, Any] = {
        "uid": uid,
        "title": title,
        "tags": ["storesim"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": _variables(component)},
        "panels": _layout(panels),
    }
    if annotations:
        dashboard["annotations"] = _annotations(annotations)
    return dashboard


def overview() -> dict[str, Any]:
    produced = f"storesim_events_produced_total{{{NS}}}"
    panels = [
        _panel(
            "Events/s per topic",
            [(f"sum by (topic) (rate({produced}[{RATE}]))", "{{topic}}")],
            "ops",
        ),
        _panel(
            "Sessions per store (per minute)",
            _per_minute_by_store("storesim_sessions_total", NS),
            "short",
        ),
        _panel("Open carts", [(f"sum(storesim_open_carts{{{NS}}})", "open carts")], "short"),
        _panel(
            "Revenue per minute",
            _per_minute_by_store("storesim_revenue_total", NS),
            "short",
        ),
        _panel(
            "Refund rate (refunds per ledger transaction)",
            [
                (
                    f'sum(rate(storesim_events_produced_total{{{NS}, event_type="refund"}}[{RATE}])) / '
                    f'sum(rate(storesim_events_produced_total{{{NS}, event_type="transaction"}}[{RATE}]))',
                    "refund rate",
                )
            ],
            "percentunit",
        ),
        _panel(
            "Consumer lag per topic",
            [(f"sum by (topic) (storesim_consumer_lag{{{NS}}})", "{{topic}}")],
            "short",
        ),
        _panel(
            "Dead-lettered messages/s",
            [
                (
                    f"sum by (topic, reason) (rate(storesim_dead_lettered_total{{{NS}}}[{RATE}]))",
                    "{{topic}} {{reason}}",
                )
            ],
            "ops",
        ),
        _panel(
            "Produce errors/s",
            [(f"sum by (topic) (rate(storesim_produce_errors_total{{{NS}}}[{RATE}]))", "{{topic}}")],
            "ops",
        ),
        _panel(
            "Clock speed (simulated s per wall s)",
            [(f"max(storesim_sim_clock_speed{{{NS}}})", "speed")],
            "short",
            kind="stat",
        ),
        _panel(
            "Simulated-clock lag per component",
            [(f"max by (component) (storesim_sim_clock_lag_seconds{{{NS}}})", "{{component}}")],
            "s",
        ),
        *business(),
    ]
    return _dashboard("storesim-overview", "storesim / Overview", panels, None, [SCENARIOS_ANNOTATION])


def business() -> list[dict[str, Any]]:
    """What the simulated stores do, per store, counted by the services that send it: the POS
    (checkouts, units, value, shrink), foot-traffic (visits), the ledger (revenue, refunds) and every
    stage that sends a duplicates scenario's copies."""
    return [
        _row("Business"),
        _panel(
            "Conversion per store (checkouts per visit)",
            _ratio_by_store("storesim_checkouts_total", "storesim_sessions_total"),
            "percentunit",
        ),
        _panel(
            "Average basket size per store (units per checkout)",
            _ratio_by_store("storesim_basket_items_total", "storesim_checkouts_total"),
            "short",
        ),
        _panel(
            "Average basket value per store",
            _ratio_by_store("storesim_basket_value_total", "storesim_checkouts_total"),
            "short",
        ),
        _panel(
            "Refund rate per store (refunded share of revenue)",
            _ratio_by_store("storesim_refund_amount_total", "storesim_revenue_total"),
            "percentunit",
        ),
        _panel(
            "Shrink per store (units leaving unpaid per minute)",
            _per_minute_by_store("storesim_shrink_units_total", NS),
            "short",
        ),
        _panel(
            "Duplicate messages per store (per minute)",
            [
                (
                    f"sum by (store_id, topic) (rate(storesim_duplicates_sent_total{{{NS}}}[{RATE}])) * 60",
                    "{{store_id}} {{topic}}",
                )
            ],
            "short",
        ),
    ]


# What each component exports besides `up`: its dashboard has only the panels that can show data, and
# tests/integration/test_dashboards.py queries every one of them against a Prometheus scraping the chain.
PRODUCER = frozenset({"produced", "delivery"})
CONSUMER = frozenset({"consumed", "lag", "clock_lag", "dead_letters"})
EXPORTS: dict[str, frozenset[str]] = {
    "clock": frozenset({"speed"}),
    "foot-traffic": PRODUCER | {"sessions"},
    # The shelf writes to a Redis stream: it counts what it writes, but no broker acknowledges it.
    "shelf": CONSUMER | {"produced"},
    "redis-kafka-bridge": PRODUCER | {"consumed", "dead_letters"},
    "pos": PRODUCER | CONSUMER | {"open_carts"},
    "register": PRODUCER | CONSUMER,
    "ledger": PRODUCER | CONSUMER | {"revenue"},
}


def _component_panels(sel: str) -> dict[str, list[dict[str, Any]]]:
    """Panels by what they need (a key of EXPORTS)."""
    by_topic = "{{topic}} {{event_type}}"
    return {
        "produced": [
            _panel(
                "Events produced/s",
                [
                    (
                        f"sum by (topic, event_type) (rate(storesim_events_produced_total{{{sel}}}[{RATE}]))",
                        by_topic,
                    )
                ],
                "ops",
            )
        ],
        "consumed": [
            _panel(
                "Events consumed/s",
                [
                    (
                        f"sum by (topic, event_type) (rate(storesim_events_consumed_total{{{sel}}}[{RATE}]))",
                        by_topic,
                    )
                ],
                "ops",
            )
        ],
        "delivery": [
            _panel(
                "Delivery latency",
                [
                    (
                        f"histogram_quantile({q}, sum by (le) "
                        f"(rate(storesim_delivery_latency_seconds_bucket{{{sel}}}[{RATE}])))",
                        f"p{int(q * 100)}",
                    )
                    for q in (0.5, 0.99)
                ],
                "s",
            ),
            _panel(
                "Produce errors/s",
                [(f"sum by (topic) (rate(storesim_produce_errors_total{{{sel}}}[{RATE}]))", "{{topic}}")],
                "ops",
            ),
        ],
        "dead_letters": [
            _panel(
                "Dead-lettered messages/s",
                [
                    (
                        f"sum by (topic, reason) (rate(storesim_dead_lettered_total{{{sel}}}[{RATE}]))",
                        "{{topic}} {{reason}}",
                    )
                ],
                "ops",
            )
        ],
        "lag": [
            _panel(
                "Consumer lag per partition",
                [(f"sum by (topic, partition) (storesim_consumer_lag{{{sel}}})", "{{topic}}/{{partition}}")],
                "short",
            )
        ],
        "clock_lag": [
            _panel("Simulated-clock lag", [(f"max(storesim_sim_clock_lag_seconds{{{sel}}})", "lag")], "s")
        ],
        "speed": [
            _panel(
                "Clock speed (simulated s per wall s)",
                [(f"max(storesim_sim_clock_speed{{{sel}}})", "speed")],
                "short",
                kind="stat",
            )
        ],
        "open_carts": [_panel("Open carts", [(f"sum(storesim_open_carts{{{sel}}})", "open carts")], "short")],
        "sessions": [
            _panel(
                "Sessions per store (per minute)",
                _per_minute_by_store("storesim_sessions_total", sel),
                "short",
            )
        ],
        "revenue": [
            _panel("Revenue per minute", _per_minute_by_store("storesim_revenue_total", sel), "short")
        ],
    }


def component_dashboard(component: str) -> dict[str, Any]:
    sel = f'{NS}, component="$component"'
    available = _component_panels(sel)
    panels = [panel for need in available if need in EXPORTS[component] for panel in available[need]]
    panels.append(_panel("Replicas scraped", [(f"sum(up{{{sel}}})", "up")], "short", kind="stat"))
    return _dashboard(f"storesim-{component}", f"storesim / {component}", panels, component)


def dashboards() -> dict[str, dict[str, Any]]:
    """File name → dashboard."""
    files = {"overview.json": overview()}
    files.update({f"{c}.json": component_dashboard(c) for c in COMPONENTS})
    return files


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def main() -> None:
    for name, dashboard in dashboards().items():
        (HERE / name).write_text(render(dashboard), encoding="utf-8")
        print(HERE / name, file=sys.stderr)


if __name__ == "__main__":
    main()
