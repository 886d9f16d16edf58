"""`storesim schemas`: the Avro schemas that define every topic."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from storesim.cli._admin import register_command
from storesim.cli._errors import UsageError

__all__ = ["schemas_app"]

schemas_app = typer.Typer(help="The Avro schema of every topic.", no_args_is_help=True)


@schemas_app.command("list")
def list_schemas() -> None:
    """List the topics and their schemas' record names."""
    from storesim.events import OUTPUTS, raw_schema, schema_dir

    for topic in OUTPUTS:
        schema = raw_schema(topic)
        print(f"{topic}\t{schema['namespace']}.{schema['name']}\t{schema_dir() / f'{topic}.avsc'}")


schemas_app.command("register")(register_command)


@schemas_app.command("show")
def show_schema(topic: Annotated[str, typer.Argument(help="A topic, e.g. shelf_events.")]) -> None:
    """Print one topic's Avro schema."""
    from storesim.events import OUTPUTS, raw_schema

    if topic not in OUTPUTS:
        raise UsageError(f"TOPIC: unknown topic {topic!r}; one of {', '.join(OUTPUTS)}")
    print(json.dumps(raw_schema(topic), indent=2, ensure_ascii=False))
