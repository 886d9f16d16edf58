"""The Python base image, built here from Debian bookworm's packages (no image registry is needed).

mmdebstrap writes a minimal bookworm root filesystem with Debian's python3 (3.11), its venv module,
`python` on PATH, ca-certificates (pip reaches PyPI over TLS) and passwd (useradd); without docs, man
pages, locales or apt lists. buildah turns it into a one-layer image. It is built once per BASE_VERSION,
into `python-base-<version>.partial/`, renamed `python-base-<version>/` only when complete.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .buildah import Store
from .config import ImagesError, log, run, which

BASE_VERSION = "1"  # bump whenever anything below changes: the cache key of the base image
BASE_REFERENCE = "localhost/storesim/python:3.11-bookworm"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates", "passwd")
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
_EXCLUDED = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
    "/usr/share/linda/*",
)
_CLEANUP = 'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old "$1"/var/log/*'
ENVIRONMENT = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")
_ARCHIVE = "python.oci.tar"
_METADATA = "base.json"


@dataclass(frozen=True)
class BaseImage:
    """The built base: its reference, image id (config digest), OCI archive, and Debian versions."""

    reference: str
    image_id: str
    archive: Path
    packages: dict[str, str]


def base_dir(cache: Path) -> Path:
    return cache / f"python-base-{BASE_VERSION}"


def cached_base(cache: Path) -> BaseImage | None:
    """The finished base image of this BASE_VERSION, if it has been built."""
    try:
        metadata = json.loads((base_dir(cache) / _METADATA).read_text())
    except (OSError, ValueError):
        return None
    archive = base_dir(cache) / _ARCHIVE
    if not archive.is_file():
        return None
    return BaseImage(metadata["reference"], metadata["id"], archive, metadata["packages"])


def build_base(cache: Path, builder: Store) -> BaseImage:
    """mmdebstrap → rootfs tarball → one-layer image (in `builder`'s store) → OCI archive in the cache."""
    final = base_dir(cache)
    partial = final.with_name(f"{final.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    rootfs = partial / "rootfs.tar"
    log(f"building the base image {BASE_REFERENCE} from Debian {SUITE} (mmdebstrap)")
    run(
        [
            which("mmdebstrap"),
            "--mode=unshare",
            "--variant=minbase",
            "--format=tar",
            # merged /usr set up directly, and usr-is-merged installed: not usrmerge, which pulls in perl
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            f"--include={','.join(PACKAGES)}",
            '--aptopt=APT::Install-Recommends "false"',
            *(f"--dpkgopt=path-exclude={path}" for path in _EXCLUDED),
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            f"--customize-hook={_CLEANUP}",
            SUITE,
            str(rootfs),
            *MIRRORS,
        ]
    )
    packages = installed_versions(rootfs, (*PACKAGES, "python3.11"))
    # (a failure leaves the working container to the store's clean-up)
    container = builder.buildah("from", "--pull=never", "scratch", capture=True).strip()
    builder.buildah("add", container, str(rootfs), "/")
    builder.buildah(
        "config",
        *(f"--env={variable}" for variable in ENVIRONMENT),
        '--cmd=["python3"]',
        "--label=org.opencontainers.image.title=storesim-python",
        f"--label=org.opencontainers.image.description=Debian {SUITE}'s python3 {packages['python3.11']}",
        container,
    )
    iidfile = partial / "iid"
    builder.buildah("commit", "--quiet", f"--iidfile={iidfile}", container, BASE_REFERENCE, capture=True)
    builder.buildah("rm", container, capture=True)
    image_id = iidfile.read_text().strip().removeprefix("sha256:")
    builder.buildah("push", "--quiet", image_id, f"oci-archive:{partial / _ARCHIVE}:{BASE_REFERENCE}")
    metadata = {"reference": BASE_REFERENCE, "id": image_id, "version": BASE_VERSION, "packages": packages}
    (partial / _METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
    rootfs.unlink()
    iidfile.unlink()
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    base = cached_base(cache)
    if base is None:
        raise ImagesError(f"the base image in {final} is incomplete")
    log(f"base image {BASE_REFERENCE} ({image_id[:12]}): python3.11 {packages['python3.11']}")
    return base


def installed_versions(rootfs: Path, names: tuple[str, ...]) -> dict[str, str]:
    """The Debian versions of `names` in the root filesystem tarball `rootfs` (from dpkg's status)."""
    with tarfile.open(rootfs) as tar:
        member = next((m for m in tar if m.name.lstrip("./") == "var/lib/dpkg/status"), None)
        handle = tar.extractfile(member) if member is not None else None
        status = handle.read().decode() if handle is not None else ""
    versions: dict[str, str] = {}
    for stanza in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Package") in names and "installed" in fields.get("Status", ""):
            versions[fields["Package"]] = fields["Version"]
    missing = sorted(set(names) - set(versions))
    if missing:
        raise ImagesError(f"the base root filesystem lacks {', '.join(missing)}")
    return versions
