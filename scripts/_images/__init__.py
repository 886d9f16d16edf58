"""The implementation of scripts/build-images: skaffold.yaml's images, built with buildah on a Python base
image made here from Debian bookworm, tagged by content, cached as archives, loaded into containerd."""

from .base import BASE_REFERENCE, BASE_VERSION, BaseImage, cached_base
from .build import BuiltImage, artifact_tag, build_images, load_images, references
from .config import CONTAINERD_SOCKET, ImagesError, cache_dir
from .containerd import cri_name
from .context import IgnoreRules, content_tag, context_entries
from .skaffold import Artifact, read_artifacts

__all__ = [
    "BASE_REFERENCE",
    "BASE_VERSION",
    "CONTAINERD_SOCKET",
    "Artifact",
    "BaseImage",
    "BuiltImage",
    "IgnoreRules",
    "ImagesError",
    "artifact_tag",
    "build_images",
    "cache_dir",
    "cached_base",
    "content_tag",
    "context_entries",
    "cri_name",
    "load_images",
    "read_artifacts",
    "references",
]
