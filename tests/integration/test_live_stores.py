"""Stores declared and deleted while the chain runs, end to end: Store resources in the API server, the
controller writing the stores file (the kubelet's part, for plain processes), the seven services polling it,
and Prometheus carrying the services' figures back into the Stores' status. No process restarts."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storesim.operator import GROUP, PLURAL, VERSION
from storesim.world import StoreSpec, write_stores_file
from tests.integration.chain import Chain
from tests.integration.controller_helpers import (
    admin_client,
    condition,
    create_namespace,
    create_store,
    install_store_crd,
    start_controller,
    wait_for_file,
    wait_for_status,
)
from tests.integration.helpers import wait_until
from tests.integration.runs import backfill
from tests.integration.tally import Tally

# One simulated day in 36 s, for five days: long enough for a store to come, and another to go.
PACED = {"CLOCK_MODE": "paced", "TIME_SCALE": "2400", "SIM_END": "2025-04-02T00:00:00+00:00"}
FIRST = [{"storeId": "STORE-001", "dailyCustomers": 300}, {"storeId": "STORE-002", "dailyCustomers": 300}]
JOINING = {"storeId": "STORE-005", "city": "Tromsø", "timezone": "UTC", "dailyCustomers": 300}


def exported(chain: Chain, component: str, metric: str, store_id: str) -> bool:
    """Whether any running replica of `component` exports `metric` for the store."""
    for service in chain.services:
        if service.component != component:
            continue
        with urllib.request.urlopen(f"http://127.0.0.1:{service.port}/metrics", timeout=5) as answer:
            if f'{metric}{{store_id="{store_id}"}}' in answer.read().decode():
                return True
    return False


@pytest.fixture
def namespace_and_stores(kube: Path) -> Iterator[tuple[Path, str, Any]]:
    """The admin's kubeconfig, a namespace of the test's own, and the Stores' API in it."""
    admin = admin_client(kube)
    namespace = create_namespace(admin, "test-live")
    yield kube, namespace, install_store_crd(admin, namespace)
    admin.close()


def test_a_store_declared_while_the_chain_runs_joins_it_and_a_deleted_one_leaves(
    stack: dict[str, str],
    dataset: Path,
    tmp_path: Path,
    namespace_and_stores: tuple[Path, str, Any],
) -> None:
    kube, namespace, custom = namespace_and_stores
    for spec in FIRST:
        create_store(custom, namespace, spec, spec["storeId"].lower())
    stores_file = tmp_path / "stores" / "stores.json"
    controller = start_controller(
        kube,
        namespace,
        tmp_path / "logs",
        stores_file=stores_file,
        prometheus_url=stack["PROMETHEUS_URL"],
        status_interval_seconds=2,
    )
    targets = Path(stack["PROMETHEUS_TARGETS"]) / f"live-{namespace}.json"
    chain = Chain(stack, tmp_path, dataset, {**backfill("1"), **PACED, "STORES_FILE": str(stores_file)})
    tally = Tally(stack, chain.names["foot_traffic"], chain.names["transactions"])
    try:
        declared = write_stores_file(StoreSpec.model_validate(spec) for spec in FIRST)
        assert wait_for_file(stores_file, declared, controller.process), controller.log()
        chain.start_all({"foot-traffic": 2, "register": 2, "ledger": 2})
        chain.wait_ready()
        # Prometheus scrapes the chain as the chart's ServiceMonitor would, under the Stores' namespace.
        groups = [
            {"targets": [f"127.0.0.1:{s.port}"], "labels": {"namespace": namespace, "component": s.component}}
            for s in chain.services
        ]
        targets.with_suffix(".partial").write_text(json.dumps(groups))
        targets.with_suffix(".partial").rename(targets)
        pids = {s.process.pid for s in chain.services}

        assert wait_until(lambda: tally.read().sales["STORE-002"] > 0, None, 90), tally.sessions
        before = max(tally.read().entries[1])

        create_store(custom, namespace, JOINING, "store-005")
        assert wait_until(lambda: tally.read().sales["STORE-005"] > 0, controller.process, 120), tally.sales
        # It joined at the clock's instant: none of its visits before the moment it was declared.
        assert min(tally.entries[5]) > before
        joined = wait_for_status(
            custom,
            namespace,
            "store-005",
            lambda s: (
                (s.get("status") or {}).get("sessionsToday", 0) > 0
                and (s.get("status") or {}).get("revenueToday", 0) > 0
            ),
            controller.process,
            60,
        )
        degraded = condition(joined, "Degraded")
        assert degraded is not None
        assert (degraded["status"], degraded["reason"]) == ("False", "Simulating")
        assert joined["status"]["lastEventTime"]

        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "store-002")
        remaining = [FIRST[0], JOINING]
        declared = write_stores_file(StoreSpec.model_validate(spec) for spec in remaining)
        assert wait_for_file(stores_file, declared, controller.process), controller.log()
        # Once no foot-traffic replica simulates it, nothing more of it may come, while the others go on.
        assert wait_until(
            lambda: not exported(chain, "foot-traffic", "storesim_store_sessions_today", "STORE-002"),
            None,
            30,
        )
        last = tally.read().sessions[2]
        more = tally.sessions[5] + 60
        assert wait_until(lambda: tally.read().sessions[5] >= more, None, 120), tally.sessions
        assert tally.read().sessions[2] == last

        assert all(s.process.poll() is None for s in chain.services), [
            chain.describe(s) for s in chain.services
        ]
        assert {s.process.pid for s in chain.services} == pids
        assert controller.alive(), controller.log()
    finally:
        targets.unlink(missing_ok=True)
        tally.close()
        codes = chain.stop()
        controller.terminate()
    assert all(code == 0 for exits in codes.values() for code in exits), codes
