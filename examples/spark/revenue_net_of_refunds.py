"""Revenue net of refunds per store and UTC hour, from storesim's `transactions` and `refunds` topics.

A PySpark Structured Streaming job. Each Kafka value is Confluent-framed: a magic byte 0, the writer
schema's id in the next 4 bytes (big-endian), then the Avro body. Spark's `from_avro` reads a bare body
with a schema it is given, so the job strips the 5 bytes itself and takes the schemas from the registry
(its Confluent-compatible API): every version registered under `<topic>-value`, each the writer schema
of the messages that carry its id, all resolved into one reader schema (the latest version's, cut down to
the fields used here), so that a subject that evolved is still read as one table. A message whose id is
none of those versions stops the query with an error that names it, rather than being read wrongly.

The topics are written in Kafka transactions: `kafka.isolation.level=read_committed` keeps aborted and
open transactions out. Money is an Avro decimal (bytes, precision 12, scale 2), read as DECIMAL(12,2) and
summed as decimals: the figures are exact to the cent.

The results go to OUT as JSON lines, one per store and hour, rewritten whole after every micro-batch: the
aggregation runs in complete mode, because a refund changes an hour that may have closed long ago, and a
file sink (append only) would never write the last hours of a bounded run. `--available-now` (what the
tests run) reads what the topics hold when it starts, then stops; without it the job keeps reading.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.errors import StreamingQueryException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the name Spark's own documentation uses)
from pyspark.sql.avro.functions import from_avro

MONEY = "decimal(12,2)"
SUM = "decimal(22,2)"  # what Spark's sum of a DECIMAL(12,2) is
HOUR_FORMAT = "yyyy-MM-dd'T'HH:mm:ss'Z'"
COLUMNS = ("store_id", "hour", "revenue", "refunds", "net_revenue", "transactions", "refund_count")


class RegistryError(RuntimeError):
    """The registry lacks what the job needs; the message names the subject and says why."""


@dataclass(frozen=True)
class Source:
    """One input topic: what its events are, its name, the field that holds its money and its id."""

    kind: str  # "transaction" or "refund"
    topic: str
    money_field: str
    id_field: str

    @property
    def fields(self) -> tuple[str, str, str, str]:
        return ("store_id", self.money_field, "timestamp", self.id_field)


@dataclass(frozen=True)
class Schemas:
    """One subject in the registry: schema id → writer schema, and the reader schema for all of them."""

    writers: dict[int, str]
    reader: str


def _get_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def registry_schemas(registry: str, subject: str, fields: Sequence[str]) -> Schemas:
    """Every version of ``subject`` by schema id, and the reader schema: the latest version with only
    ``fields``, its record name kept, into which Avro resolves every version."""
    base = f"{registry.rstrip('/')}/subjects/{urllib.parse.quote(subject, safe='')}/versions"
    try:
        entries = [_get_json(f"{base}/{version}") for version in _get_json(base)]
    except OSError as error:  # urllib's HTTPError and URLError are both OSErrors
        raise RegistryError(f"{subject}: cannot read it from {registry}: {error}") from None
    if not entries:
        raise RegistryError(f"{subject}: no version registered in {registry}")
    writers: dict[int, str] = {}
    for entry in entries:
        kind = entry.get("schemaType") or "AVRO"  # the Confluent API leaves it out for Avro
        if kind != "AVRO" or entry.get("references"):
            raise RegistryError(
                f"{subject} v{entry['version']}: {kind} with references; this job reads plain Avro"
            )
        writers[int(entry["id"])] = entry["schema"]
    latest = json.loads(entries[-1]["schema"])
    by_name = {field["name"]: field for field in latest["fields"]}
    missing = [name for name in fields if name not in by_name]
    if missing:
        raise RegistryError(f"{subject} v{entries[-1]['version']} has no field {', '.join(missing)}")
    reader = {key: latest[key] for key in ("type", "name", "namespace") if key in latest}
    reader["fields"] = [by_name[name] for name in fields]
    return Schemas(writers, json.dumps(reader))


def schema_id(value: Column) -> Column:
    """Bytes 1-4 of a Confluent-framed value: the writer schema's id, big-endian."""
    return F.conv(F.hex(F.substring(value, 2, 4)), 16, 10).cast("int")


