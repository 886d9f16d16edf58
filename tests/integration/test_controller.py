"""The Store controller (`storesim run controller`) as a real process against the tests' kube-apiserver: the
ConfigMap and STORES_FILE follow the Stores, every spec the CRD accepts is run, duplicates are refused,
one replica leads and a killed or stopped leader is replaced, the status carries today's figures from the
stack's Prometheus, the controller works with only its Role's rights, and an API server that goes away
makes it not ready (never crashes it) until it comes back.

Each test works in a namespace of its own (the Lease, the ConfigMap and the Stores are per namespace).
"""

from __future__ import annotations

import json
import random
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from storesim._keys import MAX_STORE
from storesim.operator import GROUP, PLURAL, VERSION
from storesim.ops import Health, OpsServer
from storesim.world import StoreSpec, store_code, write_stores_file
from tests.integration.controller_helpers import (
    MERGE_PATCH,
    ControllerProcess,
    TcpProxy,
    condition,
    configmap_text,
    controller_rules,
    create_namespace,
    create_store,
    install_store_crd,
    kubeconfig_for_token,
    lease,
    lease_holder,
    mint_token,
    ready_at_generation,
    start_controller,
    wait_for_configmap,
    wait_for_file,
    wait_for_status,
)
from tests.integration.helpers import readyz, wait_until
from tests.store_spec_cases import EDGE_ACCEPTED, GOOD_SPECS, random_spec

# The first `scripts/kube up` of a machine builds kube-apiserver inside the `kube` fixture.
pytestmark = pytest.mark.timeout(45 * 60)

WRITES = "storesim_controller_configmap_writes_total"
PATCHES = "storesim_controller_status_patches_total"
RECONCILES = "storesim_controller_reconciles_total"
LEADER = "storesim_controller_leader"
Launch = Callable[..., ControllerProcess]


@pytest.fixture(scope="module")
def core(admin: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(admin)


@pytest.fixture
def namespace(admin: client.ApiClient) -> str:
    return create_namespace(admin)


@pytest.fixture
def stores(admin: client.ApiClient, namespace: str) -> client.CustomObjectsApi:
    return install_store_crd(admin, namespace)


@pytest.fixture
def launch(kube: Path, tmp_path: Path) -> Iterator[Launch]:
    """start_controller with the admin's kubeconfig unless told otherwise; every one stopped at the end."""
    started: list[ControllerProcess] = []

    def start(namespace: str, kubeconfig: Path = kube, **options: Any) -> ControllerProcess:
        process = start_controller(kubeconfig, namespace, tmp_path / "logs", **options)
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()


def specs_of(*resources: dict[str, Any]) -> str:
    """The stores file the controller should write for these stored resources."""
    return write_stores_file(StoreSpec.model_validate(resource["spec"]) for resource in resources)


def patch_store(custom: client.CustomObjectsApi, namespace: str, name: str, body: dict[str, Any]) -> Any:
    return custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, body, _content_type=MERGE_PATCH
    )


