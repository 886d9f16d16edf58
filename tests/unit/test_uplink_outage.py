"""The uplinkOutage effect in `storesim simulate`: the store's messages of the window come in one burst at
its end, unchanged and in their own order; the other store is untouched; the answer key has the late
messages and how late; the services refuse the effect with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from storesim.events import OUTPUTS, TRUTH, event_time_field
from storesim.world import UplinkOutages, store
from tests.conftest import Run, epoch_seconds, simulate
from tests.unit.test_scenarios import book, write

ARGS = ("--store-ids", "1,2", "--start", "2025-03-28", "--days", "2", "--seed", "3")
ENV = {"BASE_DAILY_CUSTOMERS": "200"}
DOWN, UP = "2025-03-28T14:00:00+00:00", "2025-03-28T15:30:00+00:00"
OUTAGE = {
    "name": "uplink",
    "stores": ["STORE-002"],
    "window": {"start": DOWN, "end": UP},
    "effects": {"uplinkOutage": {}},
}
EVENTS = [topic for topic in OUTPUTS if topic != TRUTH]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run]:
    tmp = tmp_path_factory.mktemp("uplink")
    plain = simulate(tmp / "plain", *ARGS, env=ENV)
    down = simulate(tmp / "down", *ARGS, "--scenario", str(write(tmp / "s.json", OUTAGE)), env=ENV)
    return plain, down


def instant(topic: str, record: dict[str, Any]) -> int:
    return epoch_seconds(record[event_time_field(topic)])


def held(topic: str, record: dict[str, Any]) -> bool:
    return record["store_id"] == "STORE-002" and epoch_seconds(DOWN) <= instant(
        topic, record
    ) < epoch_seconds(UP)


def test_each_store_sends_the_same_messages_in_the_same_order(runs: tuple[Run, Run]) -> None:
    plain, down = runs
    for topic in EVENTS:
        for store_id in ("STORE-001", "STORE-002"):
            mine = [r for r in down.records[topic] if r["store_id"] == store_id]
            assert mine == [r for r in plain.records[topic] if r["store_id"] == store_id], (topic, store_id)
        assert down.records[topic] != plain.records[topic] or not any(
            held(topic, r) for r in plain.records[topic]
        )


def test_the_window_comes_in_one_burst_at_its_end(runs: tuple[Run, Run]) -> None:
    _, down = runs
    up = epoch_seconds(UP)
    bursts = 0
    for topic in EVENTS:
        records = down.records[topic]
        flags = [held(topic, r) for r in records]
        if not any(flags):
            continue
        bursts += 1
        first, last = flags.index(True), len(flags) - 1 - flags[::-1].index(True)
        assert all(flags[first : last + 1]), f"{topic}: the held messages are not one block"
        before, after = records[:first], records[last + 1 :]
        # Everything sent before the release is before it; what the block overtakes is store 1's, late.
        assert all(instant(topic, r) <= up for r in before), topic
        assert all(instant(topic, r) >= up for r in after), topic
        overtaken = [r for r in before if instant(topic, r) > instant(topic, records[first])]
        assert overtaken, f"{topic}: nothing of the other store came before the burst"
        assert {r["store_id"] for r in overtaken} == {"STORE-001"}
    assert bursts >= 4  # foot traffic, shelves, checkouts, register and ledger all had some


def test_the_answer_key_has_the_late_messages_and_how_late(runs: tuple[Run, Run]) -> None:
    plain, down = runs
    up = epoch_seconds(UP)
    late: Counter[tuple[str, int]] = Counter()
    earliest: dict[tuple[str, int], int] = {}
    for topic in EVENTS:
        for r in plain.records[topic]:
            if held(topic, r):
                at = instant(topic, r)
                key = (r["store_id"], at - at % 3600)
                late[key] += 1
                earliest[key] = min(earliest.get(key, at), at)
    assert len(late) == 2, "14:00 and 15:00"
    for r in down.records[TRUTH]:
        key = (r["store_id"], epoch_seconds(r["hour"]))
        assert r["late_events"] == late[key], key
        assert r["max_lateness_seconds"] == (up - earliest[key] if key in earliest else 0), key
        assert ("uplink" in r["scenarios"]) == (key[0] == "STORE-002" and epoch_seconds(DOWN) <= key[1] < up)
    figures = ("visits_started", "checkouts", "revenue", "refunds", "open_carts")
    assert [[r[f] for f in figures] for r in down.records[TRUTH]] == [
        [r[f] for f in figures] for r in plain.records[TRUTH]
    ]


def down(name: str, **when: Any) -> dict[str, Any]:
    return {"name": name, "stores": ["STORE-002"], **when, "effects": {"uplinkOutage": {}}}


def test_one_outage_is_its_windows_merged_where_they_touch_or_overlap() -> None:
    riyadh, at = store(2).timezone, epoch_seconds  # UTC+3 all year
    outages = book(
        down("night", window={"start": "2025-03-28T20:00:00+03:00", "end": "2025-03-30T02:00:00+03:00"}),
        down("after", window={"start": "2025-03-30T01:00:00+03:00", "end": "2025-03-30T04:00:00+03:00"}),
        down("noon", daily={"from": "12:00", "to": "13:00"}),
        {
            "name": "other",
            "window": {"start": "2025-03-28", "end": "2025-04-05"},
            "effects": {"shrink": {"share": 0.1}},
        },
    )
    whole = (at("2025-03-28T20:00:00+03:00"), at("2025-03-30T04:00:00+03:00"))
    for inside in ("28T20:00", "29T00:00", "29T12:30", "30T01:30", "30T03:59:59"):
        assert outages.uplink_outage(2, riyadh, at(f"2025-03-{inside}+03:00")) == whole, inside
    for outside in ("28T19:59:59", "30T04:00", "31T11:59:59", "31T13:00"):
        assert outages.uplink_outage(2, riyadh, at(f"2025-03-{outside}+03:00")) is None, outside
    noon = (at("2025-03-31T12:00:00+03:00"), at("2025-03-31T13:00:00+03:00"))
    assert outages.uplink_outage(2, riyadh, at("2025-03-31T12:10:00+03:00")) == noon
    assert outages.uplink_outage(1, riyadh, at("2025-03-29T00:00:00+03:00")) is None, "not store 1's"


def test_an_outage_over_a_daylight_saving_night_is_one_and_an_endless_one_ends_at_the_horizon() -> None:
    # Berlin springs forward in the night of 29 to 30 March 2025: the local days' ranges overlap an hour.
    evening, night = (
        down("evening", daily={"from": "22:00", "to": "24:00"}),
        down("night", daily={"from": "00:00", "to": "02:00"}),
    )
    span = book(evening, night).uplink_outage(2, "Europe/Berlin", epoch_seconds("2025-03-29T21:30:00Z"))
    assert span == (epoch_seconds("2025-03-29T21:00:00Z"), epoch_seconds("2025-03-30T00:00:00Z"))
    always = book(down("always", daily={"from": "00:00", "to": "24:00"}))
    start, release = always.uplink_outage(2, "Asia/Riyadh", epoch_seconds("2025-03-29T12:00:00Z")) or (0, 0)
    assert release - start > 2 * 365 * 86400, "followed a year either side, then ended"


def test_the_services_refuse_it_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCENARIO", "STORES_FILE"))}
    env["SCENARIO_FILE"] = str(write(tmp_path / "s.json", OUTAGE))
    storesim = Path(sys.executable).with_name("storesim")
    result = subprocess.run(
        [str(storesim), "run", "pos"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SCENARIO_FILE" in lines[0]
    assert "uplinkOutage runs in `storesim simulate` only" in lines[0]


def test_a_store_s_outages_by_instant_release_by_the_run_s_end_at_the_latest() -> None:
    riyadh, at = store(2).timezone, epoch_seconds
    scenarios = book(
        down("noon", daily={"from": "12:00", "to": "13:00"}),
        down("late", window={"start": "2025-03-29T23:00:00+03:00", "end": "2025-03-30T06:00:00+03:00"}),
    )
    end = at("2025-03-30T02:00:00+03:00")
    outages = UplinkOutages(scenarios, 2, riyadh, release_by=end)
    noon = (at("2025-03-29T12:00:00+03:00"), at("2025-03-29T13:00:00+03:00"))
    assert outages.holding(at("2025-03-29T12:59:59+03:00")) == noon
    assert outages.release_of(at("2025-03-29T13:00:00+03:00")) is None
    assert outages.release_of(at("2025-03-30T01:00:00+03:00")) == end, "released at the run's end"
    assert outages.delivered_until(at("2025-03-29T12:30:00+03:00")) == noon[0] - 1
    assert outages.delivered_until(noon[1]) == noon[1]
    assert not UplinkOutages(scenarios, 1, riyadh, None), "store 1 has no outage"
    endless = UplinkOutages(scenarios, 2, riyadh, None)
    assert endless.release_of(at("2025-03-30T01:00:00+03:00")) == at("2025-03-30T06:00:00+03:00")
