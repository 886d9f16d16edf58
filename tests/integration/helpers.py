"""Helpers of the integration tests: the CLI as a subprocess, per-test topic names, consuming topics."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from confluent_kafka import Consumer, Message
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from storesim.events import OUTPUTS
from storesim.settings import AdminSettings
from tests.conftest import plain

GARBAGE_KEY = b"garbage"
T = TypeVar("T")
STORESIM = str(Path(sys.executable).with_name("storesim"))
ADMIN_TOPIC_VARIABLES = AdminSettings.topic_variables()


def unique_names() -> dict[str, str]:
    """Topic names of one test only: the stack outlives test runs."""
    run = uuid.uuid4().hex[:8]
    return {topic: f"{topic}.{run}" for topic in OUTPUTS}


def base_env(stack: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ADMIN_TOPIC_VARIABLES.values()}
    env.update(stack)
    env.update(extra)
    return env


def admin_env(stack: dict[str, str], names: dict[str, str], **extra: str) -> dict[str, str]:
    env = base_env(stack, **extra)
    env.update({ADMIN_TOPIC_VARIABLES[topic]: name for topic, name in names.items()})
    env.setdefault("DLQ_TOPIC", f"storesim.dlq.{names['refunds']}")
    env.setdefault("STORE_CONTROL_TOPIC", f"storesim.stores.{names['refunds']}")
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STORESIM, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def prepare_topics(stack: dict[str, str], names: dict[str, str], partitions: int = 3) -> None:
    env = admin_env(stack, names, TOPIC_PARTITIONS=str(partitions))
    for command in (["topics", "create"], ["schemas", "register"]):
        result = run(command, env)
        assert result.returncode == 0, result.stderr


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_FIRST_PORT = 20000  # above the stack's own ports (12379-19093)
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never handed out before in this session, and below the kernel's
    ephemeral range: a port the kernel picks from that range is free only until some client's outgoing
    connection takes it, which once cost a chain's service its metrics port."""
    low = _ephemeral_low()
    for port in random.sample(range(_FIRST_PORT, low), min(2000, low - _FIRST_PORT)):
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))  # the services' ops servers listen on every address
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {_FIRST_PORT} and {low}")


def _read(
    stack: dict[str, str],
    topics: list[str],
    expected: int,
    deadline_seconds: float,
    convert: Callable[[Message], T | None],
) -> list[T]:
    """``convert`` of every message of ``topics`` from the start (None: not counted), until ``expected``."""
    consumer = Consumer(
        {
            "bootstrap.servers": stack["KAFKA_BROKER"],
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe(topics)
    out: list[T] = []
    deadline = time.monotonic() + deadline_seconds
    try:
        while len(out) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            item = convert(message)
            if item is not None:
                out.append(item)
    finally:
        consumer.close()
    return out


def consume(
    stack: dict[str, str], topics: list[str], expected: int, deadline_seconds: float = 90
) -> list[tuple[str, str, dict[str, Any]]]:
    """(topic, key, record) of every message, decoded only through the registry, until ``expected``."""
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": stack["SCHEMA_REGISTRY_URL"]}))

    def decode(message: Message) -> tuple[str, str, dict[str, Any]] | None:
        if message.key() == GARBAGE_KEY:
            return None  # the bytes a test wrote on purpose are the DLQ's business, not ours
        topic = str(message.topic())
        record = deserializer(message.value(), SerializationContext(topic, MessageField.VALUE))
        key = (message.key() or b"").decode()
        return topic, key, plain(record)

    return _read(stack, topics, expected, deadline_seconds, decode)


def consume_raw(
    stack: dict[str, str], topics: list[str], expected: int, deadline_seconds: float = 90
) -> list[tuple[str, bytes, dict[str, str]]]:
    """(topic, value, headers) of every message, undecoded, until ``expected``."""

    def raw(message: Message) -> tuple[str, bytes, dict[str, str]]:
        headers = {k: (v or b"").decode() for k, v in message.headers() or []}
        return str(message.topic()), message.value() or b"", headers

    return _read(stack, topics, expected, deadline_seconds, raw)


class Landed(NamedTuple):
    """A message as it landed: where, its key, its undecoded value and its record timestamp (ms)."""

    topic: str
    partition: int
    key: bytes
    value: bytes
    timestamp: int


def consume_messages(
    stack: dict[str, str], topics: list[str], expected: int, deadline_seconds: float = 90
) -> list[Landed]:
    """Every message of ``topics``, undecoded, with its partition and timestamp, until ``expected``."""

    def landed(message: Message) -> Landed:
        return Landed(
            str(message.topic()),
            int(message.partition() or 0),
            message.key() or b"",
            message.value() or b"",
            message.timestamp()[1],
        )

    return _read(stack, topics, expected, deadline_seconds, landed)


def readyz(port: int) -> int:
    """The HTTP status of a service's /readyz (0 while nothing listens)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, ConnectionError):
        return 0


def wait_until(
    condition: Callable[[], bool],
    watched: subprocess.Popen[str] | None,
    deadline_seconds: float,
    interval: float = 0.1,
) -> bool:
    """Polls ``condition`` until it holds or the deadline passes; between polls it waits on ``watched``,
    so the wait ends (False) as soon as that process exits (with no process: it just waits)."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        if watched is None:
            time.sleep(interval)
            continue
        try:
            watched.wait(timeout=interval)
        except subprocess.TimeoutExpired:
            continue
        return False  # the watched process exited
    return False


def stop_process(process: subprocess.Popen[str], timeout: float) -> int:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``; its exit code (-9 when killed)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(5)


def wait_ready(service: subprocess.Popen[str], port: int, deadline_seconds: float = 30) -> bool:
    """Polls /readyz until 200; a crash of the service ends the wait."""
    return wait_until(lambda: readyz(port) == 200, service, deadline_seconds)


def end_offsets(stack: dict[str, str], topic: str) -> int:
    """The sum of the topic's end offsets: grows as it is written to (markers included), for progress."""
    from confluent_kafka import TopicPartition

    consumer = Consumer({"bootstrap.servers": stack["KAFKA_BROKER"], "group.id": f"ends-{uuid.uuid4()}"})
    try:
        numbers = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, n), timeout=10, cached=False)[1]
            for n in numbers
        )
    finally:
        consumer.close()


def message_count(stack: dict[str, str], topic: str, deadline_seconds: float = 60) -> int:
    """How many committed messages the topic holds: read (read_committed) to the end of every partition.
    Offsets do not count them: transaction markers take offsets too."""
    from confluent_kafka import TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": stack["KAFKA_BROKER"],
            "group.id": f"count-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        numbers = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        ends = {}
        starts = []
        for number in numbers:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, number), timeout=10, cached=False
            )
            ends[number] = high
            starts.append(TopicPartition(topic, number, low))
        consumer.assign(starts)
        total = 0
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            positions = consumer.position([TopicPartition(topic, n) for n in numbers])
            if all(tp.offset >= ends[tp.partition] or ends[tp.partition] == 0 for tp in positions):
                return total
            for message in consumer.consume(1000, timeout=0.5):
                if message.error() is None:
                    total += 1
        raise AssertionError(f"{topic}: could not read to the end in {deadline_seconds} s")
    finally:
        consumer.close()
