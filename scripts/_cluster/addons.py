"""The cluster's add-ons, built here: the pause image, CoreDNS and the local-path provisioner with its helper.

No image registry is reachable, and nothing is pulled: each image is one layer packed from what this machine
builds (umoci, then skopeo into a docker-archive that `ctr images import` reads with its name), cached by
version under <cache>/addons/. Each is built into `<dir>.partial` and renamed when whole, so a build cut short
is never taken for a finished one.

* pause: k8s.io/kubernetes's own build/pause/linux/pause.c, compiled static, as its build/pause/Dockerfile
  packs it (USER 65535:65535), named as containerd's `sandbox_image` asks for it.
* CoreDNS: kube/coredns, a main of ours with the eight plugins of the Corefile and no `forward`.
* local-path-provisioner: a tool of kube/local-path-provisioner, whose go.sum pins the release tag.
* the provisioner's helper: Debian's busybox-static (downloaded and unpacked, not installed), /bin/sh and
  every applet, for the setup and teardown scripts of kube/addons/local-path-storage.yaml.

addon_manifests() fills kube/addons/*.yaml (string.Template) with the image names and the node's volume
directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from string import Template

from _stack.config import log

__all__ = [
    "CLUSTER_DNS",
    "CLUSTER_DOMAIN",
    "PAUSE_IMAGE",
    "addon_manifests",
    "build_addon_images",
]

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"

REPO = Path(__file__).resolve().parents[2]


def _required(module: Path, path: str) -> str:
    """The version of `path` that the go.mod of `module` requires (one source of truth for cache keys)."""
    found = re.search(
        rf"^\s*(?:require\s+)?{re.escape(path)}\s+(v[0-9][^\s]*)", (module / "go.mod").read_text(), re.M
    )
    if found is None:
        raise SystemExit(f"cluster: {module}/go.mod requires no version of {path}")
    return found.group(1)


MANIFESTS = (REPO / "kube" / "addons" / "coredns.yaml", REPO / "kube" / "addons" / "local-path-storage.yaml")
COREDNS_MODULE = REPO / "kube" / "coredns"
COREDNS_PATH = "github.com/coredns/coredns"
# The plugins kube/coredns/main.go links, as `coredns -plugins` lists them (with those they import).
COREDNS_PLUGINS = ("cache", "errors", "health", "kubernetes", "loadbalance", "log", "ready", "reload")

# pause.c of the Kubernetes release the node runs; its build/pause/Makefile says TAG 3.10.1, which the
# binary reports. The image keeps the name containerd's sandbox_image uses.
# The module that builds the node's commands (its go.sum pins k8s.io/kubernetes) and that version.
KUBERNETES_MODULE = REPO / "kube" / "kubernetes"
KUBERNETES_VERSION = _required(KUBERNETES_MODULE, "k8s.io/kubernetes")
PAUSE_VERSION = "v3.10.1-storesim"
PROVISIONER_PATH = "github.com/rancher/local-path-provisioner"
# A module of ours whose go.mod/go.sum pin the provisioner: a build never asks the checksum database.
PROVISIONER_MODULE = REPO / "kube" / "local-path-provisioner"
# The release tag kube/local-path-provisioner/go.mod pins: the Go proxy's list shows only v0.0.30, but
# .33, .35 and .37 resolve (.31, .32, .34, .36 and .38 answer "not available").
PROVISIONER_VERSION = _required(PROVISIONER_MODULE, PROVISIONER_PATH)
BUSYBOX_DEB_VERSION = "1:1.35.0-4+deb12u1+b1"

IMAGE_PREFIX = "localhost/storesim"
PROVISIONER_IMAGE = f"{IMAGE_PREFIX}/local-path-provisioner:{PROVISIONER_VERSION}"
# An image tag has no `:` or `+`: 1:1.35.0-4+deb12u1+b1 -> 1.35.0-4-deb12u1-b1.
HELPER_IMAGE = f"{IMAGE_PREFIX}/local-path-helper:{BUSYBOX_DEB_VERSION.split(':')[-1].replace('+', '-')}"
NONROOT = "65532:65532"  # distroless's `nonroot`, as upstream's CoreDNS image
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Every file's mtime and the images' creation time: the same inputs pack the same layers.
EPOCH = 0
CREATED = "1970-01-01T00:00:00Z"

# A layer's entries: path in the image -> a file to copy (mode), a directory (None, mode) or a symlink (str).
Entries = Mapping[str, tuple[Path | str | None, int]]


def build_addon_images(cache: Path) -> dict[str, Path]:
    """Builds the add-on images missing from <cache>/addons/; returns {image name, as the pods ask for it:
    docker-archive}, for `ctr -n k8s.io images import`."""
    root = cache / "addons"
    coredns_version = _coredns_version()
    coredns_key = _digest(COREDNS_MODULE / "go.mod", COREDNS_MODULE / "go.sum", COREDNS_MODULE / "main.go")
    builds: list[tuple[str, str, Callable[[Path, Path], None]]] = [
        (PAUSE_IMAGE, f"pause-{KUBERNETES_VERSION}", _build_pause),
        (_coredns_image(coredns_version), f"coredns-{coredns_version}-{coredns_key}", _build_coredns),
        (PROVISIONER_IMAGE, f"local-path-provisioner-{PROVISIONER_VERSION}", _build_provisioner),
        (HELPER_IMAGE, f"local-path-helper-{HELPER_IMAGE.rsplit(':', 1)[1]}", _build_helper),
    ]
    return {image: _cached(root / directory, image, build) for image, directory, build in builds}


def addon_manifests(volume_dir: Path) -> str:
    """The add-ons' objects, for `kubectl apply -f -`: CoreDNS (Service kube-dns at CLUSTER_DNS) and the
    local-path provisioner, whose volumes are directories under `volume_dir` on the node."""
    if not volume_dir.is_absolute():
        raise ValueError(f"the volume directory must be an absolute path, not {volume_dir}")
    values = {
        "cluster_domain": CLUSTER_DOMAIN,
        "cluster_dns": CLUSTER_DNS,
        "coredns_image": _coredns_image(_coredns_version()),
        "provisioner_image": PROVISIONER_IMAGE,
        "helper_image": HELPER_IMAGE,
        "volume_dir": str(volume_dir),
        "volume_dir_json": json.dumps(str(volume_dir)),
    }
    documents = [Template(path.read_text()).substitute(values).strip() for path in MANIFESTS]
    return "\n---\n".join(documents) + "\n"


# --- the four images --------------------------------------------------------------------------------


def _build_pause(partial: Path, work: Path) -> None:
    source = Path(_go_json(["mod", "download", "-json", "k8s.io/kubernetes"], KUBERNETES_MODULE)["Dir"])
    binary = partial / "pause"
    cflags = ["-Os", "-Wall", "-Werror", "-static", f"-DVERSION={PAUSE_VERSION}"]
    _run(["gcc", *cflags, "-o", str(binary), str(source / "build/pause/linux/pause.c")], "gcc pause.c")
    _run(["strip", str(binary)], "strip pause")
    _expect(binary, ["-v"], f"pause.c {PAUSE_VERSION}")
    # As build/pause/Dockerfile: the one file, USER 65535:65535, ENTRYPOINT ["/pause"].
    config = ["--config.user", "65535:65535", "--config.entrypoint", "/pause"]
    _pack(partial, work, PAUSE_IMAGE, {"pause": (binary, 0o755)}, config)


def _build_coredns(partial: Path, work: Path) -> None:
    binary = partial / "coredns"
    build = ["build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."]
    _run(["go", *build], "go build (CoreDNS)", cwd=COREDNS_MODULE, env=_go_env())
    _expect(binary, ["-version"], f"CoreDNS-{_coredns_version()}")
    listed = set(_output([str(binary), "-plugins"]).split())
    if not set(COREDNS_PLUGINS) <= listed or "forward" in listed:
        raise SystemExit(
            f"cluster: the built CoreDNS has the plugins {sorted(listed)}, not {COREDNS_PLUGINS}"
        )
    config = ["--config.user", NONROOT, "--config.entrypoint", "/coredns", "--config.workingdir", "/"]
    _pack(partial, work, _coredns_image(_coredns_version()), {"coredns": (binary, 0o755)}, config)


def _build_provisioner(partial: Path, work: Path) -> None:
    binary = partial / "local-path-provisioner"
    ldflags = f"-ldflags=-s -w -X main.VERSION={PROVISIONER_VERSION}"
    build = ["build", "-trimpath", ldflags, "-o", str(binary), PROVISIONER_PATH]
    _run(["go", *build], "go build (local-path-provisioner)", cwd=PROVISIONER_MODULE, env=_go_env())
    _expect(binary, ["--version"], PROVISIONER_VERSION)
    # As upstream's package/Dockerfile (scratch, the one binary; no CA bundle: it only talks to the API
    # server, with the service account's CA), but a non-root default user.
    entries = {
        "usr": (None, 0o755),
        "usr/bin": (None, 0o755),
        "usr/bin/local-path-provisioner": (binary, 0o755),
    }
    config = [
        "--config.user",
        NONROOT,
        "--config.env",
        PATH_ENV,
        "--config.cmd",
        "/usr/bin/local-path-provisioner",
    ]
    _pack(partial, work, PROVISIONER_IMAGE, entries, config)


def _build_helper(partial: Path, work: Path) -> None:
    unpacked = work / "busybox-static"
    _unpack_deb("busybox-static", BUSYBOX_DEB_VERSION, work, unpacked)
    busybox = unpacked / "bin" / "busybox"
    applets = [line.strip() for line in _output([str(busybox), "--list-full"]).splitlines() if line.strip()]
    if "bin/sh" not in applets:
        raise SystemExit(f"cluster: {busybox} has no sh applet")
    directories = ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "usr/share/doc/busybox-static")
    entries: dict[str, tuple[Path | str | None, int]] = {
        "/".join(parts[: depth + 1]): (None, 0o755)
        for parts in (directory.split("/") for directory in directories)
        for depth in range(len(parts))
    }
    entries["tmp"] = (None, 0o1777)
    entries["bin/busybox"] = (busybox, 0o755)
    entries.update({applet: ("/bin/busybox", 0o777) for applet in applets if applet != "bin/busybox"})
    copyright_file = "usr/share/doc/busybox-static/copyright"  # busybox is GPL-2: its licence goes along
    entries[copyright_file] = (unpacked / copyright_file, 0o644)
    # Runs as root, as upstream's busybox helper: it creates and deletes directories of any owner.
    _pack(partial, work, HELPER_IMAGE, entries, ["--config.env", PATH_ENV, "--config.cmd", "/bin/sh"])


# --- cache, layers, archives ------------------------------------------------------------------------


def _cached(directory: Path, image: str, build: Callable[[Path, Path], None]) -> Path:
    archive = directory / _archive_name(image)
    if archive.is_file():
        log(f"cluster: {image}: cached in {archive}")
        return archive
    started = time.monotonic()
    log(f"cluster: {image}: building into {directory}")
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="storesim-addon-") as work:
        build(partial, Path(work))
    _check_archive(partial / archive.name, image)
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)
    log(f"cluster: {image}: {archive} ({time.monotonic() - started:.1f}s)")
    return archive


def _archive_name(image: str) -> str:
    """registry.k8s.io/pause:3.10 -> pause-3.10.tar: what `ctr images import` is shown, told apart."""
    return image.rsplit("/", 1)[-1].replace(":", "-") + ".tar"


def _pack(partial: Path, work: Path, image: str, entries: Entries, config: Sequence[str]) -> None:
    """A one-layer image of `entries` with the umoci `config` flags, as a docker-archive named `image`."""
    started = time.monotonic()
    layer = work / "layer.tar"
    _write_layer(layer, entries)
    layout = work / "oci"
    ref = f"{layout}:image"
    history = ["--history.created", CREATED, "--history.created_by", "scripts/_cluster/addons.py"]
    _run(["umoci", "init", "--layout", str(layout)], "umoci init")
    _run(["umoci", "new", "--image", ref], "umoci new")
    _run(["umoci", "raw", "add-layer", "--image", ref, *history, str(layer)], "umoci raw add-layer")
    platform = ["--os", "linux", "--architecture", "amd64", "--created", CREATED, "--no-history"]
    _run(["umoci", "config", "--image", ref, *platform, *config], "umoci config")
    # skopeo does not overwrite a docker-archive; the .partial directory is new, so none is there.
    archive = partial / _archive_name(image)
    _run(["skopeo", "copy", "--quiet", f"oci:{ref}", f"docker-archive:{archive}:{image}"], "skopeo copy")
    log(
        f"cluster: {image}: packed ({archive.stat().st_size / 1e6:.1f} MB, {time.monotonic() - started:.1f}s)"
    )


def _write_layer(path: Path, entries: Entries) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as layer:
        for name in sorted(entries):
            source, mode = entries[name]
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, EPOCH
            if source is None:
                info.type = tarfile.DIRTYPE
                layer.addfile(info)
            elif isinstance(source, str):
                info.type, info.linkname = tarfile.SYMTYPE, source
                layer.addfile(info)
            else:
                info.size = source.stat().st_size
                with source.open("rb") as content:
                    layer.addfile(info, content)


def _check_archive(archive: Path, image: str) -> None:
    """The archive names the image exactly so: `ctr images import` stores it under that name."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        manifest = json.loads(member.read()) if member else []
    tags = [tag for entry in manifest for tag in entry.get("RepoTags") or []]
    if tags != [image]:
        raise SystemExit(f"cluster: {archive} names {tags}, not [{image!r}]")


