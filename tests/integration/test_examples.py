"""The consumer examples (examples/spark, examples/flink) on the real stack: a backfilled run in Kafka
(`storesim simulate --kafka`), each example run as a subprocess from its own environment, and its
figures per store and UTC hour equal, to the cent, to the answer key (the run's storesim.truth topic,
read through the registry) and to those computed from the embedded run of the same seed; the Spark job
also reads a subject with two schema versions, and stops, naming it, at an id that is not one of them."""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import fastavro
import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from storesim.events import TRUTH, raw_schema
from tests.integration.helpers import consume, free_port, prepare_topics, unique_names
from tests.integration.runs import embedded
from tests.integration.test_simulate_kafka import STORES, finished, simulate_into_kafka

REPO = Path(__file__).resolve().parents[2]
SPARK = REPO / "examples" / "spark" / "run"
FLINK = REPO / "examples" / "flink" / "run"
# A JVM that starts cold, a few seconds of work; the runner installs the example first if it must.
EXAMPLE_TIMEOUT = 600

Records = Mapping[
    str, Sequence[Mapping[str, Any]]
]  # logical topic → its records, as the embedded run has them
Key = tuple[str | None, str]  # (store_id, UTC hour as 2025-03-28T05:00:00Z)


class NetRevenue(NamedTuple):
    revenue: Decimal
    refunds: Decimal
    net_revenue: Decimal
    transactions: int
    refund_count: int


MONEY_SCALES = {"revenue": 2, "refunds": 2, "net_revenue": 2}  # NetRevenue's money, in cents


class Baskets(NamedTuple):
    baskets: int
    basket_total: Decimal
    avg_basket_value: Decimal


Shape = TypeVar("Shape", NetRevenue, Baskets)


def cents(amount: float | Decimal) -> int:
    """A money value of the embedded run's records (the float nearest to its cents) in whole cents."""
    return round(amount * 100)


def money(total_cents: int) -> Decimal:
    return Decimal(total_cents).scaleb(-2)


def utc_hour(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:00:00Z")


# What the examples must compute, from the records of a run (the tests check the answer key too).


def expected_net_revenue(records: Records) -> dict[Key, NetRevenue]:
    """Per store and UTC hour: the transactions' amounts and the refunds' amounts (each by its own
    timestamp) summed in cents, their difference, and how many of each."""
    sold: dict[Key, list[int]] = defaultdict(list)
    refunded: dict[Key, list[int]] = defaultdict(list)
    for record in records["transactions"]:
        sold[record["store_id"], utc_hour(record["timestamp"])].append(cents(record["amount"]))
    for record in records["refunds"]:
        refunded[record["store_id"], utc_hour(record["timestamp"])].append(cents(record["refund_amount"]))
    return {
        key: NetRevenue(
            money(sum(sold[key])),
            money(sum(refunded[key])),
            money(sum(sold[key]) - sum(refunded[key])),
            len(sold[key]),
            len(refunded[key]),
        )
        for key in sold.keys() | refunded.keys()
    }


def expected_baskets(records: Records) -> dict[Key, Baskets]:
    """Per store and UTC hour: how many pos_transactions records (baskets), the sum of their items'
    total_price, and its mean as Flink's AVG of a DECIMAL gives it (6 places, rounded half up)."""
    values: dict[Key, list[int]] = defaultdict(list)
    for record in records["pos_transactions"]:
        basket = sum(cents(item["total_price"]) for item in record["items"])
        values[record["store_id"], utc_hour(record["timestamp"])].append(basket)
    return {
        key: Baskets(
            len(baskets),
            money(sum(baskets)),
            (money(sum(baskets)) / len(baskets)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP),
        )
        for key, baskets in values.items()
    }


def json_lines(out: Path) -> list[dict[str, Any]]:
    """The rows of every results file under ``out`` (not the sinks' hidden or marker files), numbers
    with a fraction read as exact decimals."""
    rows: list[dict[str, Any]] = []
    for path in sorted(out.rglob("*")):
        if path.is_file() and not path.name.startswith((".", "_")):
            lines = path.read_text(encoding="utf-8").splitlines()
            rows += [json.loads(line, parse_float=Decimal) for line in lines if line.strip()]
    return rows


def keyed(rows: list[dict[str, Any]], shape: type[Shape], scales: Mapping[str, int]) -> dict[Key, Shape]:
    """The rows by (store_id, hour), as ``shape``; each decimal column must have exactly its scale
    (DECIMAL(p, s) prints s places; a double would not)."""
    out: dict[Key, Shape] = {}
    for row in rows:
        for column, scale in scales.items():
            assert isinstance(row[column], Decimal), (column, row)
            assert row[column].as_tuple().exponent == -scale, (column, row)
        key = (row["store_id"], row["hour"])
        assert key not in out, f"{key} twice"
        out[key] = shape(**{name: row[name] for name in shape._fields})
    return out


def run_example(runner: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(runner), *args], env=env, capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT, check=False
    )


