"""The README's first command needs nothing but Python 3.11 and PyPI.

A copy of the repository (its tracked files as they are now) runs `./scripts/storesim simulate` with a
PATH made of the system's commands minus go, java, mvn and apt-get, and a new .venv: the install must
succeed, install no test tool, and the run must write its files. Then the same copy installed with
`pip install .` (a wheel, not editable) must give a working `storesim` and `storesim-data-loader` outside
the source tree. pip reads the machine's pip cache, so only the first run on a machine downloads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from storesim.events import OUTPUTS

REPO = Path(__file__).resolve().parents[2]
ABSENT = ("go", "java", "mvn", "apt-get")
SYSTEM_DIRS = (Path("/usr/local/bin"), Path("/usr/bin"), Path("/bin"))
DAY = ("--from", "2025-11-03", "--to", "2025-11-03")
RUN = ("simulate", "--stores", "1", "--start", "2025-11-03", "--seed", "3")


def copy_of_repo(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def bare_path(bin_dir: Path) -> str:
    """A directory of links to the system's commands, without the ones the main command must not need."""
    bin_dir.mkdir()
    for directory in SYSTEM_DIRS:
        for command in sorted(directory.iterdir()) if directory.is_dir() else ():
            link = bin_dir / command.name
            if command.name in ABSENT or link.exists() or not os.access(command, os.X_OK):
                continue
            link.symlink_to(command)
    return str(bin_dir)


def test_the_main_command_installs_and_runs_without_go_java_maven_or_apt(tmp_path: Path) -> None:
    repo = copy_of_repo(tmp_path / "storesim")
    env = {
        "PATH": bare_path(tmp_path / "bin"),
        "HOME": os.environ["HOME"],  # the pip cache
        "LANG": "C.UTF-8",
    }
    for name in ABSENT:
        assert shutil.which(name, path=env["PATH"]) is None, name
    began = time.monotonic()
    run = subprocess.run(
        ["./scripts/storesim", *RUN, "--out", "out", "--quiet"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.monotonic() - began
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(p.stem for p in (repo / "out").iterdir()) == sorted(OUTPUTS), run.stderr
    assert all((repo / "out" / f"{topic}.avro").stat().st_size > 0 for topic in OUTPUTS)
    for tool in ("helm", "promtool", "pytest", "mypy"):
        assert not (repo / ".venv" / "bin" / tool).exists(), f"the main command installed {tool}"
    print(f"first ./scripts/storesim run with a fresh .venv: {seconds:.0f} s")

    # The same source as a wheel: entry points and the schemas inside the package, no source tree.
    python = repo / ".venv" / "bin" / "python"
    wheel = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", "."],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert wheel.returncode == 0, wheel.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bin_dir = repo / ".venv" / "bin"
    loader = subprocess.run(
        [str(bin_dir / "storesim-data-loader"), "build", "--out", "data", *DAY],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loader.returncode == 0, loader.stderr[-3000:]
    installed = subprocess.run(
        [str(bin_dir / "storesim"), *RUN, "--out", "out", "--quiet", "--data", "data"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    for topic in OUTPUTS:
        assert (elsewhere / "out" / f"{topic}.avro").read_bytes() == (
            repo / "out" / f"{topic}.avro"
        ).read_bytes(), f"{topic}: the wheel's run differs from the source tree's"
