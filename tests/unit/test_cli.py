"""The `storesim` and `storesim-data-loader` command lines, run as real subprocesses."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import fastavro
import pytest
import typer

import storesim
import storesim.cli
import storesim_dataloader.cli
from storesim.events import OUTPUTS, TOPICS, TRUTH, raw_schema
from storesim.settings import environment_variables

STORESIM = Path(sys.executable).with_name("storesim")
DATA_LOADER = Path(sys.executable).with_name("storesim-data-loader")
PROGRAMS = {
    "storesim": (STORESIM, storesim.cli.app),
    "storesim-data-loader": (DATA_LOADER, storesim_dataloader.cli.app),
}

# The one thing all the simulate runs share; each case changes one option or one variable.
BASE_OPTIONS: dict[str, str] = {
    "--stores": "1",
    "--start": "2025-11-03",
    "--days": "1",
    "--seed": "1",
    "--out": "{tmp}/out",
}
SMALL_RUN = {"BASE_DAILY_CUSTOMERS": "30"}


def run(program: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs ``program`` with the storesim variables removed from the environment and ``env`` added."""
    dropped = environment_variables()
    environment = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in dropped and name not in ("COLUMNS", "LINES")
    }
    environment["PYTHONIOENCODING"] = "utf-8"
    environment.update(env or {})
    return subprocess.run(
        [str(program), *args],
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def simulate_args(
    tmp: Path, changes: Mapping[str, str | None] | None = None, *, quiet: bool = True
) -> list[str]:
    """``simulate`` with the base options, each changed (or, for None, removed) as ``changes`` says."""
    options: dict[str, str | None] = {**BASE_OPTIONS, **(changes or {})}
    args = ["simulate"]
    for option, value in options.items():
        if value is not None:
            args += [option, value.format(tmp=tmp)]
    return [*args, "-q"] if quiet else args


def assert_one_line_error(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """Exit code 2 and exactly one non-empty line on stderr that names one of ``names``."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.strip(), result.stderr
    assert any(name in line for name in names), f"{line!r} names none of {names}"
    assert "Traceback" not in line
    return line


def written_event_files(root: Path) -> list[Path]:
    return sorted([*root.rglob("*.avro"), *root.rglob("*.jsonl")])


def read_records(path: Path) -> list[Any]:
    if path.suffix == ".avro":
        with path.open("rb") as handle:
            return list(fastavro.reader(handle))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def summary_counts(stdout: str) -> dict[str, int]:
    """The per-topic event counts in the summary table: rows that start with a topic name."""
    counts: dict[str, int] = {}
    for line in stdout.splitlines():
        tokens = re.findall(r"[\w.,/-]+", line)
        if len(tokens) >= 2 and tokens[0] in TOPICS and re.fullmatch(r"[\d,]+", tokens[1]):
            counts[tokens[0]] = int(tokens[1].replace(",", ""))
    return counts


# --- help, walked from the typer apps -----------------------------------------------------------


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and sub-command of a click/typer command tree, with its path of names."""
    yield prefix, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from command_paths(sub, (*prefix, name))


def help_cases() -> list[tuple[str, tuple[str, ...]]]:
    return [
        (program, path)
        for program, (_, app) in PROGRAMS.items()
        for path, _ in command_paths(typer.main.get_command(app))
    ]


EXPECTED_COMMANDS = {
    ("storesim", ()),
    ("storesim", ("simulate",)),
    ("storesim", ("schemas",)),
    ("storesim", ("schemas", "list")),
    ("storesim", ("schemas", "show")),
    ("storesim-data-loader", ()),
    ("storesim-data-loader", ("build",)),
}


def test_the_command_walk_finds_every_known_command() -> None:
    assert set(help_cases()) >= EXPECTED_COMMANDS


@pytest.mark.parametrize(
    ("program", "path"),
    [pytest.param(program, path, id=" ".join((program, *path))) for program, path in help_cases()],
)
def test_every_command_has_help(program: str, path: tuple[str, ...]) -> None:
    executable, app = PROGRAMS[program]
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    assert (command.help or command.short_help or "").strip(), f"{program} {' '.join(path)} has no help text"

    result = run(executable, *path, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith(f"Usage: {' '.join((program, *path))} ")


def test_version() -> None:
    result = run(STORESIM, "--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"storesim {storesim.__version__}\n"
    assert storesim.__version__ == importlib.metadata.version("storesim")


@pytest.mark.parametrize(
    "args",
    [pytest.param([], id="storesim"), pytest.param(["schemas"], id="schemas")],
)
def test_a_group_without_a_command_shows_its_usage_and_fails(args: list[str]) -> None:
    result = run(STORESIM, *args)

    assert result.returncode == 2
    assert "Usage" in result.stderr


# --- bad arguments and settings: exit 2, one line, nothing written ---------------------------------


BAD_RUNS = [
    pytest.param({"--stores": "0"}, {}, ("--stores",), id="stores-0"),
    pytest.param({"--days": None, "--end": "2025-11-02"}, {}, ("--end",), id="end-before-start"),
    pytest.param({"--end": "2025-11-04"}, {}, ("--end", "--days"), id="days-and-end"),
    pytest.param({"--out": "{tmp}/afile/sub"}, {}, ("--out",), id="out-under-a-file"),
    pytest.param({"--out": "{tmp}/afile"}, {}, ("--out",), id="out-is-a-file"),
    pytest.param({}, {"PUTBACK_PROB": "1.5"}, ("PUTBACK_PROB",), id="PUTBACK_PROB=1.5"),
    pytest.param({}, {"DAILY_CUSTOMERS": "abc"}, ("DAILY_CUSTOMERS",), id="DAILY_CUSTOMERS=abc"),
    pytest.param({}, {"REFUND_PROBABILITY": "-0.1"}, ("REFUND_PROBABILITY",), id="REFUND_PROBABILITY=-0.1"),
    pytest.param({}, {"MAX_SESSION_AGE_SEC": "0"}, ("MAX_SESSION_AGE_SEC",), id="MAX_SESSION_AGE_SEC=0"),
    pytest.param({}, {"DAILY_VARIATION_PCT": "2"}, ("DAILY_VARIATION_PCT",), id="DAILY_VARIATION_PCT=2"),
    pytest.param({}, {"SEED": "abc"}, ("SEED",), id="SEED=abc"),
    pytest.param({"--format": "xml"}, {}, ("--format",), id="format-xml"),
    pytest.param({"--start": "2025-13-01"}, {}, ("--start",), id="start-month-13"),
    pytest.param({"--start": None}, {}, ("--start",), id="start-missing"),
    pytest.param(
        {"--stores": "2", "--store-ids": "1,2"}, {}, ("--store-ids", "--stores"), id="stores-and-ids"
    ),
    pytest.param({"--stores": None}, {}, ("--store-ids", "--stores"), id="no-stores"),
    pytest.param({"--stores": None, "--store-ids": "1,x"}, {}, ("--store-ids",), id="store-ids-1,x"),
    pytest.param({"--stores": None, "--store-ids": "1,1"}, {}, ("--store-ids",), id="store-ids-twice"),
    pytest.param({"--days": "0"}, {}, ("--days",), id="days-0"),
    pytest.param({"--days": "abc"}, {}, ("--days",), id="days-abc"),
    pytest.param({"--seed": "abc"}, {}, ("--seed",), id="seed-abc"),
    pytest.param({}, {"KAFKA_TOPIC": "x"}, ("KAFKA_TOPIC=x",), id="KAFKA_TOPIC-shared"),
    pytest.param(
        {}, {"KAFKA_TOPIC_REALISTIC": "foot_traffic"}, ("KAFKA_TOPIC_REALISTIC",), id="realistic-shared"
    ),
    pytest.param({}, {"POS_TOPIC": "a/b"}, ("POS_TOPIC",), id="POS_TOPIC-slash"),
    pytest.param({}, {"KAFKA_TOPIC_SHELF": ".hidden"}, ("KAFKA_TOPIC_SHELF",), id="KAFKA_TOPIC_SHELF-dot"),
    pytest.param({"--data": "{tmp}/empty"}, {}, ("store_inventory_final.parquet",), id="data-dir-empty"),
    pytest.param({"--out": None}, {}, ("--out", "--kafka"), id="neither-out-nor-kafka"),
    pytest.param({"--kafka": "127.0.0.1:1"}, {}, ("--out", "--kafka"), id="out-and-kafka"),
    pytest.param({"--out": None, "--kafka": "127.0.0.1:1"}, {}, ("--registry",), id="kafka-avro-no-registry"),
    pytest.param(
        {"--out": None, "--kafka": "127.0.0.1:1", "--format": "json", "--events-per-transaction": "0"},
        {},
        ("--events-per-transaction",),
        id="events-per-transaction-0",
    ),
]


@pytest.mark.parametrize(("changes", "env", "names"), BAD_RUNS)
def test_a_bad_argument_or_setting_is_one_line_and_exit_2(
    tmp_path: Path, changes: dict[str, str | None], env: dict[str, str], names: tuple[str, ...]
) -> None:
    (tmp_path / "afile").write_text("a regular file, so nothing can be created under it\n")
    (tmp_path / "empty").mkdir()

    result = run(STORESIM, *simulate_args(tmp_path, changes), env={**SMALL_RUN, **env})

    assert_one_line_error(result, *names)
    assert result.stdout == ""
    assert written_event_files(tmp_path) == []


def test_the_base_command_of_the_bad_cases_is_good_and_quiet(tmp_path: Path) -> None:
    """The cases above fail for their one change, not because the base command is wrong."""
    (tmp_path / "afile").write_text("a regular file\n")

    result = run(STORESIM, *simulate_args(tmp_path), env=SMALL_RUN)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""
    assert len(written_event_files(tmp_path)) == len(OUTPUTS)


# --- good runs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "suffix"), [("avro", ".avro"), ("json", ".jsonl")])
def test_a_good_run_writes_one_file_per_topic_and_a_summary(tmp_path: Path, fmt: str, suffix: str) -> None:
    out = tmp_path / "out"

    result = run(STORESIM, *simulate_args(tmp_path, {"--format": fmt}, quiet=False), env=SMALL_RUN)

    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == sorted(f"{topic}{suffix}" for topic in OUTPUTS)
    records = {topic: read_records(out / f"{topic}{suffix}") for topic in TOPICS}
    assert len(read_records(out / f"{TRUTH}{suffix}")) == 24, "the answer key: one record per store-hour"
    assert re.search(r"answer key \(store-hours\)\W+24\b", result.stdout), result.stdout
    assert records["foot_traffic"], "a day with 30 customers has foot traffic"
    assert records["shelf_events"], "and shelf events"
    assert "seed 1" in result.stdout
    for topic in TOPICS:
        assert topic in result.stdout
    assert summary_counts(result.stdout) == {topic: len(rows) for topic, rows in records.items()}


def test_the_seed_variable_is_used_when_seed_is_absent(tmp_path: Path) -> None:
    env = {**SMALL_RUN, "SEED": "5"}
    json_run = {"--seed": None, "--format": "json"}
    first = run(STORESIM, *simulate_args(tmp_path / "a", json_run, quiet=False), env=env)
    second = run(STORESIM, *simulate_args(tmp_path / "b", json_run), env=env)
    explicit = run(
        STORESIM, *simulate_args(tmp_path / "c", {"--seed": "5", "--format": "json"}), env=SMALL_RUN
    )
    other = run(STORESIM, *simulate_args(tmp_path / "d", {"--seed": "6", "--format": "json"}), env=SMALL_RUN)

    for result in (first, second, explicit, other):
        assert result.returncode == 0, result.stderr
    assert "seed 5" in first.stdout
    for topic in OUTPUTS:
        name = f"{topic}.jsonl"
        expected = (tmp_path / "a" / "out" / name).read_bytes()
        assert (tmp_path / "b" / "out" / name).read_bytes() == expected, name
        assert (tmp_path / "c" / "out" / name).read_bytes() == expected, name
    assert any(
        (tmp_path / "d" / "out" / f"{topic}.jsonl").read_bytes()
        != (tmp_path / "a" / "out" / f"{topic}.jsonl").read_bytes()
        for topic in TOPICS
    ), "another seed gives another run"


def split_avro(path: Path, seed: int, topic: str) -> tuple[dict[str, Any], bytes]:
    """An Avro container file's schema (as parsed JSON) and every byte after its header.

    The header's schema text is compared as JSON, not as bytes: fastavro.parse_schema orders a field's
    keys ("doc", "default", ...) by iterating a set, so that text depends on the process's hash seed,
    although FileSink's docstring promises that the same run writes the same bytes.
    """
    data = path.read_bytes()
    marker = hashlib.blake2b(f"{seed}/{topic}".encode(), digest_size=16).digest()
    assert marker in data, f"{path.name} lacks the sync marker derived from seed {seed}"
    with path.open("rb") as handle:
        schema = json.loads(fastavro.reader(handle).metadata["avro.schema"])
    return schema, data[data.index(marker) + len(marker) :]


def test_avro_runs_with_the_same_seed_variable_write_the_same_records(tmp_path: Path) -> None:
    env = {**SMALL_RUN, "SEED": "5"}
    for name in ("a", "b"):
        result = run(STORESIM, *simulate_args(tmp_path / name, {"--seed": None}), env=env)
        assert result.returncode == 0, result.stderr

    for topic in OUTPUTS:
        first, second = (tmp_path / name / "out" / f"{topic}.avro" for name in ("a", "b"))
        assert read_records(first) == read_records(second), topic
        assert split_avro(first, 5, topic) == split_avro(second, 5, topic), topic


def test_the_seed_option_beats_the_seed_variable(tmp_path: Path) -> None:
    result = run(STORESIM, *simulate_args(tmp_path, quiet=False), env={**SMALL_RUN, "SEED": "5"})

    assert result.returncode == 0, result.stderr
    assert "seed 1" in result.stdout
    assert "seed 5" not in result.stdout


# --- schemas ----------------------------------------------------------------------------------


def test_schemas_list_prints_every_topic() -> None:
    result = run(STORESIM, "schemas", "list")

    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == list(OUTPUTS)
    for topic, record_name, path in rows:
        assert record_name.endswith("." + raw_schema(topic)["name"])
        assert Path(path).is_file()


def test_schemas_show_prints_the_schema_as_json() -> None:
    result = run(STORESIM, "schemas", "show", "shelf_events")

    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["name"] == "ShelfEvent"
    assert schema == raw_schema("shelf_events")
    assert fastavro.parse_schema(schema)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        pytest.param(["nope"], ("nope",), id="unknown-topic"),
        pytest.param([], ("topic", "TOPIC"), id="no-topic"),
    ],
)
def test_schemas_show_without_a_known_topic_is_one_line(args: list[str], names: tuple[str, ...]) -> None:
    result = run(STORESIM, "schemas", "show", *args)

    assert_one_line_error(result, *names)
    assert result.stdout == ""


def test_an_unknown_command_is_one_line() -> None:
    assert_one_line_error(run(STORESIM, "simulat"), "simulat")
