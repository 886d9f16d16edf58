"""The chart installed into the tests' real kube-apiserver with helm: `helm install` with the bundled
infrastructure, with external infrastructure, and without the Store operator stores every object it renders
(the Stores of the values included), `helm upgrade` changes replicas, environment and Stores in place, and
`helm uninstall` deletes all of it.

Nothing runs what is stored (no controller manager, scheduler or kubelet): helm runs without --wait (no
Deployment would turn ready, and the setup Job, stored like any other object, never runs).
tests/cluster/ installs the chart with --wait on a real node. Each test installs into a
namespace of its own; deleted namespaces would stay Terminating, so they are left in place.

The Store CRD is cluster-scoped: helm creates it from crds/ on the first install into this API server, and
leaves it alone afterwards (a CRD left by an earlier run or by test_store_crd.py is replaced with the
generated one first, so that every install sees the CRD of this checkout).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from storesim.operator import GROUP, PLURAL, VERSION, store_crd
from tests.integration.controller_helpers import crd_established
from tests.integration.helpers import wait_until
from tests.k8s.chart import CHART, CONTROLLER, SIMULATORS, STORES_FILE, helm_on

# The first `scripts/kube up` of a machine builds kube-apiserver inside the `kube` fixture.
pytestmark = pytest.mark.timeout(45 * 60)

RELEASE = "storesim"
FULLNAME = "storesim"  # the release's name holds the chart's: no "-storesim" suffix
CRD_NAME = f"{PLURAL}.{GROUP}"
# Object kinds of the chart → their REST resource (group/version come with each object).
PLURALS = {
    "ConfigMap": "configmaps",
    "Deployment": "deployments",
    "Job": "jobs",
    "NetworkPolicy": "networkpolicies",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "Secret": "secrets",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "StatefulSet": "statefulsets",
    "Store": "stores",
}
INFRASTRUCTURE = {
    ("StatefulSet", f"{FULLNAME}-kafka"),
    ("StatefulSet", f"{FULLNAME}-redis"),
    ("StatefulSet", f"{FULLNAME}-postgres"),
    ("Deployment", f"{FULLNAME}-schema-registry"),
    ("Secret", f"{FULLNAME}-postgres"),
}
OPERATOR = {
    ("Deployment", f"{FULLNAME}-controller"),
    ("ServiceAccount", f"{FULLNAME}-controller"),
    ("Role", f"{FULLNAME}-controller"),
    ("RoleBinding", f"{FULLNAME}-controller"),
    ("Store", "store-001"),
    ("Store", "store-002"),
    ("Store", "store-003"),
}
SIMULATOR_WORKLOADS = {("StatefulSet" if c == "pos" else "Deployment", f"{FULLNAME}-{c}") for c in SIMULATORS}


@pytest.fixture(scope="module")
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("helm")


@pytest.fixture(scope="module")
def crd(admin: client.ApiClient) -> None:
    """A Store CRD already in the server is brought to this checkout's (helm would not touch it); an absent
    one is left for the first `helm install` to create."""
    extensions = client.ApiextensionsV1Api(admin)
    try:
        current = extensions.read_custom_resource_definition(CRD_NAME)
    except ApiException as error:
        if error.status != 404:
            raise
        return
    body = store_crd()
    body["metadata"]["resourceVersion"] = current.metadata.resource_version
    extensions.replace_custom_resource_definition(CRD_NAME, body)
    assert wait_until(lambda: crd_established(extensions), None, 60, interval=0.2)


@pytest.fixture
def namespace(admin: client.ApiClient, crd: None) -> str:
    name = f"test-helm-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def helm(kube: Path, home: Path, namespace: str, *args: str) -> str:
    """helm in `namespace`; fails the test with helm's message when it fails."""
    result = helm_on(kube, home, *args, "--namespace", namespace)
    assert result.returncode == 0, result.stderr
    return result.stdout


def install(kube: Path, home: Path, namespace: str, *args: str) -> list[dict[str, Any]]:
    """`helm install` as the tests' control plane allows it; returns what helm applied (its manifest)."""
    helm(kube, home, namespace, "install", RELEASE, str(CHART), "--no-hooks", *args)
    return manifest(kube, home, namespace)