def delete_store(custom: client.CustomObjectsApi, namespace: str, name: str) -> None:
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def test_the_configmap_and_the_file_follow_the_stores(
    core: client.CoreV1Api, stores: client.CustomObjectsApi, namespace: str, launch: Launch, tmp_path: Path
) -> None:
    stores_file = tmp_path / "run" / "stores.json"
    controller = launch(namespace, stores_file=stores_file)
    watched = controller.process
    empty = write_stores_file([])
    assert wait_for_configmap(core, namespace, empty, watched), controller.log()
    assert wait_for_file(stores_file, empty, watched)
    assert wait_until(lambda: readyz(controller.metrics_port) == 200, watched, 10)

    harbour = create_store(stores, namespace, {"storeId": "STORE-004", "dailyCustomers": 40}, "harbour")
    corniche = create_store(stores, namespace, {"storeId": "STORE-002", "city": "Jeddah"}, "corniche")
    both = specs_of(harbour, corniche)
    assert wait_for_configmap(core, namespace, both, watched), controller.log()
    assert wait_for_file(stores_file, both, watched)
    for name in ("harbour", "corniche"):
        store = wait_for_status(stores, namespace, name, ready_at_generation, watched)
        assert store["status"]["observedGeneration"] == 1
        degraded = condition(store, "Degraded")
        assert degraded is not None
        assert (degraded["status"], degraded["reason"]) == ("False", "MetricsNotConfigured")
    first = wait_for_status(stores, namespace, "harbour", ready_at_generation, watched)
    ready = condition(first, "Ready")
    assert ready is not None

    # A spec change: the ConfigMap, the file and observedGeneration follow; Ready stays True since then.
    changed = patch_store(stores, namespace, "harbour", {"spec": {"dailyCustomers": 41}})
    assert changed["metadata"]["generation"] == 2
    assert wait_for_configmap(core, namespace, specs_of(changed, corniche), watched)
    assert wait_for_file(stores_file, specs_of(changed, corniche), watched)
    second = wait_for_status(
        stores,
        namespace,
        "harbour",
        lambda s: ready_at_generation(s) and s["metadata"]["generation"] == 2,
        watched,
    )
    again = condition(second, "Ready")
    assert again is not None
    assert again["lastTransitionTime"] == ready["lastTransitionTime"]

    # Not a spec change (a label): reconciled, and nothing written.
    writes, patches = controller.metric(WRITES), controller.metric(PATCHES, outcome="ok")
    reconciles = controller.metric(RECONCILES, outcome="ok") or 0
    version = core.read_namespaced_config_map("storesim-stores", namespace).metadata.resource_version
    before = stores_file.stat()
    patch_store(stores, namespace, "corniche", {"metadata": {"labels": {"touched": "yes"}}})
    assert wait_until(lambda: (controller.metric(RECONCILES, outcome="ok") or 0) > reconciles, watched, 10)
    assert (controller.metric(WRITES), controller.metric(PATCHES, outcome="ok")) == (writes, patches)
    assert core.read_namespaced_config_map("storesim-stores", namespace).metadata.resource_version == version
    assert stores_file.stat().st_mtime_ns == before.st_mtime_ns

    # Deletions: the store leaves; no store left is an empty list.
    delete_store(stores, namespace, "corniche")
    assert wait_for_configmap(core, namespace, specs_of(changed), watched)
    assert wait_for_file(stores_file, specs_of(changed), watched)
    delete_store(stores, namespace, "harbour")
    assert wait_for_configmap(core, namespace, empty, watched)
    assert wait_for_file(stores_file, empty, watched)
    assert controller.metric(LEADER) == 1
    assert controller.metric(WRITES) == writes + 2
    assert controller.terminate() == 0, controller.log()


def accepted_specs() -> list[dict[str, Any]]:
    """Specs the CRD accepts, each with a storeId of its own: the examples, every accepted edge case, and
    random specs (tests/store_spec_cases.py, as test_store_crd.py uses them)."""
    specs = [dict(spec) for spec in GOOD_SPECS]
    edge_ids = {value for field, value in EDGE_ACCEPTED if field == "storeId"}
    used = {spec["storeId"] for spec in specs} | edge_ids
    numbers = (n for n in range(100, MAX_STORE + 1) if store_code(n) not in used)
    for field, value in EDGE_ACCEPTED:
        specs.append(
            {"storeId": value} if field == "storeId" else {"storeId": store_code(next(numbers)), field: value}
        )
    rng = random.Random(20261122)
    specs += [{**random_spec(rng), "storeId": store_code(next(numbers))} for _ in range(30)]
    return specs


def test_every_spec_the_crd_accepts_is_run(
    core: client.CoreV1Api, stores: client.CustomObjectsApi, namespace: str, launch: Launch
) -> None:
    specs = accepted_specs()
    assert len({spec["storeId"] for spec in specs}) == len(specs)
    created = [create_store(stores, namespace, spec) for spec in specs]
    controller = launch(namespace)
    assert wait_for_configmap(core, namespace, specs_of(*created), controller.process, 60), controller.log()
    for resource in created:
        store = wait_for_status(
            stores, namespace, resource["metadata"]["name"], ready_at_generation, controller.process
        )
        ready = condition(store, "Ready")
        assert ready is not None
        assert ready["reason"] == "Reconciled"
    assert controller.metric("storesim_controller_stores", state="ready") == len(specs)
    assert controller.metric("storesim_controller_stores", state="rejected") == 0


