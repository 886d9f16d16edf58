"""`scripts/cluster`: install, bring up and tear down the one-node cluster, as a scripts/stack ServiceSet.

`up` ends with a node that is Ready, CoreDNS and the local-path provisioner (the default StorageClass)
available, and the admin's kubeconfig in .stack/cluster/kubeconfig. `down` deletes every workload through
the API (so the kubelet stops its containers), stops the processes by PID in reverse order, kills any
container shim left by its recorded PID, puts the machine back (host.restore) and deletes the cluster's
state: the next `up` is a new cluster, as after `kind delete cluster`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from _images.config import ImagesError
from _images.containerd import import_archive
from _stack import kube, probes, procs
from _stack.cli import ServiceSet
from _stack.config import Layout, log
from _stack.install import _require, _run

from . import addons, host
from .components import COMPONENTS, binary, ctr
from .config import (
    CONTAINERD_SOCKET,
    IMAGE_PACKAGES,
    NODE_NAME,
    NODE_PACKAGES,
    RUN_DIR,
    api_url,
    cluster_layout,
    kubeconfig_path,
)

ADDON_DEPLOYMENTS = (("kube-system", "coredns"), ("local-path-storage", "local-path-provisioner"))


def volume_dir(layout: Layout) -> Path:
    """Where the local-path provisioner makes the PersistentVolumes' directories."""
    return layout.state / "volumes"


