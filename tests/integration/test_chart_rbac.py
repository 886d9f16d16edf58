"""What the Store controller's ServiceAccount may do once `helm install --no-hooks` (see test_helm.py)
has stored the chart's Role and RoleBinding in the tests' real kube-apiserver: everything in
tests/k8s/chart.py's controller_rules() and nothing else asked of it here (SubjectAccessReviews, as the
admin); the real controller doing all its work with a token of the ServiceAccount, and that token refused
the rest."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from storesim.operator import GROUP, PLURAL, VERSION
from storesim.world import StoreSpec, write_stores_file
from tests.integration.controller_helpers import (
    as_token,
    kubeconfig_for_token,
    lease_holder,
    mint_token,
    ready_at_generation,
    start_controller,
    wait_for_configmap,
    wait_for_status,
)
from tests.integration.helpers import wait_until
from tests.k8s.chart import CHART, controller_rules, helm_on

# The first `scripts/kube up` of a machine builds kube-apiserver inside the `kube` fixture.
pytestmark = pytest.mark.timeout(45 * 60)

RELEASE = FULLNAME = "storesim"
ACCOUNT = f"{FULLNAME}-controller"
STORES_CONFIGMAP = f"{FULLNAME}-stores"
LEASE = f"{FULLNAME}-controller"
OTHER_NAMESPACE = "default"


class Access(NamedTuple):
    verb: str
    group: str
    resource: str  # with its subresource: stores/status
    name: str | None = None
    namespace: str | None = ""  # "": the release's; None: cluster-wide

    def __str__(self) -> str:
        where = {"": "", None: " cluster-wide"}.get(self.namespace, f" in {self.namespace}")
        return (
            f"{self.verb} {self.group or 'core'}/{self.resource}{f' {self.name}' if self.name else ''}{where}"
        )


def allowed_accesses() -> list[Access]:
    """Every (verb, group, resource, name) the controller's rules grant."""
    return [
        Access(verb, group, resource, name)
        for rule in controller_rules(FULLNAME)
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames", [None])
    ]


DENIED = [
    Access("get", "", "secrets", "storesim-postgres"),
    Access("list", "", "secrets"),
    Access("list", "", "pods"),
    Access("create", "", "pods"),
    Access("get", "", "configmaps", "storesim-dashboard-overview"),
    Access("list", "", "configmaps"),
    Access("watch", "", "configmaps"),
    Access("delete", "", "configmaps", STORES_CONFIGMAP),
    Access("create", GROUP, "stores"),
    Access("delete", GROUP, "stores", "store-001"),
    Access("deletecollection", GROUP, "stores"),
    Access("update", GROUP, "stores", "store-001"),
    Access("patch", GROUP, "stores", "store-001"),
    Access("update", "coordination.k8s.io", "leases", "someone-elses-lease"),
    Access("get", "coordination.k8s.io", "leases", "someone-elses-lease"),
    Access("delete", "coordination.k8s.io", "leases", LEASE),
    Access("list", "coordination.k8s.io", "leases"),
    Access("update", "apps", "deployments", "storesim-clock"),
    Access("patch", "apps", "deployments", "storesim-controller"),
    Access("create", "", "serviceaccounts/token", ACCOUNT),
    Access("create", "rbac.authorization.k8s.io", "rolebindings"),
    Access("escalate", "rbac.authorization.k8s.io", "roles", ACCOUNT),
    Access("impersonate", "", "serviceaccounts", "storesim-controller"),
    Access("list", GROUP, "stores", namespace=OTHER_NAMESPACE),
    Access("get", "", "configmaps", STORES_CONFIGMAP, namespace=OTHER_NAMESPACE),
    Access("update", "coordination.k8s.io", "leases", LEASE, namespace=OTHER_NAMESPACE),
    Access("patch", GROUP, "stores/status", "store-001", namespace=OTHER_NAMESPACE),
    Access("list", GROUP, "stores", namespace=None),
    Access("get", "apiextensions.k8s.io", "customresourcedefinitions", f"{PLURAL}.{GROUP}", namespace=None),
    Access("list", "apiextensions.k8s.io", "customresourcedefinitions", namespace=None),
    Access("create", "apiextensions.k8s.io", "customresourcedefinitions", namespace=None),
    Access("list", "", "namespaces", namespace=None),
]


