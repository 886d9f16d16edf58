"""buildah in a throwaway store: vfs storage under the cache, chroot isolation, nothing ever pulled.

vfs keeps every layer as a plain directory, so no overlay mount exists to outlive a build; the store is
removed when the run ends (and a crashed run's store by the next run), so no container or lock stays.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .config import ImagesError, log, run, which

# Mounted over the build's own CA bundle during RUN steps (never part of the image), so that pip trusts
# what this machine trusts, e.g. an egress proxy's certificate authority.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_STORE_PREFIX = ".buildah-"


class Store:
    """A containers-storage of its own, driven through the buildah command."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._buildah = which("buildah")

    def buildah(self, *args: str, capture: bool = False) -> str:
        return run(
            [
                self._buildah,
                f"--root={self.root / 'storage'}",
                f"--runroot={self.root / 'run'}",
                "--storage-driver=vfs",
                *args,
            ],
            capture=capture,
        )

    def load(self, archive: Path, reference: str) -> str:
        """The image in `archive` (oci-archive), in this store as `reference`; its id."""
        image_id = self.buildah("pull", "--quiet", f"oci-archive:{archive}", capture=True).strip()
        self.buildah("tag", image_id, reference)
        return image_id

    def build(
        self,
        context: Path,
        dockerfile: Path,
        ignorefile: Path | None,
        reference: str,
        build_args: Mapping[str, str],
    ) -> str:
        """`buildah build` of `dockerfile` as `reference`, from images already in the store only; its id."""
        iidfile = self.root / "iid"
        argv = [
            "build",
            "--pull=never",
            "--isolation=chroot",
            "--network=host",
            "--layers=false",
            f"--file={dockerfile}",
            f"--iidfile={iidfile}",
            f"--tag={reference}",
            *(f"--build-arg={key}={value}" for key, value in build_args.items()),
        ]
        if ignorefile is not None:
            argv.append(f"--ignorefile={ignorefile}")
        if HOST_CA_BUNDLE.is_file():
            argv.append(f"--volume={HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro")
        self.buildah(*argv, str(context))
        return iidfile.read_text().strip()

    def save_docker_archive(self, image: str, archive: Path, name: str) -> None:
        """`image` written to `archive` as a docker-archive whose RepoTags is `name`."""
        self.buildah("push", "--quiet", image, f"docker-archive:{archive}:{name}")

    def clean(self) -> None:
        """Every container and image of the store gone, then the store itself."""
        if (self.root / "storage").exists():
            try:
                self.buildah("rm", "--all", capture=True)
            except ImagesError as error:  # the directory goes anyway: vfs holds no mount
                log(f"cleaning {self.root}: {error}")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def store(cache: Path) -> Iterator[Store]:
    """A fresh store under `cache`, removed afterwards (with what crashed runs left)."""
    for stale in cache.glob(f"{_STORE_PREFIX}*"):
        pid = stale.name.removeprefix(_STORE_PREFIX)
        if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
            log(f"removing {stale}, left by a run that ended early")
            Store(stale).clean()
    root = cache / f"{_STORE_PREFIX}{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    builder = Store(root)
    try:
        yield builder
    finally:
        builder.clean()
