"""The Store CRD: the checked-in chart/crds file is what chart/crds/generate.py writes, its spec schema
has exactly StoreSpec's fields with their constraints, and Kubernetes' schemas (1.30, 1.34) and helm take
it; values.schema.json's storeSpec is the same schema, generated alongside.
tests/integration/test_store_crd.py holds a real API server to the same rules as StoreSpec."""

from __future__ import annotations

import importlib.util
import json
import re
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml
from tests.k8s.chart import CHART, helm

from storesim.operator import store_crd
from storesim.world import OpeningHours, StoreSpec, timezones

CRD_FILE = CHART / "crds" / "stores.storesim.io.yaml"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_crd", CHART / "crds" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _version() -> Any:
    (version,) = store_crd()["spec"]["versions"]
    return version


def _spec_schema() -> Any:
    return _version()["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _aliases(model: type[StoreSpec] | type[OpeningHours]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_the_checked_in_crd_is_the_generated_one() -> None:
    assert CRD_FILE.read_text() == _generator().render(), "run .venv/bin/python chart/crds/generate.py"
    assert CRD_FILE.read_text().startswith("# Generated")
    assert yaml.safe_load(CRD_FILE.read_text()) == store_crd()


def test_the_values_schemas_store_spec_is_the_generated_one() -> None:
    """values.schema.json's $defs/storeSpec (each item of the values' `stores`) is what generate.py writes
    from the CRD's spec: the whole file is, since it rewrites the file around it."""
    path = CHART / "values.schema.json"
    generator = _generator()
    assert path.read_text() == generator.render_values_schema(path.read_text()), (
        "run .venv/bin/python chart/crds/generate.py"
    )
    store_spec = json.loads(path.read_text())["$defs"]["storeSpec"]
    assert store_spec["additionalProperties"] is False
    assert store_spec["properties"]["openingHours"]["additionalProperties"] is False
    assert "x-kubernetes-validations" not in json.dumps(store_spec)
    assert set(store_spec["properties"]) == _aliases(StoreSpec)


def test_names_scope_and_version() -> None:
    crd = store_crd()
    assert crd["metadata"]["name"] == "stores.storesim.io"
    spec = crd["spec"]
    assert spec["group"] == "storesim.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "plural": "stores",
        "singular": "store",
        "kind": "Store",
        "listKind": "StoreList",
        "shortNames": ["sst"],
        "categories": ["storesim"],
    }
    version = _version()
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def test_the_spec_has_exactly_the_store_spec_fields() -> None:
    schema = _spec_schema()
    assert schema["type"] == "object"
    assert set(schema["properties"]) == _aliases(StoreSpec)
    assert schema["required"] == ["storeId"]
    hours = schema["properties"]["openingHours"]
    assert set(hours["properties"]) == _aliases(OpeningHours)
    assert hours["required"] == ["opens", "closes"]
    assert hours["x-kubernetes-validations"] == [
        {"rule": "self.opens < self.closes", "message": "opens must be before closes"}
    ]


def test_every_field_has_a_type_and_a_description() -> None:
    def walk(node: Any, where: str) -> None:
        assert "type" in node, where
        assert node.get("description"), where
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{where}.{name}")

    walk(_spec_schema(), "spec")


def test_the_constraints_are_the_models() -> None:
    fields = _spec_schema()["properties"]
    for name in ("putbackProb", "refundProbability", "taxRate"):
        assert (fields[name]["type"], fields[name]["minimum"], fields[name]["maximum"]) == ("number", 0, 1)
    assert fields["dailyCustomers"]["type"] == "integer"
    assert fields["dailyCustomers"]["minimum"] == 0
    assert (fields["registers"]["minimum"], fields["registers"]["maximum"]) == (1, 99)
    assert (fields["name"]["minLength"], fields["name"]["maxLength"]) == (1, 100)
    assert fields["storeId"]["pattern"] == StoreSpec.model_json_schema()["properties"]["storeId"]["pattern"]
    assert fields["storeId"]["x-kubernetes-validations"][0]["rule"] == "self == oldSelf"
    # A regular expression the API server (Go's RE2) reads as Python does: no look-around, no backrefs.
    hours = fields["openingHours"]["properties"].values()
    for pattern in (fields["storeId"]["pattern"], *(p["pattern"] for p in hours)):
        assert not re.search(r"\(\?[=!<]|\\[1-9]", pattern)


def test_the_timezone_enum_is_the_pinned_zones() -> None:
    assert _spec_schema()["properties"]["timezone"]["enum"] == list(timezones())


def test_the_status_schema() -> None:
    status = _version()["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["observedGeneration"] == {
        "type": "integer",
        "format": "int64",
        "description": status["observedGeneration"]["description"],
    }
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    condition = conditions["items"]["properties"]
    assert set(condition) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    assert condition["status"]["enum"] == ["True", "False", "Unknown"]
    assert condition["lastTransitionTime"]["format"] == "date-time"
    assert (status["sessionsToday"]["type"], status["revenueToday"]["type"]) == ("integer", "number")
    assert status["lastEventTime"]["format"] == "date-time"


def test_the_printer_columns() -> None:
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in _version()["additionalPrinterColumns"]]
    assert columns == [
        ("Store", "string", ".spec.storeId"),
        ("City", "string", ".spec.city"),
        ("Customers/day", "integer", ".spec.dailyCustomers"),
        ("Sessions today", "integer", ".status.sessionsToday"),
        ("Revenue today", "number", ".status.revenueToday"),
        ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]


@pytest.mark.parametrize("version", ["1.30.0", "1.34.0"])
def test_the_crd_validates_strictly(version: str) -> None:
    kubernetes_validate.validate(yaml.safe_load(CRD_FILE.read_text()), version, strict=True)


def test_helm_renders_the_crd_only_with_include_crds() -> None:
    with_crds = helm("template", "demo", str(CHART), "--include-crds")
    assert with_crds.returncode == 0, with_crds.stderr
    kinds = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(with_crds.stdout) if d]
    assert ("CustomResourceDefinition", "stores.storesim.io") in kinds
    plain = helm("template", "demo", str(CHART))
    assert "CustomResourceDefinition" not in plain.stdout
