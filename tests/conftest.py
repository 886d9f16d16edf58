"""Shared test helpers: run the embedded mode in-process and read back what it wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import fastavro
import pytest

from storesim.cli import app
from storesim.cli._errors import run_command
from storesim.events import OUTPUTS
from storesim.settings import environment_variables

# Every variable storesim reads: a test run sees only the ones it sets.
STORESIM_VARIABLES = environment_variables()


def epoch_seconds(value: Any) -> int:
    """A timestamp as fastavro returns it (datetime) or as JSON has it (text), in UTC seconds."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, str):
        from storesim._time import parse_iso_utc

        return parse_iso_utc(value)
    return int(value)


@dataclass
class Run:
    out: Path
    format: str
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def file(self, topic: str) -> Path:
        return self.out / f"{topic}.{'avro' if self.format == 'avro' else 'jsonl'}"


def plain(value: Any) -> Any:
    """A value as fastavro reads it, in the records' own types: uuids as text, money decimals as the
    float of their cents (exact: both are the float nearest to the same number of cents)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def read_topic(path: Path) -> list[dict[str, Any]]:
    """The records of one output file, with plain() values (as JSON has them)."""
    if path.suffix == ".avro":
        with path.open("rb") as handle:
            return [plain(record) for record in fastavro.reader(handle)]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def simulate(out: Path, *args: str, env: dict[str, str] | None = None, fmt: str = "avro") -> Run:
    """Runs `storesim simulate` in-process with ``env`` as the only storesim variables; fails loudly."""
    with pytest.MonkeyPatch.context() as patch:
        for name in STORESIM_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        code = run_command(app, "storesim", ["simulate", *args, "--out", str(out), "--format", fmt, "-q"])
    assert code == 0, f"storesim simulate {' '.join(args)} exited {code}"
    run = Run(out, fmt)
    for topic in OUTPUTS:
        run.records[topic] = read_topic(run.file(topic))
    return run


def without_and_twice_with(
    out: Path, scenarios: Path, *args: str, env: dict[str, str]
) -> tuple[Run, Run, Run]:
    """(a run without scenarios, one with ``scenarios``, the same again): an effect's change, and its
    determinism."""
    plain = simulate(out / "plain", *args, env=env)
    once = simulate(out / "once", *args, "--scenario", str(scenarios), env=env)
    again = simulate(out / "again", *args, "--scenario", str(scenarios), env=env)
    return plain, once, again


def of(run: Run, topic: str, store_id: str) -> list[dict[str, Any]]:
    """The records of one store in one of a run's topics."""
    return [r for r in run.records[topic] if r.get("store_id") == store_id]


# Stores on three continents over a daylight-saving weekend (Europe switched on 2025-03-30). The run
# covers [2025-03-28, 2025-04-01) UTC: the American stores' last evening lies beyond its end.
CHAIN_ARGS = ("--store-ids", "1,7,16,22", "--start", "2025-03-28", "--days", "4", "--seed", "20251107")
CHAIN_END = 1_743_465_600  # 2025-04-01T00:00:00Z
CHAIN_ENV = {"BASE_DAILY_CUSTOMERS": "150"}


@pytest.fixture(scope="session")
def chain_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The multi-store, multi-day run that the invariant and format tests read."""
    return simulate(tmp_path_factory.mktemp("chain"), *CHAIN_ARGS, env=CHAIN_ENV)


@pytest.fixture(scope="session")
def chain_run_json(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The same run in JSON lines."""
    return simulate(tmp_path_factory.mktemp("chain-json"), *CHAIN_ARGS, env=CHAIN_ENV, fmt="json")
