"""The CustomResourceDefinition of Scenario (scenarios.storesim.io/v1alpha1), built from ScenarioSpec.

A Scenario resource is one scenario of the file form (world/_scenarios.py) with its name taken from
metadata.name: the spec is ScenarioSpec's structural schema without `name`. What ScenarioSpec's model
validators check is added as CEL, one rule beside each: window or daily, daily's from before its to, at
least one effect, traffic's multiplier or closed, promotion's items or categories, a sensor fault above 0.
The name's own rule (a DNS label: the answer key lists it) sits on the whole object, the only place CEL
may read metadata.name.

One check stays with the model: an absolute window's end after its start. The instants are ISO 8601 as the
file form takes them (a date, a naive time meaning UTC), which CEL's timestamp() cannot parse; whoever
turns a resource into a scenario validates it with ScenarioSpec and says so in its status.
"""

from __future__ import annotations

from typing import Any

from storesim.operator._crd import condition_schema, custom_resource_definition
from storesim.operator._structural import structural
from storesim.world import Effects, ScenarioSpec

__all__ = [
    "SCENARIO_KIND",
    "SCENARIO_PHASES",
    "SCENARIO_PLURAL",
    "SCENARIO_PRINTER_COLUMNS",
    "scenario_crd",
    "scenario_spec_schema",
]

SCENARIO_KIND = "Scenario"
SCENARIO_PLURAL = "scenarios"
# Scheduled: its window is ahead of its stores' simulated time; Active: it acts on one of them now;
# Finished: its absolute window is behind all of them; Invalid: the spec is refused.
SCENARIO_PHASES = ("Scheduled", "Active", "Finished", "Invalid")

SCENARIO_PRINTER_COLUMNS: tuple[dict[str, Any], ...] = (
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Stores", "type": "string", "jsonPath": ".spec.stores"},
    {"name": "Start", "type": "string", "jsonPath": ".spec.window.start"},
    {"name": "End", "type": "string", "jsonPath": ".spec.window.end"},
    {"name": "From", "type": "string", "jsonPath": ".spec.daily.from"},
    {"name": "To", "type": "string", "jsonPath": ".spec.daily.to"},
    {"name": "Active in", "type": "string", "jsonPath": ".status.activeStores", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)


def _rule(rule: str, message: str) -> list[dict[str, str]]:
    return [{"rule": rule, "message": message}]


def scenario_spec_schema() -> dict[str, Any]:
    """ScenarioSpec's structural schema without `name`, with its model validators written as CEL."""
    schema = structural(ScenarioSpec)
    del schema["properties"]["name"]
    schema["required"] = [field for field in schema["required"] if field != "name"]
    fields = schema["properties"]
    schema["x-kubernetes-validations"] = _rule(
        "has(self.window) != has(self.daily)", "a scenario takes either window or daily"
    )
    # Zero-padded HH:MM (24:00 at most) compares as text in time order, as DailyWindow's validator does.
    fields["daily"]["x-kubernetes-validations"] = _rule(
        "self.from < self.to", "daily.to must be after daily.from"
    )
    effects = fields["effects"]
    names = [field.alias or name for name, field in Effects.model_fields.items()]
    assert set(effects["properties"]) == set(names)
    effects["x-kubernetes-validations"] = _rule(
        " || ".join(f"has(self.{name})" for name in names), "a scenario needs at least one effect"
    )
    kinds = effects["properties"]
    kinds["traffic"]["x-kubernetes-validations"] = _rule(
        "has(self.multiplier) != (has(self.closed) && self.closed)",
        "traffic takes either multiplier or closed: true",
    )
    kinds["promotion"]["x-kubernetes-validations"] = _rule(
        "has(self.items) || has(self.categories)", "promotion needs items or categories"
    )
    faults = kinds["sensorFaults"]
    kinds["sensorFaults"]["x-kubernetes-validations"] = _rule(
        " || ".join(f"(has(self.{name}) && self.{name} > 0.0)" for name in faults["properties"]),
        "sensorFaults needs noiseGrams, missed or phantom above 0",
    )
    return schema


def _status_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "What the controller last observed of the Scenario.",
        "properties": {
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "description": "The .metadata.generation the controller last acted on.",
            },
            "phase": {
                "type": "string",
                "enum": list(SCENARIO_PHASES),
                "description": "Where its window stands against its stores' simulated time.",
            },
            "activeStores": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The stores it acts on at their current simulated time.",
            },
            "conditions": {
                "type": "array",
                "description": "Standard conditions (Ready: the scenario is in the scenarios file).",
                "items": condition_schema(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        },
    }


def scenario_crd() -> dict[str, Any]:
    """The CustomResourceDefinition of Scenario, as the API server takes it."""
    names = {
        "plural": SCENARIO_PLURAL,
        "singular": "scenario",
        "kind": SCENARIO_KIND,
        "listKind": f"{SCENARIO_KIND}List",
        "shortNames": ["ssc"],
        "categories": ["storesim"],
    }
    name_rule = _rule(
        "size(self.metadata.name) <= 63 && !self.metadata.name.contains('.')",
        "a Scenario's name is a DNS label (at most 63 characters, no dots): the answer key lists it",
    )
    return custom_resource_definition(
        names,
        SCENARIO_PRINTER_COLUMNS,
        "A scenario of the simulation: faults and business events on some stores in a window of "
        "simulated time.",
        scenario_spec_schema(),
        _status_schema(),
        name_rule,
    )
