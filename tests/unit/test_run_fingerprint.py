"""The fingerprint that names a `simulate --kafka` run's transactional.id and checkpoint: the same for
the same command, different for anything that changes the events or where they go."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from storesim.cli._simulate_kafka import run_fingerprint
from storesim.embedded import SimulationPlan
from storesim.events import TOPICS
from storesim.settings import (
    FootTrafficSettings,
    LedgerSettings,
    PosSettings,
    RegisterSettings,
    ShelfSettings,
)
from storesim.world import ScenarioBook, parse_scenarios_file, stores

NAMES = {topic: topic for topic in TOPICS}
CLOSED = ScenarioBook(
    parse_scenarios_file(
        '{"scenarios": [{"name": "c", "daily": {"from": "10:00", "to": "11:00"},'
        ' "effects": {"traffic": {"closed": true}}}]}',
        "s.json",
    )
)


def plan(seed: int = 1, days: int = 1, customers: int = 50) -> SimulationPlan:
    return SimulationPlan(
        stores=tuple(stores([1, 2])),
        start=date(2025, 11, 3),
        days=days,
        seed=seed,
        foot=FootTrafficSettings(base_daily_customers=customers),
        shelf=ShelfSettings(),
        pos=PosSettings(),
        register=RegisterSettings(),
        ledger=LedgerSettings(),
    )


def test_the_same_command_has_the_same_fingerprint() -> None:
    assert run_fingerprint(plan(), None, "avro", NAMES) == run_fingerprint(plan(), None, "avro", NAMES)


def test_the_seed_the_dates_a_setting_the_format_and_the_topics_change_it() -> None:
    base = run_fingerprint(plan(), None, "avro", NAMES)
    others = {
        run_fingerprint(plan(seed=2), None, "avro", NAMES),
        run_fingerprint(plan(customers=51), None, "avro", NAMES),
        run_fingerprint(plan(days=2), None, "avro", NAMES),
        run_fingerprint(plan(), None, "json", NAMES),
        run_fingerprint(plan(), None, "avro", {**NAMES, "refunds": "refunds.b"}),
        run_fingerprint(replace(plan(), scenarios=CLOSED), None, "avro", NAMES),
    }
    assert base not in others
    assert len(others) == 6


def test_the_data_files_contents_change_it(tmp_path: Path) -> None:
    (tmp_path / "store_inventory_final.parquet").write_bytes(b"one")
    first = run_fingerprint(plan(), tmp_path, "avro", NAMES)
    assert first == run_fingerprint(plan(), tmp_path, "avro", NAMES)
    (tmp_path / "store_inventory_final.parquet").write_bytes(b"two")
    assert run_fingerprint(plan(), tmp_path, "avro", NAMES) != first
