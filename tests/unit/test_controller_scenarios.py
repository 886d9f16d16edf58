"""Scenario resources into the scenarios file and their status (storesim.operator._scenarios): valid ones
in name order, refused ones with the model's message, and the phase against each store's simulated time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from storesim.operator._scenarios import ScenarioObject, plan_scenarios, scenario_phase, scenario_status
from storesim.world import ScenarioSpec, StoreSpec, parse_scenarios_file

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OUTAGE = {"stores": ["STORE-003"], "window": {"start": "2025-03-28T10:00", "end": "2025-03-28T11:30"}}
STORES = [StoreSpec(storeId=f"STORE-00{n}", timezone="UTC").store() for n in (3, 5)]
OSLO = StoreSpec(storeId="STORE-007", timezone="Europe/Oslo").store()


def scenario(name: str, spec: dict[str, Any], generation: int = 1) -> ScenarioObject:
    return ScenarioObject(name=name, generation=generation, spec=spec)


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def spec_of(spec: dict[str, Any]) -> ScenarioSpec:
    return ScenarioSpec.model_validate({"name": "s", **spec})


def test_the_file_holds_the_valid_scenarios_in_name_order() -> None:
    plan = plan_scenarios(
        [
            scenario(
                "zeta", {"daily": {"from": "10:00", "to": "11:00"}, "effects": {"traffic": {"closed": True}}}
            ),
            scenario("alpha", {**OUTAGE, "effects": {"uplinkOutage": {}}}),
            scenario(
                "bad", {"window": {"start": "2025-03-28T11:00", "end": "2025-03-28T10:00"}, "effects": {}}
            ),
        ]
    )
    assert [s.name for s in parse_scenarios_file(plan.text, "x")] == ["alpha", "zeta"]
    assert plan.names == ["alpha", "zeta"]
    assert plan.refused == {"bad": "window: window.end must be after window.start"}


def test_a_name_the_model_refuses_is_refused() -> None:
    plan = plan_scenarios([scenario("a.b", {**OUTAGE, "effects": {"uplinkOutage": {}}})])
    assert plan.specs == {}
    assert "name" in plan.refused["a.b"]


def test_the_phase_follows_each_stores_simulated_time() -> None:
    spec = spec_of({**OUTAGE, "effects": {"uplinkOutage": {}}})
    assert scenario_phase(spec, STORES, {}) == ("Scheduled", [])  # no simulated time yet
    assert scenario_phase(spec, STORES, {"STORE-003": epoch("2025-03-28T09:59:59")}) == ("Scheduled", [])
    assert scenario_phase(spec, STORES, {"STORE-003": epoch("2025-03-28T10:00")}) == ("Active", ["STORE-003"])
    assert scenario_phase(spec, STORES, {"STORE-003": epoch("2025-03-28T11:29:59")})[0] == "Active"
    assert scenario_phase(spec, STORES, {"STORE-003": epoch("2025-03-28T11:30")}) == ("Finished", [])
    # Another store's time says nothing about a scenario of STORE-003.
    assert scenario_phase(spec, STORES, {"STORE-005": epoch("2025-03-28T10:30")}) == ("Scheduled", [])


def test_a_scenario_of_every_store_is_finished_when_all_are_past_it() -> None:
    spec = spec_of({"window": OUTAGE["window"], "effects": {"duplicates": {"probability": 0.1}}})
    times = {"STORE-003": epoch("2025-03-28T12:00"), "STORE-005": epoch("2025-03-28T10:15")}
    assert scenario_phase(spec, STORES, times) == ("Active", ["STORE-005"])
    times["STORE-005"] = epoch("2025-03-28T11:30")
    assert scenario_phase(spec, STORES, times) == ("Finished", [])


def test_a_daily_window_is_in_each_stores_local_time_and_never_finishes() -> None:
    spec = spec_of({"daily": {"from": "10:00", "to": "11:00"}, "effects": {"traffic": {"multiplier": 2}}})
    # 09:30 UTC is 10:30 in Oslo (winter time): active there, not in a UTC store.
    times = {"STORE-003": epoch("2025-03-20T09:30"), "STORE-007": epoch("2025-03-20T09:30")}
    assert scenario_phase(spec, [*STORES, OSLO], times) == ("Active", ["STORE-007"])
    assert scenario_phase(spec, STORES, {"STORE-003": epoch("2025-03-20T23:00")}) == ("Scheduled", [])


def test_the_status_says_ready_or_why_not() -> None:
    good = scenario("outage", {**OUTAGE, "effects": {"uplinkOutage": {}}}, generation=4)
    bad = scenario("bad", {**OUTAGE, "effects": {}})
    plan = plan_scenarios([good, bad])
    status = scenario_status(good, plan, STORES, {"STORE-003": epoch("2025-03-28T10:05")}, "cm", NOW)
    assert status["phase"] == "Active"
    assert status["activeStores"] == ["STORE-003"]
    assert status["observedGeneration"] == 4
    (ready,) = status["conditions"]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "True", "Reconciled")
    assert "ConfigMap cm" in ready["message"]
    refused = scenario_status(bad, plan, STORES, {}, "cm", NOW)
    assert refused["phase"] == "Invalid"
    (ready,) = refused["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "at least one effect" in ready["message"]
