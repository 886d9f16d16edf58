"""Installs what the consumer examples under examples/ run, each into its own place, nothing at run time:

- a virtual environment per example, `.venv-examples/<example>`, from the pinned `requirements.txt`
  beside it (pyspark and apache-flink pin packages that storesim's own environment pins otherwise, so
  they cannot share `.venv`), reinstalled only when that file changed;
- the Maven Central jars that its `jars.txt` lists (group:artifact:version, exactly those: no
  transitive resolution, the list is the lock), into `~/.cache/storesim/jars/<artifact>-<version>.jar`,
  through the same Maven helper that fetches Kafka's jars for the stack.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _stack.config import Layout
from _stack.install import _run, maven_jars

EXAMPLES = ("spark", "flink")
STAMP = ".storesim-installed"
PYTHON = (3, 11)


def log(message: str) -> None:
    print(f"install-examples: {message}", file=sys.stderr, flush=True)


def coordinates(example: Path) -> list[str]:
    """The group:artifact:version lines of the example's jars.txt (comments and blank lines left out)."""
    lines = (line.split("#", 1)[0].strip() for line in (example / "jars.txt").read_text().splitlines())
    found = [line for line in lines if line]
    for line in found:
        if line.count(":") != 2:
            raise SystemExit(
                f"install-examples: {example / 'jars.txt'}: {line!r} is not group:artifact:version"
            )
    return found


def jar_path(cache: Path, coordinate: str) -> Path:
    _, artifact, version = coordinate.split(":")
    return cache / "jars" / f"{artifact}-{version}.jar"


def install_jars(cache: Path, example: Path) -> list[Path]:
    """The example's jars in the cache, fetched first if any is missing."""
    wanted = coordinates(example)
    paths = [jar_path(cache, coordinate) for coordinate in wanted]
    missing = [coordinate for coordinate, path in zip(wanted, paths, strict=True) if not path.is_file()]
    if not missing:
        return paths
    started = time.monotonic()
    log(f"{example.name}: fetching {', '.join(missing)} from Maven Central")
    (cache / "jars").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".partial-", dir=cache / "jars") as partial:
        libs = Path(partial) / "libs"
        comment = f"the jars of examples/{example.name}, as listed in its jars.txt."
        maven_jars(Path(partial), libs, missing, transitive=False, comment=comment)
        for coordinate in missing:
            fetched = libs / jar_path(cache, coordinate).name
            if not fetched.is_file():
                raise SystemExit(f"install-examples: Maven did not give {fetched.name} for {coordinate}")
            os.replace(fetched, jar_path(cache, coordinate))  # whole files only: a rename in one directory
    log(f"{example.name}: {len(missing)} jars in {cache / 'jars'} ({time.monotonic() - started:.1f}s)")
    return paths


def python() -> str:
    """The interpreter of the examples' environments: STORESIM_PYTHON, python3.11, or this one."""
    chosen = os.environ.get("STORESIM_PYTHON") or shutil.which("python3.11") or sys.executable
    probe = [chosen, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    version = subprocess.run(probe, capture_output=True, text=True, check=False).stdout.strip()
    if version != ".".join(map(str, PYTHON)):
        raise SystemExit(
            f"install-examples: the examples need Python 3.11; {chosen} is {version or 'not Python'}"
        )
    return chosen


def install_venv(repo: Path, example: Path) -> Path:
    """The example's virtual environment, (re)installed from requirements.txt when that changed."""
    venv = repo / ".venv-examples" / example.name
    requirements = example / "requirements.txt"
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = venv / STAMP
    if stamp.is_file() and stamp.read_text().strip() == wanted and (venv / "bin" / "python").is_file():
        return venv
    started = time.monotonic()
    log(f"{example.name}: installing {requirements.relative_to(repo)} into {venv.relative_to(repo)}")
    if not (venv / "bin" / "python").is_file():
        _run([python(), "-m", "venv", str(venv)], f"creating {venv}")
    # --no-compile: Python compiles the few modules a job imports when it first runs; compiling all of
    # apache-beam and pyarrow up front would cost a fresh clone 15 s.
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    pip.append("--no-compile")
    _run([*pip, "-r", str(requirements)], f"pip install -r {requirements}")
    stamp.write_text(f"{wanted}\n")
    log(f"{example.name}: installed in {time.monotonic() - started:.1f}s")
    return venv


def install(repo: Path, names: list[str]) -> dict[str, list[Path]]:
    """Installs the examples ``names``; each one's jars."""
    cache = Layout.load(repo).cache
    jars = {}
    for name in names:
        example = repo / "examples" / name
        install_venv(repo, example)
        jars[name] = install_jars(cache, example)
    return jars


def main(argv: list[str], repo: Path) -> int:
    print_jars = argv[:1] == ["--print-jars"]
    names = argv[1:] if print_jars else argv
    unknown = sorted(set(names) - set(EXAMPLES))
    if unknown or (print_jars and len(names) != 1):
        print(
            f"usage: scripts/install-examples [{' '.join(EXAMPLES)}]\n"
            "       scripts/install-examples --print-jars EXAMPLE  (installs it, prints its jars)",
            file=sys.stderr,
        )
        return 2
    jars = install(repo, names or list(EXAMPLES))
    if print_jars:
        print(",".join(str(path) for path in jars[names[0]]))
    return 0