def kubectl(layout: Layout, *args: str, stdin: str | None = None, check: bool = True) -> str:
    argv = [str(binary(layout, "kubectl")), f"--kubeconfig={kubeconfig_path(layout)}", *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"cluster: kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


# --- install ------------------------------------------------------------------------------------------


def install(layout: Layout, names: Sequence[str]) -> None:
    host.require_root()
    missing = [name for name in (*NODE_PACKAGES, *IMAGE_PACKAGES) if not _package_installed(name)]
    if missing:
        _require("apt-get")
        log(f"cluster: apt: installing {' '.join(missing)}")
        started = time.monotonic()
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
        if subprocess.run(apt, env=env, capture_output=True, check=False).returncode != 0:
            _run(["apt-get", "update", "-q"], "apt-get update")
            _run(apt, "apt-get install", env=env)
        log(f"cluster: apt: installed {' '.join(missing)} ({time.monotonic() - started:.1f}s)")
    _require("openssl")
    kube.install_etcd(layout)
    kube.build_kubernetes(layout)
    addons.build_addon_images(layout.cache)


def _package_installed(name: str) -> bool:
    query = ["dpkg-query", "-W", "-f=${Status}", name]
    done = subprocess.run(query, capture_output=True, text=True, check=False)
    return done.returncode == 0 and done.stdout.endswith(" installed")


# --- up -----------------------------------------------------------------------------------------------


def import_images(archives: Mapping[str, Path]) -> None:
    """Imports each {image name: archive} into containerd's k8s.io namespace, where the kubelet finds
    images, as scripts/build-images --load does."""
    for name, archive in archives.items():
        started = time.monotonic()
        try:
            import_archive(CONTAINERD_SOCKET, archive, name)
        except ImagesError as error:
            raise SystemExit(f"cluster: {error}") from None
        log(f"cluster: imported {archive.name} ({time.monotonic() - started:.1f}s)")


def _node_ready(layout: Layout) -> bool:
    status = kubectl(
        layout, "get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
    )
    return status.strip() == "True"


def settle(layout: Layout, names: Sequence[str]) -> Path | None:
    """Once every process answers: the node Ready, the add-ons' images imported and their Deployments
    available. Says where the kubeconfig is."""
    if list(names) != list(COMPONENTS):
        return None  # a part of the cluster only: nothing to settle
    started = time.monotonic()
    import_images(addons.build_addon_images(layout.cache))
    if not probes.wait_until(lambda: _node_ready(layout), 120, interval=0.5):
        raise SystemExit(f"cluster: node {NODE_NAME} not Ready within 120s; see {layout.log_file('kubelet')}")
    volume_dir(layout).mkdir(parents=True, exist_ok=True)
    kubectl(layout, "apply", "--server-side", "-f", "-", stdin=addons.addon_manifests(volume_dir(layout)))
    for namespace, deployment in ADDON_DEPLOYMENTS:
        kubectl(layout, "-n", namespace, "rollout", "status", f"deployment/{deployment}", "--timeout=300s")
    log(f"cluster: node Ready, CoreDNS and the provisioner available ({time.monotonic() - started:.1f}s)")
    return kubeconfig_path(layout)


# --- down ---------------------------------------------------------------------------------------------


def _running_tasks() -> list[str]:
    listed = subprocess.run(ctr("tasks", "ls", "-q"), capture_output=True, text=True, check=False)
    return listed.stdout.split() if listed.returncode == 0 else []


def drain(layout: Layout) -> None:
    """Deletes every workload through the API while the cluster still runs, so that the kubelet stops the
    containers (gracefully, as a pod is deleted); then removes any task it left through containerd."""
    if procs.recorded_pid(layout, "kube-apiserver") is not None and kubeconfig_path(layout).exists():
        kinds = "deployments,statefulsets,daemonsets,replicasets,jobs,cronjobs"
        kubectl(layout, "delete", kinds, "--all", "--all-namespaces", "--wait=false", check=False)
        kubectl(
            layout,
            "delete",
            "pods",
            "--all",
            "--all-namespaces",
            "--grace-period=5",
            "--wait=false",
            check=False,
        )
        if procs.recorded_pid(layout, "kubelet") is not None:
            probes.wait_until(lambda: not _running_tasks(), 90, interval=0.5)
    if procs.recorded_pid(layout, "containerd") is not None:
        for task in _running_tasks():
            subprocess.run(
                ctr("tasks", "kill", "--signal", "SIGKILL", task), capture_output=True, check=False
            )
        probes.wait_until(lambda: not _running_tasks(), 30, interval=0.5)
        for task in _running_tasks():
            subprocess.run(ctr("tasks", "delete", "--force", task), capture_output=True, check=False)


def _kill_shims() -> None:
    """containerd starts a shim per pod in its own process group; one left over is killed by the PID
    containerd recorded for it (checked to be a shim: PIDs are reused)."""
    task_root = RUN_DIR / "containerd" / "state" / "io.containerd.runtime.v2.task"
    for pid_file in task_root.glob("*/*/shim.pid") if task_root.exists() else []:
        try:
            pid = int(pid_file.read_text().strip())
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, ValueError):
            continue
        if comm.startswith("containerd-shim"):
            os.kill(pid, signal.SIGKILL)
            log(f"cluster: killed leftover shim {pid}")


def teardown(layout: Layout) -> None:
    """After every process stopped: the machine put back, the cluster's state gone (its logs stay)."""
    running = [name for name in COMPONENTS if procs.recorded_pid(layout, name) is not None]
    if running:
        log(f"cluster: {', '.join(running)} still running: the machine is left as it is")
        return
    _kill_shims()
    host.restore(layout, binary(layout, "kube-proxy"))
    for entry in layout.state.iterdir() if layout.state.exists() else []:
        if entry.name not in ("logs", "pids"):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


CLUSTER = ServiceSet(
    prog="scripts/cluster",
    description=__doc__ or "",
    install_help="apt-install containerd, runc and the CNI plugins; build Kubernetes and the add-ons (once)",
    definitions=COMPONENTS,
    install=install,
    address=lambda layout, name: {
        "kube-apiserver": api_url(),
        "containerd": f"unix://{CONTAINERD_SOCKET}",
    }.get(name, "-"),
    settings=settle,
    in_order=True,
    layout=cluster_layout,
    prepare=host.prepare,
    before_stop=drain,
    after_stop=teardown,
)
__all__ = ["CLUSTER", "import_images", "kubectl", "volume_dir"]
