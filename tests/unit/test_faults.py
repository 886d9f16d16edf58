"""The fault scenarios — duplicates, shrink and sensorFaults — on one store of an embedded run: each
share measured against its declared probability, the untouched store byte-identical, and the answer key
equal to what a deduplicating pipeline finds in the topics."""

from __future__ import annotations

import statistics
from collections import Counter
from itertools import pairwise
from typing import Any

import pytest

from storesim.events import POS_EVENTS, POS_TRANSACTIONS, REFUNDS, SHELF_EVENTS, TRANSACTIONS, TRUTH
from tests.answer_key import recompute, truth_by_store_hour
from tests.conftest import Run, epoch_seconds, of, without_and_twice_with
from tests.unit.test_scenarios import book, write

START, END = "2025-03-28T00:00:00+00:00", "2025-03-31T00:00:00+00:00"
ARGS = ("--store-ids", "1,2", "--start", "2025-03-28", "--days", "3", "--seed", "11")
ENV = {"BASE_DAILY_CUSTOMERS": "300"}
WINDOW = {"stores": ["STORE-002"], "window": {"start": START, "end": END}}
DUPLICATES, SHRINK, MISSED, PHANTOM, NOISE_KG = 0.2, 0.1, 0.1, 0.05, 0.05
SCENARIOS = (
    {"name": "retries", **WINDOW, "effects": {"duplicates": {"probability": DUPLICATES}}},
    {"name": "theft", **WINDOW, "effects": {"shrink": {"share": SHRINK}}},
    {
        "name": "bad-shelves",
        **WINDOW,
        "effects": {"sensorFaults": {"noiseGrams": NOISE_KG * 1000, "missed": MISSED, "phantom": PHANTOM}},
    },
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run, Run]:
    """(without scenarios, with them, with them again)."""
    tmp = tmp_path_factory.mktemp("faults")
    path = write(tmp / "faults.json", *SCENARIOS)
    return without_and_twice_with(tmp, path, *ARGS, env=ENV)


def test_the_effects_parse_and_refuse_what_means_nothing() -> None:
    assert len(book(*SCENARIOS).scenarios) == 3
    with pytest.raises(ValueError, match="sensorFaults needs noiseGrams, missed or phantom above 0"):
        book({"name": "a", **WINDOW, "effects": {"sensorFaults": {}}})
    with pytest.raises(ValueError, match="greater than 0"):
        book({"name": "a", **WINDOW, "effects": {"shrink": {"share": 0}}})
    with pytest.raises(ValueError, match=r"stages\.0"):
        book({"name": "a", **WINDOW, "effects": {"duplicates": {"probability": 0.1, "stages": ["shelf"]}}})


def test_the_untouched_store_is_byte_identical_and_the_run_deterministic(runs: tuple[Run, Run, Run]) -> None:
    plain, faulty, again = runs
    for topic, records in faulty.records.items():
        assert records == again.records[topic], f"{topic}: not deterministic"
        if topic != TRUTH:
            assert of(faulty, topic, "STORE-001") == of(plain, topic, "STORE-001"), (
                f"{topic}: store 1 changed"
            )
        changed = of(faulty, topic, "STORE-002") != of(plain, topic, "STORE-002")
        # The faults are on the shelves and at the tills: the visits themselves are the same.
        assert changed == (
            topic in (SHELF_EVENTS, POS_TRANSACTIONS, POS_EVENTS, TRANSACTIONS, REFUNDS, TRUTH)
        ), topic


def test_the_answer_key_is_what_a_deduplicating_pipeline_finds_in_the_topics(
    runs: tuple[Run, Run, Run],
) -> None:
    _, faulty, _ = runs
    key = truth_by_store_hour(faulty.records[TRUTH])
    assert key == recompute(faulty.records, epoch_seconds(START), epoch_seconds(END))
    totals = Counter[str]()
    for (store_id, _), figures in key.items():
        for name in ("duplicates_sent", "shrink_items", "missed_sensor_events", "phantom_sensor_events"):
            totals[f"{store_id}:{name}"] += figures[name]
    assert all(totals[f"STORE-001:{name}"] == 0 for name in ("duplicates_sent", "shrink_items"))
    assert all(totals[f"STORE-002:{name}"] > 0 for name in ("duplicates_sent", "shrink_items"))


