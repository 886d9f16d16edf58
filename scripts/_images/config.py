"""Where the image builds keep their results, how they log, and how they run a tool."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# The cluster's containerd (scripts/cluster) is where `--load` imports the images by default.
from _cluster.config import CONTAINERD_SOCKET as CONTAINERD_SOCKET

NAMESPACE = "k8s.io"  # the CRI plugin's containerd namespace: the images kubelet can run

_STARTED = time.monotonic()


class ImagesError(Exception):
    """A build that cannot go on; its message is the one line that the command prints."""


def cache_dir() -> Path:
    """`${STORESIM_CACHE:-~/.cache/storesim}/images`: the base image and each built image's archive."""
    root = os.environ.get("STORESIM_CACHE", "").strip() or str(Path.home() / ".cache" / "storesim")
    return Path(root).expanduser() / "images"


def log(message: str) -> None:
    """One line on stderr, with the seconds since the command started (stdout carries the result)."""
    print(f"build-images: [{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def which(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ImagesError(f"{tool} is not installed (apt-get install {tool})")
    return path


def run(argv: Sequence[str], *, capture: bool = False, cwd: Path | None = None) -> str:
    """Runs `argv`; its output goes to stderr, or (capture) is returned. A failure raises ImagesError."""
    result = subprocess.run(
        list(argv),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else sys.stderr,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ImagesError(f"{describe(argv)} failed with exit code {result.returncode} (its output is above)")
    return result.stdout if capture else ""


def describe(argv: Sequence[str]) -> str:
    """`tool subcommand` of a command line whose options are written `--name=value`."""
    words = [Path(argv[0]).name, *(a for a in argv[1:] if not a.startswith("-"))]
    return " ".join(words[:3] if words[0] == "ctr" else words[:2])
