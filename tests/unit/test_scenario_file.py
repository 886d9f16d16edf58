"""SCENARIO_FILE while a service runs (services/_scenario_file.py, ScenarioRules, LiveStores): a file not
there yet is awaited with no store declared, a valid new version asks for a restart, an invalid one is
refused once and changes nothing; `storesim simulate` has nothing to wait for and refuses a missing file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import structlog

from storesim.services._live_stores import LiveStores
from storesim.services._scenario_file import ScenarioFileWatcher
from storesim.settings import FootTrafficSettings
from storesim.world import StoreSpec, write_stores_file

STORESIM = Path(sys.executable).with_name("storesim")
CLOSED = {
    "name": "closed",
    "daily": {"from": "10:00", "to": "11:00"},
    "effects": {"traffic": {"closed": True}},
}


def scenarios_text(*scenarios: dict[str, object]) -> str:
    return json.dumps({"scenarios": list(scenarios)})


def test_a_missing_file_is_awaited_and_hides_the_stores(tmp_path: Path) -> None:
    stores = tmp_path / "stores.json"
    stores.write_text(write_stores_file([StoreSpec(storeId="STORE-001")]))
    path = tmp_path / "scenarios.json"
    settings = FootTrafficSettings.from_env(stores_file=str(stores), scenario_file=str(path))
    assert settings.scenarios_awaited
    assert not settings.scenarios
    live = LiveStores(settings, structlog.get_logger())
    assert not live.declared
    assert live.numbers == ()
    path.write_text(scenarios_text(CLOSED))
    assert live.refresh(force=True) is None  # this process never declares them: it restarts instead
    assert not live.declared
    now_there = FootTrafficSettings.from_env(stores_file=str(stores), scenario_file=str(path))
    assert not now_there.scenarios_awaited
    assert [s.name for s in now_there.scenarios.scenarios] == ["closed"]
    assert LiveStores(now_there, structlog.get_logger()).numbers == (1,)


def test_a_new_valid_version_asks_for_a_restart_an_invalid_one_does_not(tmp_path: Path) -> None:
    path = tmp_path / "scenarios.json"
    path.write_text(scenarios_text(CLOSED))
    watcher = ScenarioFileWatcher(path, path.read_bytes())
    assert not watcher.check()  # the version running
    path.write_text(scenarios_text({**CLOSED, "effects": {"traffic": {"multiplier": 7}}}))
    assert watcher.check()
    path.write_text(scenarios_text(CLOSED, CLOSED))  # a name twice
    assert not watcher.check()
    path.write_text('{"scenarios": [{"name": "x"}]}')
    assert not watcher.check()
    assert len(watcher.rejected) == 2
    path.unlink()
    assert not watcher.check()  # gone for a moment (a projection's flip): nothing to do


def test_an_awaited_file_asks_for_a_restart_when_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "scenarios.json"
    watcher = ScenarioFileWatcher(path, None)
    assert not watcher.check()
    path.write_text(scenarios_text())
    assert watcher.check()  # even empty: the service then runs with no scenarios, and its stores


def test_the_watcher_starts_only_for_a_service_with_the_file(tmp_path: Path) -> None:
    assert ScenarioFileWatcher.start_for(FootTrafficSettings.from_env()) is None
    watcher = ScenarioFileWatcher.start_for(
        FootTrafficSettings.from_env(scenario_file=str(tmp_path / "s.json"))
    )
    assert watcher is not None
    assert watcher.running is None
    watcher.stop()


def test_simulate_refuses_a_missing_scenario_file(tmp_path: Path) -> None:
    env = {**os.environ, "SCENARIO_FILE": str(tmp_path / "missing.json")}
    result = subprocess.run(
        [str(STORESIM), "simulate", "--start", "2025-03-03", "--stores", "1", "--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SCENARIO_FILE" in lines[0]
    assert "missing.json" in lines[0]
