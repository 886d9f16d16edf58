"""`storesim topics create` and `storesim schemas register`: what the chart's Job runs before the services."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

__all__ = ["check_topics_command", "register_command", "topics_app"]

topics_app = typer.Typer(help="storesim's Kafka topics.", no_args_is_help=True)


def _fail(message: str) -> None:
    print(f"storesim: error: {message}", file=sys.stderr)
    raise typer.Exit(1)


@topics_app.command("create")
def create_topics_command() -> None:
    """Create every topic and the dead-letter topic (TOPIC_PARTITIONS, TOPIC_REPLICATION_FACTOR), and the
    store-control topic (STORE_SLOTS partitions)."""
    from storesim.kafka import TopicPlan, TopicsError, create_topics, plan_topics
    from storesim.settings import AdminSettings

    settings = AdminSettings.from_env()
    names = settings.topic_names()
    plans = [
        *plan_topics(names, settings.dlq_topic, settings.topic_partitions, settings.topic_replication_factor),
        TopicPlan(settings.store_control_topic, settings.store_slots, settings.topic_replication_factor),
    ]
    try:
        created = create_topics(settings.kafka_broker, plans, names)
    except TopicsError as exc:
        _fail(str(exc))
    for plan in plans:
        state = "created" if plan.name in created else "exists"
        print(f"{plan.name}\t{plan.partitions} partitions\t{state}")


@topics_app.command("check")
def check_topics_command(
    timeout: Annotated[
        float, typer.Option("--timeout", min=0, help="Seconds to wait for every topic to have events.")
    ] = 600.0,
) -> None:
    """Wait until every event topic holds events (the chart's `helm test`); exit 1 naming the empty ones.
    The answer key is not asked for: its first record follows the first simulated hour's end, which at the
    chart's TIME_SCALE=1 is a wall hour after the start, longer than a `helm test` should wait."""
    from storesim.events import TOPICS
    from storesim.kafka import TopicsError, topic_event_counts, wait_for_events
    from storesim.settings import AdminSettings

    settings = AdminSettings.from_env()
    names = [name for topic, name in settings.topic_names().items() if topic in TOPICS]
    try:
        counts = wait_for_events(lambda: topic_event_counts(settings.kafka_broker, names), timeout)
    except TopicsError as exc:
        _fail(str(exc))
        return
    for name in names:
        print(f"{name}\t{counts[name]} offsets")
    empty = [name for name in names if not counts[name]]
    if empty:
        _fail(f"no events after {timeout:g} s in: {', '.join(empty)}")


def register_command() -> None:
    """Register every topic's value schema in SCHEMA_REGISTRY_URL and set BACKWARD compatibility."""
    from storesim.kafka import RegistryError, register_schemas
    from storesim.settings import AdminSettings

    settings = AdminSettings.from_env()
    try:
        ids = register_schemas(settings.schema_registry_url, settings.topic_names())
    except RegistryError as exc:
        _fail(str(exc))
        return
    for subject, schema_id in ids.items():
        print(f"{subject}\tid {schema_id}\tBACKWARD")
