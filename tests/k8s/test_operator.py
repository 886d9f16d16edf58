"""The Store operator in the chart (operator.enabled): the controller's Deployment, ServiceAccount and Role,
the Stores of the values (held to StoreSpec, and rejected by values.schema.json and the templates as the
API server would reject them), the controller's NetworkPolicy, and nothing of it with operator.enabled
false."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from tests.k8s.chart import (
    CHART,
    CONTROLLER,
    NAMESPACE,
    RELEASE,
    SIMULATORS,
    component_of,
    controller_rules,
    env_of,
    helm,
    of_kind,
    render,
    template_args,
    workload,
)
from tests.store_spec_cases import BAD_VALUES, EDGE_ACCEPTED, EDGE_REJECTED, GOOD_SPECS

from storesim.world import StoreSpec, store_code

FULLNAME = f"{RELEASE}-storesim"
CONTROLLER_NAME = f"{FULLNAME}-controller"
OPERATOR_KINDS = {"ServiceAccount", "Role", "RoleBinding", "Store"}


def _controller(objects: list[Any]) -> Any:
    return workload(objects, CONTROLLER)


def _named(objects: list[Any], kind: str, name: str) -> Any:
    (found,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    return found


def test_the_controller_is_a_deployment_of_the_service_image() -> None:
    objects = render()
    deployment = _controller(objects)
    assert deployment["metadata"]["name"] == CONTROLLER_NAME
    assert deployment["spec"]["replicas"] == 2
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["args"] == ["run", "controller"]
    assert (
        container["image"] == workload(objects, "clock")["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"]
    assert env_of(container)["METRICS_PORT"] == str(port)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["resources"]["limits"]["memory"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["serviceAccountName"] == CONTROLLER_NAME
    assert spec["automountServiceAccountToken"] is True
    assert "initContainers" not in spec
    assert {v["name"] for v in spec["volumes"]} == {"tmp"}


def test_the_replicas_and_the_env_come_from_the_values() -> None:
    objects = render(sets=("operator.replicas=3", "operator.env.STATUS_INTERVAL_SECONDS=30"))
    deployment = _controller(objects)
    assert deployment["spec"]["replicas"] == 3
    assert env_of(deployment["spec"]["template"]["spec"]["containers"][0])["STATUS_INTERVAL_SECONDS"] == "30"


def test_the_role_grants_exactly_the_controllers_rules_to_its_service_account() -> None:
    objects = render()
    account = _named(objects, "ServiceAccount", CONTROLLER_NAME)
    assert account["automountServiceAccountToken"] is True
    role = _named(objects, "Role", CONTROLLER_NAME)
    assert role["rules"] == controller_rules(FULLNAME)
    binding = _named(objects, "RoleBinding", CONTROLLER_NAME)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": CONTROLLER_NAME,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": CONTROLLER_NAME, "namespace": NAMESPACE}
    ]
    assert not of_kind(objects, "ClusterRole")
    assert not of_kind(objects, "ClusterRoleBinding")


def test_the_rules_follow_the_release_name_and_nothing_else() -> None:
    """The permissions do not depend on the values: only the names in them follow fullnameOverride."""
    (role,) = of_kind(
        render(
            sets=("fullnameOverride=shop", "operator.replicas=5", "operator.env.PROMETHEUS_URL=http://p:9090")
        ),
        "Role",
    )
    assert role["rules"] == controller_rules("shop")


def test_the_controller_names_the_objects_its_role_lets_it_write() -> None:
    objects = render()
    env = env_of(_controller(objects)["spec"]["template"]["spec"]["containers"][0])
    by_resource = {
        (rule["resources"][0], rule["verbs"][0]): rule.get("resourceNames")
        for rule in _named(objects, "Role", CONTROLLER_NAME)["rules"]
    }
    assert by_resource[("configmaps", "get")] == [env["STORES_CONFIGMAP"]] == [f"{FULLNAME}-stores"]
    assert by_resource[("leases", "get")] == [env["LEASE_NAME"]] == [CONTROLLER_NAME]


def test_the_controller_is_scraped_and_has_a_disruption_budget() -> None:
    objects = render((CHART / "ci" / "monitoring-values.yaml",))
    service = _named(objects, "Service", CONTROLLER_NAME)
    pod_labels = _controller(objects)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["metrics"]
    (monitor,) = of_kind(objects, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    budget = _named(objects, "PodDisruptionBudget", CONTROLLER_NAME)
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


# ---- NetworkPolicy ----


def _controller_policy(sets: tuple[str, ...] = ()) -> Any:
    objects = render((CHART / "ci" / "monitoring-values.yaml",), sets)
    return _named(objects, "NetworkPolicy", CONTROLLER_NAME)


def _egress_ports(policy: Any) -> list[set[tuple[Any, str]]]:
    return [{(p["port"], p["protocol"]) for p in rule["ports"]} for rule in policy["spec"]["egress"]]


def test_the_controllers_network_policy_allows_dns_and_the_api_server_only() -> None:
    policy = _controller_policy()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == CONTROLLER
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert ingress["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert _egress_ports(policy) == [{(53, "UDP"), (53, "TCP")}, {(443, "TCP"), (6443, "TCP")}]
    assert all("to" not in rule for rule in policy["spec"]["egress"])


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://kps-prometheus.monitoring:9090", 9090),
        ("http://prometheus.monitoring.svc/", 80),
        ("https://prometheus.example.com/prom", 443),
    ],
)
def test_the_controllers_network_policy_allows_prometheus(url: str, port: int) -> None:
    policy = _controller_policy((f"operator.env.PROMETHEUS_URL={url}",))
    assert _egress_ports(policy)[2:] == [{(port, "TCP")}]


def test_the_simulators_policy_leaves_the_controller_to_its_own() -> None:
    objects = render((CHART / "ci" / "monitoring-values.yaml",))
    simulators = _named(objects, "NetworkPolicy", f"{FULLNAME}-simulators")
    (selected,) = simulators["spec"]["podSelector"]["matchExpressions"]
    assert set(selected["values"]) == set(SIMULATORS)


# ---- The Stores ----


def test_the_default_stores_are_store_ids_stores() -> None:
    stores = of_kind(render(), "Store")
    assert [(s["apiVersion"], s["metadata"]["name"]) for s in stores] == [
        ("storesim.io/v1alpha1", f"store-00{n}") for n in (1, 2, 3)
    ]
    assert [s["spec"] for s in stores] == [{"storeId": f"STORE-00{n}"} for n in (1, 2, 3)]
    assert {component_of(s) for s in stores} == {"store"}
    assert all("namespace" not in s["metadata"] for s in stores)  # the release's, as for every object


def _template_stores(stores: list[dict[str, Any]]) -> Any:
    """`helm template` with `stores` set to exactly this list."""
    return helm(*template_args(), "--set-json", f"stores={json.dumps(stores)}")


def _render_stores(stores: list[dict[str, Any]]) -> list[Any]:
    result = _template_stores(stores)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("spec", GOOD_SPECS, ids=["id-only", "every-field"])
def test_a_store_of_the_values_is_rendered_as_given(spec: dict[str, Any]) -> None:
    (store,) = of_kind(_render_stores([spec]), "Store")
    assert store["metadata"]["name"] == spec["storeId"].lower()
    assert store["spec"] == spec
    assert StoreSpec.model_validate(store["spec"]).model_dump(by_alias=True, exclude_none=True) == spec


# The values hold every rejection the API server makes (the schema; CEL in the templates), except null:
# the API server prunes a null field, values.schema.json does not take one.
REJECTED = [*BAD_VALUES, *EDGE_REJECTED]
ACCEPTED = [(field, value) for field, value in EDGE_ACCEPTED if value is not None]


@pytest.mark.parametrize(("field", "value"), REJECTED, ids=[f"{f}={v!r}"[:40] for f, v in REJECTED])
def test_the_values_reject_what_the_api_server_rejects(field: str, value: Any) -> None:
    spec = {"storeId": "STORE-001", field: value}
    result = _template_stores([spec])
    assert result.returncode != 0, spec
    assert "stores" in result.stderr


def test_the_values_accept_what_the_api_server_accepts() -> None:
    """Every accepted edge value at once, each in a Store of its own."""
    specs = [
        {"storeId": store_code(i + 1), field: value} if field != "storeId" else {field: value}
        for i, (field, value) in enumerate(ACCEPTED)
    ]
    stores = of_kind(_render_stores(specs), "Store")
    assert [s["spec"] for s in stores] == specs
    for store in stores:
        StoreSpec.model_validate(store["spec"])


def test_opens_before_closes_is_checked_with_the_crds_message() -> None:
    result = _template_stores(
        [{"storeId": "STORE-001", "openingHours": {"opens": "10:00", "closes": "09:00"}}]
    )
    assert "stores[0].openingHours: opens must be before closes (10:00-09:00)" in result.stderr


def test_a_store_id_declared_twice_is_rejected() -> None:
    result = _template_stores([{"storeId": "STORE-002"}, {"storeId": "STORE-001"}, {"storeId": "STORE-002"}])
    assert result.returncode != 0
    assert "stores[2]: storeId STORE-002 is declared twice" in result.stderr


def test_no_stores_render_no_store_but_the_controller() -> None:
    objects = _render_stores([])
    assert not of_kind(objects, "Store")
    assert _controller(objects)


def test_the_values_schema_store_spec_is_the_crds() -> None:
    """Every field the CRD has, with the CRD's bounds (generated: tests/k8s/test_crd.py)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["properties"]["stores"]["items"] == {"$ref": "#/$defs/storeSpec"}
    crd = yaml.safe_load((CHART / "crds" / "stores.storesim.io.yaml").read_text())
    crd_spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    values_spec = schema["$defs"]["storeSpec"]
    assert values_spec["properties"].keys() == crd_spec["properties"].keys()
    assert values_spec["required"] == crd_spec["required"]
    for name, field in crd_spec["properties"].items():
        for keyword in ("type", "minimum", "maximum", "minLength", "maxLength", "pattern", "enum"):
            assert values_spec["properties"][name].get(keyword) == field.get(keyword), (name, keyword)


