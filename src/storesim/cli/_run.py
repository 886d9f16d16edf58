"""`storesim run <component>`: a simulator as a long-running service."""

from __future__ import annotations

import typer

__all__ = ["run_app"]

run_app = typer.Typer(help="Run one component as a long-running service.", no_args_is_help=True)


@run_app.command("foot-traffic")
def foot_traffic() -> None:
    """Sessions and door events of STORE_IDS, sent when the simulated clock reaches them."""
    from storesim.services.foot_traffic import run_foot_traffic
    from storesim.settings import FootTrafficSettings

    raise typer.Exit(run_foot_traffic(FootTrafficSettings.from_env()))


@run_app.command("clock")
def clock() -> None:
    """Own the simulated clock in Redis: SIM_START, TIME_SCALE, CLOCK_MODE (paced or backfill), SIM_END."""
    from storesim.services.clock import run_clock
    from storesim.settings import ClockSettings

    raise typer.Exit(run_clock(ClockSettings.from_env()))
