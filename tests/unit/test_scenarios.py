"""Scenarios: the file form and its refusals, the traffic effect (measured where it is random, exact where
it is not), determinism, and what the answer key says about them."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from storesim._time import epoch_day, local_day
from storesim.cli import app
from storesim.cli._errors import run_command
from storesim.engines import FootTrafficEngine
from storesim.events import FOOT_TRAFFIC, TRUTH
from storesim.world import (
    ScenarioBook,
    ScenariosFileError,
    TrafficVolume,
    parse_scenarios_file,
    store,
    write_scenarios_file,
)
from tests.conftest import epoch_seconds, simulate

DAY = "2025-03-28"  # a Friday
ARGS = ("--store-ids", "1,2", "--start", DAY, "--days", "2", "--seed", "5")
ENV = {"BASE_DAILY_CUSTOMERS": "200"}


def book(*scenarios: dict[str, Any]) -> ScenarioBook:
    return ScenarioBook(parse_scenarios_file(json.dumps({"scenarios": list(scenarios)}), "test.json"))


def traffic(name: str, effect: dict[str, Any], **where: Any) -> dict[str, Any]:
    return {"name": name, **where, "effects": {"traffic": effect}}


def write(path: Path, *scenarios: dict[str, Any]) -> Path:
    path.write_text(write_scenarios_file(book(*scenarios).scenarios))
    return path


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        (traffic("a", {"closed": True}), "either window or daily"),
        (
            traffic("a", {"closed": True}, daily={"from": "10:00", "to": "11:00"}, window={"start": "x"}),
            "window.start: not an ISO 8601 instant",
        ),
        (
            # fromisoformat takes a week date; the pattern the Scenario resource shares does not.
            traffic("a", {"closed": True}, window={"start": "2025-W13-5", "end": "2025-03-29"}),
            "window.start: not an ISO 8601 instant",
        ),
        (
            traffic(
                "a",
                {"closed": True},
                daily={"from": "10:00", "to": "11:00"},
                window={"start": "2025-03-28T10:00", "end": "2025-03-28T11:00"},
            ),
            "either window or daily",
        ),
        (traffic("a", {"closed": True}, daily={"from": "11:00", "to": "10:00"}), "after daily.from"),
        (traffic("a", {"multiplier": 2, "closed": True}, daily={"from": "10:00", "to": "11:00"}), "either"),
        (traffic("a", {"multiplier": "2"}, daily={"from": "10:00", "to": "11:00"}), "valid number"),
        (traffic("A b", {"closed": True}, daily={"from": "10:00", "to": "11:00"}), "pattern"),
        (
            traffic("a", {"closed": True}, stores=["STORE-1"], daily={"from": "10:00", "to": "11:00"}),
            "pattern",
        ),
        (
            {"name": "a", "daily": {"from": "10:00", "to": "11:00"}, "effects": {"powerCut": {}}},
            "effects.powerCut: Extra inputs are not permitted",
        ),
        ({"name": "a", "daily": {"from": "10:00", "to": "11:00"}, "effects": {}}, "at least one effect"),
    ],
)
def test_a_bad_scenario_is_one_line_naming_the_problem(scenario: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenariosFileError, match=message) as error:
        book(scenario)
    assert "\n" not in str(error.value)
    assert str(error.value).startswith("test.json: ")


def test_two_scenarios_of_one_name_are_refused() -> None:
    window = {"daily": {"from": "10:00", "to": "11:00"}}
    with pytest.raises(ScenariosFileError, match="declared twice"):
        book(traffic("a", {"closed": True}, **window), traffic("a", {"multiplier": 2}, **window))


def test_the_file_form_round_trips() -> None:
    scenarios = book(
        traffic(
            "friday",
            {"multiplier": 5},
            stores=["STORE-003"],
            window={"start": f"{DAY}T00:00", "end": "2025-03-29"},
        ),
        traffic("lunch", {"closed": True}, daily={"from": "12:00", "to": "13:30"}),
    ).scenarios
    assert parse_scenarios_file(write_scenarios_file(scenarios), "x") == list(scenarios)


def sessions(scenarios: ScenarioBook, number: int, days: int = 40) -> list[int]:
    """Entry instants of store ``number`` over ``days`` days from DAY, as local seconds of their day."""
    engine = FootTrafficEngine(9, TrafficVolume(baseline=400), scenarios)
    shop, first = store(number), epoch_day(date.fromisoformat(DAY))
    out = []
    for n in range(days):
        day = local_day(first + n, shop.timezone)
        out += [s.entry - day.start for s in engine.sessions(shop, day)]
    return out


def in_window(entries: list[int], start: int, end: int) -> int:
    return sum(start <= e < end for e in entries)


def test_closed_means_no_arrival_in_the_window_and_the_rest_of_the_day_unchanged() -> None:
    closed = book(traffic("lunch", {"closed": True}, daily={"from": "12:00", "to": "13:30"}))
    base, got = sessions(ScenarioBook(), 1), sessions(closed, 1)
    assert in_window(base, 12 * 3600, 13 * 3600 + 1800) > 100
    assert in_window(got, 12 * 3600, 13 * 3600 + 1800) == 0
    assert sorted(e for e in base if not 12 * 3600 <= e < 13 * 3600 + 1800) == sorted(got)


@pytest.mark.parametrize("factor", [0.5, 3.0, 5.0])
def test_a_multiplier_scales_the_arrivals_in_the_window(factor: float) -> None:
    """Over 40 days of 400 customers: the window's arrivals are within 10 % of ``factor`` times theirs
    without the scenario (a binomial or a sum of Bernoulli draws: far narrower than that), and outside
    it nothing moves."""
    window = {"daily": {"from": "16:00", "to": "19:00"}}
    base = sessions(ScenarioBook(), 2)
    got = sessions(book(traffic("rush", {"multiplier": factor}, **window)), 2)
    before, after = in_window(base, 16 * 3600, 19 * 3600), in_window(got, 16 * 3600, 19 * 3600)
    assert abs(after / before - factor) < 0.1 * factor
    outside = sorted(e for e in base if not 16 * 3600 <= e < 19 * 3600)
    assert outside == sorted(e for e in got if not 16 * 3600 <= e < 19 * 3600)


def test_a_store_without_a_scenario_is_byte_identical_and_the_answer_key_names_the_active_ones(
    tmp_path: Path,
) -> None:
    scenario = traffic(
        "closed-noon", {"closed": True}, stores=["STORE-002"], daily={"from": "12:00", "to": "14:00"}
    )
    plain = simulate(tmp_path / "plain", *ARGS, env=ENV)
    with_it = simulate(
        tmp_path / "with", *ARGS, "--scenario", str(write(tmp_path / "s.json", scenario)), env=ENV
    )
    again = simulate(tmp_path / "again", *ARGS, "--scenario", str(tmp_path / "s.json"), env=ENV)
    for topic, records in with_it.records.items():
        assert records == again.records[topic], f"{topic}: not deterministic"
        mine = [r for r in records if r.get("store_id") != "STORE-002"]
        theirs = [r for r in plain.records[topic] if r.get("store_id") != "STORE-002"]
        if topic != TRUTH and "store_id" in (records[0] if records else {}):
            assert mine == theirs, f"{topic}: store 1 changed"
    zone = ZoneInfo(store(2).timezone)
    noon = [
        datetime.fromtimestamp(epoch_seconds(r["entry_time"]), zone).hour
        for r in with_it.records[FOOT_TRAFFIC]
        if r["store_id"] == "STORE-002"
    ]
    assert noon
    assert not any(12 <= hour < 14 for hour in noon), "an arrival while the store was closed"
    active = {
        (r["store_id"], epoch_seconds(r["hour"]))
        for r in with_it.records[TRUTH]
        if r["scenarios"] == ["closed-noon"]
    }
    assert len(active) == 2 * 2, "two local hours a day, two days, store 2 only"
    assert all(store_id == "STORE-002" for store_id, _ in active)
    assert all(r["scenarios"] == [] for r in plain.records[TRUTH])


def test_a_missing_scenarios_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_command(
        app, "storesim", ["simulate", *ARGS, "--out", str(tmp_path), "--scenario", "nope.json"]
    )
    assert code == 2
    assert capsys.readouterr().err.strip().startswith("storesim: error: --scenario: nope.json:")
