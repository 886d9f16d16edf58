"""Kafka throughput: storesim's streamed backfill against plain librdkafka on the same events and broker.

(a) plain librdkafka: the events of an embedded run (`storesim simulate`), pre-encoded as Confluent-framed
    Avro, produced with confluent_kafka.Producer and storesim's producer settings, keyed as the services
    key them, to fresh topics; timed from the first produce() to flush() returning. This is the limit.
(b) storesim: the seven services (`storesim run clock|foot-traffic|shelf|redis-kafka-bridge|pos|register|
    ledger`) as subprocesses in CLOCK_MODE=backfill for the same stores, days and seed; timed from
    starting them until every expected event is in Kafka (the topics' end offsets).
(c) `storesim simulate --kafka`: the same run in one process through the registry, in transactions;
    timed as a user sees it, from starting the command until it exits (startup and data loading in).

It brings the local stack up (scripts/stack up), builds and loads the data as the chart's Job does, and
uses topics and a namespace of its own, so it can run next to the integration tests. The machine is
noisy: the three are run in turn for --rounds rounds and each ratio is taken within its round; it
prints the medians, the event count, the payload size and each ratio to (a) against its target.
Run: .venv/bin/python bench/kafka.py [--stores N] [--days N] [--customers N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from storesim.events import (
    FOOT_TRAFFIC,
    FOOT_TRAFFIC_REALISTIC,
    POS_EVENTS,
    TOPICS,
    parsed_schema,
)
from storesim.settings import AdminSettings, environment_variables

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STORESIM = str(BIN / "storesim")
DATA_LOADER = str(BIN / "storesim-data-loader")
COMPONENTS = ("clock", "foot-traffic", "shelf", "redis-kafka-bridge", "pos", "register", "ledger")
TARGETS = {"chain": 0.25, "simulate": 0.5}  # ratio to (a) the issue asks of (b) and (c)
DATA_FROM, DATA_TO = date(2025, 3, 1), date(2025, 4, 30)
# The producer settings of storesim.kafka.EventProducer.
PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 20,
    "compression.type": "lz4",
    "log_level": 3,
}
ADMIN_TOPIC_VARIABLES = AdminSettings.topic_variables()


@dataclass(frozen=True)
class Event:
    topic: str  # logical topic
    key: bytes
    value: bytes  # Confluent framing: magic byte, schema id, Avro body


@dataclass
class Service:
    component: str
    process: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (Linux /proc), 0 once it has exited."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            return -9

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class Outcome:
    events: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # component -> CPU seconds

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=3, help="stores 1..N [3]")
    parser.add_argument("--days", type=int, default=1, help="simulated days [1]")
    parser.add_argument("--customers", type=int, default=1000, help="BASE_DAILY_CUSTOMERS per store [1000]")
    parser.add_argument("--start", default="2025-03-28", help="first day, YYYY-MM-DD [2025-03-28]")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--partitions", type=int, default=3, help="partitions per topic [3]")
    parser.add_argument("--deadline", type=float, default=600, help="seconds to wait for the chain [600]")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a), (c), (b) in turn [3]")
    args = parser.parse_args()
    start = date.fromisoformat(args.start)
    last = start + timedelta(days=args.days - 1)
    if args.days < 1 or start < DATA_FROM or last > DATA_TO:
        parser.error(f"the simulated days must lie within {DATA_FROM}..{DATA_TO}")

    stack = stack_up()
    settings = backfill_settings(args.stores, start, args.days, args.seed, args.customers)
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="storesim-bench-kafka-") as tmp:
        work = Path(tmp)
        data = prepare_data(stack, work / "data")
        simulated = simulate(stack, data, work / "embedded", settings)
        events = encode_events(simulated)
        expected = dict.fromkeys(TOPICS, 0)
        for event in events:
            expected[event.topic] += 1
        for number in range(1, args.rounds + 1):
            run = uuid.uuid4().hex[:8]
            plain = produce_plain(stack, events, f"bench-{run}-plain", args.partitions)
            direct = simulate_into_kafka(
                stack, data, settings, expected, f"bench-{run}-simulate", args.partitions
            )
            chain = run_chain(
                stack, work, data, settings, expected, f"bench-{run}", args.partitions, args.deadline
            )
            rounds.append(Round(plain, chain, direct))
            print(f"round {number}: " + rates(rounds[-1]), flush=True)

    report(args, events, rounds)
    return 0 if all(r.chain is not None for r in rounds) else 1


@dataclass(frozen=True)
class Round:
    plain: Outcome
    chain: Outcome | None
    simulate: Outcome

    def ratio(self, path: str) -> float | None:
        outcome: Outcome | None = getattr(self, path)
        return outcome.rate / self.plain.rate if outcome is not None else None


def rates(one: Round) -> str:
    chain = f"{one.chain.rate:,.0f}" if one.chain is not None else "did not finish"
    return f"(a) {one.plain.rate:,.0f}, (b) {chain}, (c) {one.simulate.rate:,.0f} events/s"


def backfill_settings(stores: int, start: date, days: int, seed: int, customers: int) -> dict[str, str]:
    """The services' settings for a backfill of stores 1..``stores`` over ``days`` days from ``start``."""
    return {
        "STORE_IDS": ",".join(str(n) for n in range(1, stores + 1)),
        "SEED": str(seed),
        "SIM_START": f"{start.isoformat()}T00:00:00+00:00",
        "SIM_END": f"{(start + timedelta(days=days)).isoformat()}T00:00:00+00:00",
        "CLOCK_MODE": "backfill",
        "BASE_DAILY_CUSTOMERS": str(customers),
    }