def test_a_duplicate_store_id_is_refused_until_the_older_store_goes(
    core: client.CoreV1Api, stores: client.CustomObjectsApi, namespace: str, launch: Launch
) -> None:
    controller = launch(namespace)
    older = create_store(stores, namespace, {"storeId": "STORE-010", "city": "Abha"}, "older")
    assert wait_for_configmap(core, namespace, specs_of(older), controller.process), controller.log()
    newer = create_store(stores, namespace, {"storeId": "STORE-010", "city": "Tabuk"}, "newer")

    def refused(store: dict[str, Any]) -> bool:
        ready = condition(store, "Ready")
        return ready is not None and (ready["status"], ready["reason"]) == ("False", "DuplicateStoreId")

    refusal = wait_for_status(stores, namespace, "newer", refused, controller.process)
    assert "older" in (condition(refusal, "Ready") or {})["message"]
    assert condition(refusal, "Degraded") is None
    assert refusal["status"]["observedGeneration"] == 1
    assert ready_at_generation(
        stores.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "older")
    )
    assert configmap_text(core, namespace) == specs_of(older)

    delete_store(stores, namespace, "older")
    assert wait_for_configmap(core, namespace, specs_of(newer), controller.process)
    wait_for_status(stores, namespace, "newer", ready_at_generation, controller.process)


def leader_and_follower(
    admin: client.ApiClient, namespace: str, launch: Launch, lease_seconds: tuple[int, int, int]
) -> tuple[ControllerProcess, ControllerProcess]:
    """Two replicas with these lease timings (duration, renew deadline, retry), once one holds the Lease."""
    suffix = uuid.uuid4().hex[:6]
    first = launch(namespace, pod_name=f"ctl-a-{suffix}", lease_seconds=lease_seconds)
    second = launch(namespace, pod_name=f"ctl-b-{suffix}", lease_seconds=lease_seconds)
    by_name = {first.pod_name: first, second.pod_name: second}
    assert wait_until(lambda: lease_holder(admin, namespace) in by_name, None, 30), (
        first.log(),
        second.log(),
    )
    holder = lease_holder(admin, namespace)
    assert holder is not None
    leader = by_name[holder]
    follower = second if leader is first else first
    return leader, follower


def test_one_replica_leads_and_a_killed_leader_is_replaced_once_its_lease_expires(
    admin: client.ApiClient,
    core: client.CoreV1Api,
    stores: client.CustomObjectsApi,
    namespace: str,
    launch: Launch,
) -> None:
    duration, deadline, retry = 4, 3, 1
    leader, follower = leader_and_follower(admin, namespace, launch, (duration, deadline, retry))

    one = create_store(stores, namespace, {"storeId": "STORE-011"}, "one")
    assert wait_for_configmap(core, namespace, specs_of(one), leader.process), leader.log()
    wait_for_status(stores, namespace, "one", ready_at_generation, leader.process)
    assert wait_until(lambda: readyz(follower.metrics_port) == 200, follower.process, 10), "a spare is ready"
    assert (leader.metric(LEADER), follower.metric(LEADER)) == (1, 0)
    assert (leader.metric(WRITES) or 0) >= 1
    assert (leader.metric(PATCHES, outcome="ok") or 0) >= 1
    assert (follower.metric(WRITES), follower.metric(PATCHES, outcome="ok")) == (0, 0), (
        "only the leader writes"
    )
    assert lease_holder(admin, namespace) == leader.pod_name
    held = lease(admin, namespace)
    assert held is not None
    assert held.spec.lease_duration_seconds == duration
    transitions = held.spec.lease_transitions

    leader.kill()
    killed_at = time.monotonic()
    last_renewal: list[datetime] = []

    def taken_over() -> bool:
        seen = lease(admin, namespace)
        assert seen is not None
        if seen.spec.holder_identity == leader.pod_name:
            last_renewal[:] = [seen.spec.renew_time]
        return bool(seen.spec.holder_identity == follower.pod_name)

    assert wait_until(taken_over, follower.process, 20, 0.05)
    took = time.monotonic() - killed_at
    assert took <= duration + retry + 2.5, took  # the lease's duration, and one retry period more
    assert last_renewal, "the killed leader's lease was seen before it was taken over"
    taken = lease(admin, namespace)
    assert taken is not None
    assert taken.spec.lease_transitions == transitions + 1
    # Not before the killed leader's lease had expired (one clock: the processes share this machine).
    assert taken.spec.acquire_time > last_renewal[0] + timedelta(seconds=duration)

    two = create_store(stores, namespace, {"storeId": "STORE-012"}, "two")
    assert wait_for_configmap(core, namespace, specs_of(one, two), follower.process), follower.log()
    wait_for_status(stores, namespace, "two", ready_at_generation, follower.process)
    assert follower.metric(LEADER) == 1
    assert (follower.metric(WRITES) or 0) >= 1


