"""`storesim topics create|check` and `storesim schemas register` against real Kafka and a real registry."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from decimal import Decimal

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource
from confluent_kafka.cimpl import NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from storesim.events import TOPICS, TRUTH, raw_schema
from storesim.kafka import value_schema
from tests.integration.helpers import STORESIM, admin_env, run, unique_names


@pytest.fixture
def names() -> dict[str, str]:
    return unique_names()


def test_topics_are_created_once_with_equal_partition_counts(
    stack: dict[str, str], names: dict[str, str]
) -> None:
    env = admin_env(stack, names, TOPIC_PARTITIONS="3", DLQ_TOPIC=f"dlq.{names['refunds']}")
    first = run(["topics", "create"], env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created") == 10  # seven event topics, the answer key, dead letters, stores
    topics = AdminClient({"bootstrap.servers": stack["KAFKA_BROKER"]}).list_topics(timeout=10).topics
    for name in [*names.values(), f"dlq.{names['refunds']}"]:
        assert len(topics[name].partitions) == 3, name
    assert len(topics[env["STORE_CONTROL_TOPIC"]].partitions) == 64
    again = run(["topics", "create"], env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("exists") == 10


def test_the_answer_key_is_kept_without_a_time_limit_and_the_event_topics_as_the_broker_keeps_them(
    stack: dict[str, str], names: dict[str, str]
) -> None:
    """The answer key's records carry their simulated hour as Kafka timestamp: under a time retention,
    those of a run in the past would be deleted at the broker's next retention check. The services'
    events carry the time they were sent."""
    env = admin_env(stack, names, TOPIC_PARTITIONS="1", DLQ_TOPIC=f"dlq.{names['refunds']}")
    created = run(["topics", "create"], env)
    assert created.returncode == 0, created.stderr
    admin = AdminClient({"bootstrap.servers": stack["KAFKA_BROKER"]})
    wanted = [ConfigResource(ConfigResource.Type.TOPIC, names[t]) for t in (TRUTH, "foot_traffic")]
    configs = {r.name: c.result(30) for r, c in admin.describe_configs(wanted).items()}
    assert configs[names[TRUTH]]["retention.ms"].value == "-1"
    assert configs[names["foot_traffic"]]["retention.ms"].is_default


def test_co_partitioning_is_enforced(stack: dict[str, str], names: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": stack["KAFKA_BROKER"]})
    admin.create_topics([NewTopic(names["shelf_events"], num_partitions=2, replication_factor=1)])[
        names["shelf_events"]
    ].result(30)
    result = run(
        ["topics", "create"], admin_env(stack, names, TOPIC_PARTITIONS="3", DLQ_TOPIC=f"d.{uuid.uuid4()}")
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert names["shelf_events"] in lines[0]
    assert "partitions" in lines[0]


def test_schemas_are_registered_backward_and_serve_a_schema_only_consumer(
    stack: dict[str, str], names: dict[str, str]
) -> None:
    result = run(["schemas", "register"], admin_env(stack, names))
    assert result.returncode == 0, result.stderr
    url = stack["SCHEMA_REGISTRY_URL"]
    client = SchemaRegistryClient({"url": url})
    for topic, name in names.items():
        subject = f"{name}-value"
        latest = client.get_latest_version(subject)
        assert json.loads(latest.schema.schema_str) == raw_schema(topic)
        with urllib.request.urlopen(f"{url}/config/{subject}", timeout=10) as response:
            assert json.loads(response.read())["compatibilityLevel"] == "BACKWARD"

    # A producer that may not register, and a consumer that knows the schema only through the registry.
    serializer = AvroSerializer(
        client,
        value_schema("refunds").schema_str,  # the registered text: the registry matches it to its id
        conf={"auto.register.schemas": False, "use.latest.version": False},
    )
    deserializer = AvroDeserializer(client)
    context = SerializationContext(names["refunds"], MessageField.VALUE)
    record = {
        "event_type": "refund",
        "refund_id": 7,
        "original_transaction_id": 7,
        "product_id": "A01",
        "store_id": "STORE-001",
        "customer_id": "c",
        "refund_amount": Decimal("1.50"),  # money is an Avro decimal
        "reason": "defective",
        "timestamp": 1_762_500_000_000,
    }
    payload = serializer(record, context)
    assert payload is not None
    assert payload[0] == 0, "Confluent framing: magic byte 0, then the schema id"
    decoded = deserializer(payload, context)
    assert decoded["refund_amount"] == Decimal("1.50")
    assert decoded["reason"] == "defective"


def test_backward_compatibility_rejects_a_breaking_change(
    stack: dict[str, str], names: dict[str, str]
) -> None:
    assert run(["schemas", "register"], admin_env(stack, names)).returncode == 0
    client = SchemaRegistryClient({"url": stack["SCHEMA_REGISTRY_URL"]})
    breaking = raw_schema("refunds") | {
        "fields": [*raw_schema("refunds")["fields"], {"name": "required_new", "type": "string"}]
    }
    compatible = raw_schema("refunds") | {
        "fields": [
            *raw_schema("refunds")["fields"],
            {"name": "optional_new", "type": ["null", "string"], "default": None},
        ]
    }
    subject = f"{names['refunds']}-value"
    assert not client.test_compatibility(subject, Schema(json.dumps(breaking), "AVRO"))
    assert client.test_compatibility(subject, Schema(json.dumps(compatible), "AVRO"))


def test_an_unreachable_registry_is_one_line_and_exit_1(names: dict[str, str]) -> None:
    env = {**os.environ, "SCHEMA_REGISTRY_URL": "http://127.0.0.1:9/apis/ccompat/v7"}
    result = run(["schemas", "register"], env)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "SCHEMA_REGISTRY_URL" in result.stderr


def test_topics_check_names_the_empty_topics_and_passes_once_every_topic_has_events(
    stack: dict[str, str], names: dict[str, str]
) -> None:
    """The chart's `helm test`: exit 1 naming exactly the topics without events; exit 0 once they all have
    one (the second check starts before the last topic's first event is sent)."""
    env = admin_env(stack, names, TOPIC_PARTITIONS="2")
    created = run(["topics", "create"], env)
    assert created.returncode == 0, created.stderr
    events = [name for topic, name in names.items() if topic in TOPICS]  # the answer key is not checked
    *written, last = events
    producer = Producer({"bootstrap.servers": stack["KAFKA_BROKER"]})
    for name in written:
        producer.produce(name, value=b"an event", key=b"k")
    assert producer.flush(10) == 0

    failed = run(["topics", "check", "--timeout", "2"], env)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == f"storesim: error: no events after 2 s in: {last}"

    waiting = subprocess.Popen(
        [STORESIM, "topics", "check", "--timeout", "60"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        producer.produce(last, value=b"the last topic's first event", key=b"k")
        assert producer.flush(10) == 0
        out, _ = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0
    counted = dict(line.split("\t") for line in out.splitlines())
    assert set(counted) == set(events)
    assert all(count != "0 offsets" for count in counted.values())