def manifest(kube: Path, home: Path, namespace: str) -> list[dict[str, Any]]:
    text = helm(kube, home, namespace, "get", "manifest", RELEASE)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def read(admin: client.ApiClient, namespace: str, kind: str, api_version: str, name: str) -> Any:
    """The object as the API server holds it, or None."""
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{PLURALS[kind]}/{name}"
    method, url, headers, _, _ = admin.param_serialize("GET", path, auth_settings=["BearerToken"])
    response = admin.call_api(method, url, header_params=headers)
    body = response.read()
    if response.status == 404:
        return None
    assert response.status == 200, (path, response.status, body)
    return json.loads(body)


def stored(
    admin: client.ApiClient, namespace: str, objects: list[dict[str, Any]]
) -> dict[tuple[str, str], Any]:
    """(kind, name) → the stored object, for each of `objects` (None where the server has none)."""
    return {
        (o["kind"], o["metadata"]["name"]): read(
            admin, namespace, o["kind"], o["apiVersion"], o["metadata"]["name"]
        )
        for o in objects
    }


def store_names(admin: client.ApiClient, namespace: str) -> list[str]:
    listed = client.CustomObjectsApi(admin).list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    return sorted(item["metadata"]["name"] for item in listed["items"])


def container_env(workload: Any) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def uninstall_deletes_everything(
    admin: client.ApiClient, kube: Path, home: Path, namespace: str, objects: list[dict[str, Any]]
) -> None:
    helm(kube, home, namespace, "uninstall", RELEASE, "--no-hooks")
    # Deleted with background propagation: gone at once, nothing holds a finalizer on them.
    assert wait_until(lambda: not any(stored(admin, namespace, objects).values()), None, 30, interval=0.2), [
        key for key, value in stored(admin, namespace, objects).items() if value
    ]
    assert store_names(admin, namespace) == []
    secrets = client.CoreV1Api(admin).list_namespaced_secret(namespace, label_selector="owner=helm").items
    assert secrets == []  # the release's own records too


CASES = {
    "bundled": (),
    "external": ("--values", str(CHART / "ci" / "external-values.yaml")),
    "no-operator": ("--set", "operator.enabled=false"),
}


