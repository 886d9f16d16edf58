"""The admin tasks' settings and plans (the real-stack tests exercise them against Kafka and the registry)."""

from __future__ import annotations

import json

import pytest

from storesim.events import TOPICS, raw_schema
from storesim.kafka import plan_topics, subject_for, value_schema
from storesim.settings import AdminSettings, SettingsError


def test_every_topic_and_the_dead_letter_topic_get_the_same_partition_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOPIC_PARTITIONS", "4")
    settings = AdminSettings.from_env()
    plans = plan_topics(settings.topic_names(), settings.dlq_topic, settings.topic_partitions, 1)
    assert [p.name for p in plans] == [*TOPICS, "storesim.truth", "storesim.dlq"]
    assert {p.partitions for p in plans} == {4}


def test_two_topics_may_not_share_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POS_EVENTS_TOPIC", "transactions")
    with pytest.raises(SettingsError, match="share one name"):
        AdminSettings.from_env()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TOPIC_PARTITIONS", "0"), ("TOPIC_REPLICATION_FACTOR", "x"), ("SCHEMA_REGISTRY_URL", "registry:8081")],
)
def test_bad_admin_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        AdminSettings.from_env()


@pytest.mark.parametrize("topic", TOPICS)
def test_the_registered_schema_is_the_avsc_file(topic: str) -> None:
    schema = value_schema(topic)
    assert schema.schema_type == "AVRO"
    assert json.loads(schema.schema_str) == raw_schema(topic)
    assert subject_for("foot_traffic") == "foot_traffic-value"
