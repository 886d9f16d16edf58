"""Every panel of the chart's Grafana dashboards shows data from a real Prometheus (Debian's server,
started by scripts/stack) that scrapes the whole chain running on the local stack.

The chain's metrics addresses reach Prometheus through file-based discovery, labelled with `namespace`
and `component` as the chart's ServiceMonitor labels a pod, so the queries are the dashboards' own, with
Grafana's variables filled in, and so are the overview's annotation queries. Garbage on each consumed
input makes the dead-letter panels count; a scenario on one store (shrink and duplicates for the whole
run) gives the Business row's shrink and duplicates panels and the scenario annotations their data.
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from confluent_kafka import Producer

from storesim.world import ScenarioBook, parse_scenarios_file, write_scenarios_file
from tests.integration.chain import Chain
from tests.integration.conftest import REPO
from tests.integration.helpers import GARBAGE_KEY, wait_until
from tests.integration.runs import END, START, backfill

DASHBOARDS = REPO / "chart" / "dashboards"
# Grafana's $__rate_interval is at least four scrape intervals; the stack's Prometheus scrapes every 2 s.
RATE_INTERVAL = "30s"
DEADLINE_SECONDS = 120
# On STORE-002 only, so that the per-store panels show it there and nowhere else.
SCENARIOS = {
    "scenarios": [
        {
            "name": "leaky-store",
            "stores": ["STORE-002"],
            "window": {"start": START, "end": END},
            "effects": {"shrink": {"share": 0.2}, "duplicates": {"probability": 0.2}},
        }
    ]
}


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel}: {self.expr}"


def dashboard_queries(namespace: str) -> list[Query]:
    """Every panel target of every dashboard, as Grafana would send it for ``namespace``."""
    queries = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        constants = {
            v["name"]: v["query"] for v in dashboard["templating"]["list"] if v["type"] == "constant"
        }
        found = [
            (panel["title"], t["expr"]) for panel in dashboard["panels"] for t in panel.get("targets", ())
        ]
        annotations = dashboard.get("annotations", {"list": []})["list"]
        found += [(f"annotation {a['name']}", a["expr"]) for a in annotations if not a.get("builtIn")]
        for title, expr in found:
            expr = expr.replace("$__rate_interval", RATE_INTERVAL)
            expr = expr.replace("$namespace", namespace)
            for name, value in constants.items():
                expr = expr.replace(f"${name}", value)
            assert "$" not in expr, f"{path.name}: an unfilled variable in {expr}"
            queries.append(Query(path.stem, title, expr))
    return queries


def prometheus_get(stack: dict[str, str], path: str, **params: str) -> Any:
    url = f"{stack['PROMETHEUS_URL']}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["data"]


def series(stack: dict[str, str], expr: str) -> list[tuple[dict[str, str], float]]:
    """The labels and finite value of each series of an instant query (NaN, a quantile of nothing or a
    ratio of two zero rates, shows as a gap)."""
    found = prometheus_get(stack, "/api/v1/query", query=expr)["result"]
    rows = [(row["metric"], float(row["value"][1])) for row in found]
    return [(labels, value) for labels, value in rows if math.isfinite(value)]


def values(stack: dict[str, str], expr: str) -> list[float]:
    """The finite sample values of an instant query."""
    return [value for _, value in series(stack, expr)]


@pytest.fixture
def scraped_chain(stack: dict[str, str], dataset: Path, tmp_path: Path) -> Iterator[Chain]:
    """A paced chain (one simulated day in 36 s) whose services Prometheus discovers and scrapes, with
    SCENARIOS."""
    scenarios = tmp_path / "scenarios.json"
    scenarios.write_text(
        write_scenarios_file(ScenarioBook(parse_scenarios_file(json.dumps(SCENARIOS), "s")).scenarios)
    )
    settings = {
        **backfill("1,2", customers="120"),
        "CLOCK_MODE": "paced",
        "TIME_SCALE": "2400",
        "SCENARIO_FILE": str(scenarios),
    }
    chain = Chain(stack, tmp_path, dataset, settings)
    targets = Path(stack["PROMETHEUS_TARGETS"]) / f"{chain.run}.json"
    try:
        chain.start_all()
        chain.wait_ready()
        groups = [
            {
                "targets": [f"127.0.0.1:{service.port}"],
                "labels": {"namespace": chain.common["SIM_NAMESPACE"], "component": service.component},
            }
            for service in chain.services
        ]
        # Written whole, then renamed: Prometheus must never read half a file.
        partial = targets.with_suffix(".partial")
        partial.write_text(json.dumps(groups))
        partial.rename(targets)
        yield chain
    finally:
        targets.unlink(missing_ok=True)
        codes = chain.stop()
        assert all(code == 0 for exits in codes.values() for code in exits), codes


def plant_garbage(chain: Chain) -> None:
    """One message that cannot be decoded on every input the consuming services dead-letter from."""
    producer = Producer({"bootstrap.servers": chain.stack["KAFKA_BROKER"]})
    for topic in ("foot_traffic", "pos_transactions"):  # read by the shelf and POS; the register and ledger
        producer.produce(chain.names[topic], value=b"\xff not avro", key=GARBAGE_KEY, partition=0)
    assert producer.flush(10) == 0
    stream = chain.replica("redis-kafka-bridge").env["REDIS_STREAM"]
    client = redis.Redis(host=chain.stack["REDIS_HOST"], port=int(chain.stack["REDIS_PORT"]))
    client.xadd(stream, {"not": "a shelf event"})  # read by the bridge
    client.close()


def test_every_dashboard_panel_shows_data_from_the_running_chain(
    stack: dict[str, str], scraped_chain: Chain
) -> None:
    chain = scraped_chain
    namespace = chain.common["SIM_NAMESPACE"]
    queries = dashboard_queries(namespace)
    clock = chain.replica("clock").process

    # Every service scraped once before the garbage goes in, so that its dead letters count from zero.
    def every_service_up() -> bool:
        return values(stack, f'up{{namespace="{namespace}"}}') == [1.0] * len(chain.services)

    assert wait_until(every_service_up, clock, 30, interval=0.5), "Prometheus did not scrape every service"
    plant_garbage(chain)
    # Activity, not only series: these panels must have shown more than zero during the run.
    moving = {
        "overview": (
            "Events/s per topic",
            "Sessions per store (per minute)",
            "Revenue per minute",
            "Dead-lettered messages/s",
            "Conversion per store (checkouts per visit)",
            "Average basket size per store (units per checkout)",
            "Average basket value per store",
            "Shrink per store (units leaving unpaid per minute)",
            "Duplicate messages per store (per minute)",
            "annotation Scenarios",
        ),
    }
    # The business panels are per store, and the scenario's effects show on its store alone.
    both, leaky = {"STORE-001", "STORE-002"}, {"STORE-002"}
    per_store = {
        "Conversion per store (checkouts per visit)": both,
        "Average basket size per store (units per checkout)": both,
        "Average basket value per store": both,
        "Shrink per store (units leaving unpaid per minute)": leaky,
        "Duplicate messages per store (per minute)": leaky,
        "annotation Scenarios": leaky,
    }
    shown: set[Query] = set()
    moved: set[Query] = set()
    stores: dict[str, set[str]] = {panel: set() for panel in per_store}  # the stores above zero so far

    def seen_enough(query: Query) -> bool:
        if query not in shown:
            return False
        if query.panel in moving.get(query.dashboard, ()) and query not in moved:
            return False
        wanted = per_store.get(query.panel, set()) if query.dashboard == "overview" else set()
        return stores.get(query.panel, set()) >= wanted

    def all_panels_shown() -> bool:
        for query in queries:
            if seen_enough(query):
                continue
            found = series(stack, query.expr)
            if found:
                shown.add(query)
            if any(value > 0 for _, value in found):
                moved.add(query)
            if query.dashboard == "overview" and query.panel in per_store:
                stores[query.panel] |= {labels["store_id"] for labels, value in found if value > 0}
        return all(seen_enough(q) for q in queries)

    done = wait_until(all_panels_shown, clock, DEADLINE_SECONDS, interval=1.0)
    missing = [str(q) for q in queries if q not in shown]
    still = [str(q) for q in queries if q.panel in moving.get(q.dashboard, ()) and q not in moved]
    assert done, f"no data: {missing}; never above zero: {still}; stores shown: {stores}"
    assert stores == per_store
    # The dashboards' namespace variable lists the chain's namespace.
    listed = prometheus_get(
        stack, "/api/v1/label/namespace/values", **{"match[]": "storesim_events_produced_total"}
    )
    assert namespace in listed
