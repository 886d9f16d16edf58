"""Policies on the rendered chart: probes on the named metrics port, labels, the restricted security
context, the POS StatefulSet and its volume, the data init container and the read-only /data mount,
and values.schema.json rejecting wrong types and unknown keys."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.k8s.chart import (
    CHART,
    CI_VALUES,
    CONTROLLER,
    DASHBOARDED,
    INFRASTRUCTURE,
    RELEASE,
    SIMULATORS,
    component_of,
    env_of,
    helm,
    of_kind,
    pod_specs,
    render,
    template_args,
    workload,
)

from storesim_dataloader._files import INVENTORY_PARQUET, WEEKLY_DISCOUNTS_PARQUET

CASES = [(), *[(path,) for path in CI_VALUES]]
IDS = ["default", *[path.stem for path in CI_VALUES]]
FULLNAME = f"{RELEASE}-storesim"
SELECTOR_LABELS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_every_simulator_is_probed_on_its_named_metrics_port(values: tuple[Path, ...]) -> None:
    objects = render(values)
    for component in SIMULATORS:
        container = workload(objects, component)["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["run", component]
        port = {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"]
        assert env_of(container)["METRICS_PORT"] == str(port)
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["resources"]["requests"]["memory"]
        assert container["resources"]["limits"]["memory"]


def test_simulators_are_deployments_and_the_pos_a_stateful_set() -> None:
    objects = render()
    kinds = {component: workload(objects, component)["kind"] for component in SIMULATORS}
    assert kinds == {**dict.fromkeys(SIMULATORS, "Deployment"), "pos": "StatefulSet"}


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_every_object_carries_the_app_labels_and_no_selector_names_the_chart(
    values: tuple[Path, ...],
) -> None:
    objects = render(values)
    for o in objects:
        labels = o["metadata"]["labels"]
        assert SELECTOR_LABELS | {"app.kubernetes.io/managed-by", "app.kubernetes.io/version"} <= set(labels)
        selector = o.get("spec", {}).get("selector")
        if o["kind"] == "Service":
            assert set(selector) == SELECTOR_LABELS
        elif isinstance(selector, dict) and "matchLabels" in selector:
            assert not any(key.startswith("helm.sh/") for key in selector["matchLabels"])
            if o["kind"] in ("Deployment", "StatefulSet"):
                assert selector["matchLabels"].items() <= o["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_storesim_containers_run_restricted(values: tuple[Path, ...]) -> None:
    """Every container from storesim's images: non-root, read-only root, no escalation, no capabilities,
    the runtime's seccomp profile. The bundled infrastructure keeps all of it but the read-only root. Only
    the Store controller, which talks to the API server, has a ServiceAccount token."""
    checked = 0
    for o, spec in pod_specs(render(values)):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        if component_of(o) == CONTROLLER:
            assert spec["automountServiceAccountToken"] is True
            assert spec["serviceAccountName"] == o["metadata"]["name"]
        else:
            assert spec["automountServiceAccountToken"] is False
            assert "serviceAccountName" not in spec
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            if component_of(o) not in INFRASTRUCTURE:
                assert context["readOnlyRootFilesystem"] is True, container["name"]
                assert container["image"].split(":")[0] in ("storesim", "storesim-data-loader")
                checked += 1
    assert checked >= len(SIMULATORS) + 3 + 3  # + three init containers (shelf, pos, truth), the Job's three


def test_the_pos_keeps_its_state_on_a_claim_behind_a_headless_service() -> None:
    objects = render()
    pos = workload(objects, "pos")
    claims = pos["spec"]["volumeClaimTemplates"]
    assert [c["metadata"]["name"] for c in claims] == ["state"]
    assert claims[0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    container = pos["spec"]["template"]["spec"]["containers"][0]
    env = env_of(container)
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["state"]["mountPath"] == env["STATE_DIR"] == "/var/lib/storesim/state"
    assert not mounts["state"].get("readOnly", False)
    assert env["REPLICA_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["EXACTLY_ONCE"] == "true"
    service = next(
        s for s in of_kind(objects, "Service") if s["metadata"]["name"] == pos["spec"]["serviceName"]
    )
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pos["spec"]["template"]["metadata"]["labels"].items()


def test_the_high_replica_values_scale_every_component() -> None:
    objects = render((CHART / "ci" / "high-replicas-values.yaml",))
    replicas = {c: workload(objects, c)["spec"]["replicas"] for c in SIMULATORS}
    assert replicas == {
        "clock": 1,
        "foot-traffic": 3,
        "shelf": 6,
        "redis-kafka-bridge": 3,
        "pos": 4,
        "register": 3,
        "ledger": 3,
        "truth": 2,
    }


@pytest.mark.parametrize("component", ["shelf", "pos", "truth"])
def test_the_parquet_files_come_from_the_init_container_into_a_read_only_data_mount(component: str) -> None:
    spec = workload(render(), component)["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert init["image"].startswith("storesim-data-loader:")
    program, *sources, target = init["command"]
    assert program == "cp"
    assert target == "/data/"
    assert [Path(s).name for s in sources] == [INVENTORY_PARQUET, WEEKLY_DISCOUNTS_PARQUET]
    assert {m["mountPath"]: m.get("readOnly", False) for m in init["volumeMounts"]} == {"/data": False}
    container = spec["containers"][0]
    data_mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/data")
    assert data_mount["readOnly"] is True
    volume = next(v for v in spec["volumes"] if v["name"] == data_mount["name"])
    assert "emptyDir" in volume
    env = env_of(container)
    assert env["STORE_PARQUET"] == f"/data/{INVENTORY_PARQUET}"
    assert env["DISCOUNT_PARQUET_PATH"] == f"/data/{WEEKLY_DISCOUNTS_PARQUET}"


def _setup_job(objects: list[Any]) -> Any:
    (job,) = of_kind(objects, "Job")
    assert component_of(job) == "setup"
    return job


def _hook_annotations(o: Any) -> dict[str, str]:
    annotations = o["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if k.startswith("helm.sh/hook")}


def test_the_setup_job_is_a_plain_object_of_the_release_in_order() -> None:
    """Not a hook, so that `helm install --wait --wait-for-jobs` creates it with the services (which are
    not ready until it has run) and waits for it; never deleting itself, since it is a release object."""
    job = _setup_job(render())
    assert _hook_annotations(job) == {}
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"]) == (10, 900)
    assert "ttlSecondsAfterFinished" not in job["spec"]
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "OnFailure"
    steps = [c["args"] for c in [*spec["initContainers"], *spec["containers"]]]
    assert steps == [
        ["topics", "create"],
        ["schemas", "register"],
        ["load-postgres", "--data", "/opt/storesim-data"],
    ]


def test_the_setup_job_is_named_after_the_revision_and_its_spec() -> None:
    """A Job's pod template is immutable: each revision creates its own Job (helm deletes the previous
    one, which the new manifest lacks), and so does each change of its spec where every render is
    revision 1 (Argo CD)."""
    first = render()
    job = _setup_job(first)
    name = job["metadata"]["name"]
    assert re.fullmatch(rf"{FULLNAME}-setup-1-[0-9a-f]{{8}}", name), name
    # Each revision's own Job (helm template renders revision 1 only): tests/integration/test_helm.py
    # upgrades a real release and finds revision 2's Job in place of revision 1's.

    retagged = _setup_job(render(sets=("image.tag=0.2.0",)))["metadata"]["name"]
    assert retagged.startswith(f"{FULLNAME}-setup-1-")
    assert retagged != name
    unchanged = _setup_job(render(sets=("components.shelf.replicas=2",)))["metadata"]["name"]
    assert unchanged == name


def test_a_long_release_name_keeps_the_setup_job_name_a_label_value() -> None:
    long_name = "x" * 63
    name = _setup_job(render(sets=(f"fullnameOverride={long_name}",)))["metadata"]["name"]
    assert len(name) <= 63
    assert re.fullmatch(r"x+-1-[0-9a-f]{8}", name), name


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_nothing_but_the_helm_test_pod_is_a_hook(values: tuple[Path, ...]) -> None:
    """A hook would keep `helm install --wait` from running it until the release is ready."""
    hooks = [o for o in render(values) if _hook_annotations(o)]
    assert [(o["kind"], _hook_annotations(o)["helm.sh/hook"]) for o in hooks] == [("Pod", "test")]


def test_helm_test_checks_every_topic() -> None:
    (pod,) = of_kind(render(), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["containers"][0]["args"][:2] == ["topics", "check"]


def test_external_infrastructure_renders_no_bundled_workload_and_points_at_the_endpoints() -> None:
    objects = render((CHART / "ci" / "external-values.yaml",))
    assert not [o for o in objects if component_of(o) in INFRASTRUCTURE and o["kind"] != "Secret"]
    assert not of_kind(objects, "Secret")  # existingSecret given
    env = env_of(workload(objects, "pos")["spec"]["template"]["spec"]["containers"][0])
    assert env["KAFKA_BROKER"] == "kafka-0.kafka.data.svc:9092,kafka-1.kafka.data.svc:9092"
    assert env["SCHEMA_REGISTRY_URL"] == "http://registry.data.svc:8080/apis/ccompat/v7"
    assert (env["REDIS_HOST"], env["REDIS_PORT"]) == ("redis.data.svc", "6380")
    assert (env["PG_HOST"], env["PG_PORT"]) == ("postgres.data.svc", "5433")
    assert env["PG_PASS"] == {"secretKeyRef": {"name": "storesim-postgres", "key": "password"}}


def test_external_infrastructure_without_an_endpoint_fails_with_the_value_to_set() -> None:
    result = helm(*template_args(sets=("kafka.bundled=false",)))
    assert result.returncode != 0
    assert "kafka.external.bootstrapServers is required" in result.stderr


def test_every_pod_has_a_disruption_budget() -> None:
    objects = render()
    budgets = {component_of(b) for b in of_kind(objects, "PodDisruptionBudget")}
    assert budgets == {*SIMULATORS, CONTROLLER}


def test_the_dashboards_are_config_maps_for_the_grafana_sidecar() -> None:
    maps = [
        m for m in of_kind(render(), "ConfigMap") if m["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert len(maps) == 1 + len(DASHBOARDED)
    for config_map in maps:
        (body,) = config_map["data"].values()
        assert json.loads(body)["templating"]["list"][0]["type"] == "datasource"


# ---- values.schema.json ----


def _schema() -> Any:
    return json.loads((CHART / "values.schema.json").read_text())


def _defaults() -> Any:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def test_the_default_values_satisfy_the_schema() -> None:
    jsonschema.validate(_defaults(), _schema())


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("components.shelf.replicas=many", "want integer"),
        ("kafka.bundled=maybe", "want boolean"),
        ("metricsPort=70000", "maximum"),
        ("components.shelf.env.PUTBAK_PROB=0.2", "additional properties 'PUTBAK_PROB' not allowed"),
        ("pos.persistance.size=1Gi", "additional properties 'persistance' not allowed"),
        ("unknownTopLevel=1", "additional properties 'unknownTopLevel' not allowed"),
    ],
)
def test_the_schema_rejects_wrong_types_and_unknown_keys(assignment: str, message: str) -> None:
    result = helm(*template_args(sets=(assignment,)))
    assert result.returncode != 0
    assert message in result.stderr


def test_every_nested_object_of_the_schema_forbids_unknown_keys() -> None:
    """additionalProperties is false wherever the schema lists properties."""

    def walk(node: Any, path: str) -> list[str]:
        missing = []
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                missing.append(path)
            for key, child in node.items():
                missing += walk(child, f"{path}/{key}")
        return missing

    assert walk(_schema(), "") == []