@pytest.mark.parametrize("case", CASES)
def test_install_stores_every_object_and_uninstall_deletes_them(
    admin: client.ApiClient, kube: Path, helm_home: Path, namespace: str, case: str
) -> None:
    objects = install(kube, helm_home, namespace, *CASES[case])
    found = stored(admin, namespace, objects)
    assert [key for key, value in found.items() if value is None] == []
    for o in found.values():
        assert o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert o["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE

    keys = set(found)
    assert keys >= SIMULATOR_WORKLOADS
    assert {("Service", f"{FULLNAME}-{c}") for c in SIMULATORS} <= keys
    assert ("ConfigMap", f"{FULLNAME}-dashboard-overview") in keys
    (job,) = [name for kind, name in keys if kind == "Job"]  # the setup Job: a release object, no hook
    assert job.startswith(f"{FULLNAME}-setup-1-"), job
    assert not {kind for kind, _ in keys} & {"Pod", "CustomResourceDefinition"}  # the test Pod is a hook
    if case == "external":
        assert not INFRASTRUCTURE & keys
    else:
        assert keys >= INFRASTRUCTURE
    shelf = found[("Deployment", f"{FULLNAME}-shelf")]
    env = container_env(shelf)
    if case == "no-operator":
        assert not OPERATOR & keys
        assert store_names(admin, namespace) == []
        assert env["STORE_IDS"] == "1,2,3"
        assert "STORES_FILE" not in env
    else:
        assert keys >= OPERATOR
        assert store_names(admin, namespace) == ["store-001", "store-002", "store-003"]
        store = found[("Store", "store-002")]
        assert (store["apiVersion"], store["spec"]) == (f"{GROUP}/{VERSION}", {"storeId": "STORE-002"})
        assert env["STORES_FILE"] == STORES_FILE
        volumes = {v["name"]: v for v in shelf["spec"]["template"]["spec"]["volumes"]}
        assert volumes["stores"]["configMap"] == {
            "name": f"{FULLNAME}-stores",
            "optional": True,
            "defaultMode": 0o644,
        }
        controller = found[("Deployment", f"{FULLNAME}-{CONTROLLER}")]
        assert controller["spec"]["replicas"] == 2
        assert controller["spec"]["template"]["spec"]["serviceAccountName"] == f"{FULLNAME}-controller"
    if case == "external":
        assert env["KAFKA_BROKER"] == "kafka-0.kafka.data.svc:9092,kafka-1.kafka.data.svc:9092"
    assert crd_established(client.ApiextensionsV1Api(admin))

    uninstall_deletes_everything(admin, kube, helm_home, namespace, objects)


def test_upgrade_changes_replicas_env_and_stores_in_place(
    admin: client.ApiClient, kube: Path, helm_home: Path, namespace: str
) -> None:
    objects = install(kube, helm_home, namespace)
    name = f"{FULLNAME}-foot-traffic"
    before = read(admin, namespace, "Deployment", "apps/v1", name)
    controller_before = read(admin, namespace, "Deployment", "apps/v1", f"{FULLNAME}-controller")
    assert before["spec"]["replicas"] == 1
    assert "DAILY_CUSTOMERS" not in container_env(before)
    truth_before = read(admin, namespace, "Deployment", "apps/v1", f"{FULLNAME}-truth")

    stores = [{"storeId": "STORE-001", "dailyCustomers": 250}, {"storeId": "STORE-004", "city": "Muscat"}]
    helm(
        kube,
        helm_home,
        namespace,
        "upgrade",
        RELEASE,
        str(CHART),
        "--no-hooks",
        "--set",
        "components.foot-traffic.replicas=3",
        "--set",
        "components.foot-traffic.env.DAILY_CUSTOMERS=500",
        "--set",
        "operator.replicas=1",
        "--set-json",
        f"stores={json.dumps(stores)}",
    )
    after = read(admin, namespace, "Deployment", "apps/v1", name)
    assert after["spec"]["replicas"] == 3
    # Revision 2's setup Job, a new object (a Job's template is immutable); revision 1's deleted by helm.
    (first_job,) = [o["metadata"]["name"] for o in objects if o["kind"] == "Job"]
    (second_job,) = [
        o["metadata"]["name"] for o in manifest(kube, helm_home, namespace) if o["kind"] == "Job"
    ]
    assert second_job == first_job.replace("-setup-1-", "-setup-2-")
    assert read(admin, namespace, "Job", "batch/v1", second_job) is not None
    assert wait_until(lambda: read(admin, namespace, "Job", "batch/v1", first_job) is None, None, 30)
    hooks = [
        doc for doc in yaml.safe_load_all(helm(kube, helm_home, namespace, "get", "hooks", RELEASE)) if doc
    ]
    assert [(h["kind"], h["metadata"]["annotations"]["helm.sh/hook"]) for h in hooks] == [("Pod", "test")]
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    assert container_env(after) == {**container_env(before), "DAILY_CUSTOMERS": "500"}
    # The pod template changed by that variable alone: a rollout of new pods, nothing else about them.
    template_after = after["spec"]["template"]
    template_after["spec"]["containers"][0]["env"] = [
        e for e in template_after["spec"]["containers"][0]["env"] if e["name"] != "DAILY_CUSTOMERS"
    ]
    assert template_after == before["spec"]["template"]
    # The truth follows the world's rules of their owners: the one variable set on foot-traffic reaches it.
    truth_after = read(admin, namespace, "Deployment", "apps/v1", f"{FULLNAME}-truth")
    assert container_env(truth_after) == {**container_env(truth_before), "DAILY_CUSTOMERS": "500"}

    controller = read(admin, namespace, "Deployment", "apps/v1", f"{FULLNAME}-controller")
    assert controller["spec"]["replicas"] == 1
    assert controller["spec"]["template"] == controller_before["spec"]["template"]
    # The Stores follow the values: changed, added, and deleted when dropped.
    assert store_names(admin, namespace) == ["store-001", "store-004"]
    custom = client.CustomObjectsApi(admin)
    specs = [
        custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, n)["spec"]
        for n in ("store-001", "store-004")
    ]
    assert specs == stores
    # Untouched objects keep their generation.
    clock = read(admin, namespace, "Deployment", "apps/v1", f"{FULLNAME}-clock")
    assert clock["metadata"]["generation"] == 1

    status = json.loads(helm(kube, helm_home, namespace, "status", RELEASE, "--output", "json"))
    assert (status["version"], status["info"]["status"]) == (2, "deployed")

    uninstall_deletes_everything(
        admin, kube, helm_home, namespace, [*objects, *manifest(kube, helm_home, namespace)]
    )
