"""Each artifact built once per content: tagged with the hash of its inputs, kept as a docker-archive in
the cache (`<image>-<tag>.tar`), and not built again while that archive exists."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .base import BaseImage, build_base, cached_base
from .buildah import Store, store
from .config import ImagesError, cache_dir, log
from .containerd import cri_name, image_names, import_archive
from .context import content_tag
from .skaffold import Artifact


@dataclass(frozen=True)
class BuiltImage:
    """An artifact's image: skaffold's name (the chart's repository), its content tag, its archive."""

    image: str
    tag: str
    archive: Path

    @property
    def reference(self) -> str:
        return f"{self.image}:{self.tag}"

    @property
    def cri_name(self) -> str:
        """The name containerd stores it under, and kubelet looks up for `image:tag`."""
        return cri_name(self.image, self.tag)


def artifact_tag(artifact: Artifact, base: BaseImage) -> str:
    """The content tag of `artifact` built on `base`."""
    args = {"PYTHON_IMAGE": base.reference, **artifact.build_args}
    return content_tag(artifact.context, artifact.dockerfile, artifact.ignorefile, base.image_id, args)


def build_images(artifacts: Sequence[Artifact], cache: Path | None = None) -> list[BuiltImage]:
    """The image of every artifact, built unless its archive is already in `cache` (default: cache_dir())."""
    cache = cache_dir() if cache is None else cache
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / ".lock"), ExitStack() as stack:
        stores: list[Store] = []

        def builder() -> Store:
            if not stores:
                stores.append(stack.enter_context(store(cache)))
            return stores[0]

        base = cached_base(cache) or build_base(cache, builder())
        built, base_loaded = [], False
        for artifact in artifacts:
            tag = artifact_tag(artifact, base)
            image = BuiltImage(artifact.image, tag, cache / f"{artifact.image.replace('/', '_')}-{tag}.tar")
            if image.archive.is_file():
                log(f"{image.reference}: unchanged, {image.archive} is built")
            else:
                if not base_loaded:
                    base_id = builder().load(base.archive, base.reference)
                    log(f"base image {base.reference} ({base_id[:12]}) loaded into {builder().root}")
                    base_loaded = True
                _build(builder(), artifact, base, image)
            built.append(image)
    return built


def _build(builder: Store, artifact: Artifact, base: BaseImage, image: BuiltImage) -> None:
    started = time.monotonic()
    log(f"{image.reference}: building {artifact.dockerfile.name} on {base.reference}")
    local = f"localhost/{image.reference}"
    args = {"PYTHON_IMAGE": base.reference, **artifact.build_args}
    image_id = builder.build(artifact.context, artifact.dockerfile, artifact.ignorefile, local, args)
    partial = image.archive.with_name(f"{image.archive.name}.partial")
    partial.unlink(missing_ok=True)
    builder.save_docker_archive(image_id, partial, image.reference)
    partial.rename(image.archive)
    size = image.archive.stat().st_size / 1e6
    log(f"{image.reference}: built in {time.monotonic() - started:.1f}s, {image.archive} ({size:.0f} MB)")


def load_images(images: Sequence[BuiltImage], socket: Path) -> None:
    """Imports into containerd's CRI namespace, through `socket`, each image it does not have yet."""
    if not socket.is_socket():
        raise ImagesError(f"no containerd socket at {socket}")
    present = image_names(socket)
    for image in images:
        if image.cri_name in present:
            log(f"{image.cri_name}: already in containerd")
            continue
        started = time.monotonic()
        import_archive(socket, image.archive, image.cri_name)
        log(f"{image.cri_name}: imported into containerd in {time.monotonic() - started:.1f}s")


def references(images: Sequence[BuiltImage]) -> dict[str, dict[str, str]]:
    """What the chart's image values take, keyed by skaffold's image names."""
    return {image.image: {"repository": image.image, "tag": image.tag} for image in images}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build at a time per cache."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for the other build-images run that holds {path}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
