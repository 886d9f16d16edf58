"""The Scenario CRD: the checked-in chart/crds file is what chart/crds/generate.py writes, its spec is
ScenarioSpec's fields but the name (metadata.name), every model validator has its CEL rule, Kubernetes'
schemas (1.30, 1.34) and helm take it, and values.schema.json's scenario is the file form's.
tests/integration/test_scenario_crd.py holds a real API server to the same rules as ScenarioSpec."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
import yaml
from tests.k8s.chart import CHART, helm
from tests.k8s.test_crd import _generator

from storesim.operator import scenario_crd
from storesim.world import Effects, ScenarioSpec

CRD_FILE = CHART / "crds" / "scenarios.storesim.io.yaml"


def _version() -> Any:
    (version,) = scenario_crd()["spec"]["versions"]
    return version


def _spec() -> Any:
    return _version()["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _aliases(model: Any) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _rules(node: Any) -> list[str]:
    return [rule["rule"] for rule in node.get("x-kubernetes-validations", [])]


def test_the_checked_in_crd_is_the_generated_one() -> None:
    assert CRD_FILE.read_text() == _generator().render_scenario(), (
        "run .venv/bin/python chart/crds/generate.py"
    )
    assert yaml.safe_load(CRD_FILE.read_text()) == scenario_crd()


def test_names_and_scope() -> None:
    crd = scenario_crd()
    assert crd["metadata"]["name"] == "scenarios.storesim.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["kind"] == "Scenario"
    assert crd["spec"]["names"]["shortNames"] == ["ssc"]
    assert _version()["subresources"] == {"status": {}}


def test_the_spec_is_the_models_but_the_name() -> None:
    spec = _spec()
    assert list(spec["properties"]) == [name for name in _aliases(ScenarioSpec) if name != "name"]
    assert spec["required"] == ["effects"]
    assert list(spec["properties"]["effects"]["properties"]) == _aliases(Effects)
    root = _version()["schema"]["openAPIV3Schema"]
    assert _rules(root) == ["size(self.metadata.name) <= 63 && !self.metadata.name.contains('.')"]


def test_every_model_validator_has_its_rule() -> None:
    spec = _spec()
    effects = spec["properties"]["effects"]
    kinds = effects["properties"]
    assert _rules(spec) == ["has(self.window) != has(self.daily)"]
    assert _rules(spec["properties"]["daily"]) == ["self.from < self.to"]
    assert _rules(effects) == [
        " || ".join(f"has(self.{name})" for name in _aliases(Effects) if name in kinds)
    ]
    assert _rules(kinds["traffic"]) == ["has(self.multiplier) != (has(self.closed) && self.closed)"]
    assert _rules(kinds["promotion"]) == ["has(self.items) || has(self.categories)"]
    assert "self.noiseGrams > 0.0" in _rules(kinds["sensorFaults"])[0]
    for name in ("duplicates", "shrink", "uplinkOutage", "registerOutage"):
        assert _rules(kinds[name]) == [], name  # their constraints are bounds, which the schema has


def test_every_field_has_a_type_and_a_description() -> None:
    def walk(node: Any, where: str) -> None:
        assert "type" in node, where
        if node["type"] == "object":
            assert node.get("description"), where
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{where}.{name}")
        if "items" in node:
            walk(node["items"], f"{where}[]")

    walk(_spec(), "spec")


@pytest.mark.parametrize("version", ["1.30.0", "1.34.0"])
def test_the_crd_validates_strictly(version: str) -> None:
    kubernetes_validate.validate(yaml.safe_load(CRD_FILE.read_text()), version, strict=True)


def test_helm_installs_it_with_the_crds() -> None:
    rendered = helm("template", "demo", str(CHART), "--include-crds")
    assert rendered.returncode == 0, rendered.stderr
    kinds = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(rendered.stdout) if d]
    assert ("CustomResourceDefinition", "scenarios.storesim.io") in kinds


def test_the_values_scenario_is_the_file_form() -> None:
    scenario = json.loads((CHART / "values.schema.json").read_text())["$defs"]["scenario"]
    assert list(scenario["properties"]) == _aliases(ScenarioSpec)
    assert scenario["required"] == ["name", "effects"]
    assert scenario["additionalProperties"] is False
    assert "x-kubernetes-validations" not in json.dumps(scenario)