def test_a_stopped_leader_releases_its_lease_and_the_other_takes_it_at_once(
    admin: client.ApiClient,
    core: client.CoreV1Api,
    stores: client.CustomObjectsApi,
    namespace: str,
    launch: Launch,
) -> None:
    duration, deadline, retry = 20, 10, 1  # waiting for expiry would take 19 s or more
    leader, follower = leader_and_follower(admin, namespace, launch, (duration, deadline, retry))
    held = lease(admin, namespace)
    assert held is not None
    transitions = held.spec.lease_transitions

    stopped_at = time.monotonic()
    assert leader.terminate() == 0, leader.log()
    assert "released leadership" in leader.log()
    assert wait_until(lambda: lease_holder(admin, namespace) == follower.pod_name, follower.process, 10, 0.05)
    took = time.monotonic() - stopped_at
    assert took < duration / 2, f"{took} s: released, not expired (that takes {duration - retry} s or more)"
    taken = lease(admin, namespace)
    assert taken is not None
    assert taken.spec.lease_transitions == transitions + 1
    assert taken.spec.lease_duration_seconds == duration

    store = create_store(stores, namespace, {"storeId": "STORE-013"}, "after")
    assert wait_for_configmap(core, namespace, specs_of(store), follower.process), follower.log()
    assert follower.terminate() == 0
    assert lease_holder(admin, namespace) is None, "released again: nobody holds it"


LAST_EVENT = 1_762_162_200  # 2025-11-03T09:30:00Z: simulated time


def test_the_status_carries_todays_figures_from_prometheus(
    stack: dict[str, str], stores: client.CustomObjectsApi, namespace: str, launch: Launch
) -> None:
    """A stand-in exporter with the simulators' per-store gauges, scraped by the stack's Prometheus with the
    namespace/component labels a ServiceMonitor gives a pod."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    sessions = Gauge("storesim_store_sessions_today", "Visits today.", ["store_id"], registry=registry)
    revenue = Gauge("storesim_store_revenue_today", "Revenue today.", ["store_id"], registry=registry)
    last = Gauge(
        "storesim_store_last_event_timestamp_seconds", "Last event.", ["store_id"], registry=registry
    )
    sessions.labels("STORE-004").set(17)
    revenue.labels("STORE-004").set(123.45)
    last.labels("STORE-004").set(LAST_EVENT)
    exporter = OpsServer(Health(), registry, 0, host="127.0.0.1").start()
    targets = Path(stack["PROMETHEUS_TARGETS"]) / f"controller-{namespace}.json"
    groups = [
        {
            "targets": [f"127.0.0.1:{exporter.port}"],
            "labels": {"namespace": namespace, "component": "foot-traffic"},
        }
    ]
    partial = targets.with_suffix(".partial")
    partial.write_text(json.dumps(groups))
    partial.rename(targets)  # Prometheus must never read half a file
    try:
        controller = launch(namespace, prometheus_url=stack["PROMETHEUS_URL"], status_interval_seconds=1)
        create_store(stores, namespace, {"storeId": "STORE-004"}, "scraped")
        create_store(stores, namespace, {"storeId": "STORE-005"}, "quiet")

        def figures(expected: tuple[int, float]) -> Callable[[dict[str, Any]], bool]:
            def holds(store: dict[str, Any]) -> bool:
                status = store.get("status") or {}
                return (status.get("sessionsToday"), status.get("revenueToday")) == expected

            return holds

        scraped = wait_for_status(stores, namespace, "scraped", figures((17, 123.45)), controller.process, 60)
        assert scraped["status"]["lastEventTime"] == "2025-11-03T09:30:00Z"
        assert ready_at_generation(scraped)
        degraded = condition(scraped, "Degraded")
        assert degraded is not None
        assert (degraded["status"], degraded["reason"]) == ("False", "Simulating")

        def no_events(store: dict[str, Any]) -> bool:
            found = condition(store, "Degraded")
            return found is not None and (found["status"], found["reason"]) == ("True", "NoEvents")

        quiet = wait_for_status(stores, namespace, "quiet", no_events, controller.process)
        assert "sessionsToday" not in quiet["status"]

        # The figures move on; the condition stays as it was since it became False.
        sessions.labels("STORE-004").set(18)
        revenue.labels("STORE-004").set(130.5)
        moved = wait_for_status(stores, namespace, "scraped", figures((18, 130.5)), controller.process, 30)
        assert (condition(moved, "Degraded") or {})["lastTransitionTime"] == degraded["lastTransitionTime"]
    finally:
        targets.unlink(missing_ok=True)
        exporter.stop()


def test_it_runs_with_only_its_roles_rights(
    kube: Path,
    admin: client.ApiClient,
    core: client.CoreV1Api,
    stores: client.CustomObjectsApi,
    namespace: str,
    launch: Launch,
    tmp_path: Path,
) -> None:
    """The ServiceAccount's token and a Role of controller_rules(), nothing else: what the chart grants."""
    name = "storesim-controller"
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    )
    rbac = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role(
        namespace, client.V1Role.from_dict({"metadata": {"name": name}, "rules": controller_rules()})
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding.from_dict(
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            }
        ),
    )
    kubeconfig = kubeconfig_for_token(kube, mint_token(admin, namespace, name), tmp_path / "kubeconfig")
    stores_file = tmp_path / "stores.json"
    controller = launch(namespace, kubeconfig=kubeconfig, stores_file=stores_file)

    shop = create_store(stores, namespace, {"storeId": "STORE-020", "registers": 3}, "shop")
    # The RBAC authorizer sees a new binding a moment after it is stored: the controller retries meanwhile.
    assert wait_for_configmap(core, namespace, specs_of(shop), controller.process, 60), controller.log()
    assert wait_for_file(stores_file, specs_of(shop), controller.process)
    wait_for_status(stores, namespace, "shop", ready_at_generation, controller.process)
    assert lease_holder(admin, namespace) == controller.pod_name
    changed = patch_store(stores, namespace, "shop", {"spec": {"registers": 4}})
    assert wait_for_configmap(core, namespace, specs_of(changed), controller.process), controller.log()
    wait_for_status(
        stores,
        namespace,
        "shop",
        lambda s: ready_at_generation(s) and s["metadata"]["generation"] == 2,
        controller.process,
    )
    assert controller.metric(PATCHES, outcome="error") == 0
    assert controller.terminate() == 0
    assert lease_holder(admin, namespace) is None, "released, with the Role's update on leases"


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, ConnectionError):
        return 0


