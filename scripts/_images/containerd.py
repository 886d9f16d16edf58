"""Loading the images' archives into a containerd, in the namespace its CRI plugin (kubelet) reads."""

from __future__ import annotations

from pathlib import Path

from .config import NAMESPACE, ImagesError, run, which


def cri_name(repository: str, tag: str) -> str:
    """The name under which containerd stores, and kubelet asks for, `repository:tag` (Docker's
    normalisation: `storesim:t` is `docker.io/library/storesim:t`)."""
    first, _, rest = repository.partition("/")
    if not rest:
        return f"docker.io/library/{repository}:{tag}"
    if "." in first or ":" in first or first == "localhost":
        return f"{repository}:{tag}"
    return f"docker.io/{repository}:{tag}"


def _ctr(socket: Path, *args: str, capture: bool = False) -> str:
    return run([which("ctr"), f"--address={socket}", f"--namespace={NAMESPACE}", *args], capture=capture)


def image_names(socket: Path) -> set[str]:
    """The names of the images in containerd's CRI namespace."""
    return set(_ctr(socket, "images", "list", "--quiet", capture=True).split())


def import_archive(socket: Path, archive: Path, name: str) -> None:
    """Imports the docker-archive `archive` and checks that containerd now has `name`."""
    _ctr(socket, "images", "import", str(archive))
    if name not in image_names(socket):
        raise ImagesError(f"containerd did not store {name} when importing {archive}")
