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


@app.command("load-postgres")
def load_postgres(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Directory written by build [default: build the rows in memory].",
            show_default=False,
        ),
    ] = None,
    first: Annotated[str, typer.Option("--from", help="First date, when building in memory.")] = "2024-01-01",
    last: Annotated[str, typer.Option("--to", help="Last date, when building in memory.")] = "2027-12-31",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the discount draws.")] = DEFAULT_DATA_SEED,
) -> None:
    """Load the daily discounts into DAILY_DISCOUNT_TABLE (PG_HOST, PG_PORT, PG_DB, PG_USER, PG_PASS)."""
    from storesim.settings import PostgresSettings
    from storesim_dataloader._files import DAILY_DISCOUNTS_CSV, read_daily_discounts_csv
    from storesim_dataloader._postgres import PostgresError, load_daily_discounts

    settings = PostgresSettings.from_env()
    if data is not None:
        path = data / DAILY_DISCOUNTS_CSV
        if not path.is_file():
            raise UsageError(
                f"--data: {path} does not exist (write it with: storesim-data-loader build --out {data})"
            )
        rows = read_daily_discounts_csv(path)
    else:
        first_day, last_day = _date("--from", first), _date("--to", last)
        if last_day < first_day:
            raise UsageError(f"--to: {last_day} is before --from {first_day}")
        rows = daily_discounts(read_catalogue().column("shelf_id").to_pylist(), first_day, last_day, seed)
    try:
        count = load_daily_discounts(settings.pg_dsn, settings.daily_discount_table, rows)
    except PostgresError as exc:
        print(
            f"storesim-data-loader: error: PG_HOST={settings.pg_host}:{settings.pg_port}: {exc}",
            file=sys.stderr,
        )
        raise typer.Exit(1) from None
    print(f"{settings.daily_discount_table}\t{count} rows")


def main() -> None:
    sys.exit(run_command(app, "storesim-data-loader"))