def test_without_an_api_server_it_is_not_ready_and_carries_on_when_it_is_back(
    kube: Path,
    core: client.CoreV1Api,
    stores: client.CustomObjectsApi,
    namespace: str,
    launch: Launch,
    tmp_path: Path,
) -> None:
    admin_config = yaml.safe_load(kube.read_text(encoding="utf-8"))
    server = admin_config["clusters"][0]["cluster"]["server"]  # https://127.0.0.1:PORT
    host, port = server.removeprefix("https://").rsplit(":", 1)
    token = admin_config["users"][0]["user"]["token"]
    proxy = TcpProxy((host, int(port))).start()
    try:
        kubeconfig = kubeconfig_for_token(kube, token, tmp_path / "kubeconfig", server=proxy.url)
        controller = launch(namespace, kubeconfig=kubeconfig)
        watched = controller.process
        assert wait_until(lambda: readyz(controller.metrics_port) == 200, watched, 15), controller.log()
        before = create_store(stores, namespace, {"storeId": "STORE-030"}, "before")
        assert wait_for_configmap(core, namespace, specs_of(before), watched)

        proxy.stop()
        assert wait_until(lambda: readyz(controller.metrics_port) == 503, watched, 15), controller.log()
        assert healthz(controller.metrics_port) == 200, "alive: an outage is not a reason to restart it"
        during = create_store(stores, namespace, {"storeId": "STORE-031"}, "during")  # it cannot see this
        # Longer than the renew deadline: it stops leading, and stays up.
        assert wait_until(lambda: "lost leadership" in controller.log(), watched, 15), controller.log()
        assert controller.metric(LEADER) == 0
        assert controller.alive()
        assert "api server unavailable" in controller.log()

        proxy.start()
        assert wait_until(lambda: readyz(controller.metrics_port) == 200, watched, 15), controller.log()
        assert wait_for_configmap(core, namespace, specs_of(before, during), watched), controller.log()
        assert controller.log().count("acquired leadership") == 2, "its own lease, renewed once it answers"
        wait_for_status(stores, namespace, "during", ready_at_generation, watched)
        controller.process.send_signal(signal.SIGTERM)
        assert controller.process.wait(20) == 0
    finally:
        proxy.stop()