def simulate(stack: dict[str, str], data: Path, out: Path, settings: dict[str, str]) -> Path:
    """`storesim simulate` of the same stores, days and seed as the backfill ``settings``; returns ``out``."""
    start = date.fromisoformat(settings["SIM_START"][:10])
    days = (date.fromisoformat(settings["SIM_END"][:10]) - start).days
    argv = ["simulate", "--store-ids", settings["STORE_IDS"], "--start", start.isoformat(), "--days"]
    argv += [str(days), "--seed", settings["SEED"], "--data", str(data), "--out", str(out)]
    customers = env(stack, BASE_DAILY_CUSTOMERS=settings["BASE_DAILY_CUSTOMERS"])
    check([STORESIM, *argv, "--format", "avro", "-q"], customers)
    return out


def service_settings(
    stack: dict[str, str], settings: dict[str, str], names: dict[str, str], prefix: str, data: Path
) -> dict[str, str]:
    """What every service of one bench run shares: the run's settings, names, data and broker."""
    return {
        **settings,
        "SIM_NAMESPACE": prefix,
        "DLQ_TOPIC": dlq_topic(names),
        "STORE_CONTROL_TOPIC": f"storesim.stores.{names[TOPICS[0]]}",
        "STORE_PARQUET": str(data / "store_inventory_final.parquet"),
        "DISCOUNT_PARQUET_PATH": str(data / "all_discounts.parquet"),
        "SLEEP": "0.05",
        "KAFKA_BOOTSTRAP_SERVERS": stack["KAFKA_BROKER"],
        "STATE_DIR": str(data.parent / "state"),  # the bench's temporary directory, not the caller's
    }


