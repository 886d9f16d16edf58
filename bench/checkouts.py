"""POS checkout throughput with Kafka transactions on and off (EXACTLY_ONCE=true|false).

The sources (clock, foot-traffic, shelf, redis-kafka-bridge) first fill foot_traffic and shelf_events
with a backfill; that part is not timed. Then one POS replica at a time reads all of it into its own
output topic: timed from its start until every checkout of the embedded run with the same seed is
committed (counted with a read_committed consumer). Prints checkouts/s and input events/s per mode and
the cost of exactly-once. Uses bench/kafka.py's stack, data and naming helpers.
Run: .venv/bin/python bench/checkouts.py [--stores N] [--customers N]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

import kafka as chain_bench  # bench/kafka.py, next to this file
from storesim.events import FOOT_TRAFFIC, POS_TRANSACTIONS, SHELF_EVENTS, TOPICS

SOURCES = ("clock", "foot-traffic", "shelf", "redis-kafka-bridge")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=3)
    parser.add_argument("--customers", type=int, default=1000, help="BASE_DAILY_CUSTOMERS per store [1000]")
    parser.add_argument("--start", default="2025-03-28")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args()
    start = date.fromisoformat(args.start)
    stack = chain_bench.stack_up()
    run = uuid.uuid4().hex[:8]
    prefix = f"bench-{run}"
    names = chain_bench.topic_names(prefix)
    settings = chain_bench.backfill_settings(args.stores, start, 1, args.seed, args.customers)
    with tempfile.TemporaryDirectory(prefix="storesim-bench-checkouts-") as tmp:
        work = Path(tmp)
        data = chain_bench.prepare_data(stack, work / "data")
        chain_bench.simulate(stack, data, work / "embedded", settings)
        expected = count_records(work / "embedded")
        outputs = {mode: f"{names[POS_TRANSACTIONS]}.{mode}" for mode in ("eos", "plain")}
        chain_bench.create_topics(stack, names, args.partitions, schemas=True)
        for output in outputs.values():
            chain_bench.create_topics(
                stack, {**names, POS_TRANSACTIONS: output}, args.partitions, schemas=True
            )
        common = chain_bench.service_settings(stack, settings, names, prefix, data)
        sources = [
            spawn(stack, work, c, {**common, **chain_bench.component_topics(c, names, prefix)})
            for c in SOURCES
        ]
        try:
            inputs = {FOOT_TRAFFIC: names[FOOT_TRAFFIC], SHELF_EVENTS: names[SHELF_EVENTS]}
            wait_until(lambda: all(committed(stack, n) >= expected[t] for t, n in inputs.items()), 600)
            results = {}
            for mode, output in outputs.items():
                pos_env = {
                    **common,
                    **chain_bench.component_topics("pos", names, prefix),
                    "POS_TOPIC": output,
                    "GROUP_ID_FOOT": f"pos.{prefix}.{mode}",
                    "EXACTLY_ONCE": str(mode == "eos").lower(),
                    "REPLICA_ID": f"pos-{mode}",
                    "STATE_DIR": str(work / "state" / mode),
                }
                began = time.perf_counter()
                pos = spawn(stack, work, "pos", pos_env)
                try:
                    wait_until(lambda o=output: committed(stack, o) >= expected[POS_TRANSACTIONS], 600)
                    results[mode] = time.perf_counter() - began
                finally:
                    pos.terminate()
                    pos.wait(15)
        finally:
            for source in sources:
                source.terminate()
                source.wait(15)
    checkouts = expected[POS_TRANSACTIONS]
    read = expected[FOOT_TRAFFIC] + expected[SHELF_EVENTS]
    print(f"machine: {platform.platform()}, Python {platform.python_version()}")
    print(f"run: {args.stores} stores x 1 day from {args.start}, BASE_DAILY_CUSTOMERS={args.customers}")
    print(f"input: {read:,} foot_traffic + shelf_events messages; output: {checkouts:,} checkouts")
    for mode, seconds in results.items():
        label = "transactions on " if mode == "eos" else "transactions off"
        print(
            f"{label}: {seconds:.2f} s, {checkouts / seconds:,.0f} checkouts/s, "
            f"{read / seconds:,.0f} input events/s"
        )
    print(f"exactly-once costs {results['eos'] / results['plain'] - 1:+.0%} in time (POS start included)")
    return 0


def count_records(out: Path) -> dict[str, int]:
    import fastavro

    counts = {}
    for topic in TOPICS:
        with (out / f"{topic}.avro").open("rb") as handle:
            counts[topic] = sum(1 for _ in fastavro.reader(handle))
    return counts


def spawn(
    stack: dict[str, str], work: Path, component: str, settings: dict[str, str]
) -> subprocess.Popen[bytes]:
    """A service with the stack's addresses and a free metrics port; its output in a log under ``work``."""
    environment = chain_bench.env(stack, **settings, METRICS_PORT=str(chain_bench.free_port()))
    log = (work / f"{component}.{uuid.uuid4().hex[:4]}.log").open("wb")
    return subprocess.Popen([chain_bench.STORESIM, "run", component], env=environment, stdout=log, stderr=log)


def committed(stack: dict[str, str], topic: str) -> int:
    """Messages a read_committed consumer finds in the topic (markers take offsets, so count them)."""
    consumer = Consumer(
        {
            "bootstrap.servers": stack["KAFKA_BROKER"],
            "group.id": f"bench-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "log_level": 3,
        }
    )
    try:
        numbers = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        ends = {n: consumer.get_watermark_offsets(TopicPartition(topic, n), timeout=10)[1] for n in numbers}
        consumer.assign([TopicPartition(topic, n, 0) for n in numbers])
        total, deadline = 0, time.monotonic() + 60
        while time.monotonic() < deadline:
            positions = consumer.position([TopicPartition(topic, n) for n in numbers])
            if all(tp.offset >= ends[tp.partition] or ends[tp.partition] == 0 for tp in positions):
                break
            total += sum(1 for m in consumer.consume(5000, timeout=0.2) if m.error() is None)
        return total
    finally:
        consumer.close()


def wait_until(condition: object, deadline_seconds: float) -> None:
    assert callable(condition)
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"gave up after {deadline_seconds:.0f} s")
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
