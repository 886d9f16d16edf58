"""`storesim-data-loader`: writes the data set the simulators read at /data."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from storesim.cli._errors import UsageError, command_app, run_command
from storesim_dataloader._catalogue import read_catalogue
from storesim_dataloader._discounts import DEFAULT_DATA_SEED, daily_discounts, weekly_discounts
from storesim_dataloader._files import write_dataset

__all__ = ["app", "main"]

app = command_app("storesim-data-loader", "Build storesim's store inventory and discounts.")


@app.callback()
def _root() -> None:
    """storesim's data loader."""


def _date(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: expected a date as YYYY-MM-DD, got {text!r}") from None


@app.command("build")
def build(
    out: Annotated[
        Path, typer.Option("--out", help="Directory to write the files into.", show_default=False)
    ],
    first: Annotated[str, typer.Option("--from", help="First date of daily discounts.")] = "2024-01-01",
    last: Annotated[str, typer.Option("--to", help="Last date of daily discounts.")] = "2027-12-31",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the discount draws.")] = DEFAULT_DATA_SEED,
) -> None:
    """Write store_inventory_final.parquet, all_discounts.parquet and daily_discounts.csv."""
    first_day, last_day = _date("--from", first), _date("--to", last)
    if last_day < first_day:
        raise UsageError(f"--to: {last_day} is before --from {first_day}")
    inventory = read_catalogue()
    shelf_ids = inventory.column("shelf_id").to_pylist()
    try:
        paths = write_dataset(
            out,
            inventory,
            weekly_discounts(shelf_ids, seed),
            daily_discounts(shelf_ids, first_day, last_day, seed),
        )
    except OSError as exc:
        raise UsageError(f"--out: cannot write to {out}: {exc.strerror or exc}") from None
    for path in paths:
        print(path)


def main() -> None:
    sys.exit(run_command(app, "storesim-data-loader"))
