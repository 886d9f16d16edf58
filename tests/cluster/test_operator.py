"""The Store operator on the real node: `kubectl apply` of a Store during a paced run gives its visits and
sales, `kubectl get stores` shows its sessions and revenue today (Prometheus scraping the pods, as the
chart's ServiceMonitor would have it), and `kubectl delete` of it stops its visits while the others go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.kube import wait_for
from tests.cluster.release import NAME, Release
from tests.integration import runs
from tests.integration.tally import Tally


def cell(table: str, name: str, column: str) -> str:
    """The ``column`` of the row ``name`` in kubectl's table (headers may hold spaces: cut by position)."""
    header, *rows = table.splitlines()
    start = header.index(column)
    row = next(line for line in rows if line.split()[0] == name)
    return row[start:].split()[0] if len(row) > start else ""


JOINING = {"storeId": "STORE-005", "city": "Tromsø", "timezone": "UTC", "dailyCustomers": 300}


def release_values(stack: dict[str, str]) -> dict[str, Any]:
    """The module's release (tests/cluster/conftest.py installs it): a paced run of one store, the
    controller reading its figures from the node stack's Prometheus."""
    return {
        "common": {"env": {"SIM_START": runs.START, "SEED": runs.SEED}},
        "components": {"clock": {"env": {"CLOCK_MODE": "paced", "TIME_SCALE": "1200"}}},
        "operator": {"env": {"PROMETHEUS_URL": stack["PROMETHEUS_URL"], "STATUS_INTERVAL_SECONDS": "3"}},
        "stores": [{"storeId": "STORE-001", "dailyCustomers": 300}],
    }


@pytest.fixture(scope="module")
def scraped(release: Release) -> Iterator[Release]:
    """The release, its pods scraped by the node stack's Prometheus by IP, labelled as the chart's
    ServiceMonitor would label them."""
    targets = Path(release.stack["PROMETHEUS_TARGETS"]) / f"cluster-{release.namespace}.json"
    pods = release.cluster.get("pods", "-n", release.namespace)["items"]
    groups = [
        {
            "targets": [f"{pod['status']['podIP']}:8000"],
            "labels": {
                "namespace": release.namespace,
                "component": pod["metadata"]["labels"]["app.kubernetes.io/component"],
            },
        }
        for pod in pods
        if pod["status"]["phase"] == "Running"
    ]
    targets.parent.mkdir(parents=True, exist_ok=True)
    targets.with_suffix(".partial").write_text(json.dumps(groups))
    targets.with_suffix(".partial").rename(targets)
    yield release
    targets.unlink(missing_ok=True)


def exports_store(release: Release, store_id: str) -> bool:
    probe = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/metrics').read().decode())"
    out = release.cluster.kubectl(
        "-n", release.namespace, "exec", f"deploy/{NAME}-foot-traffic", "--", "python", "-c", probe
    )
    return f'storesim_store_sessions_today{{store_id="{store_id}"}}' in out


def test_a_store_applied_during_a_run_joins_it_shows_its_day_and_leaves_when_deleted(
    scraped: Release,
) -> None:
    release = scraped
    k = release.cluster.kubectl
    ns = ("-n", release.namespace)
    tally = Tally(release.stack, release.names["foot_traffic"], release.names["transactions"])
    try:
        wait_for(lambda: tally.read().sales["STORE-001"] > 0, 180, "sales of STORE-001")
        before = max(tally.read().entries[1])
        store = {"apiVersion": "storesim.io/v1alpha1", "kind": "Store", "metadata": {"name": "store-005"}}
        k(*ns, "apply", "-f", "-", stdin=json.dumps({**store, "spec": JOINING}))
        wait_for(lambda: tally.read().sales["STORE-005"] > 0, 240, "sales of the applied STORE-005")
        assert min(tally.entries[5]) > before  # it joined at the clock's instant, not before

        def shown() -> bool:
            table = k(*ns, "get", "stores")
            sessions, revenue = (
                cell(table, "store-005", "SESSIONS TODAY"),
                cell(table, "store-005", "REVENUE TODAY"),
            )
            return (
                sessions.isdigit()
                and int(sessions) > 0
                and revenue.replace(".", "", 1).isdigit()
                and float(revenue) > 0
            )

        wait_for(
            shown,
            120,
            f"store-005's sessions and revenue today in `kubectl get stores`: {k(*ns, 'get', 'stores')}",
        )

        k(*ns, "delete", "store", "store-005", "--wait=true")
        wait_for(
            lambda: not exports_store(release, "STORE-005"),
            120,
            "foot-traffic no longer simulating STORE-005",
        )
        last = tally.read().sessions[5]
        more = tally.sessions[1] + 30
        wait_for(lambda: tally.read().sessions[1] >= more, 180, "STORE-001's visits going on")
        assert tally.read().sessions[5] == last
    finally:
        tally.close()
    found = release.cluster.get("pods", *ns)["items"]
    assert [
        p["metadata"]["name"]
        for p in found
        if any(s["restartCount"] for s in p["status"].get("containerStatuses", []))
    ] == []
