"""`storesim run <component>`: a simulator as a long-running service."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer

__all__ = ["run_app"]

run_app = typer.Typer(help="Run one component as a long-running service.", no_args_is_help=True)

_Settings = TypeVar("_Settings")


def _serve(run: Callable[[_Settings], int], settings: _Settings) -> None:
    """Runs the service; with SCENARIO_FILE, restarts it in place when a new version of the file is there
    (services/_scenario_file.py)."""
    from storesim.services._scenario_file import ScenarioFileWatcher

    watcher = ScenarioFileWatcher.start_for(settings)
    code = run(settings)
    if watcher is not None:
        watcher.stop()
        if watcher.restart_requested and code == 0:
            watcher.restart()
    raise typer.Exit(code)


@run_app.command("foot-traffic")
def foot_traffic() -> None:
    """Sessions and door events of STORE_IDS, sent when the simulated clock reaches them."""
    from storesim.services.foot_traffic import run_foot_traffic
    from storesim.settings import FootTrafficSettings

    _serve(run_foot_traffic, FootTrafficSettings.from_env())


@run_app.command("clock")
def clock() -> None:
    """Own the simulated clock in Redis: SIM_START, TIME_SCALE, CLOCK_MODE (paced or backfill), SIM_END."""
    from storesim.services.clock import run_clock
    from storesim.settings import ClockSettings

    raise typer.Exit(run_clock(ClockSettings.from_env()))


@run_app.command("shelf")
def shelf() -> None:
    """Pickups and putbacks of each session on foot_traffic, into REDIS_STREAM (or SHELF_OUTPUT=kafka)."""
    from storesim.services.shelf import run_shelf
    from storesim.settings import ShelfSettings

    _serve(run_shelf, ShelfSettings.from_env())


@run_app.command("redis-kafka-bridge")
def redis_kafka_bridge() -> None:
    """Forward REDIS_STREAM to Kafka's shelf_events, acknowledging only what Kafka confirmed."""
    from storesim.services.bridge import run_bridge
    from storesim.settings import BridgeSettings

    raise typer.Exit(run_bridge(BridgeSettings.from_env()))


@run_app.command("pos")
def pos() -> None:
    """Carts from foot_traffic and shelf_events, checked out to pos_transactions on simulated time."""
    from storesim.services.pos import run_pos
    from storesim.settings import PosSettings

    _serve(run_pos, PosSettings.from_env())


@run_app.command("register")
def register() -> None:
    """Each checkout as the register's event sequence on pos_events, for the stores this replica owns."""
    from storesim.services.register import run_register
    from storesim.settings import RegisterSettings

    _serve(run_register, RegisterSettings.from_env())


@run_app.command("ledger")
def ledger() -> None:
    """Ledger transactions and later refunds of each checkout, for the stores this replica owns."""
    from storesim.services.ledger import run_ledger
    from storesim.settings import LedgerSettings

    _serve(run_ledger, LedgerSettings.from_env())


@run_app.command("truth")
def truth() -> None:
    """The answer key of this replica's stores on TRUTH_TOPIC, each hour once the ledger has passed it."""
    from storesim.services.truth import run_truth
    from storesim.settings import TruthSettings

    _serve(run_truth, TruthSettings.from_env())


@run_app.command("controller")
def controller() -> None:
    """The Store controller: NAMESPACE's Store resources into ConfigMap STORES_CONFIGMAP, and their status."""
    from storesim.operator import run_controller
    from storesim.settings import ControllerSettings

    raise typer.Exit(run_controller(ControllerSettings.from_env()))
