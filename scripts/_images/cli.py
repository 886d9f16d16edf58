"""`scripts/build-images [--load [--containerd-socket PATH]]`: build skaffold.yaml's images with buildah.

Prints one JSON object on stdout, `{"<image>": {"repository": ..., "tag": ...}, ...}` keyed by
skaffold's image names (the chart's image values); logs, with timings, go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from .build import build_images, load_images, references
from .config import CONTAINERD_SOCKET, NAMESPACE, ImagesError, cache_dir
from .skaffold import read_artifacts


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="build-images",
        description=f"{__doc__}\nCache: {cache_dir()} (STORESIM_CACHE).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--load",
        action="store_true",
        help=f"import the images into containerd's {NAMESPACE} namespace (those it does not have yet)",
    )
    parser.add_argument(
        "--containerd-socket",
        type=Path,
        metavar="PATH",
        help=f"containerd's socket for --load (default: {CONTAINERD_SOCKET})",
    )
    return parser


def main(argv: Sequence[str], repo: Path) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.containerd_socket is not None and not args.load:
        parser.error("--containerd-socket is only used with --load")
    socket: Path = args.containerd_socket or CONTAINERD_SOCKET
    try:
        if args.load and not socket.is_socket():
            raise ImagesError(f"no containerd socket at {socket} (is the cluster up?)")
        images = build_images(read_artifacts(repo / "skaffold.yaml"))
        if args.load:
            load_images(images, socket)
    except ImagesError as error:
        print(f"build-images: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("build-images: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(references(images), indent=2))
    return 0