# --- tools --------------------------------------------------------------------------------------------


def _coredns_version() -> str:
    """CoreDNS's version in kube/coredns/go.mod, without the v: 1.14.7."""
    for line in (COREDNS_MODULE / "go.mod").read_text().splitlines():
        words = line.split()
        if words[:2] == ["require", COREDNS_PATH] or words[:1] == [COREDNS_PATH]:
            return words[-1].removeprefix("v")
    raise SystemExit(f"cluster: {COREDNS_MODULE / 'go.mod'} requires no {COREDNS_PATH}")


def _coredns_image(version: str) -> str:
    return f"{IMAGE_PREFIX}/coredns:{version}"


def _digest(*paths: Path) -> str:
    """Eight hex digits of the files' contents: a change to our CoreDNS module is a new cache entry."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def _go_env(**extra: str) -> dict[str, str]:
    # Static binaries; no VCS stamp (the module cache has no .git); modules as go.mod and go.sum say.
    return {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOWORK": "off", **extra}


def _go_json(args: Sequence[str], cwd: Path) -> dict[str, str]:
    answer: dict[str, str] = json.loads(_output(["go", *args], cwd=cwd, env=_go_env()))
    return answer


def _unpack_deb(package: str, version: str, work: Path, into: Path) -> None:
    """Unpacks one Debian package (not installed: nothing of it runs on the host, no maintainer script)."""
    downloads = work / "debs"
    downloads.mkdir()
    # apt-get download runs as the _apt user where it can: give it a directory it may write to.
    downloads.chmod(0o777)
    download = ["apt-get", "download", "-q", f"{package}={version}"]
    fetched = subprocess.run(download, cwd=downloads, capture_output=True, text=True, check=False)
    if fetched.returncode != 0:
        log(f"cluster: {package} {version} is not in the package lists; running apt-get update")
        _run([*([] if os.geteuid() == 0 else ["sudo"]), "apt-get", "update", "-q"], "apt-get update")
        _run(download, "apt-get download", cwd=downloads)
    (deb,) = downloads.glob(f"{package}_*.deb")
    _run(["dpkg-deb", "-x", str(deb), str(into)], "dpkg-deb -x")


def _expect(binary: Path, args: Sequence[str], wanted: str) -> None:
    said = _output([str(binary), *args])
    if wanted not in said:
        raise SystemExit(f"cluster: `{binary.name} {' '.join(args)}` says {said.strip()!r}, not {wanted!r}")


def _output(argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    return _run(argv, " ".join(argv[:2]), cwd=cwd, env=env)


def _run(
    argv: Sequence[str], what: str, *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> str:
    tool = shutil.which(argv[0]) if not os.path.isabs(argv[0]) else argv[0]
    if tool is None:
        raise SystemExit(f"cluster: `{argv[0]}` is not on PATH; it is needed to build the add-on images")
    done = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise SystemExit(f"cluster: {what} failed (exit {done.returncode}): {' '.join(argv)}\n{tail}")
    return done.stdout
