"""The Scenario CRD (chart/crds, generated from ScenarioSpec) in a real kube-apiserver: it accepts the
scenarios ScenarioSpec accepts and refuses, with the model's own message, the ones its validators refuse
(CEL in the CRD), and `kubectl get scenarios` shows the printer columns. One difference is by design and
asserted: an absolute window's order is the model's check alone (see storesim.operator._scenario_crd).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from pydantic import ValidationError

from storesim.operator import (
    GROUP,
    SCENARIO_PLURAL,
    SCENARIO_PRINTER_COLUMNS,
    VERSION,
)
from storesim.world import ScenarioSpec
from tests.integration.controller_helpers import (
    MERGE_PATCH,
    create_namespace,
    install_store_crd,
    scenario_resource,
)

pytestmark = pytest.mark.timeout(45 * 60)

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
DAILY = {"from": "10:00", "to": "11:30"}
WINDOW = {"start": "2025-03-28T10:00", "end": "2025-03-28T11:30"}

# Specs (a resource's spec: no name) the model and the server both accept.
GOOD: list[dict[str, Any]] = [
    {"stores": ["STORE-003"], "window": WINDOW, "effects": {"uplinkOutage": {}}},
    {"daily": DAILY, "effects": {"traffic": {"multiplier": 5}}},
    {"daily": {"from": "00:00", "to": "24:00"}, "effects": {"traffic": {"closed": True}}},
    {"daily": DAILY, "effects": {"traffic": {"multiplier": 0.5, "closed": False}}},
    {
        "stores": ["STORE-005"],
        "window": {"start": "2025-03-24", "end": "2025-03-31"},
        "effects": {"promotion": {"categories": ["Dairy & Eggs"], "discountPct": 30, "displayBoost": 1.5}},
    },
    {
        "window": {"start": "2025-03-28T10:00:00Z", "end": "2025-03-28T13:00:00+02:00"},
        "effects": {"duplicates": {"probability": 0.02, "stages": ["pos", "ledger"]}},
    },
    {"daily": DAILY, "effects": {"shrink": {"share": 0.01}, "sensorFaults": {"noiseGrams": 4}}},
    {"daily": DAILY, "effects": {"sensorFaults": {"missed": 0.1, "phantom": 0.05}}},
    {"window": WINDOW, "effects": {"registerOutage": {}}},
    {"stores": ["STORE-002"], "daily": DAILY, "effects": {"registerOutage": {"terminals": 2}}},
]

# (spec, a fragment of the model's message, which the server's must contain too; but for the instants' shape,
# which the model words itself and the server as the pattern it is).
BAD: list[tuple[dict[str, Any], str]] = [
    ({"effects": {"traffic": {"closed": True}}}, "either window or daily"),
    ({"daily": DAILY, "window": WINDOW, "effects": {"traffic": {"closed": True}}}, "either window or daily"),
    (
        {"daily": {"from": "11:00", "to": "10:00"}, "effects": {"traffic": {"closed": True}}},
        "after daily.from",
    ),
    (
        {"daily": {"from": "10:00", "to": "10:00"}, "effects": {"traffic": {"closed": True}}},
        "after daily.from",
    ),
    ({"daily": {"from": "25:00", "to": "26:00"}, "effects": {"traffic": {"closed": True}}}, "should match"),
    ({"daily": DAILY, "effects": {}}, "at least one effect"),
    (
        {"daily": DAILY, "effects": {"traffic": {"multiplier": 2, "closed": True}}},
        "either multiplier or closed",
    ),
    ({"daily": DAILY, "effects": {"traffic": {"closed": False}}}, "either multiplier or closed"),
    ({"daily": DAILY, "effects": {"traffic": {"multiplier": 101}}}, "100"),
    ({"daily": DAILY, "effects": {"promotion": {"discountPct": 30}}}, "items or categories"),
    ({"daily": DAILY, "effects": {"promotion": {"items": ["A01"], "discountPct": 95}}}, "90"),
    ({"daily": DAILY, "effects": {"promotion": {"items": [], "discountPct": 5}}}, "1"),
    ({"daily": DAILY, "effects": {"sensorFaults": {"noiseGrams": 0}}}, "above 0"),
    ({"daily": DAILY, "effects": {"duplicates": {"probability": 0}}}, "0"),
    ({"daily": DAILY, "effects": {"duplicates": {"probability": 0.1, "stages": ["till"]}}}, ""),
    ({"daily": DAILY, "effects": {"shrink": {"share": 1.5}}}, "1"),
    ({"daily": DAILY, "effects": {"registerOutage": {"terminals": 0}}}, "1"),
    ({"daily": DAILY, "effects": {"registerOutage": {"terminals": 100}}}, "99"),
    ({"stores": ["STORE-1"], "daily": DAILY, "effects": {"shrink": {"share": 0.1}}}, "should match"),
    ({"window": {"start": "2025-W13-5", "end": "2025-03-29"}, "effects": {"uplinkOutage": {}}}, "ISO 8601"),
]


@pytest.fixture(scope="module")
def namespace(admin: client.ApiClient) -> str:
    return create_namespace(admin, "test-scenarios")


@pytest.fixture(scope="module")
def scenarios(admin: client.ApiClient, namespace: str) -> client.CustomObjectsApi:
    return install_store_crd(admin, namespace)


def _create(custom: client.CustomObjectsApi, namespace: str, resource: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, SCENARIO_PLURAL, resource, field_validation="Strict"
    )
    return created


def _model_error(spec: dict[str, Any], name: str = "a") -> str | None:
    try:
        ScenarioSpec.model_validate({"name": name, **spec})
    except ValidationError as exc:
        return str(exc)
    return None


def _server_error(custom: client.CustomObjectsApi, namespace: str, resource: dict[str, Any]) -> str | None:
    try:
        _create(custom, namespace, resource)
    except ApiException as error:
        if error.status not in (400, 422):
            raise
        return str(json.loads(error.body)["message"])
    return None


@pytest.mark.parametrize("spec", GOOD, ids=[json.dumps(s["effects"])[:50] for s in GOOD])
def test_what_the_model_accepts_is_stored_as_it_is(
    scenarios: client.CustomObjectsApi, namespace: str, spec: dict[str, Any]
) -> None:
    assert _model_error(spec) is None
    created = _create(scenarios, namespace, scenario_resource(copy.deepcopy(spec)))
    assert created["spec"] == spec  # nothing pruned, nothing defaulted


@pytest.mark.parametrize(("spec", "fragment"), BAD, ids=[f"{i}-{f}" for i, (_, f) in enumerate(BAD)])
def test_what_the_model_refuses_the_server_refuses(
    scenarios: client.CustomObjectsApi, namespace: str, spec: dict[str, Any], fragment: str
) -> None:
    model = _model_error(spec)
    assert model is not None
    assert fragment in model
    server = _server_error(scenarios, namespace, scenario_resource(spec))
    assert server is not None, "the server stored a spec the model refuses"
    assert ("should match" if fragment == "ISO 8601" else fragment) in server


def test_an_unknown_field_is_refused(scenarios: client.CustomObjectsApi, namespace: str) -> None:
    spec = {"daily": DAILY, "effects": {"traffic": {"multiplier": 2, "ramp": 3}}}
    assert _model_error(spec) is not None
    assert "ramp" in (_server_error(scenarios, namespace, scenario_resource(spec)) or "")


@pytest.mark.parametrize("name", ["a.b", "x" * 64])
def test_the_name_is_a_dns_label(scenarios: client.CustomObjectsApi, namespace: str, name: str) -> None:
    spec = GOOD[1]
    assert _model_error(spec, name) is not None
    assert "DNS label" in (_server_error(scenarios, namespace, scenario_resource(spec, name)) or "")


def test_a_window_out_of_order_is_the_models_check_alone(
    scenarios: client.CustomObjectsApi, namespace: str
) -> None:
    """ISO 8601 as the file form takes it is not CEL's timestamp: the server stores it, the model (and so
    whoever reads the resource into a scenario) refuses it."""
    spec = {
        "window": {"start": "2025-03-28T11:00", "end": "2025-03-28T10:00"},
        "effects": {"uplinkOutage": {}},
    }
    assert "window.end must be after window.start" in (_model_error(spec) or "")
    assert _server_error(scenarios, namespace, scenario_resource(spec)) is None


def test_the_table_has_the_printer_columns(scenarios: client.CustomObjectsApi, namespace: str) -> None:
    name = _create(scenarios, namespace, scenario_resource(GOOD[0]))["metadata"]["name"]
    status = {"phase": "Active", "activeStores": ["STORE-003"], "observedGeneration": 1}
    scenarios.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, SCENARIO_PLURAL, name, {"status": status}, _content_type=MERGE_PATCH
    )
    response = scenarios.get_namespaced_custom_object(
        GROUP, VERSION, namespace, SCENARIO_PLURAL, name, _headers={"Accept": TABLE}, _preload_content=False
    )
    table = json.loads(response.data)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        *(c["name"] for c in SCENARIO_PRINTER_COLUMNS),
    ]
    (row,) = table["rows"]
    assert (
        row["cells"][:8]
        == [name, "Active", '["STORE-003"]', WINDOW["start"], WINDOW["end"], None, None, '["STORE-003"]'][:8]
    )
