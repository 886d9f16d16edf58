"""Scenarios created, changed and deleted while a paced chain runs, end to end: Scenario resources in the
API server, the controller writing the scenarios file beside the stores file (the kubelet's part, for plain
processes), the simulators restarting in place on each new version, and the Scenarios' phase from the
stores' simulated time through Prometheus.

Every change is made before the windows it touches open, so the run is the embedded run of the scenarios
as they end up, byte for byte, answer key included: what a restart in place promises."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storesim.events import TRUTH
from storesim.operator import GROUP, SCENARIO_PLURAL, VERSION
from storesim.world import ScenarioSpec, StoreSpec, write_scenarios_file, write_stores_file
from tests.conftest import simulate
from tests.integration.chain import Chain
from tests.integration.controller_helpers import (
    admin_client,
    create_namespace,
    create_store,
    install_store_crd,
    scenario_resource,
    start_controller,
    wait_for_file,
    wait_for_status,
)
from tests.integration.helpers import wait_until
from tests.integration.runs import SEED, START, assert_same_events, backfill, consume_chain
from tests.integration.tally import Tally

# One simulated day in 36 s, for three days.
END = "2025-03-31T00:00:00+00:00"
PACED = {"CLOCK_MODE": "paced", "TIME_SCALE": "2400", "SIM_END": END}
STORES = [{"storeId": "STORE-001", "dailyCustomers": 300}, {"storeId": "STORE-002", "dailyCustomers": 300}]
DAY3 = {"start": "2025-03-30T00:00", "end": "2025-03-31T00:00"}
# Declared before the run: closed for the middle of day 3; changed during day 1 into a rush.
CLOSURE = {"stores": ["STORE-001"], "window": {"start": "2025-03-30T06:00", "end": "2025-03-30T18:00"}}
CLOSED = {**CLOSURE, "effects": {"traffic": {"closed": True}}}
RUSH = {**CLOSURE, "effects": {"traffic": {"multiplier": 3}}}
# Declared during day 1: at-least-once retries on day 3; and a mistake, deleted at once.
RETRIES = {"stores": ["STORE-002"], "window": DAY3, "effects": {"duplicates": {"probability": 0.2}}}
MISTAKE = {"window": DAY3, "effects": {"shrink": {"share": 0.5}}}
TAKING = {"foot-traffic", "shelf", "pos", "register", "ledger", "truth"}


def phase(resource: dict[str, Any]) -> str | None:
    return (resource.get("status") or {}).get("phase")


@pytest.fixture
def namespace_and_api(kube: Path) -> Iterator[tuple[Path, str, Any]]:
    admin = admin_client(kube)
    namespace = create_namespace(admin, "test-scn")
    yield kube, namespace, install_store_crd(admin, namespace)
    admin.close()


def test_scenarios_changed_while_the_chain_runs_apply_before_their_windows(
    stack: dict[str, str], dataset: Path, tmp_path: Path, namespace_and_api: tuple[Path, str, Any]
) -> None:
    kube, namespace, custom = namespace_and_api
    for spec in STORES:
        create_store(custom, namespace, spec, spec["storeId"].lower())

    def create(name: str, spec: dict[str, Any]) -> None:
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            SCENARIO_PLURAL,
            scenario_resource(spec, name),
            field_validation="Strict",
        )

    create("closure", CLOSED)
    stores_file = tmp_path / "cm" / "stores.json"
    scenario_file = tmp_path / "cm" / "scenarios.json"
    controller = start_controller(
        kube,
        namespace,
        tmp_path / "logs",
        stores_file=stores_file,
        prometheus_url=stack["PROMETHEUS_URL"],
        status_interval_seconds=2,
        SCENARIO_FILE=str(scenario_file),
    )
    final = [
        ScenarioSpec.model_validate({**RUSH, "name": "closure"}),
        ScenarioSpec.model_validate({**RETRIES, "name": "retries"}),
    ]
    specs = [StoreSpec.model_validate(spec) for spec in STORES]
    (tmp_path / "final.json").write_text(write_scenarios_file(final))
    (tmp_path / "stores.json").write_text(write_stores_file(specs))
    expected = simulate(
        tmp_path / "embedded",
        "--stores-file",
        str(tmp_path / "stores.json"),
        "--start",
        START[:10],
        "--days",
        "3",
        "--seed",
        SEED,
        "--scenario",
        str(tmp_path / "final.json"),
        env={"BASE_DAILY_CUSTOMERS": "50"},
    )
    assert sum(r["duplicates_sent"] for r in expected.records[TRUTH]) > 0

    env = {**backfill("1,2"), **PACED, "STORES_FILE": str(stores_file), "SCENARIO_FILE": str(scenario_file)}
    chain = Chain(stack, tmp_path, dataset, env)
    tally = Tally(stack, chain.names["foot_traffic"], chain.names["transactions"])
    targets = Path(stack["PROMETHEUS_TARGETS"]) / f"scn-{namespace}.json"
    try:
        assert wait_for_file(stores_file, write_stores_file(specs), controller.process), controller.log()
        chain.start_all()
        chain.wait_ready()
        groups = [
            {"targets": [f"127.0.0.1:{s.port}"], "labels": {"namespace": namespace, "component": s.component}}
            for s in chain.services
        ]
        targets.with_suffix(".partial").write_text(json.dumps(groups))
        targets.with_suffix(".partial").rename(targets)
        pids = {s.process.pid for s in chain.services}
        wait_for_status(
            custom,
            namespace,
            "closure",
            lambda r: phase(r) == "Scheduled",
            controller.process,
            30,
            SCENARIO_PLURAL,
        )
        assert wait_until(lambda: tally.read().sales["STORE-002"] > 0, None, 60), tally.sessions

        # Day 1: the closure becomes a rush, retries come, a mistake comes and goes.
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            SCENARIO_PLURAL,
            "closure",
            {"spec": {"effects": {"traffic": {"closed": None, "multiplier": 3}}}},  # null: removed
            _content_type="application/merge-patch+json",
        )
        create("retries", RETRIES)
        create("mistake", MISTAKE)
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, SCENARIO_PLURAL, "mistake")
        assert wait_for_file(scenario_file, write_scenarios_file(final), controller.process), controller.log()

        active = wait_for_status(
            custom,
            namespace,
            "retries",
            lambda r: phase(r) == "Active",
            controller.process,
            150,
            SCENARIO_PLURAL,
        )
        assert active["status"]["activeStores"] == ["STORE-002"]
        got = consume_chain(chain, expected)
        assert_same_events(chain, got, expected)
        finished = wait_for_status(
            custom,
            namespace,
            "closure",
            lambda r: phase(r) == "Finished",
            controller.process,
            60,
            SCENARIO_PLURAL,
        )
        assert finished["status"]["observedGeneration"] == 2

        # Restarted in place: the same processes, each simulator that reads scenarios having said so.
        assert {s.process.pid for s in chain.services} == pids
        for service in chain.services:
            restarted = "restarting in place" in service.log.read_text()
            assert restarted == (service.component in TAKING), chain.describe(service)
        assert controller.alive(), controller.log()
    finally:
        targets.unlink(missing_ok=True)
        tally.close()
        codes = chain.stop()
        controller.terminate()
    assert all(code == 0 for exits in codes.values() for code in exits), codes