def stack_up() -> dict[str, str]:
    """Starts the local stack (idempotent) and returns .stack/env."""
    subprocess.run([str(REPO / "scripts" / "stack"), "up"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    lines = (REPO / ".stack" / "env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def env(stack: dict[str, str], **extra: str) -> dict[str, str]:
    """This process's environment without storesim's variables, plus the stack's and ``extra``."""
    dropped = environment_variables()  # the topic variables (AdminSettings) among them
    result = {k: v for k, v in os.environ.items() if k.upper() not in dropped}
    result.update(stack)
    result.update(extra)
    return result


def check(argv: list[str], environment: dict[str, str]) -> None:
    """Runs a command to completion; exits the bench with its output if it fails."""
    result = subprocess.run(argv, env=environment, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}")


def prepare_data(stack: dict[str, str], out: Path) -> Path:
    """The data loader's files, and its daily discounts in Postgres: what the chart's Job does."""
    check(
        [DATA_LOADER, "build", "--out", str(out), "--from", str(DATA_FROM), "--to", str(DATA_TO)], env(stack)
    )
    check([DATA_LOADER, "load-postgres", "--data", str(out)], env(stack))
    return out


def topic_names(prefix: str) -> dict[str, str]:
    return {topic: f"{topic}.{prefix}" for topic in TOPICS}


def create_topics(stack: dict[str, str], names: dict[str, str], partitions: int, *, schemas: bool) -> None:
    """`storesim topics create` (and `storesim schemas register`) for one run's names."""
    admin = env(
        stack,
        TOPIC_PARTITIONS=str(partitions),
        DLQ_TOPIC=dlq_topic(names),
        STORE_CONTROL_TOPIC=f"storesim.stores.{names[TOPICS[0]]}",
        **{ADMIN_TOPIC_VARIABLES[topic]: name for topic, name in names.items()},
    )
    check([STORESIM, "topics", "create"], admin)
    if schemas:
        check([STORESIM, "schemas", "register"], admin)


def dlq_topic(names: dict[str, str]) -> str:
    return f"storesim.dlq.{names[TOPICS[0]]}"


def encode_events(out: Path) -> list[Event]:
    """The embedded run's records as Confluent-framed Avro, keyed as the services key them."""
    import fastavro

    records: dict[str, list[dict[str, Any]]] = {}
    for topic in TOPICS:
        with (out / f"{topic}.avro").open("rb") as handle:
            records[topic] = [record for record in fastavro.reader(handle) if isinstance(record, dict)]
    keys = event_keys(records)
    header = b"\x00" + struct.pack(">I", 1)  # the schema id does not change the timing
    events: list[Event] = []
    for topic in TOPICS:
        schema = parsed_schema(topic)
        for record, key in zip(records[topic], keys[topic], strict=True):
            body = BytesIO()
            fastavro.schemaless_writer(body, schema, record)
            events.append(Event(topic, key.encode(), header + body.getvalue()))
    return events


def event_keys(records: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Each record's key: the customer, except a terminal's logins and logouts (its terminal id).

    Records without a customer_id get their customer back from the records that have it: a sensor's
    entry and exit from the session record, a basket's events from its customer_identified event.
    """
    sessions: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for record in records[FOOT_TRAFFIC]:
        cid = str(record["customer_id"])
        sessions["entry", record["store_id"], record["entry_time"]].append(cid)
        sessions["exit", record["store_id"], record["exit_time"]].append(cid)
    baskets = {
        str(r["basket_id"]): str(r["customer_id"])
        for r in records[POS_EVENTS]
        if r["event_type"] == "customer_identified"
    }
    keys: dict[str, list[str]] = {}
    for topic, rows in records.items():
        out: list[str] = []
        for record in rows:
            if record.get("customer_id") is not None:
                out.append(str(record["customer_id"]))
            elif topic == FOOT_TRAFFIC_REALISTIC:
                waiting = sessions[record["event_type"], record["store_id"], record["time"]]
                out.append(waiting.pop() if waiting else str(record["store_id"]))
            elif topic == POS_EVENTS and record.get("terminal_id") is not None:
                out.append(str(record["terminal_id"]))
            elif topic == POS_EVENTS and record.get("basket_id") is not None:
                out.append(baskets.get(str(record["basket_id"]), str(record["basket_id"])))
            else:
                out.append(str(record.get("store_id")))
        keys[topic] = out
    return keys


def produce_plain(stack: dict[str, str], events: list[Event], prefix: str, partitions: int) -> Outcome:
    """(a): every event through one confluent_kafka.Producer, from the first produce to flush()."""
    names = topic_names(prefix)
    create_topics(stack, names, partitions, schemas=False)
    producer = Producer({"bootstrap.servers": stack["KAFKA_BROKER"], **PRODUCER_CONFIG})
    producer.list_topics(timeout=10)  # connected before the clock starts
    failed = 0

    def delivered(error: KafkaError | None, _message: Message) -> None:
        nonlocal failed
        if error is not None:
            failed += 1

    produce, poll = producer.produce, producer.poll
    started = time.perf_counter()
    for event in events:
        while True:
            try:
                produce(names[event.topic], value=event.value, key=event.key, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain
                poll(0.1)
        poll(0)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
    if remaining or failed:
        sys.exit(f"plain producer: {remaining} undelivered, {failed} failed")
    return Outcome(len(events), elapsed, end_offsets(stack, names))


def simulate_into_kafka(
    stack: dict[str, str],
    data: Path,
    settings: dict[str, str],
    expected: dict[str, int],
    prefix: str,
    partitions: int,
) -> Outcome:
    """(c): `storesim simulate --kafka` of the backfill's stores, days and seed, from start to exit."""
    names = topic_names(prefix)
    start = date.fromisoformat(settings["SIM_START"][:10])
    days = (date.fromisoformat(settings["SIM_END"][:10]) - start).days
    argv = [
        STORESIM,
        "simulate",
        "--kafka",
        stack["KAFKA_BROKER"],
        "--registry",
        stack["SCHEMA_REGISTRY_URL"],
    ]
    argv += ["--store-ids", settings["STORE_IDS"], "--start", start.isoformat(), "--days", str(days)]
    argv += ["--seed", settings["SEED"], "--data", str(data), "-q"]
    environment = env(
        stack,
        BASE_DAILY_CUSTOMERS=settings["BASE_DAILY_CUSTOMERS"],
        TOPIC_PARTITIONS=str(partitions),
        **{ADMIN_TOPIC_VARIABLES[topic]: name for topic, name in names.items()},
    )
    started = time.perf_counter()
    check(argv, environment)
    elapsed = time.perf_counter() - started
    counts = committed_counts(stack, names)
    if counts != expected:
        sys.exit(f"storesim simulate --kafka: {counts} committed, expected {expected}")
    return Outcome(sum(expected.values()), elapsed, counts)


def committed_counts(stack: dict[str, str], names: dict[str, str]) -> dict[str, int]:
    """Logical topic -> the messages a read_committed consumer gets (transaction markers take offsets)."""
    consumer = Consumer(
        {
            "bootstrap.servers": stack["KAFKA_BROKER"],
            "group.id": f"bench-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }
    )
    logical = {name: topic for topic, name in names.items()}
    counts = dict.fromkeys(names, 0)
    try:
        partitions = [
            TopicPartition(name, number, 0)
            for name in names.values()
            for number in consumer.list_topics(name, timeout=10).topics[name].partitions
        ]
        consumer.assign(partitions)
        open_partitions = {(p.topic, p.partition) for p in partitions}
        deadline = time.monotonic() + 120
        while open_partitions and time.monotonic() < deadline:
            for message in consumer.consume(10_000, 0.5):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    open_partitions.discard((str(message.topic()), int(message.partition() or 0)))
                elif error is None:
                    counts[logical[str(message.topic())]] += 1
    finally:
        consumer.close()
    return counts


def run_chain(
    stack: dict[str, str],
    work: Path,
    data: Path,
    settings: dict[str, str],
    expected: dict[str, int],
    prefix: str,
    partitions: int,
    deadline: float,
) -> Outcome | None:
    """(b): the seven services in backfill mode, from starting them until Kafka holds every event."""
    names = topic_names(prefix)
    create_topics(stack, names, partitions, schemas=True)
    common = service_settings(stack, settings, names, prefix, data)
    services: list[Service] = []
    total = sum(expected.values())
    counts: dict[str, int] = {}
    done = False
    started = time.perf_counter()
    try:
        for component in COMPONENTS:
            log = work / f"{component}.log"
            environment = env(
                stack, **common, **component_topics(component, names, prefix), METRICS_PORT=str(free_port())
            )
            with log.open("wb") as handle:
                process = subprocess.Popen(
                    [STORESIM, "run", component], env=environment, stdout=handle, stderr=subprocess.STDOUT
                )
            services.append(Service(component, process, log))
        with OffsetReader(stack) as offsets:
            while time.perf_counter() - started < deadline:
                counts = offsets.counts(names)
                if all(counts[topic] >= expected[topic] for topic in TOPICS):
                    done = True
                    break
                crashed = [s for s in services if s.process.poll() is not None]
                if crashed:
                    for service in crashed:
                        print(f"{service.component} exited {service.process.returncode}:\n{service.tail()}")
                    break
                time.sleep(0.1)
        elapsed = time.perf_counter() - started
        cpu = {s.component: s.cpu_seconds() for s in services}
    finally:
        codes = {s.component: s.stop() for s in reversed(services)}
    for component, code in codes.items():
        if code != 0:
            print(f"{component} exited {code}")
    dead = end_offsets(stack, {"dlq": dlq_topic(names)})["dlq"]
    if dead:
        print(f"dead letters: {dead}")
    if not done:
        got = sum(counts.values())
        print(f"storesim chain: {got:,} of {total:,} events after {elapsed:.0f} s; per topic:")
        for topic in TOPICS:
            print(f"  {topic}: {counts.get(topic, 0):,} of {expected[topic]:,}")
        return None
    final = end_offsets(stack, names)
    extra = {t: final[t] - expected[t] for t in TOPICS if final[t] != expected[t]}
    if extra:
        # Watermarks count offsets, and a transaction's commit marker takes one per partition it
        # wrote: the transactional stages' topics show their commits here, not duplicates (the
        # chain tests count the records themselves).
        print(f"storesim chain: end offsets beyond the expected events (commit markers included): {extra}")
    return Outcome(total, elapsed, final, cpu)


def component_topics(component: str, names: dict[str, str], prefix: str) -> dict[str, str]:
    """The component's own variables for its topics, as its seed calls them (tests/integration/chain.py)."""
    stream = f"shelf_events.{prefix}"
    return {
        "clock": {},
        "foot-traffic": {
            "KAFKA_TOPIC": names["foot_traffic"],
            "KAFKA_TOPIC_REALISTIC": names["foot_traffic_realistic"],
        },
        "shelf": {
            "KAFKA_TOPIC_FOOT": names["foot_traffic"],
            "KAFKA_TOPIC_SHELF": names["shelf_events"],
            "REDIS_STREAM": stream,
            "SHELF_GROUP_ID": f"shelf.{prefix}",
        },
        "redis-kafka-bridge": {
            "KAFKA_TOPIC_SHELF": names["shelf_events"],
            "REDIS_STREAM": stream,
            "BRIDGE_CONSUMER": "bridge-0",
        },
        "pos": {
            "FOOT_TOPIC": names["foot_traffic"],
            "SHELF_TOPIC": names["shelf_events"],
            "POS_TOPIC": names["pos_transactions"],
            "GROUP_ID_FOOT": f"pos.{prefix}",
        },
        "register": {"KAFKA_TOPIC": names["pos_events"], "POS_TOPIC": names["pos_transactions"]},
        "ledger": {
            "KAFKA_TOPIC": names["transactions"],
            "KAFKA_TOPIC_REFUNDS": names["refunds"],
            "POS_TOPIC": names["pos_transactions"],
        },
    }[component]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OffsetReader:
    """How many messages topics hold, from their watermarks (no transactions: offsets count messages)."""

    def __init__(self, stack: dict[str, str]) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": stack["KAFKA_BROKER"], "group.id": f"bench-{uuid.uuid4()}", "log_level": 3}
        )
        self._partitions: dict[str, list[int]] = {}

    def __enter__(self) -> OffsetReader:
        return self

    def __exit__(self, *_: object) -> None:
        self._consumer.close()

    def counts(self, names: dict[str, str]) -> dict[str, int]:
        """Logical topic → messages in it."""
        result: dict[str, int] = {}
        for topic, name in names.items():
            if name not in self._partitions:
                metadata = self._consumer.list_topics(name, timeout=10).topics[name]
                self._partitions[name] = sorted(metadata.partitions)
            total = 0
            for number in self._partitions[name]:
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(name, number), timeout=10, cached=False
                )
                total += high - low
            result[topic] = total
        return result


def end_offsets(stack: dict[str, str], names: dict[str, str]) -> dict[str, int]:
    with OffsetReader(stack) as offsets:
        return offsets.counts(names)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(args: argparse.Namespace, events: list[Event], rounds: list[Round]) -> None:
    values = sum(len(e.value) for e in events)
    keys = sum(len(e.key) for e in events)
    cpus = os.cpu_count()
    print(f"machine: {cpus} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print(
        f"run: {args.stores} stores x {args.days} days from {args.start}, "
        f"BASE_DAILY_CUSTOMERS={args.customers}, seed {args.seed}, {args.partitions} partitions per topic, "
        f"{len(rounds)} rounds (medians; each ratio within its round)"
    )
    print(f"events: {len(events):,}")
    print(
        f"payload: {values:,} bytes of values ({values / len(events):,.0f} per event, "
        f"Confluent-framed Avro) + {keys:,} bytes of keys"
    )
    print(f"(a) plain librdkafka: {median([r.plain.rate for r in rounds]):,.0f} events/s")
    finished = [r for r in rounds if r.chain is not None]
    for label, path in (("(b) storesim chain", "chain"), ("(c) storesim simulate --kafka", "simulate")):
        outcomes = [o for o in (getattr(r, path) for r in rounds) if o is not None]
        ratios = [x for x in (r.ratio(path) for r in rounds) if x is not None]
        if not outcomes:
            print(f"{label}: did not finish in any round (see above)")
            continue
        ratio = median(ratios)
        verdict = "met" if ratio >= TARGETS[path] else "NOT met"
        print(
            f"{label}: {median([o.rate for o in outcomes]):,.0f} events/s, ratio to (a) {ratio:.3f} "
            f"(target >= {TARGETS[path]}: {verdict})"
            + (f", {len(outcomes)} of {len(rounds)} rounds finished" if len(outcomes) < len(rounds) else "")
        )
    if finished:
        cpu = finished[-1].chain.cpu if finished[-1].chain is not None else {}
        busy = ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
        total = sum(cpu.values())
        print(f"    chain's CPU seconds per service (last round): {busy} (total {total:.1f} on {cpus} CPUs)")


if __name__ == "__main__":
    sys.exit(main())