def decoded(source: Source, schemas: Schemas) -> Column:
    """The struct (kind, store_id, amount, timestamp, id) of a message of ``source``'s topic, its body decoded
    with the writer schema that its id names; for any other message, an error that stops the query."""
    value, offset = F.col("value"), F.col("offset").cast("string")
    body = F.expr("substring(value, 6)")  # past the magic byte and the 4-byte id
    sid = schema_id(value)
    read: Column | None = None
    for writer_id, writer in sorted(schemas.writers.items()):
        record = from_avro(body, writer, {"avroSchema": schemas.reader, "mode": "FAILFAST"})
        row = F.struct(
            F.lit(source.kind).alias("kind"),
            record["store_id"].alias("store_id"),
            record[source.money_field].cast(MONEY).alias("amount"),
            record["timestamp"].alias("timestamp"),
            record[source.id_field].cast("long").alias("id"),
        )
        read = F.when(sid == writer_id, row) if read is None else read.when(sid == writer_id, row)
    if read is None:
        raise RegistryError(f"{source.topic}-value: no version registered")
    ids = ", ".join(map(str, sorted(schemas.writers)))
    unknown = F.concat(
        F.lit(f"{source.topic}: schema id "),
        sid.cast("string"),
        F.lit(" at offset "),
        offset,
        F.lit(f" is not one of {source.topic}-value's ({ids}) when the job started: restart it"),
    )
    unframed = F.concat(F.lit(f"{source.topic}: not Confluent-framed Avro at offset "), offset)
    framed = value.isNotNull() & (F.length(value) > 5) & (F.hex(F.substring(value, 1, 1)) == "00")
    return F.when(~framed, F.raise_error(unframed)).otherwise(read.otherwise(F.raise_error(unknown)))


def net_revenue(messages: DataFrame, sources: Sequence[Source], registry: str, lateness: str) -> DataFrame:
    """Per store and UTC hour of the events' time: revenue, refunds, revenue net of refunds, counts.

    Each event once: a message sent twice with the same id (an at-least-once producer's retry, which
    storesim's duplicates scenario plays) is dropped, within a watermark of ``lateness`` behind the latest
    event time seen. An event later than that is dropped too, so ``lateness`` must cover the latest data
    the topics can hold (an uplink outage's length)."""
    event: Column | None = None
    for source in sources:
        schemas = registry_schemas(registry, f"{source.topic}-value", source.fields)
        mine = F.col("topic") == source.topic
        event = (
            F.when(mine, decoded(source, schemas))
            if event is None
            else event.when(mine, decoded(source, schemas))
        )
    assert event is not None
    events = messages.select(event.alias("e")).select("e.*")  # one pass over the messages of both topics
    events = events.withWatermark("timestamp", lateness).dropDuplicatesWithinWatermark(["kind", "id"])

    def total(kind: str) -> Column:
        return F.coalesce(F.sum(F.when(F.col("kind") == kind, F.col("amount"))), F.lit(0).cast(SUM))

    def count(kind: str) -> Column:
        return F.count(F.when(F.col("kind") == kind, F.lit(1)))

    hour = F.date_trunc("hour", F.col("timestamp")).alias("hour")  # in the session's time zone: UTC
    hourly = events.groupBy("store_id", hour).agg(
        total("transaction").alias("revenue"),
        total("refund").alias("refunds"),
        count("transaction").alias("transactions"),
        count("refund").alias("refund_count"),
    )
    return hourly.select(
        "store_id",
        F.date_format("hour", HOUR_FORMAT).alias("hour"),
        "revenue",
        "refunds",
        (F.col("revenue") - F.col("refunds")).alias("net_revenue"),
        "transactions",
        "refund_count",
    )


def session(master: str, jars: Sequence[str], conf: Sequence[tuple[str, str]]) -> SparkSession:
    """A local session: the connector jars from the local cache (nothing resolved at run time), no UI,
    UTC, few shuffle partitions (the default 200 would mean 200 state stores for a few rows)."""
    log4j = Path(__file__).with_name("log4j2.properties").resolve()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the driver's address, inherited by its JVM
    builder = (
        SparkSession.builder.master(master)
        .appName("storesim-revenue-net-of-refunds")
        .config("spark.jars", ",".join(jars))
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.adaptive.enabled", "false")  # no use in streaming; Spark warns that it is off
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.unix.domain.socket.enabled", "true")  # PySpark's own servers: no TCP port
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
    )
    for key, value in conf:
        builder = builder.config(key, value)
    return builder.getOrCreate()


