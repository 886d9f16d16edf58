"""`storesim tail` on the real stack: what it prints of a `simulate --kafka` run is, record for record, the
embedded run of the same seed, in both formats; the filters and --max; one line for each thing that is
not there; --follow shows what arrives and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient

from storesim.events import POS_EVENTS, POS_TRANSACTIONS, SHELF_EVENTS, TRANSACTIONS, Record
from storesim.kafka._serde import json_encoder, registry_encoder
from tests.conftest import Run, simulate
from tests.integration.helpers import STORESIM, admin_env, prepare_topics, unique_names, wait_until
from tests.integration.runs import SEED, START, canonical, embedded
from tests.integration.test_simulate_kafka import STORES, finished, simulate_into_kafka

TOPICS_READ = (SHELF_EVENTS, POS_EVENTS, TRANSACTIONS)


@dataclass(frozen=True)
class Produced:
    """One `simulate --kafka` run in topics of its own, and the embedded run of the same arguments in
    both file formats (the same events, in the same order)."""

    names: dict[str, str]
    avro: Run
    json: Run


@pytest.fixture(scope="module")
def produced(stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Produced:
    names = unique_names()
    finished(simulate_into_kafka(stack, names, "--registry", stack["SCHEMA_REGISTRY_URL"]))
    out = tmp_path_factory.mktemp("tail")
    seed_json = simulate(
        out / "json",
        *("--store-ids", STORES, "--start", START[:10], "--days", "1", "--seed", SEED),
        env={"BASE_DAILY_CUSTOMERS": "50"},
        fmt="json",
    )
    return Produced(names, embedded(out / "avro", STORES), seed_json)


def tail(
    stack: dict[str, str], names: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STORESIM, "tail", *args],
        env=admin_env(stack, names),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def printed(result: subprocess.CompletedProcess[str]) -> Counter[str]:
    assert result.returncode == 0, result.stderr[-3000:]
    return Counter(canonical(json.loads(line)) for line in result.stdout.splitlines())


def avro_json(value: Any) -> Any:
    """An embedded Avro record (fastavro's datetimes) as avro-json prints it: epoch milliseconds."""
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, list):
        return [avro_json(v) for v in value]
    if isinstance(value, dict):
        return {k: avro_json(v) for k, v in value.items()}
    return value


def expected(run: Run, topics: tuple[str, ...], fmt: str) -> Counter[str]:
    return Counter(
        canonical(record if fmt == "json" else avro_json(record))
        for topic in topics
        for record in run.records[topic]
    )


