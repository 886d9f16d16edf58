"""From Store resources to the stores file: every valid spec in, the oldest of a storeId wins, an invalid
spec is named and left out, and the file is exactly what the simulators read back."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storesim.operator._reconcile import DUPLICATE, INVALID, StoreObject, plan
from storesim.world import StoreSpec, read_stores_file, store_code, write_stores_file
from tests.store_spec_cases import BAD_VALUES, EDGE_REJECTED, GOOD_SPECS, random_spec

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def resource(name: str, spec: Any, created: datetime = T0, generation: int = 1) -> dict[str, Any]:
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"name": name, "generation": generation, "creationTimestamp": stamp},
        "spec": spec,
    }


def objects(*resources: dict[str, Any]) -> list[StoreObject]:
    return [StoreObject.from_resource(r) for r in resources]


def test_a_resource_is_read_as_the_api_server_sends_it() -> None:
    store = StoreObject.from_resource(
        {**resource("a", {"storeId": "STORE-001"}, generation=3), "status": {"observedGeneration": 2}}
    )
    assert (store.name, store.generation, store.created) == ("a", 3, T0)
    assert store.status == {"observedGeneration": 2}


def test_valid_specs_make_the_file_the_simulators_read(tmp_path: Path) -> None:
    rng = random.Random(7)
    specs = [*GOOD_SPECS[1:], *(dict(random_spec(rng), storeId=store_code(n)) for n in range(10, 30))]
    decided = plan(objects(*(resource(f"s{i}", spec) for i, spec in enumerate(specs))))
    expected = [StoreSpec.model_validate(spec) for spec in specs]
    assert decided.text == write_stores_file(expected)
    assert all(v.accepted for v in decided.verdicts.values())
    path = tmp_path / "stores.json"
    path.write_text(decided.text)
    assert set(read_stores_file(path)) == set(expected)
    assert decided.store_ids == sorted(spec.store_id for spec in expected)


def test_no_stores_is_a_file_of_no_stores(tmp_path: Path) -> None:
    decided = plan([])
    assert decided.text == write_stores_file([])
    path = tmp_path / "stores.json"
    path.write_text(decided.text)
    assert read_stores_file(path) == (), "the simulators accept an empty stores file"


def test_an_invalid_spec_is_named_and_left_out() -> None:
    """The CRD stops these; a resource stored under an older or looser CRD can still hold one."""
    for field, value in [*BAD_VALUES, *EDGE_REJECTED]:
        spec = {"storeId": "STORE-001", field: value} if field != "storeId" else {"storeId": value}
        decided = plan(objects(resource("bad", spec), resource("good", {"storeId": "STORE-002"})))
        verdict = decided.verdicts["bad"]
        assert not verdict.accepted
        assert verdict.reason == INVALID
        assert verdict.message.startswith(field), verdict.message  # pydantic's first error, located
        assert decided.text == write_stores_file([StoreSpec(store_id="STORE-002")])


def test_a_missing_spec_is_invalid() -> None:
    verdict = plan(objects(resource("empty", None))).verdicts["empty"]
    assert (verdict.reason, verdict.accepted) == (INVALID, False)
    assert verdict.message


def test_the_oldest_store_keeps_a_duplicate_store_id_whatever_the_list_order() -> None:
    rows = [
        resource("newest", {"storeId": "STORE-007", "city": "C"}, T0 + timedelta(seconds=2)),
        resource("b-same-second", {"storeId": "STORE-007", "city": "B"}, T0),
        resource("a-same-second", {"storeId": "STORE-007", "city": "A"}, T0),
        resource("other", {"storeId": "STORE-008"}, T0 + timedelta(seconds=5)),
    ]
    for order in itertools.permutations(rows):
        decided = plan(objects(*order))
        assert decided.verdicts["a-same-second"].accepted, "oldest, then the first name"
        assert decided.verdicts["other"].accepted
        for loser in ("b-same-second", "newest"):
            verdict = decided.verdicts[loser]
            assert verdict.reason == DUPLICATE
            assert "a-same-second" in verdict.message
        assert decided.text == write_stores_file(
            [StoreSpec(store_id="STORE-007", city="A"), StoreSpec(store_id="STORE-008")]
        )


def held(row: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    """The row as the controller leaves it once its spec is in the file."""
    ready = {"type": "Ready", "status": "True", "reason": "Reconciled", "observedGeneration": generation}
    return {**row, "status": {"observedGeneration": generation, "conditions": [ready]}}


def test_the_store_in_the_file_keeps_its_store_id_against_one_made_in_the_same_second() -> None:
    """creationTimestamp has whole seconds: a newer Store named 'a' must not take the id from 'b'."""
    holder = held(resource("b-holder", {"storeId": "STORE-007", "city": "B"}, T0))
    newcomer = resource("a-newcomer", {"storeId": "STORE-007", "city": "A"}, T0)
    for order in itertools.permutations([holder, newcomer]):
        decided = plan(objects(*order))
        assert decided.verdicts["b-holder"].accepted
        assert decided.verdicts["a-newcomer"].reason == DUPLICATE
        assert "b-holder" in decided.verdicts["a-newcomer"].message


def test_a_holder_whose_spec_changed_is_not_the_holder_any_more() -> None:
    """Its status is about the previous generation: the oldest wins again."""
    edited = held(resource("b-edited", {"storeId": "STORE-007"}, T0, generation=2), generation=1)
    older = resource("a-older", {"storeId": "STORE-007"}, T0 - timedelta(seconds=1))
    decided = plan(objects(edited, older))
    assert decided.verdicts["a-older"].accepted
    assert decided.verdicts["b-edited"].reason == DUPLICATE


def test_an_invalid_store_does_not_take_a_store_id() -> None:
    decided = plan(
        objects(
            resource("old-bad", {"storeId": "STORE-003", "registers": 0}, T0),
            resource("new-good", {"storeId": "STORE-003"}, T0 + timedelta(seconds=1)),
        )
    )
    assert decided.verdicts["new-good"].accepted
    assert decided.verdicts["old-bad"].reason == INVALID