def write_complete(out: Path) -> Any:
    """foreachBatch's function: the whole result table, sorted, as one JSON-lines file in ``out``."""

    def write(batch: DataFrame, batch_id: int) -> None:
        batch.orderBy("store_id", "hour").coalesce(1).write.mode("overwrite").json(str(out))

    return write


def read_results(out: Path) -> list[dict[str, Any]]:
    """The rows the job wrote (decimals as text, not floats, so that nothing is rounded)."""
    rows: list[dict[str, Any]] = []
    for part in sorted(out.glob("part-*.json")):
        rows += [json.loads(line, parse_float=str) for line in part.read_text().splitlines() if line]
    return rows


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """The rows as text: a header, then one line per row, each column as wide as its widest cell."""
    cells = [list(columns), *([str(row[column]) for column in columns] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in cells
    )


def reason(error: Exception) -> str:
    """The line of a failed query's error that holds this job's own message (raise_error's), else its
    first line: the rest is stack traces, which Spark has logged already."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    ours = [
        line[line.index("[USER_RAISED_EXCEPTION]") :] for line in lines if "[USER_RAISED_EXCEPTION]" in line
    ]
    return (ours or lines or [type(error).__name__])[0]


def _conf(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", default=env("KAFKA_BROKER"), help="[default: KAFKA_BROKER]")
    parser.add_argument(
        "--registry", default=env("SCHEMA_REGISTRY_URL"), help="[default: SCHEMA_REGISTRY_URL]"
    )
    parser.add_argument("--transactions", default=env("TRANSACTIONS_TOPIC", "transactions"))
    parser.add_argument("--refunds", default=env("KAFKA_TOPIC_REFUNDS", "refunds"))
    parser.add_argument("--out", type=Path, required=True, help="directory of the JSON-lines results")
    parser.add_argument("--checkpoint", type=Path, help="the query's checkpoint [default: OUT.checkpoint]")
    parser.add_argument("--available-now", action="store_true", help="read what is there, then stop")
    parser.add_argument(
        "--lateness",
        default="1 hour",
        help="how far behind the latest event time an event may come and still count (a Spark interval)",
    )
    parser.add_argument(
        "--max-offsets-per-trigger", type=int, help="messages per micro-batch [default: all there are]"
    )
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--jars", default="", help="comma-separated local jars (the runner passes them)")
    parser.add_argument("--conf", type=_conf, action="append", default=[], help="KEY=VALUE for Spark")
    args = parser.parse_args(argv)
    for name, variable in (("bootstrap_servers", "KAFKA_BROKER"), ("registry", "SCHEMA_REGISTRY_URL")):
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} (or {variable}) is required")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    out: Path = args.out.resolve()
    checkpoint: Path = (args.checkpoint or out.with_name(out.name + ".checkpoint")).resolve()
    sources = (
        Source("transaction", args.transactions, "amount", "transaction_id"),
        Source("refund", args.refunds, "refund_amount", "refund_id"),
    )
    spark = session(args.master, [jar for jar in args.jars.split(",") if jar], args.conf)
    try:
        messages = (
            spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", args.bootstrap_servers)
            .option("subscribe", ",".join(source.topic for source in sources))
            .option("startingOffsets", "earliest")
            .option("kafka.isolation.level", "read_committed")
            .options(**({"maxOffsetsPerTrigger": str(n)} if (n := args.max_offsets_per_trigger) else {}))
            .load()
        )
        result = net_revenue(messages, sources, args.registry, args.lateness)
        writer = result.writeStream.outputMode("complete").foreachBatch(write_complete(out))
        writer = writer.option("checkpointLocation", str(checkpoint))
        query = (writer.trigger(availableNow=True) if args.available_now else writer).start()
        query.awaitTermination()
    except RegistryError as error:
        print(f"revenue_net_of_refunds: {error}", file=sys.stderr)
        return 1
    except StreamingQueryException as error:
        print(f"revenue_net_of_refunds: the query stopped: {reason(error)}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    rows = read_results(out)
    print(table(rows, COLUMNS))
    print(f"{len(rows)} store-hours in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
