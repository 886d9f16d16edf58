"""The Store CRD (chart/crds, generated from StoreSpec) in a real kube-apiserver: it accepts exactly the
specs that StoreSpec accepts, its status subresource leaves the generation alone, a storeId cannot change,
and `kubectl get stores` shows the printer columns.

The CRD is applied idempotently (created, or replaced with the generated one) and left in place: the control
plane outlives test runs, and other tests may use it. Stores live in a namespace of this module's own.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from pydantic import ValidationError

from storesim.operator import GROUP, PLURAL, PRINTER_COLUMNS, VERSION
from storesim.world import StoreSpec
from tests.integration.controller_helpers import create_namespace, install_store_crd, store_resource
from tests.store_spec_cases import BAD_VALUES, EDGE_ACCEPTED, EDGE_REJECTED, GOOD_SPECS, random_spec

# The first `scripts/kube up` of a machine builds kube-apiserver inside the `kube` fixture.
pytestmark = pytest.mark.timeout(45 * 60)

CRD_NAME = f"{PLURAL}.{GROUP}"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
MERGE_PATCH = "application/merge-patch+json"
# (field, value) beside storeId STORE-001: every row of the model's tables, whichever way it goes.
CASES = [*BAD_VALUES, *EDGE_REJECTED, *EDGE_ACCEPTED]


@pytest.fixture(scope="module")
def namespace(admin: client.ApiClient) -> str:
    return create_namespace(admin, "test-stores")


@pytest.fixture(scope="module")
def stores(admin: client.ApiClient, namespace: str) -> client.CustomObjectsApi:
    """The Store CRD applied, Established and serving the generated schema; the API for Store objects."""
    return install_store_crd(admin, namespace)


def _create(
    custom: client.CustomObjectsApi, namespace: str, spec: dict[str, Any], dry_run: bool = False
) -> dict[str, Any]:
    created: dict[str, Any] = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        store_resource(spec),
        field_validation="Strict",
        dry_run="All" if dry_run else None,
    )
    return created


def server_accepts(custom: client.CustomObjectsApi, namespace: str, spec: dict[str, Any]) -> bool:
    """Whether the API server stores `spec` with Strict field validation (unknown fields are errors)."""
    try:
        _create(custom, namespace, spec)
    except ApiException as error:
        if error.status in (400, 422):  # 400: strict decoding (unknown field); 422: the schema or CEL
            return False
        raise
    return True


def model_accepts(spec: dict[str, Any]) -> bool:
    try:
        StoreSpec.model_validate(spec)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("field", "value"), CASES, ids=[f"{f}={v!r}"[:60] for f, v in CASES])
def test_the_server_accepts_what_the_model_accepts(
    stores: client.CustomObjectsApi, namespace: str, field: str, value: Any
) -> None:
    spec = {"storeId": "STORE-001", field: value}
    assert server_accepts(stores, namespace, spec) == model_accepts(spec), spec


@pytest.mark.parametrize("spec", GOOD_SPECS, ids=[s["storeId"] for s in GOOD_SPECS])
def test_the_examples_are_accepted(
    stores: client.CustomObjectsApi, namespace: str, spec: dict[str, Any]
) -> None:
    assert model_accepts(spec)
    assert server_accepts(stores, namespace, spec)


def test_random_valid_specs_are_accepted_as_they_are(stores: client.CustomObjectsApi, namespace: str) -> None:
    rng = random.Random(20261122)
    for _ in range(30):
        spec = random_spec(rng)
        assert model_accepts(spec), spec
        stored = _create(stores, namespace, spec)
        assert stored["spec"] == spec  # nothing pruned, nothing defaulted
        assert StoreSpec.model_validate(stored["spec"]) == StoreSpec.model_validate(spec)


def test_null_is_not_set(stores: client.CustomObjectsApi, namespace: str) -> None:
    """A null field is pruned by the server and None (the default) to the model: the same spec."""
    stored = _create(stores, namespace, {"storeId": "STORE-002", "city": None})
    assert stored["spec"] == {"storeId": "STORE-002"}


def test_an_unknown_field_is_rejected_under_strict_and_dropped_otherwise(
    stores: client.CustomObjectsApi, namespace: str
) -> None:
    """The documented behaviour of a structural schema: Strict rejects, Ignore prunes; either way the stored
    spec is one the model accepts."""
    spec = {"storeId": "STORE-003", "colour": "red"}
    assert not server_accepts(stores, namespace, spec)
    stored = stores.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, store_resource(spec), field_validation="Ignore"
    )
    assert stored["spec"] == {"storeId": "STORE-003"}


def _ready(generation: int) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "StoresFileWritten",
                "message": "The stores file holds this spec.",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": generation,
            }
        ],
        "sessionsToday": 17,
        "revenueToday": 123.45,
        "lastEventTime": "2026-01-01T12:00:00Z",
    }


def test_the_status_subresource_leaves_the_generation(
    stores: client.CustomObjectsApi, namespace: str
) -> None:
    created = _create(stores, namespace, {"storeId": "STORE-005"})
    name, generation = created["metadata"]["name"], created["metadata"]["generation"]
    patched = stores.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": _ready(generation)}, _content_type=MERGE_PATCH
    )
    assert patched["status"] == _ready(generation)
    assert patched["metadata"]["generation"] == generation

    # The main resource ignores status; a spec change moves the generation.
    changed = stores.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        {"spec": {"city": "Dammam"}, "status": {"sessionsToday": 0}},
        _content_type=MERGE_PATCH,
    )
    assert changed["metadata"]["generation"] == generation + 1
    assert changed["status"]["sessionsToday"] == 17


def test_a_store_id_cannot_change(stores: client.CustomObjectsApi, namespace: str) -> None:
    created = _create(stores, namespace, {"storeId": "STORE-006", "city": "Abha"})
    name = created["metadata"]["name"]
    with pytest.raises(ApiException) as rejected:
        stores.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"spec": {"storeId": "STORE-007"}},
            _content_type=MERGE_PATCH,
        )
    assert rejected.value.status == 422
    assert "storeId is immutable" in str(rejected.value.body)

    replaced = {**created, "spec": {**created["spec"], "storeId": "STORE-007"}}
    with pytest.raises(ApiException) as also:
        stores.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, replaced)
    assert also.value.status == 422
    # Other fields may change.
    stores.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, {"spec": {"city": "Tabuk"}}, _content_type=MERGE_PATCH
    )


def test_the_table_has_the_printer_columns(stores: client.CustomObjectsApi, namespace: str) -> None:
    spec = {"storeId": "STORE-008", "city": "Hail", "dailyCustomers": 40}
    name = _create(stores, namespace, spec)["metadata"]["name"]
    stores.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": _ready(1)}, _content_type=MERGE_PATCH
    )
    response = stores.get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, _headers={"Accept": TABLE}, _preload_content=False
    )
    table = json.loads(response.data)
    assert table["kind"] == "Table"
    names = [column["name"] for column in table["columnDefinitions"]]
    assert names == ["Name", *(column["name"] for column in PRINTER_COLUMNS)]
    (row,) = table["rows"]
    assert row["cells"][:7] == [name, "STORE-008", "Hail", 40, 17, 123.45, "True"]

    listed = stores.list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, _headers={"Accept": TABLE}, _preload_content=False
    )
    listing = json.loads(listed.data)
    assert [column["name"] for column in listing["columnDefinitions"]] == names
    assert len(listing["rows"]) >= 1
