"""`storesim simulate --kafka`: the embedded run into Kafka, resumable, with the usual progress and summary.

The run's fingerprint names its transactional.id and checkpoint (see storesim.kafka._sink): it covers
everything that decides the events (the plan with its settings, the data files, the format) and where
they go (the topic names), so the same command in the same environment resumes, and any change starts
a run of its own.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from storesim.cli._errors import UsageError
from storesim.data import Dataset
from storesim.embedded import SimulationPlan, simulate

__all__ = ["run_fingerprint", "simulate_into_kafka"]


def run_fingerprint(
    plan: SimulationPlan, data: Path | None, output_format: str, names: dict[str, str]
) -> str:
    digest = hashlib.sha256()
    digest.update(repr(plan).encode())
    digest.update(f"|{output_format}|{sorted(names.items())}|".encode())
    if data is not None:
        for path in sorted(p for p in data.iterdir() if p.is_file()):
            digest.update(path.name.encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:20]


def simulate_into_kafka(
    plan: SimulationPlan,
    dataset: Dataset,
    data: Path | None,
    output_format: str,
    broker: str,
    registry: str | None,
    events_per_transaction: int,
    *,
    seed_given: bool,
    quiet: bool,
) -> None:
    from storesim.cli._report import print_summary, progress_bar
    from storesim.kafka import KafkaSink, RegistryError, SinkError, TopicsError
    from storesim.settings import AdminSettings

    if events_per_transaction < 1:
        raise UsageError(f"--events-per-transaction: must be at least 1, got {events_per_transaction}")
    registry_url = registry if registry is not None else os.environ.get("SCHEMA_REGISTRY_URL")
    if output_format == "avro" and not registry_url:
        raise UsageError("--registry: Avro into Kafka needs the schema registry (or use --format json)")
    admin = AdminSettings.from_env()
    names = admin.topic_names()
    run_id = run_fingerprint(plan, data, output_format, names)
    # A run without a seed of its own has a random one: the command repeated resumes only with it.
    resume = "" if seed_given else f"with --seed {plan.seed} "
    try:
        with (
            KafkaSink(
                broker,
                registry_url if output_format == "avro" else None,
                names,
                run_id=run_id,
                partitions=admin.topic_partitions,
                replication=admin.topic_replication_factor,
                events_per_transaction=events_per_transaction,
                timeout=15,
            ) as sink,
            progress_bar(plan.utc_window, enabled=not quiet and sys.stderr.isatty()) as progress,
        ):
            summary = simulate(plan, dataset, sink.write, progress, sink.write_late)
    except (SinkError, TopicsError, RegistryError) as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        print(f"the open transaction is aborted; the same command {resume}finishes the run", file=sys.stderr)
        raise
    if quiet:
        return
    earlier = (
        f"{sink.resumed:,} events were already in Kafka from an earlier run of this command; "
        if sink.resumed
        else ""
    )
    note = (
        f"{earlier}produced {sink.produced:,} to {broker} (run {run_id}; the same command {resume}resumes it)"
    )
    print_summary(summary, names, column="Kafka topic", note=note)
