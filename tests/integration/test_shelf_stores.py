"""The shelf and a stores file that lags foot-traffic's: in a cluster each pod's copy of the stores
ConfigMap is refreshed by its own kubelet, so the shelf may read sessions of a store it does not know yet.
Such a session waits (UNKNOWN_STORE_GRACE_SECONDS) for the file to name the store, and the shelf's output
waits for it; a store that never comes is dead-lettered once the grace is over."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from storesim._keys import decode_customer_id
from storesim.events import FOOT_TRAFFIC, SHELF_EVENTS
from storesim.world import StoreSpec, write_stores_file
from tests.integration.chain import Chain
from tests.integration.helpers import consume, consume_raw, message_count, wait_until
from tests.integration.runs import backfill, canonical, embedded

GRACE = 30


def stores_file(path: Path, *numbers: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    specs = (StoreSpec.model_validate({"storeId": f"STORE-{n:03d}"}) for n in numbers)
    path.with_suffix(".partial").write_text(write_stores_file(specs))
    path.with_suffix(".partial").rename(path)  # whole, as the kubelet's symlink flip has it
    return path


def store_of(record: dict[str, object]) -> int:
    return decode_customer_id(str(record["customer_id"])).store


def test_a_session_of_a_store_the_shelf_learns_late_waits_for_it_and_one_never_declared_is_dead_lettered(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    simulated = stores_file(tmp_path / "foot-traffic" / "stores.json", 1, 5, 6)
    expected = embedded(tmp_path / "embedded", simulated)
    wanted = Counter(canonical(r) for r in expected.records[SHELF_EVENTS] if store_of(r) in (1, 5))
    orphans = sum(1 for r in expected.records[FOOT_TRAFFIC] if store_of(r) == 6)
    assert wanted
    assert orphans

    shelf_file = stores_file(tmp_path / "shelf" / "stores.json", 1)
    chain = Chain(stack, tmp_path, dataset, backfill("1"))
    foot, shelf_topic = chain.names[FOOT_TRAFFIC], chain.names[SHELF_EVENTS]
    try:
        chain.start("clock")
        chain.start("foot-traffic", STORES_FILE=str(simulated))
        (shelf,) = chain.start(
            "shelf",
            STORES_FILE=str(shelf_file),
            SHELF_OUTPUT="kafka",
            UNKNOWN_STORE_GRACE_SECONDS=str(GRACE),
        )
        first_of_5 = min(r["entry_time"] for r in expected.records[FOOT_TRAFFIC] if store_of(r) == 5)
        assert wait_until(
            lambda: any(store_of(r) == 5 for _, _, r in consume(stack, [foot], 1_000_000, 2)),
            shelf.process,
            60,
        ), "foot-traffic never simulated store 5"
        # Held back: nothing of the shelf's output may pass the first session it cannot place yet.
        early = consume(stack, [shelf_topic], 1_000_000, 2)
        assert all(r["timestamp"] <= first_of_5 for _, _, r in early), "the output passed a held session"

        stores_file(shelf_file, 1, 5)
        got = consume(stack, [shelf_topic], sum(wanted.values()), 180)
        dead = consume_raw(stack, [chain.dlq], orphans, GRACE + 120)
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    assert Counter(canonical(r) for _, _, r in got) == wanted
    assert message_count(stack, shelf_topic) == sum(wanted.values())
    assert len(dead) == orphans
    assert {h["storesim.reason"] for _, _, h in dead} == {"unknown-store"}