# ---- operator.enabled: false ----


def test_without_the_operator_nothing_of_it_is_rendered() -> None:
    objects = render(sets=("operator.enabled=false",))
    assert not [o for o in objects if o["kind"] in OPERATOR_KINDS]
    assert not [o for o in objects if component_of(o) in (CONTROLLER, "store")]
    for component in SIMULATORS:
        spec = workload(objects, component)["spec"]["template"]["spec"]
        assert not [v for v in spec["volumes"] if "configMap" in v]
        assert all(
            not m["mountPath"].startswith("/etc/storesim") for m in spec["containers"][0]["volumeMounts"]
        )
        assert "STORES_FILE" not in env_of(spec["containers"][0])


def test_without_the_operator_the_stores_values_are_ignored() -> None:
    objects = render(sets=("operator.enabled=false", "stores[0].storeId=STORE-009"))
    assert not of_kind(objects, "Store")


def test_the_no_operator_ci_values_turn_it_off() -> None:
    objects = render((CHART / "ci" / "no-operator-values.yaml",))
    assert not [o for o in objects if o["kind"] in OPERATOR_KINDS]
    assert (
        env_of(workload(objects, "shelf")["spec"]["template"]["spec"]["containers"][0])["STORE_IDS"]
        == "1,2,3,4"
    )


def test_the_template_is_deterministic() -> None:
    args = template_args((CHART / "ci" / "high-replicas-values.yaml",))
    first, second = helm(*args), helm(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
