"""The streamed answer key where no embedded run can say what it should be — a store declared while the
chain runs: the answer key must then be what the chain's own topics add up to, hour by hour, for every
store, the late one's hours before it joined as zeros — and under scenarios, where the streamed run and
its answer key are the embedded run's."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from storesim.events import FOOT_TRAFFIC, TOPICS, TRUTH
from storesim.world import (
    ScenarioBook,
    StoreSpec,
    parse_scenarios_file,
    write_scenarios_file,
    write_stores_file,
)
from tests.answer_key import recompute, truth_by_store_hour
from tests.conftest import epoch_seconds
from tests.integration.chain import Chain
from tests.integration.helpers import consume, end_offsets, message_count, wait_until
from tests.integration.runs import (
    SEED,
    START,
    assert_same_events,
    backfill,
    embedded,
    read_truth,
    run_chain,
)

# One simulated day in 24 wall seconds: the store comes while the first one's day goes on.
PACED = {"CLOCK_MODE": "paced", "TIME_SCALE": "3600", "BASE_DAILY_CUSTOMERS": "80"}
FIRST = [StoreSpec.model_validate({"storeId": "STORE-001"})]
JOINING = StoreSpec.model_validate({"storeId": "STORE-004"})


def test_a_store_declared_mid_run_has_the_answer_key_its_topics_add_up_to(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    stores_file = tmp_path / "stores.json"
    stores_file.write_text(write_stores_file(FIRST))
    chain = Chain(stack, tmp_path, dataset, {**backfill("1"), **PACED, "STORES_FILE": str(stores_file)})
    try:
        chain.start_all({"foot-traffic": 2, "truth": 2})
        foot = chain.names[FOOT_TRAFFIC]
        assert wait_until(lambda: end_offsets(stack, foot) >= 40, chain.replica("clock").process, 60)
        stores_file.with_suffix(".new").write_text(write_stores_file([*FIRST, JOINING]))
        stores_file.with_suffix(".new").rename(stores_file)
        # Once every hour of both stores is in the answer key, everything it counts is committed.
        truth = read_truth(chain, 2 * 24)
        total = sum(message_count(stack, chain.names[t]) for t in TOPICS)
        got = consume(stack, [chain.names[t] for t in TOPICS], total, deadline_seconds=120)
        chain.wait_ready()
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    logical = {name: topic for topic, name in chain.names.items()}
    records: dict[str, list[dict[str, object]]] = {t: [] for t in (*TOPICS, TRUTH)}
    for name, _, record in got:
        records[logical[name]].append(record)
    joined = [epoch_seconds(r["entry_time"]) for r in records[FOOT_TRAFFIC] if r["store_id"] == "STORE-004"]
    first = [epoch_seconds(r["entry_time"]) for r in records[FOOT_TRAFFIC] if r["store_id"] == "STORE-001"]
    assert joined, "the declared store had no visit"
    assert min(joined) > min(first) + 3600, "it joined mid-run, not from the start"
    start, end = int(datetime.fromisoformat(START).timestamp()), chain.clock_end()
    key = truth_by_store_hour(truth)
    assert key == recompute(records, start, end)
    assert message_count(stack, chain.names[TRUTH]) == 2 * 24, "answer key: duplicates"
    # Its hours before it joined are there, as zeros.
    assert key["STORE-004", start]["visits_started"] == 0


SCENARIOS = {
    "scenarios": [
        {
            "name": "lunch-closure",
            "stores": ["STORE-001"],
            "daily": {"from": "12:00", "to": "14:00"},
            "effects": {"traffic": {"closed": True}},
        },
        {
            "name": "evening-rush",
            "daily": {"from": "17:00", "to": "19:00"},
            "effects": {"traffic": {"multiplier": 3}},
        },
        {
            "name": "faults",
            "stores": ["STORE-002"],
            "daily": {"from": "00:00", "to": "24:00"},
            "effects": {
                "duplicates": {"probability": 0.1},
                "shrink": {"share": 0.05},
                "sensorFaults": {"noiseGrams": 20, "missed": 0.05, "phantom": 0.05},
            },
        },
        {
            "name": "dairy-week",
            "stores": ["STORE-002"],
            "daily": {"from": "09:00", "to": "17:00"},
            "effects": {"promotion": {"categories": ["Dairy & Eggs"], "discountPct": 30, "displayBoost": 2}},
        },
        {
            "name": "tills-down",
            "stores": ["STORE-002"],
            "daily": {"from": "13:00", "to": "14:00"},
            "effects": {"registerOutage": {"terminals": 6}},
        },
    ]
}


def test_a_streamed_run_with_scenarios_is_the_embedded_run_with_them(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    """SCENARIO_FILE for the services, --scenario for simulate: the same events byte for byte (copies,
    shrink, sensor faults, a promotion and a register outage included), and the same answer key, which names
    the scenarios in the hours they act and is what a deduplicating pipeline finds in the chain's topics."""
    path = tmp_path / "scenarios.json"
    path.write_text(
        write_scenarios_file(ScenarioBook(parse_scenarios_file(json.dumps(SCENARIOS), "s")).scenarios)
    )
    expected = embedded(tmp_path / "embedded", "1,2", "50", SEED, "--scenario", str(path))
    named = {name for r in expected.records[TRUTH] for name in r["scenarios"]}
    assert named == {"lunch-closure", "evening-rush", "faults", "dairy-week", "tills-down"}
    faults = ("duplicates_sent", "shrink_items", "missed_sensor_events", "phantom_sensor_events")
    assert all(sum(r[name] for r in expected.records[TRUTH]) > 0 for name in faults)
    chain = Chain(stack, tmp_path, dataset, {**backfill("1,2"), "SCENARIO_FILE": str(path)})
    assert_same_events(chain, run_chain(chain, expected), expected)
