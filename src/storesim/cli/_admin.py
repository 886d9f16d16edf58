"""`storesim topics create` and `storesim schemas register`: what the chart's Job runs before the services."""

from __future__ import annotations

import sys

import typer

__all__ = ["register_command", "topics_app"]

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
