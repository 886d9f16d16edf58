"""From the Scenario resources of a namespace to the scenarios file the simulators run, and each
Scenario's status: its phase against its stores' simulated time.

Pure, as _reconcile is for Stores. Every spec is validated with ScenarioSpec, its name taken from
metadata.name, so that what the CRD cannot check (an absolute window's order) or a resource stored under an
older CRD never reaches the file. The file lists the valid scenarios in name order: the order in which a
store-day's traffic effects apply is the file's, so it must not follow the API server's list order.

The phase needs a store's simulated time, which the controller reads from Prometheus (the time of the
store's last event, as the Stores' status shows it): Active while the scenario acts on one of its stores
at that store's time, Finished once an absolute window is behind every one of them, Scheduled before (and
between the days of a daily window). Without figures, a valid Scenario is Scheduled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from storesim._time import epoch_day_at, local_day
from storesim.operator._status import Condition, with_times
from storesim.world import ScenarioSpec, Store, write_scenarios_file

__all__ = [
    "ScenarioObject",
    "ScenarioPlan",
    "plan_scenarios",
    "scenario_phase",
    "scenario_status",
]

INVALID = "InvalidSpec"


@dataclass(frozen=True, slots=True)
class ScenarioObject:
    """What the controller reads of one Scenario resource."""

    name: str
    generation: int
    spec: Any
    status: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> ScenarioObject:
        metadata = resource.get("metadata") or {}
        return cls(
            name=str(metadata["name"]),
            generation=int(metadata.get("generation") or 0),
            spec=resource.get("spec"),
            status=resource.get("status") or {},
        )


@dataclass(frozen=True, slots=True)
class ScenarioPlan:
    """The scenarios file's text, and each Scenario's validated spec (or why it has none) by name."""

    text: str
    specs: dict[str, ScenarioSpec]
    refused: dict[str, str]

    @property
    def names(self) -> list[str]:
        return sorted(self.specs)


def plan_scenarios(scenarios: Iterable[ScenarioObject]) -> ScenarioPlan:
    specs: dict[str, ScenarioSpec] = {}
    refused: dict[str, str] = {}
    for scenario in sorted(scenarios, key=lambda s: s.name):
        spec = scenario.spec if isinstance(scenario.spec, Mapping) else {}
        try:
            specs[scenario.name] = ScenarioSpec.model_validate({**spec, "name": scenario.name})
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            refused[scenario.name] = f"{where}: {message}" if where else message
    return ScenarioPlan(write_scenarios_file(specs.values()), specs, refused)


def _acts_at(spec: ScenarioSpec, store: Store, instant: int) -> bool:
    interval = spec.interval(local_day(epoch_day_at(instant, store.timezone), store.timezone))
    return interval is not None and interval[0] <= instant < interval[1]


def scenario_phase(
    spec: ScenarioSpec, stores: Iterable[Store], simulated: Mapping[str, int]
) -> tuple[str, list[str]]:
    """(phase, the store ids it acts on now) from each store's simulated time (``simulated``, epoch
    seconds by store id; a store without one is not simulating yet)."""
    times = {
        s.store_id: (s, simulated[s.store_id])
        for s in stores
        if spec.applies_to(s.number) and s.store_id in simulated
    }
    active = sorted(store_id for store_id, (store, t) in times.items() if _acts_at(spec, store, t))
    if active:
        return "Active", active
    if spec.window is not None and times:
        _, end = spec.window.seconds
        if all(t >= end for _, t in times.values()):
            return "Finished", []
    return "Scheduled", []


def scenario_status(
    scenario: ScenarioObject,
    plan: ScenarioPlan,
    stores: Iterable[Store],
    simulated: Mapping[str, int],
    configmap: str,
    now: datetime,
) -> dict[str, Any]:
    """Every status field the controller owns."""
    spec = plan.specs.get(scenario.name)
    active: list[str] = []
    if spec is None:
        ready = Condition("Ready", "False", INVALID, plan.refused[scenario.name])
        phase = "Invalid"
    else:
        ready = Condition(
            "Ready", "True", "Reconciled", f"Generation {scenario.generation} is in ConfigMap {configmap}."
        )
        phase, active = scenario_phase(spec, stores, simulated)
    existing = scenario.status.get("conditions") or []
    return {
        "observedGeneration": scenario.generation,
        "phase": phase,
        "activeStores": active,
        "conditions": with_times([ready], existing, scenario.generation, now),
    }
