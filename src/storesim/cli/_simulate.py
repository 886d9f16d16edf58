"""`storesim simulate`: the embedded mode's command line."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from storesim.cli._errors import UsageError

if TYPE_CHECKING:
    from storesim.settings import ScenarioRules
    from storesim.world import Catalogue, ScenarioBook, StoreCatalogue

__all__ = ["simulate_command"]


def _store_numbers(stores: int | None, store_ids: str | None) -> tuple[int, ...]:
    from storesim._keys import MAX_STORE

    if (stores is None) == (store_ids is None):
        raise UsageError("--stores / --store-ids / --stores-file: give exactly one of them")
    if stores is not None:
        if not 1 <= stores <= MAX_STORE:
            raise UsageError(f"--stores: must be between 1 and {MAX_STORE}, got {stores}")
        return tuple(range(1, stores + 1))
    assert store_ids is not None
    try:
        numbers = [int(part) for part in store_ids.split(",") if part.strip()]
    except ValueError:
        raise UsageError(
            f"--store-ids: expected comma-separated store numbers such as 1,4,5, got {store_ids!r}"
        ) from None
    if not numbers:
        raise UsageError("--store-ids: no store numbers given")
    if any(not 1 <= n <= MAX_STORE for n in numbers):
        raise UsageError(f"--store-ids: store numbers must be between 1 and {MAX_STORE}, got {store_ids!r}")
    if len(set(numbers)) != len(numbers):
        raise UsageError(f"--store-ids: a store is listed twice in {store_ids!r}")
    return tuple(sorted(numbers))


def _scenarios(from_env: ScenarioRules, files: list[Path]) -> ScenarioBook:
    """SCENARIO_FILE's scenarios (read by the settings) and then the --scenario files'. A run has no file
    to wait for: a SCENARIO_FILE that is not there is an error, as a --scenario one is."""
    from storesim.world import ScenarioBook, ScenariosFileError, read_scenarios_files

    if from_env.scenarios_awaited:
        missing = f"{from_env.scenario_file}: No such file or directory"
        raise UsageError(f"invalid setting SCENARIO_FILE: {missing}")
    try:
        return ScenarioBook([*from_env.scenarios.scenarios, *read_scenarios_files(files).scenarios])
    except ScenariosFileError as exc:
        raise UsageError(f"--scenario: {exc}") from None


def _check_promotions(scenarios: ScenarioBook, catalogue: Catalogue) -> None:
    """The promotions' items and categories against the data set's catalogue (known only once it is read)."""
    from storesim.world import ScenariosFileError

    try:
        scenarios.check_catalogue(catalogue)
    except ScenariosFileError as exc:
        raise UsageError(f"--scenario: {exc}") from None


def _store_catalogue(stores: int | None, store_ids: str | None, stores_file: Path | None) -> StoreCatalogue:
    """The stores to simulate: built-in ones by number, or as a stores file declares them."""
    from storesim.world import StoreCatalogue, StoresFileError, read_stores_file

    if stores_file is None:
        return StoreCatalogue.of_numbers(_store_numbers(stores, store_ids))
    if stores is not None or store_ids is not None:
        raise UsageError("--stores / --store-ids / --stores-file: give exactly one of them")
    try:
        catalogue = StoreCatalogue.of_specs(read_stores_file(stores_file))
    except StoresFileError as exc:
        raise UsageError(f"--stores-file: {exc}") from None
    if not catalogue:
        raise UsageError(f"--stores-file: {stores_file} declares no stores")
    return catalogue


def _parse_date(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: expected a date as YYYY-MM-DD, got {text!r}") from None


def _day_count(start: date, days: int | None, end: str | None) -> int:
    from storesim._keys import MAX_DAY
    from storesim._time import epoch_day

    last_allowed = date(1970, 1, 1) + timedelta(days=MAX_DAY)
    if not 0 <= epoch_day(start) <= MAX_DAY:
        raise UsageError(f"--start: must be between 1970-01-01 and {last_allowed}, got {start}")
    if days is not None and end is not None:
        raise UsageError("--days / --end: give at most one of them")
    if end is not None:
        last = _parse_date("--end", end)
        if last < start:
            raise UsageError(f"--end: {last} is before --start {start}")
        if last > last_allowed:
            raise UsageError(f"--end: must be at most {last_allowed}, got {last}")
        return (last - start).days + 1
    count = 1 if days is None else days
    if count < 1:
        raise UsageError(f"--days: must be at least 1, got {count}")
    if count > (last_allowed - start).days + 1:
        raise UsageError(
            f"--days: the run would end after {last_allowed}, the last day storesim can simulate"
        )
    return count


def _writable_dir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise UsageError(f"--out: cannot write to {out}: {exc.strerror or exc}") from None
    return out


def simulate_command(
    start: Annotated[
        str,
        typer.Option("--start", help="First simulated day (store-local), YYYY-MM-DD.", show_default=False),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for one file per topic.", show_default=False)
    ] = None,
    kafka: Annotated[
        str | None,
        typer.Option(
            "--kafka",
            help="Produce into this Kafka (bootstrap servers) instead of files [default: KAFKA_BROKER "
            "when there is no --out].",
            show_default=False,
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            help="Schema registry for Avro into Kafka [default: SCHEMA_REGISTRY_URL].",
            show_default=False,
        ),
    ] = None,
    events_per_transaction: Annotated[
        int,
        typer.Option("--events-per-transaction", help="With --kafka: events per Kafka transaction."),
    ] = 200_000,
    stores: Annotated[
        int | None, typer.Option("--stores", help="Simulate stores 1..N.", show_default=False)
    ] = None,
    store_ids: Annotated[
        str | None, typer.Option("--store-ids", help="Simulate these stores, e.g. 1,4,5.", show_default=False)
    ] = None,
    stores_file: Annotated[
        Path | None,
        typer.Option(
            "--stores-file",
            help="Simulate the stores this file declares (as the Store controller writes it).",
            show_default=False,
        ),
    ] = None,
    days: Annotated[
        int | None, typer.Option("--days", help="Number of days [default: 1].", show_default=False)
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Last simulated day, instead of --days.", show_default=False)
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Random seed [default: SEED, else a random one, shown in the summary].",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="avro (container files) or json (JSON lines).")
    ] = "avro",
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Directory written by storesim-data-loader [default: build it in memory].",
            show_default=False,
        ),
    ] = None,
    scenario: Annotated[
        list[Path] | None,
        typer.Option(
            "--scenario",
            help="A scenarios file (repeatable), after SCENARIO_FILE's: see README, Scenarios.",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
) -> None:
    """Run the whole chain for some stores and days in one process, as fast as it goes, into files or
    straight into Kafka (exactly once per run: started again, it produces only what is missing)."""
    from storesim.data import build_dataset, load_dataset
    from storesim.embedded import SimulationPlan, simulate
    from storesim.events import FileSink, OutputFormat
    from storesim.settings import (
        FootTrafficSettings,
        LedgerSettings,
        PosSettings,
        RegisterSettings,
        ShelfSettings,
    )

    if output_format not in ("avro", "json"):
        raise UsageError(f"--format: must be avro or json, got {output_format!r}")
    catalogue = _store_catalogue(stores, store_ids, stores_file)
    first_day = _parse_date("--start", start)
    day_count = _day_count(first_day, days, end)
    foot = FootTrafficSettings.from_env()
    plan_seed = seed if seed is not None else foot.seed if foot.seed is not None else secrets.randbelow(2**31)
    plan = SimulationPlan(
        scenarios=_scenarios(foot, scenario or []),
        stores=tuple(catalogue.values()),
        start=first_day,
        days=day_count,
        seed=plan_seed,
        foot=foot,
        shelf=ShelfSettings.from_env(),
        pos=PosSettings.from_env(),
        register=RegisterSettings.from_env(),
        ledger=LedgerSettings.from_env(),
    )
    broker = _broker(out, kafka)
    last_day = first_day + timedelta(days=day_count - 1)
    dataset = load_dataset(data) if data is not None else build_dataset(first_day, last_day)
    _check_promotions(plan.scenarios, dataset.catalogue)
    if broker is not None:
        from storesim.cli._simulate_kafka import simulate_into_kafka

        simulate_into_kafka(
            plan,
            dataset,
            data,
            output_format,
            broker,
            registry,
            events_per_transaction,
            seed_given=seed is not None or foot.seed is not None,
            quiet=quiet,
        )
        return
    assert out is not None
    names = plan.topic_names()
    target = _writable_dir(out)
    from storesim.cli._report import print_summary, progress_bar

    fmt: OutputFormat = "avro" if output_format == "avro" else "json"
    with (
        FileSink(target, names, fmt, plan.seed) as sink,
        progress_bar(plan.utc_window, enabled=not quiet and sys.stderr.isatty()) as progress,
    ):
        summary = simulate(plan, dataset, sink.write, progress)
    if not quiet:
        print_summary(summary, {topic: str(path) for topic, path in sink.paths.items()})


def _broker(out: Path | None, kafka: str | None) -> str | None:
    """Where the run goes: Kafka when --kafka (or, without --out, KAFKA_BROKER) says so, else files."""
    if out is not None and kafka is not None:
        raise UsageError("--out / --kafka: give one of them")
    if out is not None:
        return None
    broker = kafka if kafka is not None else os.environ.get("KAFKA_BROKER")
    if not broker:
        raise UsageError("--out / --kafka: give one of them (or set KAFKA_BROKER)")
    return broker
