"""The tests' Kubernetes control plane (scripts/kube): kube-apiserver says its real version, the admin's
kubeconfig may do anything, and a ServiceAccount's token is held to RBAC.

Each test works in a namespace of its own: the control plane outlives test runs, and without a controller
manager a deleted namespace would stay Terminating anyway.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.integration.controller_helpers import as_token, crd_established, create_namespace, mint_token
from tests.integration.helpers import wait_until

REPO = Path(__file__).resolve().parents[2]
# The first `scripts/kube up` of a machine builds kube-apiserver inside the `kube` fixture; this covers it
# (`scripts/install` builds it beforehand, so in CI the fixture only starts the processes).
pytestmark = pytest.mark.timeout(45 * 60)


def pinned_version() -> str:
    """The k8s.io/kubernetes version that kube/kubernetes/go.mod builds."""
    text = (REPO / "kube" / "kubernetes" / "go.mod").read_text()
    found = re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes\s+(v\d+\.\d+\.\d+)\b", text, re.MULTILINE)
    assert found is not None
    return found.group(1)


@pytest.fixture
def namespace(admin: client.ApiClient) -> str:
    return create_namespace(admin, "test")


def test_version_is_stamped(admin: client.ApiClient) -> None:
    info = client.VersionApi(admin).get_code()
    version = pinned_version()
    assert re.fullmatch(r"v1\.34\.\d+", version)
    assert info.git_version == version
    assert (info.major, info.minor) == ("1", "34")
    assert info.git_tree_state == "clean"


def test_admin_creates_objects(admin: client.ApiClient, namespace: str) -> None:
    core, apps = client.CoreV1Api(admin), client.AppsV1Api(admin)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"a": "1"})
    )
    assert core.read_namespaced_config_map("settings", namespace).data == {"a": "1"}

    labels = {"app": "web"}
    pod_spec: dict[str, Any] = {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment.from_dict(
            {
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            }
        ),
    )
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 2
    # No `default` ServiceAccount exists (no controller manager), and a Pod is accepted all the same.
    core.create_namespaced_pod(
        namespace, client.V1Pod.from_dict({"metadata": {"name": "p"}, "spec": pod_spec})
    )
    assert core.read_namespaced_pod("p", namespace).status.phase == "Pending"


def test_admin_creates_a_custom_resource_definition(admin: client.ApiClient) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.storesim.test"
    name = f"widgets.{group}"
    extensions = client.ApiextensionsV1Api(admin)
    extensions.create_custom_resource_definition(
        client.V1CustomResourceDefinition.from_dict(
            {
                "metadata": {"name": name},
                "spec": {
                    "group": group,
                    "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "schema": {
                                "openAPIV3Schema": {
                                    "type": "object",
                                    "properties": {
                                        "spec": {
                                            "type": "object",
                                            "properties": {"size": {"type": "integer"}},
                                        }
                                    },
                                }
                            },
                        }
                    ],
                },
            }
        )
    )
    # Established by kube-apiserver's own apiextensions controllers.
    assert wait_until(lambda: crd_established(extensions, name), None, 60, interval=0.2), (
        f"{name} was not Established within 60 s"
    )

    custom = client.CustomObjectsApi(admin)
    namespace = "default"
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}
    # The new resource is served once discovery and the handler know it; that may lag Established a little.
    assert wait_until(lambda: _created(custom, group, namespace, widget), None, 30, interval=0.2)
    assert custom.get_namespaced_custom_object(group, "v1", namespace, "widgets", "w")["spec"] == {"size": 3}


def _created(custom: client.CustomObjectsApi, group: str, namespace: str, body: dict[str, Any]) -> bool:
    try:
        custom.create_namespaced_custom_object(group, "v1", namespace, "widgets", body)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _lists_secrets(api: client.ApiClient, namespace: str) -> bool:
    try:
        client.CoreV1Api(api).list_namespaced_secret(namespace)
    except ApiException as error:
        if error.status == 403:
            return False
        raise
    return True


def test_service_account_token_is_held_to_rbac(admin: client.ApiClient, namespace: str) -> None:
    core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader"))
    )
    reader = as_token(admin, mint_token(admin, namespace, "reader", 600))
    try:
        review = client.AuthenticationV1Api(reader).create_self_subject_review(client.V1SelfSubjectReview())
        assert review.status.user_info.username == f"system:serviceaccount:{namespace}:reader"
        assert "system:serviceaccounts" in review.status.user_info.groups

        assert not _lists_secrets(reader, namespace)
        rbac.create_namespaced_role(
            namespace,
            client.V1Role.from_dict(
                {
                    "metadata": {"name": "secret-reader"},
                    "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
                }
            ),
        )
        rbac.create_namespaced_role_binding(
            namespace,
            client.V1RoleBinding.from_dict(
                {
                    "metadata": {"name": "reader-reads-secrets"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": "secret-reader",
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
                }
            ),
        )
        # The RBAC authorizer sees the binding through its informers, a moment after it is stored.
        assert wait_until(lambda: _lists_secrets(reader, namespace), None, 30, interval=0.2)
        assert not _lists_secrets(reader, "default")  # a Role grants in its own namespace only
    finally:
        reader.close()
