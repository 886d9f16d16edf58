"""The chart's scenarios (values `scenarios`): Scenario resources with the operator, the simulators'
SCENARIO_FILE in a ConfigMap of the release without it, rendered for exactly the components that read
scenarios, and refused by values.schema.json or the templates when they are not valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.k8s.chart import SIMULATORS, env_of, helm, of_kind, render, template_args, workload
from tests.k8s.test_settings_env import MODELS

from storesim.settings import ScenarioRules
from storesim.world import ScenarioSpec, parse_scenarios_file

SCENARIOS = [
    {
        "name": "uplink-3",
        "stores": ["STORE-003"],
        "window": {"start": "2025-03-28T10:00", "end": "2025-03-28T11:30"},
        "effects": {"uplinkOutage": {}},
    },
    {
        "name": "dairy-week",
        "stores": ["STORE-002"],
        "daily": {"from": "08:00", "to": "20:00"},
        "effects": {"promotion": {"categories": ["Dairy & Eggs"], "discountPct": 30}},
    },
]
# The components whose settings take SCENARIO_FILE.
TAKING = [c for c in SIMULATORS if issubclass(MODELS[c], ScenarioRules)]


def values_file(directory: Path, scenarios: list[dict[str, Any]]) -> Path:
    path = directory / "scenarios-values.json"  # JSON is YAML
    path.write_text(json.dumps({"scenarios": scenarios}))
    return path


def with_scenarios(directory: Path, *sets: str, scenarios: list[dict[str, Any]] = SCENARIOS) -> list[Any]:
    return render(values=(values_file(directory, scenarios),), sets=sets)


def pod(objects: list[Any], component: str) -> Any:
    return workload(objects, component)["spec"]["template"]["spec"]


def test_the_components_that_take_scenarios() -> None:
    assert TAKING == ["foot-traffic", "shelf", "pos", "register", "ledger", "truth"]


def test_with_the_operator_each_scenario_is_a_scenario_resource(tmp_path: Path) -> None:
    objects = with_scenarios(tmp_path)
    resources = of_kind(objects, "Scenario")
    assert [r["metadata"]["name"] for r in resources] == ["uplink-3", "dairy-week"]
    for resource, scenario in zip(resources, SCENARIOS, strict=True):
        assert resource["apiVersion"] == "storesim.io/v1alpha1"
        assert resource["spec"] == {k: v for k, v in scenario.items() if k != "name"}
        ScenarioSpec.model_validate({**resource["spec"], "name": resource["metadata"]["name"]})
    assert not [c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"].endswith("-scenarios")]


@pytest.mark.parametrize("scenarios", [SCENARIOS, []], ids=["some", "none"])
def test_with_the_operator_the_scenario_file_is_beside_the_stores_file(
    scenarios: list[Any], tmp_path: Path
) -> None:
    """Always: the controller writes scenarios.json (empty too), and a simulator waits for it."""
    objects = with_scenarios(tmp_path, scenarios=scenarios)
    for component in SIMULATORS:
        env = env_of(pod(objects, component)["containers"][0])
        if component in TAKING:
            assert env["SCENARIO_FILE"] == env["STORES_FILE"].replace("stores.json", "scenarios.json")
        else:
            assert "SCENARIO_FILE" not in env


def test_without_the_operator_the_release_holds_the_file(tmp_path: Path) -> None:
    objects = with_scenarios(tmp_path, "operator.enabled=false")
    assert of_kind(objects, "Scenario") == []
    (configmap,) = [c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"].endswith("-scenarios")]
    specs = parse_scenarios_file(configmap["data"]["scenarios.json"], "rendered")
    assert [s.model_dump(by_alias=True, exclude_none=True) for s in specs] == [
        ScenarioSpec.model_validate(s).model_dump(by_alias=True, exclude_none=True) for s in SCENARIOS
    ]
    for component in SIMULATORS:
        spec = pod(objects, component)
        env = env_of(spec["containers"][0])
        mounts = {m["name"]: m for m in spec["containers"][0].get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        if component not in TAKING:
            assert "SCENARIO_FILE" not in env
            assert "scenarios" not in mounts
            continue
        assert Path(env["SCENARIO_FILE"]) == Path(mounts["scenarios"]["mountPath"]) / "scenarios.json"
        assert mounts["scenarios"]["readOnly"] is True
        assert "subPath" not in mounts["scenarios"]  # a directory: the kubelet swaps in a new version
        assert volumes["scenarios"]["configMap"]["name"] == configmap["metadata"]["name"]


def test_without_the_operator_and_scenarios_there_is_no_file() -> None:
    objects = render(sets=("operator.enabled=false",))
    for component in TAKING:
        assert "SCENARIO_FILE" not in env_of(pod(objects, component)["containers"][0])


@pytest.mark.parametrize(
    ("scenarios", "message"),
    [
        ([SCENARIOS[0], SCENARIOS[0]], "scenarios[1]: name uplink-3 is declared twice"),
        ([{**SCENARIOS[0], "effects": {"blackout": {}}}], "blackout"),
        ([{**SCENARIOS[0], "name": "Not A Label"}], "name"),
        ([{k: v for k, v in SCENARIOS[0].items() if k != "effects"}], "effects"),
    ],
    ids=["twice", "unknown-effect", "bad-name", "no-effects"],
)
def test_a_bad_scenario_fails_the_install(scenarios: list[Any], message: str, tmp_path: Path) -> None:
    result = helm(*template_args((values_file(tmp_path, scenarios),)))
    assert result.returncode != 0
    assert message in result.stderr
