"""`storesim simulate --kafka` on the real stack: what lands is, message for message, what the seven
services produce for the same seed, stores and dates; an interrupted run started again leaves no
duplicate; a broker that is not there is one line."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from storesim.events import OUTPUTS, TOPICS, TRUTH, event_time_field
from tests.conftest import Run, plain, simulate
from tests.integration.chain import Chain
from tests.integration.helpers import (
    STORESIM,
    Landed,
    admin_env,
    consume_messages,
    end_offsets,
    message_count,
    unique_names,
    wait_until,
)
from tests.integration.runs import CUSTOMERS, SEED, START, backfill, canonical, embedded, read_from_chain

STORES = "1,2"


def simulate_into_kafka(
    stack: dict[str, str],
    names: dict[str, str],
    *args: str,
    customers: str = CUSTOMERS["BASE_DAILY_CUSTOMERS"],
) -> subprocess.Popen[str]:
    """`storesim simulate --kafka` of STORES on START's day into ``names`` (3 partitions each)."""
    env = admin_env(stack, names, TOPIC_PARTITIONS="3", BASE_DAILY_CUSTOMERS=customers)
    argv = [STORESIM, "simulate", "--kafka", stack["KAFKA_BROKER"], "--store-ids", STORES]
    argv += ["--start", START[:10], "--days", "1", "--seed", SEED, *args]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen[str], timeout: float = 180) -> str:
    """The run's standard output once it has exited 0, its lines joined (the summary wraps them)."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return " ".join(out.split())


def landed(stack: dict[str, str], names: dict[str, str], expected: Run) -> dict[str, list[Landed]]:
    """Every logical topic's messages, read (read_committed) until the embedded run's count."""
    total = sum(len(expected.records[t]) for t in TOPICS)
    logical = {name: topic for topic, name in names.items()}
    by_topic: dict[str, list[Landed]] = {t: [] for t in TOPICS}
    for message in consume_messages(stack, [names[t] for t in TOPICS], total, deadline_seconds=180):
        by_topic[logical[message.topic]].append(message)
    return by_topic


def by_partition_and_key(messages: list[Landed]) -> dict[tuple[int, bytes], list[bytes]]:
    """Each (partition, key)'s values in the order they landed, without the Confluent header (the two
    runs register their schemas under subjects of their own)."""
    out: dict[tuple[int, bytes], list[bytes]] = defaultdict(list)
    for message in messages:
        assert message.value[:1] == b"\x00", "not Confluent-framed"
        out[message.partition, message.key].append(message.value[5:])
    return dict(out)


def epoch_millis(value: Any) -> int:
    return round(value.timestamp() * 1000) if isinstance(value, datetime) else int(value)


def test_simulate_kafka_lands_what_the_seven_services_produce(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    expected = embedded(tmp_path / "embedded", STORES)
    chain = Chain(stack, tmp_path, dataset, backfill(STORES))
    from_chain = read_from_chain(chain, expected, lambda c, e: landed(stack, c.names, e))

    names = unique_names()
    out = finished(
        simulate_into_kafka(stack, names, "--registry", stack["SCHEMA_REGISTRY_URL"], "--data", str(dataset))
    )
    assert f"produced {sum(len(expected.records[t]) for t in OUTPUTS):,}" in out, out
    from_simulate = landed(stack, names, expected)

    deserializer = AvroDeserializer(SchemaRegistryClient({"url": stack["SCHEMA_REGISTRY_URL"]}))
    for topic in TOPICS:
        assert len(from_simulate[topic]) == len(expected.records[topic]), topic
        assert message_count(stack, names[topic]) == len(expected.records[topic]), f"{topic}: duplicates"
        assert by_partition_and_key(from_simulate[topic]) == by_partition_and_key(from_chain[topic]), topic
        # Decoded through the registry alone, the records are the embedded run's, stamped with their time.
        field = event_time_field(topic)
        decoded = []
        for message in from_simulate[topic]:
            record = deserializer(message.value, SerializationContext(message.topic, MessageField.VALUE))
            assert message.timestamp == epoch_millis(record[field]), f"{topic}: record timestamp"
            decoded.append(canonical(plain(record)))
        assert sorted(decoded) == sorted(map(canonical, expected.records[topic])), topic

    # The answer key lands beside them (the chain has no stage that writes it yet), keyed by store and
    # stamped with its hour.
    truth = consume_messages(stack, [names[TRUTH]], len(expected.records[TRUTH]), deadline_seconds=60)
    decoded = []
    for message in truth:
        record = deserializer(message.value, SerializationContext(message.topic, MessageField.VALUE))
        assert message.key == record["store_id"].encode()
        assert message.timestamp == epoch_millis(record["hour"])
        decoded.append(canonical(plain(record)))
    assert sorted(decoded) == sorted(map(canonical, expected.records[TRUTH]))
    assert message_count(stack, names[TRUTH]) == len(decoded) == 2 * 24


def offsets_so_far(stack: dict[str, str], names: dict[str, str]) -> int:
    """The topics' end offsets summed; 0 while the run is still creating them (their partitions have
    no leader yet, and the broker says so)."""
    try:
        return sum(end_offsets(stack, names[t]) for t in OUTPUTS)
    except KafkaException:
        return 0


def committed_total(stack: dict[str, str], names: dict[str, str]) -> int:
    return sum(message_count(stack, names[t]) for t in OUTPUTS)


def test_an_interrupted_run_started_again_leaves_no_duplicate(stack: dict[str, str], tmp_path: Path) -> None:
    """Killed (SIGKILL) inside a transaction after some have committed, then run again with the same
    arguments: the topics hold the embedded run's events once each; a third run produces nothing."""
    customers = "400"
    expected = simulate(
        tmp_path / "embedded",
        "--store-ids",
        STORES,
        "--start",
        START[:10],
        "--days",
        "1",
        "--seed",
        SEED,
        env={"BASE_DAILY_CUSTOMERS": customers},
        fmt="json",
    )
    total = sum(len(expected.records[t]) for t in OUTPUTS)
    names = unique_names()
    args = ("--format", "json", "--events-per-transaction", "2000")
    first = simulate_into_kafka(stack, names, *args, customers=customers)
    try:
        # Past a few transactions' worth of offsets (markers and the open transaction included).
        assert wait_until(lambda: offsets_so_far(stack, names) > 10_000, first, 120), (
            first.communicate()[1][-3000:] if first.poll() is not None else "no progress in 120 s"
        )
    finally:
        first.kill()
        first.wait(10)
    interrupted = committed_total(stack, names)
    assert 0 < interrupted < total, f"{interrupted} of {total} committed: the kill came too late or too early"

    out = finished(simulate_into_kafka(stack, names, *args, customers=customers))
    assert f"{interrupted:,} events were already in Kafka" in out, out
    assert f"produced {total - interrupted:,}" in out, out
    got = consume_messages(stack, [names[t] for t in OUTPUTS], total)
    logical = {name: topic for topic, name in names.items()}
    for topic in OUTPUTS:
        have = sorted(canonical(json.loads(m.value)) for m in got if logical[m.topic] == topic)
        assert have == sorted(map(canonical, expected.records[topic])), topic
        assert message_count(stack, names[topic]) == len(expected.records[topic]), f"{topic}: duplicates"

    again = finished(simulate_into_kafka(stack, names, *args, customers=customers))
    assert f"{total:,} events were already in Kafka" in again, again
    assert "produced 0 " in again, again
    assert committed_total(stack, names) == total


def test_a_broker_that_is_not_there_is_one_line_naming_it(stack: dict[str, str]) -> None:
    env = admin_env(stack, unique_names())
    result = subprocess.run(
        [
            STORESIM,
            "simulate",
            "--kafka",
            "127.0.0.1:1",
            "--format",
            "json",
            "--stores",
            "1",
            "--start",
            START[:10],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "KAFKA_BROKER=127.0.0.1:1" in lines[0], result.stderr
