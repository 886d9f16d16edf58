"""Basket count and average basket value per store and UTC hour, from storesim's `pos_transactions`.

Flink SQL through PyFlink. The `avro-confluent` format decodes the Confluent-framed values itself: it
reads the writer schema's id from bytes 1-4, fetches that schema from the registry (its
Confluent-compatible API) and resolves it into the reader schema that the table's columns make, so a
subject with several versions is read as one table. The topic is written in Kafka transactions, hence
`properties.isolation.level = read_committed`. Money is an Avro decimal (bytes, precision 12, scale 2):
DECIMAL(12, 2) here, summed and averaged as decimals.

A basket is one pos_transactions record; its value is the sum of its items' `total_price`. The job
sums each basket within the hour (a one-hour TUMBLE over `timestamp`, its event time) and then
aggregates the baskets of each store and hour (a cascaded window over the first one's `window_time`):
`baskets`, `basket_total` and `avg_basket_value` (Flink's AVG of a DECIMAL: DECIMAL(38, 6), the quotient
rounded half up).

`--bounded` (what the tests run) reads up to the offsets that are the latest when the job starts
(`scan.bounded.mode = latest-offset`); the end of the input then closes every window. The results are
JSON lines in files under OUT (a streaming filesystem sink: with `--bounded`, its files are committed
when the input ends; unbounded, at the checkpoints, every 10 s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from pyflink.common import Configuration
from pyflink.table import EnvironmentSettings, TableEnvironment

COLUMNS = ("store_id", "hour", "baskets", "basket_total", "avg_basket_value")


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def source_ddl(topic: str, bootstrap_servers: str, registry: str, bounded: bool) -> str:
    """The Kafka table of pos_transactions: only the columns used here (Avro resolution skips the
    writer's other fields), event time `timestamp` with a watermark one minute behind it."""
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": bootstrap_servers,
        "properties.isolation.level": "read_committed",
        "scan.startup.mode": "earliest-offset",
        "value.format": "avro-confluent",
        "value.avro-confluent.url": registry,
    }
    if bounded:
        options["scan.bounded.mode"] = "latest-offset"
    with_clause = ",\n  ".join(f"{_literal(key)} = {_literal(value)}" for key, value in options.items())
    return f"""
CREATE TEMPORARY TABLE pos_transactions (
  transaction_id STRING,
  store_id STRING,
  `timestamp` TIMESTAMP(3),
  items ARRAY<ROW<total_price DECIMAL(12, 2)>>,
  WATERMARK FOR `timestamp` AS `timestamp` - INTERVAL '1' MINUTE
) WITH (
  {with_clause}
)"""


def sink_ddl(out: Path) -> str:
    """JSON lines under ``out``. Unbounded, a part file is committed at the first checkpoint after it
    rolls, and it rolls within 10 s (the default, 30 minutes, would show nothing for that long)."""
    return f"""
CREATE TEMPORARY TABLE results (
  store_id STRING,
  `hour` STRING,
  baskets BIGINT,
  basket_total DECIMAL(38, 2),
  avg_basket_value DECIMAL(38, 6)
) WITH (
  'connector' = 'filesystem',
  'path' = {_literal(out.as_uri())},
  'format' = 'json',
  'json.encode.decimal-as-plain-number' = 'true',
  'sink.rolling-policy.rollover-interval' = '10 s',
  'sink.rolling-policy.check-interval' = '10 s'
)"""


# One row per item, with its basket's key and time; a basket without items keeps one row (NULL price).
LINES = """
CREATE TEMPORARY VIEW lines AS
SELECT p.transaction_id, p.store_id, p.`timestamp`, i.total_price
FROM pos_transactions AS p LEFT JOIN UNNEST(p.items) AS i (total_price) ON TRUE"""

# Each basket's value, within the hour of its time (renamed: the next window adds its own window_start).
BASKETS = """
CREATE TEMPORARY VIEW baskets AS
SELECT window_time AS basket_time, store_id, transaction_id,
       COALESCE(SUM(total_price), CAST(0 AS DECIMAL(38, 2))) AS basket_value
FROM TABLE(TUMBLE(TABLE lines, DESCRIPTOR(`timestamp`), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, window_time, store_id, transaction_id"""

