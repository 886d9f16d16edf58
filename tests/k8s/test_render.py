"""helm lint and helm template of the default values and of every chart/ci file, and every rendered
object validated: Kubernetes' own kinds with kubernetes-validate --strict for 1.30 and 1.34, the
prometheus-operator kinds against their CRDs' schemas, the Stores against the chart's own CRD."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from tests.k8s.chart import CHART, CI_VALUES, SCHEMAS, helm, of_kind, render

CASES = [(), *[(path,) for path in CI_VALUES]]
IDS = ["default", *[path.stem for path in CI_VALUES]]
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-v1.json",
}
STORE = ("storesim.io/v1alpha1", "Store")


def test_there_are_ci_value_files() -> None:
    assert {p.name for p in CI_VALUES} >= {
        "external-values.yaml",
        "high-replicas-values.yaml",
        "monitoring-values.yaml",
    }


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_helm_lint_strict_passes(values: tuple[Path, ...]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for path in values:
        args += ["--values", str(path)]
    result = helm(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("version", ["1.30.0", "1.34.0"])
@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_every_kubernetes_object_validates_strictly(values: tuple[Path, ...], version: str) -> None:
    custom = {*CRD_SCHEMAS, STORE}
    objects = [o for o in render(values) if (o["apiVersion"], o["kind"]) not in custom]
    assert len(objects) > 20
    for o in objects:
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            name = f"{o['kind']}/{o['metadata']['name']}"
            pytest.fail(f"{name} against {version}: {exc.message} at {list(exc.path)}")


def _crd_validator(kind: tuple[str, str]) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[kind]).read_text())
    validator: Any = jsonschema.Draft7Validator(schema)
    return validator  # type: ignore[no-any-return]


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_prometheus_operator_objects_validate_against_their_crds(values: tuple[Path, ...]) -> None:
    for o in render(values):
        kind = (o["apiVersion"], o["kind"])
        if kind in CRD_SCHEMAS:
            errors = [e.message for e in _crd_validator(kind).iter_errors(o)]
            assert errors == [], f"{o['kind']}/{o['metadata']['name']}: {errors}"


@cache
def _store_validator() -> jsonschema.protocols.Validator:
    """The Store CRD's openAPIV3Schema (chart/crds) as JSON schema: its keywords mean the same there, and
    the x-kubernetes ones (CEL) are ignored (test_operator holds the Stores to StoreSpec too)."""
    crd = yaml.safe_load((CHART / "crds" / "stores.storesim.io.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    assert f"{crd['spec']['group']}/{version['name']}" == STORE[0]
    validator: Any = jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])
    return validator  # type: ignore[no-any-return]


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_the_stores_validate_against_the_crd(values: tuple[Path, ...]) -> None:
    for store in render(values):
        if (store["apiVersion"], store["kind"]) == STORE:
            errors = [e.message for e in _store_validator().iter_errors(store)]
            assert errors == [], f"Store/{store['metadata']['name']}: {errors}"


def test_the_crd_schema_rejects_a_broken_store() -> None:
    store = copy.deepcopy(next(o for o in render() if (o["apiVersion"], o["kind"]) == STORE))
    store["spec"]["registers"] = 0
    assert list(_store_validator().iter_errors(store))


def test_the_monitoring_values_render_both_operator_objects() -> None:
    objects = render((CHART / "ci" / "monitoring-values.yaml",))
    assert len(of_kind(objects, "ServiceMonitor")) == 1
    assert len(of_kind(objects, "PrometheusRule")) == 1
    operator_objects = [o for o in objects if (o["apiVersion"], o["kind"]) in CRD_SCHEMAS]
    assert {o["metadata"]["labels"]["release"] for o in operator_objects} == {"kps"}


def test_the_crd_schema_rejects_a_broken_service_monitor() -> None:
    """The schemas do reject something: an endpoint with an unknown scheme."""
    objects = render((CHART / "ci" / "monitoring-values.yaml",))
    monitor = of_kind(objects, "ServiceMonitor")[0]
    monitor["spec"]["endpoints"][0]["scheme"] = "gopher"
    assert list(_crd_validator(("monitoring.coreos.com/v1", "ServiceMonitor")).iter_errors(monitor))


def test_without_the_operator_api_no_operator_object_is_rendered() -> None:
    objects = render((CHART / "ci" / "monitoring-values.yaml",), monitoring=False)
    assert not [o for o in objects if o["apiVersion"].startswith("monitoring.coreos.com/")]


def test_kubernetes_validate_rejects_an_unknown_field() -> None:
    """Strict validation does reject what the API server would."""
    deployment = of_kind(render(), "Deployment")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.34.0", strict=True)
