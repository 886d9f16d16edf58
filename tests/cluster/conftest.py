"""The real one-node cluster (scripts/cluster), the stack its pods reach, and storesim's images in it.

`cluster` brings the node up (building it on first use) and, when the package's last test is done, takes
it down if it brought it up: the integration tests that follow get the machine's cores to themselves.
`node_stack` is a second instance of scripts/stack that listens on the node's address (10.200.0.1), which
pods reach and Kafka advertises, with its own state in .stack/node-stack; it is stopped the same way,
after deleting the topics the session created. `images` builds both images
with scripts/build-images (from skaffold.yaml's artifacts) and loads them into the node's containerd.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.kube import REPO, Cluster
from tests.cluster.release import Release, installed
from tests.integration.conftest import read_env, topics_created_are_deleted

CLUSTER = REPO / "scripts" / "cluster"
STACK = REPO / "scripts" / "stack"
BUILD_IMAGES = REPO / "scripts" / "build-images"
NODE_IP = "10.200.0.1"
NODE_STACK = {"STORESIM_STACK_HOST": NODE_IP, "STORESIM_STACK_STATE": ".stack/node-stack"}
# A cold machine builds Kubernetes, CoreDNS and the provisioner first (`scripts/install` does it before).
COLD_INSTALL_TIMEOUT = 60 * 60
CACHE = os.environ.get("STORESIM_CACHE") or os.path.expanduser("~/.cache/storesim")


def _running(launcher: str, env: dict[str, str] | None = None) -> set[str]:
    result = subprocess.run(
        [launcher, "status", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return {str(row["name"]) for row in json.loads(result.stdout) if row["pid"] is not None}


def machine() -> dict[str, object]:
    """What the cluster changes on the machine and `down` must put back: iptables rules (counters left
    out), addresses and links, mounts, cgroups made by the kubelet or containerd, and four sysctls."""

    def out(*argv: str) -> str:
        return subprocess.run(list(argv), capture_output=True, text=True, check=False).stdout

    # Rules only: a table's header and COMMIT appear once anything loaded the table, and stay.
    rules = [line for line in (out("iptables-save") + out("ip6tables-save")).splitlines() if line[:1] == "-"]
    links = [line.split(":")[1].strip().split("@")[0] for line in out("ip", "-o", "link").splitlines()]
    sysctls = ("net/ipv4/ip_forward", "vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
    return {
        "iptables": rules,
        "addresses": out("ip", "-o", "addr").split(),
        "links": sorted(links),
        "mounts": sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()),
        "cgroups": sorted(
            str(p) for p in Path("/sys/fs/cgroup").glob("*/*") if p.name in ("kubepods", "k8s.io")
        ),
        "sysctls": {name: Path("/proc/sys", name).read_text() for name in sysctls},
        "dirs": [
            str(p) for p in map(Path, ("/run/storesim-cluster", "/run/netns", "/var/lib/cni")) if p.exists()
        ],
    }


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    """The running cluster. When this fixture started it, it also stops it, and then checks that the
    machine is as it was before: no rule, address, link, mount, cgroup or sysctl of the cluster left."""
    there_before = _running(str(CLUSTER))
    before = machine()
    try:
        subprocess.run([str(CLUSTER), "up"], cwd=REPO, check=True, timeout=COLD_INSTALL_TIMEOUT)
        kubectl = _kubernetes_binary("kubectl")
        yield Cluster(REPO / ".stack" / "cluster" / "kubeconfig", kubectl, REPO / ".venv" / "bin" / "helm")
    finally:
        if not there_before:
            down = subprocess.run([str(CLUSTER), "down"], cwd=REPO, check=False, timeout=600)
    if not there_before:
        assert down.returncode == 0
        after = machine()
        assert {key: value for key, value in after.items() if value != before[key]} == {}, before


def _kubernetes_binary(command: str) -> Path:
    (directory,) = sorted(Path(CACHE).glob("kubernetes-v*[0-9]"))
    return directory / command


@pytest.fixture(scope="package")
def node_stack(cluster: Cluster) -> Iterator[dict[str, str]]:
    """The settings of the stack on the node address (its env file as a dict)."""
    env = {**os.environ, **NODE_STACK}
    started_here = sorted(
        {"kafka", "registry", "redis", "postgres", "prometheus"} - _running(str(STACK), env)
    )
    try:
        subprocess.run([str(STACK), "up"], cwd=REPO, env=env, check=True, timeout=900)
        settings = read_env(REPO / NODE_STACK["STORESIM_STACK_STATE"] / "env")
        with topics_created_are_deleted(settings["KAFKA_BROKER"]):
            yield settings
    finally:
        if started_here:
            down = [str(STACK), "down", "--only", ",".join(started_here)]
            subprocess.run(down, cwd=REPO, env=env, check=False, timeout=300)


@pytest.fixture(scope="package")
def images(cluster: Cluster) -> dict[str, dict[str, str]]:
    """skaffold.yaml's images as built and loaded: {image: {"repository": ..., "tag": ...}}."""
    result = subprocess.run(
        [str(BUILD_IMAGES), "--load"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=COLD_INSTALL_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    built: dict[str, dict[str, str]] = json.loads(result.stdout)
    return built


@pytest.fixture(scope="module")
def release(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    node_stack: dict[str, str],
    images: dict[str, dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Release]:
    """The test module's release, installed with its `release_values(node_stack)` for its tests in
    order, and uninstalled after the last (unless a test did)."""
    values = request.module.release_values(node_stack)
    workdir = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    with installed(cluster, node_stack, images, workdir, values) as it:
        yield it
