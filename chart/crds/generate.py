"""Writes stores.storesim.io.yaml and scenarios.storesim.io.yaml, the CustomResourceDefinitions of Store and
Scenario, from storesim.operator.store_crd() and scenario_crd() (generated from the StoreSpec and
ScenarioSpec models), and the same schemas as `$defs/storeSpec` and `$defs/scenario` of
../values.schema.json (what each item of the values' `stores` and `scenarios` is; a scenario there has its
name, as in the file form). Checked in because Helm installs crds/
before the templates and validates values against values.schema.json; tests/k8s/test_crd.py checks that both
files are what this script writes:

    .venv/bin/python chart/crds/generate.py
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from storesim.operator import scenario_crd, scenario_spec_schema, spec_schema, store_crd
from storesim.world import ScenarioSpec

HERE = Path(__file__).resolve().parent
FILE = HERE / "stores.storesim.io.yaml"
SCENARIO_FILE = HERE / "scenarios.storesim.io.yaml"
VALUES_SCHEMA = HERE.parent / "values.schema.json"
HEADER = """\
# Generated from StoreSpec (src/storesim/world/_store_specs.py) by storesim.operator.store_crd(): do not edit.
# Regenerate with:  .venv/bin/python chart/crds/generate.py
"""
SCENARIO_HEADER = """\
# Generated from ScenarioSpec (src/storesim/world/_scenarios.py) by storesim.operator.scenario_crd(): do not
# edit. Regenerate with:  .venv/bin/python chart/crds/generate.py
"""
VALUES_DESCRIPTION = (
    "Generated from the Store CRD's spec schema by chart/crds/generate.py: do not edit. The CRD's CEL rules "
    "(opens before closes, storeId immutable) are not JSON schema; the templates check opens < closes."
)


def render() -> str:
    """The Store CRD file's text: the header, then the CRD as block YAML, stable byte for byte."""
    return HEADER + yaml.safe_dump(store_crd(), sort_keys=False, width=110, allow_unicode=True)


def render_scenario() -> str:
    """The Scenario CRD file's text, as render() writes the Store's."""
    return SCENARIO_HEADER + yaml.safe_dump(scenario_crd(), sort_keys=False, width=110, allow_unicode=True)


def _json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A node of the CRD's structural schema as draft 2020-12 JSON schema: objects forbid unknown keys (the
    API server rejects them under Strict field validation), OpenAPI 3.0's exclusive flags become bounds, and
    the x-kubernetes extensions (CEL) are left out."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {name: _json_schema(sub) for name, sub in value.items()}
            out["additionalProperties"] = False
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            if value:
                out[key] = node["minimum" if key == "exclusiveMinimum" else "maximum"]
        else:
            out[key] = copy.deepcopy(value)
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(flag):
            out.pop(bound, None)
    return out


def values_store_spec() -> dict[str, Any]:
    """`$defs/storeSpec` of values.schema.json: the CRD's spec schema as JSON schema."""
    schema = _json_schema(spec_schema())
    schema["$comment"] = VALUES_DESCRIPTION
    return schema


def values_scenario() -> dict[str, Any]:
    """`$defs/scenario` of values.schema.json: the Scenario CRD's spec schema as JSON schema, with the
    scenario's name (metadata.name of a resource) first, as the scenarios file has it."""
    schema = _json_schema(scenario_spec_schema())
    name = ScenarioSpec.model_json_schema(by_alias=True)["properties"]["name"]
    schema["properties"] = {"name": {k: v for k, v in name.items() if k != "title"}, **schema["properties"]}
    schema["required"] = ["name", *schema["required"]]
    schema["$comment"] = (
        "Generated from the Scenario CRD's spec schema by chart/crds/generate.py: do not edit. The CRD's CEL "
        "rules are not JSON schema: the simulators check them when they read the scenarios file."
    )
    return schema


def render_values_schema(current: str) -> str:
    """values.schema.json's text (`current`, hand-written but for `$defs/storeSpec` and `$defs/scenario`)
    with the generated ones, formatted as the file is (two-space JSON, key order kept)."""
    schema = json.loads(current)
    schema["$defs"]["storeSpec"] = values_store_spec()
    schema["$defs"]["scenario"] = values_scenario()
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    FILE.write_text(render(), encoding="utf-8")
    print(FILE, file=sys.stderr)
    SCENARIO_FILE.write_text(render_scenario(), encoding="utf-8")
    print(SCENARIO_FILE, file=sys.stderr)
    VALUES_SCHEMA.write_text(
        render_values_schema(VALUES_SCHEMA.read_text(encoding="utf-8")), encoding="utf-8"
    )
    print(VALUES_SCHEMA, file=sys.stderr)


if __name__ == "__main__":
    main()
