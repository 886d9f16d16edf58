"""Every command that the Dockerfiles and the rendered chart run exists in storesim's CLI and parses its
arguments: each invocation is resolved through the typer apps down to its command and parsed (types
converted, unknown options rejected) without being run."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from tests.k8s.chart import CI_VALUES, REPO, pod_specs, render
from typer.core import TyperGroup

import storesim.cli
import storesim_dataloader.cli
from storesim_dataloader._files import INVENTORY_PARQUET, WEEKLY_DISCOUNTS_PARQUET

APPS: dict[str, typer.Typer] = {
    "storesim": storesim.cli.app,
    "storesim-data-loader": storesim_dataloader.cli.app,
}
DOCKERFILES = {
    "service": (REPO / "images" / "service.Dockerfile", "storesim"),
    "data-loader": (REPO / "images" / "data-loader.Dockerfile", "storesim-data-loader"),
}
DATA_DIR = "/opt/storesim-data"
CASES = [(), *[(path,) for path in CI_VALUES]]
IDS = ["default", *[path.stem for path in CI_VALUES]]
COMPONENTS = {
    "clock",
    "foot-traffic",
    "shelf",
    "redis-kafka-bridge",
    "pos",
    "register",
    "ledger",
    "truth",
    "controller",
}
COPIED = [f"{DATA_DIR}/{INVENTORY_PARQUET}", f"{DATA_DIR}/{WEEKLY_DISCOUNTS_PARQUET}", "/data/"]


def parse(program: str, args: list[str]) -> Any:
    """The command ``program args`` would run, after parsing ``args`` as the CLI does (typer's own click
    underneath: a usage error raises a TyperException)."""
    command: Any = typer.main.get_command(APPS[program])
    context = command.make_context(program, list(args))
    while isinstance(command, TyperGroup):
        name, sub, rest = command.resolve_command(context, [*context._protected_args, *context.args])
        assert sub is not None, f"{program} {args}: no command {name}"
        command = sub
        context = command.make_context(name or "", rest, parent=context)
    return command


def test_the_console_scripts_are_the_apps() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {
        "storesim": "storesim.cli:main",
        "storesim-data-loader": "storesim_dataloader.cli:main",
    }


def test_parse_rejects_what_the_cli_rejects() -> None:
    """The check can fail: an unknown component, an unknown option, a wrong type."""
    with pytest.raises(typer.TyperException, match="No such command"):
        parse("storesim", ["run", "checkout"])
    with pytest.raises(typer.TyperException, match="No such option"):
        parse("storesim-data-loader", ["load-postgres", "--dta", "/x"])
    with pytest.raises(typer.TyperException, match="valid number"):
        parse("storesim", ["topics", "check", "--timeout", "soon"])


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(instruction, arguments) of each Dockerfile line, continuations joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


@pytest.mark.parametrize("image", DOCKERFILES)
def test_the_dockerfile_entrypoint_is_the_cli(image: str) -> None:
    path, program = DOCKERFILES[image]
    instructions = _instructions(path)
    entrypoints = [json.loads(args) for op, args in instructions if op == "ENTRYPOINT"]
    commands = [json.loads(args) for op, args in instructions if op == "CMD"]
    assert entrypoints == [[program]]
    assert commands == [["--help"]]
    with pytest.raises(typer.Exit) as exit_:
        parse(program, commands[-1])
    assert exit_.value.exit_code == 0
    user = [args for op, args in instructions if op == "USER"][-1].split(":")[0]
    assert user.isdigit()
    assert int(user) > 0


def test_the_data_loader_image_builds_the_files_the_chart_copies() -> None:
    path, program = DOCKERFILES["data-loader"]
    runs = [args for op, args in _instructions(path) if op == "RUN"]
    builds = [
        shlex.split(part.strip())
        for run in runs
        for part in run.split("&&")
        if part.strip().startswith(f"/opt/storesim/bin/{program} ")
    ]
    assert builds == [[f"/opt/storesim/bin/{program}", "build", "--out", DATA_DIR]]
    parse(program, builds[0][1:])


def _invocations(objects: list[Any]) -> list[tuple[str, list[str]]]:
    """(image repository, command + args) of every container the chart runs from storesim's images."""
    found = []
    for _, spec in pod_specs(objects):
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            repository = container["image"].rsplit(":", 1)[0]
            if repository in ("storesim", "storesim-data-loader"):
                found.append((repository, [*container.get("command", []), *container.get("args", [])]))
    return found


@pytest.mark.parametrize(
    "values", [(), *[(p,) for p in CI_VALUES]], ids=["default", *[p.stem for p in CI_VALUES]]
)
def test_every_command_the_chart_runs_parses(values: tuple[Path, ...]) -> None:
    invocations = _invocations(render(values))
    run_components = set()
    for repository, argv in invocations:
        if argv[0] == "cp":  # the init container: copies the data-loader image's parquet files
            assert repository == "storesim-data-loader"
            assert argv[1:] == [
                f"{DATA_DIR}/{INVENTORY_PARQUET}",
                f"{DATA_DIR}/{WEEKLY_DISCOUNTS_PARQUET}",
                "/data/",
            ]
            continue
        command = parse(repository, argv)  # the image's ENTRYPOINT is the program of its name
        if argv[0] == "run":
            run_components.add(command.name)
    operator = not any(p.name == "no-operator-values.yaml" for p in values)
    assert run_components == (COMPONENTS if operator else COMPONENTS - {"controller"})
    assert sorted(" ".join(argv) for _, argv in invocations if argv[0] != "run" and argv[0] != "cp") == [
        "load-postgres --data /opt/storesim-data",
        "schemas register",
        "topics check --timeout " + argv_timeout(values),
        "topics create",
    ]


def argv_timeout(values: tuple[Path, ...]) -> str:
    return "1800" if any(p.name == "kind-values.yaml" for p in values) else "900"
