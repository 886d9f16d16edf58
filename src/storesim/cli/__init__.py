"""The `storesim` command line."""

from __future__ import annotations

import sys

import typer

from storesim import __version__
from storesim.cli._admin import topics_app
from storesim.cli._errors import command_app, run_command
from storesim.cli._run import run_app
from storesim.cli._schemas import schemas_app
from storesim.cli._simulate import simulate_command
from storesim.cli._tail import tail_command

__all__ = ["app", "main"]

app = command_app("storesim", "A coherent, deterministic retail-store event simulator.")
app.command("simulate")(simulate_command)
app.command("tail")(tail_command)
app.add_typer(schemas_app, name="schemas")
app.add_typer(topics_app, name="topics")
app.add_typer(run_app, name="run")


def _version(value: bool) -> None:
    if value:
        print(f"storesim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """storesim simulates a chain of retail stores and streams what happens in them."""


def main() -> None:
    sys.exit(run_command(app, "storesim"))