HOURLY = """
INSERT INTO results
SELECT store_id,
       DATE_FORMAT(window_start, 'yyyy-MM-dd''T''HH:mm:ss''Z''') AS `hour`,
       COUNT(*) AS baskets,
       SUM(basket_value) AS basket_total,
       AVG(basket_value) AS avg_basket_value
FROM TABLE(TUMBLE(TABLE baskets, DESCRIPTOR(basket_time), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, store_id"""


def environment(jars: Sequence[Path], bounded: bool, conf: Sequence[tuple[str, str]]) -> TableEnvironment:
    """A streaming table environment on a local mini-cluster: the connector and format jars from the
    local cache (`pipeline.jars`), parallelism 1, UTC, every server it starts on loopback; checkpoints
    only when unbounded (a bounded job would wait for one more before it finishes)."""
    # PyFlink starts a server for Python functions' workers on every interface in a local job, unless
    # its workers run as processes; this job has no Python function, so it never starts one at all.
    os.environ.setdefault("_python_worker_execution_mode", "process")
    config = Configuration()
    settings = {
        "pipeline.jars": ";".join(jar.resolve().as_uri() for jar in jars),
        "parallelism.default": "1",
        "table.local-time-zone": "UTC",
        "rest.bind-address": "127.0.0.1",
        "rest.address": "127.0.0.1",
        "jobmanager.bind-host": "127.0.0.1",  # the BLOB server's address too
        "taskmanager.bind-host": "127.0.0.1",
        **({} if bounded else {"execution.checkpointing.interval": "10 s"}),  # commits the sink's files
        **dict(conf),
    }
    for key, value in settings.items():
        config.set_string(key, value)
    return TableEnvironment.create(
        EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(config).build()
    )


def read_results(out: Path) -> list[dict[str, Any]]:
    """The committed rows under ``out`` (not the sink's hidden in-progress files), decimals as text."""
    rows: list[dict[str, Any]] = []
    for part in sorted(out.rglob("*")):
        if part.is_file() and not part.name.startswith((".", "_")):
            rows += [json.loads(line, parse_float=str) for line in part.read_text().splitlines() if line]
    return sorted(rows, key=lambda row: (row["store_id"], row["hour"]))


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """The rows as text: a header, then one line per row, each column as wide as its widest cell."""
    cells = [list(columns), *([str(row[column]) for column in columns] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in cells
    )


def _conf(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", default=env("KAFKA_BROKER"), help="[default: KAFKA_BROKER]")
    parser.add_argument(
        "--registry", default=env("SCHEMA_REGISTRY_URL"), help="[default: SCHEMA_REGISTRY_URL]"
    )
    parser.add_argument("--pos-transactions", default=env("POS_TOPIC", "pos_transactions"), metavar="TOPIC")
    parser.add_argument("--out", type=Path, required=True, help="directory of the results (new or empty)")
    parser.add_argument("--bounded", action="store_true", help="read up to the latest offsets, then stop")
    parser.add_argument("--jars", default="", help="comma-separated local jars (the runner passes them)")
    parser.add_argument("--conf", type=_conf, action="append", default=[], help="KEY=VALUE for Flink")
    args = parser.parse_args(argv)
    for name, variable in (("bootstrap_servers", "KAFKA_BROKER"), ("registry", "SCHEMA_REGISTRY_URL")):
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} (or {variable}) is required")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out}: not empty (the sink adds files; earlier results would count twice)")
    return args


def results_stream() -> TextIO:
    """Standard output for the results alone: the JVM that PyFlink starts inherits file descriptor 1,
    and Flink's logging writes to it (at shutdown, too, after the results were printed), so the
    process's own descriptor 1 becomes standard error and the results go to a duplicate of the
    original."""
    sys.stdout.flush()
    results = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return results


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = results_stream()
    tables = environment([Path(jar) for jar in args.jars.split(",") if jar], args.bounded, args.conf)
    tables.execute_sql(source_ddl(args.pos_transactions, args.bootstrap_servers, args.registry, args.bounded))
    tables.execute_sql(sink_ddl(out))
    tables.execute_sql(LINES)
    tables.execute_sql(BASKETS)
    tables.execute_sql(HOURLY).wait()
    rows = read_results(out)
    print(table(rows, COLUMNS), file=results, flush=True)
    print(f"{len(rows)} store-hours in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