@pytest.fixture(scope="module")
def release(admin: client.ApiClient, kube: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chart installed with its defaults into a namespace of this module's own; its namespace."""
    namespace = f"test-rbac-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    home = tmp_path_factory.mktemp("helm")
    installed = helm_on(kube, home, "install", RELEASE, str(CHART), "--no-hooks", "--namespace", namespace)
    assert installed.returncode == 0, installed.stderr
    yield namespace
    helm_on(kube, home, "uninstall", RELEASE, "--no-hooks", "--namespace", namespace)


def review(admin: client.ApiClient, namespace: str, access: Access) -> bool:
    """Whether the controller's ServiceAccount may do `access` (a SubjectAccessReview, created as admin)."""
    resource, _, subresource = access.resource.partition("/")
    attributes = {
        "namespace": namespace if access.namespace == "" else (access.namespace or ""),
        "verb": access.verb,
        "group": access.group,
        "resource": resource,
        "subresource": subresource,
        "name": access.name or "",
    }
    body = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{namespace}:{ACCOUNT}",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
            resource_attributes=client.V1ResourceAttributes(**attributes),
        )
    )
    status = client.AuthorizationV1Api(admin).create_subject_access_review(body).status
    return bool(status.allowed)


@pytest.fixture(scope="module")
def bound(admin: client.ApiClient, release: str) -> str:
    """The release's namespace once the RBAC authorizer has seen the RoleBinding (it follows the store
    through informers, a moment later)."""
    first = allowed_accesses()[0]
    assert wait_until(lambda: review(admin, release, first), None, 30, interval=0.2), f"{first} never allowed"
    return release


@pytest.mark.parametrize("access", allowed_accesses(), ids=str)
def test_the_controller_may_do_what_its_rules_grant(
    admin: client.ApiClient, bound: str, access: Access
) -> None:
    assert review(admin, bound, access)


@pytest.mark.parametrize("access", DENIED, ids=str)
def test_the_controller_may_do_nothing_else(admin: client.ApiClient, bound: str, access: Access) -> None:
    assert not review(admin, bound, access)


@pytest.fixture(scope="module")
def controller(admin: client.ApiClient, bound: str) -> Iterator[client.ApiClient]:
    """A client with a token of the controller's ServiceAccount (TokenRequest), as its pod would have."""
    api = as_token(admin, mint_token(admin, bound, ACCOUNT, 600))
    yield api
    api.close()


def _forbidden(call: Any) -> bool:
    try:
        call()
    except ApiException as error:
        if error.status == 403:
            return True
        raise
    return False


def test_the_controller_does_its_work_with_the_service_accounts_token(
    admin: client.ApiClient, kube: Path, bound: str, tmp_path: Path
) -> None:
    """The real controller, run with only the chart's Role: it leads, writes the ConfigMap and sets the
    values' Stores ready. Anything it called beyond the Role would leave one of these undone."""
    namespace = bound
    token = mint_token(admin, namespace, ACCOUNT, 600)
    kubeconfig = kubeconfig_for_token(kube, token, tmp_path / "kubeconfig")
    running = start_controller(
        kubeconfig, namespace, tmp_path, STORES_CONFIGMAP=STORES_CONFIGMAP, LEASE_NAME=LEASE
    )
    try:
        custom = client.CustomObjectsApi(admin)
        stores = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        expected = write_stores_file(StoreSpec.model_validate(s["spec"]) for s in stores)
        core = client.CoreV1Api(admin)
        assert wait_for_configmap(core, namespace, expected, running.process, name=STORES_CONFIGMAP), (
            running.log()
        )
        for store in stores:
            name = store["metadata"]["name"]
            wait_for_status(custom, namespace, name, ready_at_generation, running.process)
        assert lease_holder(admin, namespace, LEASE) == running.pod_name
        assert "403" not in running.log(), running.log()
    finally:
        assert running.terminate() == 0, running.log()


def test_the_service_accounts_token_is_refused_the_rest(controller: client.ApiClient, bound: str) -> None:
    namespace = bound
    custom, core = client.CustomObjectsApi(controller), client.CoreV1Api(controller)
    assert _forbidden(lambda: core.read_namespaced_secret("storesim-postgres", namespace))
    assert _forbidden(lambda: core.delete_namespaced_config_map(STORES_CONFIGMAP, namespace))
    assert _forbidden(lambda: core.list_namespaced_config_map(namespace))
    assert _forbidden(
        lambda: custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "store-001", {"spec": {"dailyCustomers": 5}}
        )
    )
    assert _forbidden(lambda: custom.list_namespaced_custom_object(GROUP, VERSION, OTHER_NAMESPACE, PLURAL))