def _copies(records: list[dict[str, Any]], field: str) -> tuple[int, int]:
    """(distinct ids, ids seen twice); a copy is its original again, right after it."""
    seen = Counter(r[field] for r in records)
    assert set(seen.values()) <= {1, 2}
    adjacent = sum(
        1 for before, after in pairwise(records) if before[field] == after[field] and before == after
    )
    assert adjacent == sum(1 for n in seen.values() if n == 2)
    return len(seen), sum(1 for n in seen.values() if n == 2)


def _share_is(copied: int, total: int, probability: float) -> None:
    """Within four standard deviations of a binomial share: a false alarm about once in 16,000 runs."""
    sigma = (probability * (1 - probability) / total) ** 0.5
    assert abs(copied / total - probability) < 4 * sigma, f"{copied}/{total} is not {probability}"


def test_duplicates_send_the_declared_share_twice_with_the_same_ids(runs: tuple[Run, Run, Run]) -> None:
    _, faulty, _ = runs
    checkouts, twice = _copies(of(faulty, POS_TRANSACTIONS, "STORE-002"), "transaction_id")
    _share_is(twice, checkouts, DUPLICATES)
    lines, twice = _copies(of(faulty, TRANSACTIONS, "STORE-002"), "transaction_id")
    _share_is(twice, lines, DUPLICATES)
    payments = [r for r in of(faulty, POS_EVENTS, "STORE-002") if r["event_type"] == "payment_completed"]
    sequences = Counter(r["basket_id"] for r in payments)
    _share_is(sum(1 for n in sequences.values() if n == 2), len(sequences), DUPLICATES)
    # A resent sequence is the whole sequence again, after its payment: item_added as often as its payment.
    items = Counter(
        r["basket_id"] for r in of(faulty, POS_EVENTS, "STORE-002") if r["event_type"] == "item_added"
    )
    baskets = {r["basket_id"]: r["transaction_id"] for r in payments}
    lines_of = {r["transaction_id"]: len(r["items"]) for r in of(faulty, POS_TRANSACTIONS, "STORE-002")}
    assert all(items[b] == sequences[b] * lines_of[baskets[b]] for b in sequences)


def test_shrink_takes_the_declared_share_of_the_units_picked(runs: tuple[Run, Run, Run]) -> None:
    _, faulty, _ = runs
    hours = [r for r in faulty.records[TRUTH] if r["store_id"] == "STORE-002"]
    stolen, sold = sum(r["shrink_items"] for r in hours), sum(r["items_sold"] for r in hours)
    _share_is(stolen, stolen + sold, SHRINK)
    value = sum(float(r["shrink_value"]) for r in hours)
    revenue = sum(float(r["revenue"]) for r in hours)
    # The same shelves, so about the same value per unit as the units paid for.
    assert 0.7 < (value / stolen) / (revenue / sold) < 1.3


def test_sensor_faults_miss_invent_and_blur_weight_changes(runs: tuple[Run, Run, Run]) -> None:
    _, faulty, _ = runs
    for store_id, faults in (("STORE-001", False), ("STORE-002", True)):
        events = of(faulty, SHELF_EVENTS, store_id)
        # An action and its weight_change share customer, item and instant (a customer can pick the same
        # item twice in one second: a key holds a list).
        actions: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
        for r in events:
            if r["event_type"] != "weight_change":
                actions.setdefault((r["customer_id"], r["item_id"], r["timestamp"]), []).append(r)
        count = sum(map(len, actions.values()))
        errors, phantoms = [], 0
        for c in (r for r in events if r["event_type"] == "weight_change"):
            same = actions.get((c["customer_id"], c["item_id"], c["timestamp"]))
            if not same:
                phantoms += 1
                continue
            a = same.pop(0)
            errors.append(
                c["delta_weight"] - (-1 if a["event_type"] == "pickup" else 1) * a["weight"] * a["quantity"]
            )
        missed = count - len(errors)
        if not faults:
            assert phantoms == missed == 0
            assert max(map(abs, errors)) < 0.0006  # rounding to grams only
            continue
        _share_is(missed, count, MISSED)
        _share_is(phantoms, count, PHANTOM)  # one draw per action
        sigma = statistics.pstdev(errors)
        assert abs(sigma - NOISE_KG) < 0.1 * NOISE_KG, f"noise σ {sigma} kg"