def run_spark(
    stack: dict[str, str], names: Mapping[str, str], out: Path, *more: str
) -> subprocess.CompletedProcess[str]:
    """The Spark job, bounded (availableNow), its two listening ports below the ephemeral range."""
    return run_example(
        SPARK,
        *("--bootstrap-servers", stack["KAFKA_BROKER"], "--registry", stack["SCHEMA_REGISTRY_URL"]),
        *("--transactions", names["transactions"], "--refunds", names["refunds"]),
        *("--out", str(out), "--available-now"),
        *("--conf", f"spark.driver.port={free_port()}", "--conf", f"spark.blockManager.port={free_port()}"),
        *more,
    )


class Backfill(NamedTuple):
    names: dict[str, str]
    records: dict[str, list[dict[str, Any]]]
    truth: dict[Key, dict[str, Any]]  # the answer key as it landed in Kafka


def answer_key(stack: dict[str, str], names: Mapping[str, str], hours: int) -> dict[Key, dict[str, Any]]:
    """The run's storesim.truth topic as a pipeline's check reads it: through the registry alone."""
    landed = consume(stack, [names[TRUTH]], hours)
    assert len(landed) == hours, "one answer-key record per store and hour"
    return {(record["store_id"], utc_hour(record["hour"])): record for _, _, record in landed}