def one_error_line(result: subprocess.CompletedProcess[str], *names: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("storesim: error: "), lines[0]
    assert all(name in lines[0] for name in names), lines[0]
    assert result.stdout == ""
    return lines[0]


@pytest.mark.parametrize("fmt", ["json", "avro-json"])
def test_from_the_beginning_prints_the_embedded_runs_records(
    stack: dict[str, str], produced: Produced, fmt: str
) -> None:
    names = [produced.names[t] for t in TOPICS_READ]
    result = tail(stack, produced.names, *names, "--from-beginning", "--format", fmt)

    run = produced.json if fmt == "json" else produced.avro
    want = expected(run, TOPICS_READ, fmt)
    assert printed(result) == want
    assert result.stderr.splitlines()[-1] == f"storesim tail: {sum(want.values()):,} records"


def test_max_stops_after_that_many(stack: dict[str, str], produced: Produced) -> None:
    result = tail(stack, produced.names, produced.names[SHELF_EVENTS], "--from-beginning", "--max", "7")

    got = printed(result)
    assert sum(got.values()) == 7
    assert not got - expected(produced.json, (SHELF_EVENTS,), "json")


def test_store_and_type_filters(stack: dict[str, str], produced: Produced) -> None:
    """The filters read the record: its store_id (every record of an Avro run has one) and event_type."""
    topics = (SHELF_EVENTS, POS_EVENTS, POS_TRANSACTIONS)
    types = {"pickup", "item_added", "pos_transaction"}
    result = tail(
        stack,
        produced.names,
        *[produced.names[t] for t in topics],
        *("--from-beginning", "--store", "STORE-002", "--type", "pickup", "--type", "item_added"),
        *("--type", "pos_transaction"),
    )

    want = Counter(
        canonical(seed)
        for topic in topics
        for avro, seed in zip(produced.avro.records[topic], produced.json.records[topic], strict=True)
        if avro["store_id"] == "STORE-002" and avro["event_type"] in types
    )
    assert printed(result) == want
    assert {json.loads(line)["event_type"] for line in result.stdout.splitlines()} == types


def test_a_json_run_is_read_without_a_registry_and_filtered_by_the_customers_store(
    stack: dict[str, str], produced: Produced
) -> None:
    """The seed's JSON has no store_id on shelf_events or pos_transactions: --store takes it from the
    customer id. And JSON needs no registry."""
    names = unique_names()
    finished(simulate_into_kafka(stack, names, "--format", "json"))
    env = {k: v for k, v in admin_env(stack, names).items() if k != "SCHEMA_REGISTRY_URL"}
    topics = (SHELF_EVENTS, POS_TRANSACTIONS)
    result = subprocess.run(
        [STORESIM, "tail", *[names[t] for t in topics], "--from-beginning", "--store", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    want = Counter(
        canonical(seed)
        for topic in topics
        for avro, seed in zip(produced.avro.records[topic], produced.json.records[topic], strict=True)
        if avro["store_id"] == "STORE-001"
    )
    assert printed(result) == want


def test_a_broker_that_is_not_there_is_one_line_after_a_bounded_wait(
    stack: dict[str, str], produced: Produced
) -> None:
    started = time.monotonic()
    result = tail(stack, produced.names, produced.names[SHELF_EVENTS], "--broker", "127.0.0.1:1")

    one_error_line(result, "--broker 127.0.0.1:1", "cannot reach Kafka")
    assert time.monotonic() - started < 30


def test_a_registry_that_is_not_there_is_one_line(stack: dict[str, str], produced: Produced) -> None:
    url = "http://127.0.0.1:1/apis/ccompat/v7"
    result = tail(stack, produced.names, produced.names[SHELF_EVENTS], "--from-beginning", "--registry", url)

    one_error_line(result, f"--registry {url}", "cannot reach the schema registry")


def test_avro_without_a_registry_is_one_line(stack: dict[str, str], produced: Produced) -> None:
    env = {k: v for k, v in admin_env(stack, produced.names).items() if k != "SCHEMA_REGISTRY_URL"}
    result = subprocess.run(
        [STORESIM, "tail", produced.names[SHELF_EVENTS], "--from-beginning"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    one_error_line(result, "--registry", "SCHEMA_REGISTRY_URL", "Confluent-framed Avro")


def test_a_topic_that_does_not_exist_is_one_line(stack: dict[str, str]) -> None:
    names = unique_names()  # configured, never created
    result = tail(stack, names, names[SHELF_EVENTS], names[POS_EVENTS], "--from-beginning")

    one_error_line(result, "no topic", names[SHELF_EVENTS], names[POS_EVENTS], stack["KAFKA_BROKER"])


def test_a_name_that_is_no_storesim_topic_is_one_line(stack: dict[str, str], produced: Produced) -> None:
    """Topics are named as configured (SHELF_TOPIC, ...): a renamed topic's default name is no topic of
    this configuration, and neither is Kafka's own."""
    for name in ("shelf_events", "__consumer_offsets"):
        result = tail(stack, produced.names, name, "--from-beginning")

        one_error_line(
            result, f"{name!r} is no storesim topic", f"{produced.names[SHELF_EVENTS]} (SHELF_TOPIC)"
        )


def shelf_records(run: Run, count: int) -> list[Record]:
    """The first shelf events of an embedded JSON run, as Avro-ready records."""
    from storesim.events import record_from_json

    return [record_from_json(SHELF_EVENTS, document) for document in run.records[SHELF_EVENTS][:count]]


def produce(stack: dict[str, str], topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": stack["KAFKA_BROKER"]})
    for value in values:
        producer.produce(topic, value, key=b"k", partition=0)
    assert producer.flush(30) == 0


@pytest.fixture
def scratch(stack: dict[str, str]) -> dict[str, str]:
    """Topics of one test, created with one partition, their schemas registered."""
    names = unique_names()
    prepare_topics(stack, names, partitions=1)
    return names


def test_an_undecodable_message_is_a_note_and_the_tail_goes_on(
    stack: dict[str, str], produced: Produced, scratch: dict[str, str]
) -> None:
    first, second = shelf_records(produced.json, 2)
    encode = json_encoder(SHELF_EVENTS)
    produce(stack, scratch[SHELF_EVENTS], [encode(first), b"garbage", encode(second)])

    result = tail(stack, scratch, scratch[SHELF_EVENTS], "--from-beginning")

    assert printed(result) == Counter(canonical(r) for r in produced.json.records[SHELF_EVENTS][:2])
    notes = result.stderr.splitlines()
    assert len(notes) == 2, result.stderr
    assert notes[0].startswith(f"storesim tail: {scratch[SHELF_EVENTS]} [0] offset 1: skipped: "), notes[0]
    assert notes[1] == "storesim tail: 2 records; 1 undecodable message skipped"


def test_only_committed_messages_show_and_an_open_transaction_is_not_waited_for(
    stack: dict[str, str], produced: Produced, scratch: dict[str, str]
) -> None:
    name = scratch[SHELF_EVENTS]
    encode = json_encoder(SHELF_EVENTS)
    committed, aborted, pending = (encode(r) for r in shelf_records(produced.json, 3))
    producer = Producer({"bootstrap.servers": stack["KAFKA_BROKER"], "transactional.id": name})
    producer.init_transactions(30)
    for value, commit in ((committed, True), (aborted, False), (pending, None)):
        producer.begin_transaction()
        producer.produce(name, value, key=b"k", partition=0)
        if commit is None:
            assert producer.flush(30) == 0
        elif commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    seed_lines = [canonical(r) for r in produced.json.records[SHELF_EVENTS][:3]]

    assert printed(tail(stack, scratch, name, "--from-beginning")) == Counter([seed_lines[0]])
    producer.commit_transaction(30)
    assert printed(tail(stack, scratch, name, "--from-beginning")) == Counter([seed_lines[0], seed_lines[2]])


def test_a_schema_id_the_registry_does_not_have_is_a_note_and_the_tail_goes_on(
    stack: dict[str, str], produced: Produced, scratch: dict[str, str]
) -> None:
    """As a service dead-letters it: one planted message must not hide the rest of a topic."""
    unknown = 2**31 - 7
    (good,) = shelf_records(produced.json, 1)
    framed = b"\x00" + unknown.to_bytes(4, "big") + b"\x02"
    produce(stack, scratch[SHELF_EVENTS], [framed, json_encoder(SHELF_EVENTS)(good)])

    result = tail(stack, scratch, scratch[SHELF_EVENTS], "--from-beginning")

    assert result.returncode == 0, result.stderr
    assert printed(result) == Counter(canonical(r) for r in produced.json.records[SHELF_EVENTS][:1])
    notes = result.stderr.splitlines()
    assert len(notes) == 2, result.stderr
    assert f"offset 0: skipped: undecodable: schema id {unknown} is not in the registry" in notes[0]


@dataclass
class Tailing:
    """A `storesim tail` running in the background, its output lines collected as they come."""

    process: subprocess.Popen[str]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def collect(self) -> None:
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _read(stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        for line in stream:
            lines.append(line.rstrip("\n"))

    def following(self) -> bool:
        return any(line.endswith("following (Ctrl-C stops)") for line in self.err)


@pytest.fixture
def tailing(stack: dict[str, str], scratch: dict[str, str]) -> Iterator[Callable[..., Tailing]]:
    started: list[Tailing] = []

    def start(*args: str) -> Tailing:
        process = subprocess.Popen(
            [STORESIM, "tail", *args],
            env=admin_env(stack, scratch),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # A shell that started the tests in the background may have them ignore SIGINT, and an
            # ignored signal stays ignored across exec: the tail must get Ctrl-C as a terminal sends it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        running = Tailing(process)
        running.collect()
        started.append(running)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(10)


def interrupted(running: Tailing) -> None:
    """SIGINT: exit 130 within seconds, no traceback, the last line saying so."""
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(15) == 130
    assert wait_until(lambda: bool(running.err) and "interrupted" in running.err[-1], None, 5), running.err
    assert not any("Traceback" in line for line in running.err), running.err


def avro_values(stack: dict[str, str], name: str, records: list[Record]) -> list[bytes]:
    encode = registry_encoder(SchemaRegistryClient({"url": stack["SCHEMA_REGISTRY_URL"]}), SHELF_EVENTS, name)
    return [encode(record) for record in records]


def test_follow_prints_what_arrives_and_ctrl_c_ends_it_cleanly(
    stack: dict[str, str], produced: Produced, scratch: dict[str, str], tailing: Callable[..., Tailing]
) -> None:
    records = shelf_records(produced.json, 4)
    lines = [json.dumps(r, ensure_ascii=False) for r in produced.json.records[SHELF_EVENTS][:4]]
    name = scratch[SHELF_EVENTS]
    values = avro_values(stack, name, records)
    produce(stack, name, values[:3])
    running = tailing(name, "--from-beginning", "--follow")
    assert wait_until(lambda: running.following() and len(running.out) == 3, running.process, 60), running.err

    produce(stack, name, values[3:])

    assert wait_until(lambda: len(running.out) == 4, running.process, 60), running.err
    assert running.out == lines
    interrupted(running)
    assert running.err[-1] == "storesim tail: interrupted after 4 records"


def test_without_from_beginning_only_new_messages_show(
    stack: dict[str, str], produced: Produced, scratch: dict[str, str], tailing: Callable[..., Tailing]
) -> None:
    records = shelf_records(produced.json, 3)
    name = scratch[SHELF_EVENTS]
    values = avro_values(stack, name, records)
    produce(stack, name, values[:2])
    running = tailing(name, "--format", "avro-json")
    assert wait_until(running.following, running.process, 60), running.err

    produce(stack, name, values[2:])

    assert wait_until(lambda: len(running.out) == 1, running.process, 60), running.err
    assert json.loads(running.out[0])["customer_id"] == records[2]["customer_id"]
    interrupted(running)
    assert len(running.out) == 1


def test_a_closed_pipe_ends_the_tail_quietly(stack: dict[str, str], produced: Produced) -> None:
    """`| head -1`: the reader closes its end after a line; far more than a pipe's buffer follows."""
    process = subprocess.Popen(
        [STORESIM, "tail", produced.names[SHELF_EVENTS], "--from-beginning"],
        env=admin_env(stack, produced.names),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    assert json.loads(process.stdout.readline())
    process.stdout.close()

    assert process.wait(60) == 0
    assert process.stderr.read() == ""