@pytest.fixture(scope="module")
def backfill(stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Backfill:
    """One day of stores 1 and 2 in Kafka (topics of this module only), the embedded run's records, and
    the answer key."""
    names = unique_names()
    finished(simulate_into_kafka(stack, names, "--registry", stack["SCHEMA_REGISTRY_URL"]))
    run = embedded(tmp_path_factory.mktemp("embedded"), STORES)
    return Backfill(names, run.records, answer_key(stack, names, 2 * 24))


def assert_matches_answer_key(got: dict[Key, NetRevenue], truth: dict[Key, dict[str, Any]]) -> None:
    """Every store-hour of the answer key with sales or refunds, and only those, to the cent."""
    active = {key: t for key, t in truth.items() if t["revenue"] or t["refunds"]}
    assert set(got) == set(active)
    for key, row in got.items():
        t = active[key]
        assert (row.revenue, row.refunds, row.net_revenue, row.refund_count) == (
            money(cents(t["revenue"])),
            money(cents(t["refund_amount"])),
            money(cents(t["net_revenue"])),
            t["refunds"],
        ), key


def test_spark_revenue_net_of_refunds_is_the_embedded_runs(
    stack: dict[str, str], backfill: Backfill, tmp_path: Path
) -> None:
    out = tmp_path / "net_revenue"
    result = run_spark(stack, backfill.names, out)
    assert result.returncode == 0, result.stderr[-5000:]
    expected = expected_net_revenue(backfill.records)
    assert expected, "the run has no transactions"
    got = keyed(json_lines(out), NetRevenue, MONEY_SCALES)
    assert got == expected
    assert_matches_answer_key(got, backfill.truth)
    assert sum(row.refund_count for row in expected.values()) > 0, "a run without refunds proves little"
    assert f"{len(expected)} store-hours in {out}" in result.stderr, result.stderr[-3000:]
    assert len(result.stdout.splitlines()) == 1 + len(expected), result.stdout  # a header, a line per row


# Store 2's uplink down from 10:00 to 11:30 (its messages then come in a burst, late), and 20 % of every
# ledger line sent twice with the same ids.
FAULTS = {
    "scenarios": [
        {
            "name": "uplink-2",
            "stores": ["STORE-002"],
            "window": {"start": "2025-03-28T10:00", "end": "2025-03-28T11:30"},
            "effects": {"uplinkOutage": {}},
        },
        {
            "name": "retries",
            "window": {"start": "2025-03-28", "end": "2025-03-29"},
            "effects": {"duplicates": {"probability": 0.2, "stages": ["ledger"]}},
        },
    ]
}
# Batches of this many messages: the watermark moves between them.
BATCH = "1500"


@pytest.fixture(scope="module")
def faulty(stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Backfill:
    """The day of stores 1 and 2 again, under an uplink outage and duplicates, and its answer key."""
    path = tmp_path_factory.mktemp("faults") / "scenarios.json"
    path.write_text(json.dumps(FAULTS))
    names = unique_names()
    finished(
        simulate_into_kafka(stack, names, "--registry", stack["SCHEMA_REGISTRY_URL"], "--scenario", str(path))
    )
    return Backfill(names, {}, answer_key(stack, names, 2 * 24))


def test_spark_deduplicates_and_waits_for_an_outages_late_data(
    stack: dict[str, str], faulty: Backfill, tmp_path: Path
) -> None:
    """Pointed at a run with duplicates and an uplink outage, the job matches the answer key once it
    drops the duplicates by id and its watermark covers the lateness the answer key reports (the outage's
    length, at most), read in batches so that the watermark moves during the run.

    No check that a shorter watermark loses the burst: a backfill read by offsets has its partitions (keyed
    by customer) and its two topics at different event times within a batch, so what a watermark drops
    there depends on the batch size as much as on the outage; only a job that runs along with the stream
    sees the lateness the answer key reports."""
    truth = faulty.truth
    assert sum(t["duplicates_sent"] for t in truth.values()) > 0
    assert any(t["late_events"] for t in truth.values()), "the outage held nothing"
    lateness = max(t["max_lateness_seconds"] for t in truth.values())
    assert 3600 < lateness <= 5400  # the outage's 90 minutes bound it

    out = tmp_path / "out"
    watermark = f"{lateness} seconds"
    result = run_spark(stack, faulty.names, out, "--lateness", watermark, "--max-offsets-per-trigger", BATCH)
    assert result.returncode == 0, result.stderr[-5000:]
    assert_matches_answer_key(keyed(json_lines(out), NetRevenue, MONEY_SCALES), truth)


def test_flink_baskets_are_the_embedded_runs(
    stack: dict[str, str], backfill: Backfill, tmp_path: Path
) -> None:
    out = tmp_path / "baskets"
    result = run_example(
        FLINK,
        *("--bootstrap-servers", stack["KAFKA_BROKER"], "--registry", stack["SCHEMA_REGISTRY_URL"]),
        *("--pos-transactions", backfill.names["pos_transactions"], "--out", str(out), "--bounded"),
        *("--conf", f"rest.bind-port={free_port()}", "--conf", f"blob.server.port={free_port()}"),
    )
    assert result.returncode == 0, result.stderr[-5000:]
    expected = expected_baskets(backfill.records)
    got = keyed(json_lines(out), Baskets, {"basket_total": 2, "avg_basket_value": 6})
    assert got == expected
    # The answer key: a basket per checkout, the hour's revenue their total.
    active = {key: truth for key, truth in backfill.truth.items() if truth["checkouts"]}
    assert set(got) == set(active)
    for key, row in got.items():
        checkouts, total = active[key]["checkouts"], money(cents(active[key]["revenue"]))
        mean = (total / checkouts).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        assert row == Baskets(checkouts, total, mean), key
    assert f"{len(expected)} store-hours in {out}" in result.stderr, result.stderr[-3000:]
    assert len(result.stdout.splitlines()) == 1 + len(expected), result.stdout


# --- several schema versions in one subject ---------------------------------------------------------


def framed(schema_id: int, schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    """A Confluent-framed Avro value: magic byte 0, the schema id (4 bytes, big-endian), the body."""
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), record)
    return b"\0" + schema_id.to_bytes(4, "big") + body.getvalue()


def sale(store: int, hour: int, amount: str, n: int) -> dict[str, Any]:
    return {
        "event_type": "transaction",
        "transaction_id": n,
        "product_id": f"P{n:03}",
        "store_id": f"STORE-{store:03}",
        "customer_id": f"customer-{n}",
        "amount": Decimal(amount),
        "timestamp": datetime(2025, 3, 28, hour, n % 60, tzinfo=UTC),
        "pos_transaction_id": None,
    }


def test_spark_reads_every_version_of_a_subject_and_stops_at_an_unknown_id(
    stack: dict[str, str], tmp_path: Path
) -> None:
    """v1 (storesim's schema) and v2 (a field added in front, so a v2 body read as v1 is garbage) in one
    topic: each message decoded with its own writer schema; then a message whose id is no version of
    the subject stops the job with an error that names the id."""
    names = unique_names()
    prepare_topics(stack, names)
    registry = SchemaRegistryClient({"url": stack["SCHEMA_REGISTRY_URL"]})
    subject = f"{names['transactions']}-value"
    v1 = raw_schema("transactions")
    v2 = {**v1, "fields": [{"name": "till", "type": "int", "default": 0}, *v1["fields"]]}
    id1 = registry.get_latest_version(subject).schema_id
    assert id1 is not None
    id2 = registry.register_schema(subject, Schema(json.dumps(v2), "AVRO"))
    assert id1 != id2
    old = [sale(1, 9, "10.05", 1), sale(1, 9, "0.10", 2), sale(2, 10, "3.33", 3)]
    new = [{**sale(1, 9, "7.77", 4), "till": 4}, {**sale(2, 11, "1.01", 5), "till": 2}]
    producer = Producer({"bootstrap.servers": stack["KAFKA_BROKER"]})
    for schema_id, schema, records in ((id1, v1, old), (id2, v2, new)):
        for record in records:
            producer.produce(names["transactions"], framed(schema_id, schema, record), record["customer_id"])
    assert producer.flush(30) == 0

    out = tmp_path / "two-versions"
    result = run_spark(stack, names, out)
    assert result.returncode == 0, result.stderr[-5000:]
    expected = expected_net_revenue({"transactions": [*old, *new], "refunds": []})
    assert keyed(json_lines(out), NetRevenue, {"revenue": 2}) == expected

    unknown = max(id1, id2) + 1000
    producer.produce(names["transactions"], framed(unknown, v1, sale(1, 12, "1.00", 6)), b"customer-6")
    assert producer.flush(30) == 0
    result = run_spark(stack, names, tmp_path / "unknown-id")
    assert result.returncode != 0
    assert f"{names['transactions']}: schema id {unknown} at offset " in result.stderr, result.stderr[-5000:]
