"""`helm install --wait --wait-for-jobs` of the chart on a real node, and what the release then does.

One release, a backfilled day of two stores (SIM_START/SIM_END, CLOCK_MODE=backfill through values),
serves the tests of this module in order: the install itself (every pod Running and Ready through its
own probes, the parquet files in a read-only /data, the POS volume provisioned, the setup Job complete,
one controller leading), the stream (exactly the embedded run's records on all seven topics, read from
outside the cluster through the registry), `helm test`, and at the end `helm uninstall`.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.kube import REPO, Cluster, wait_for
from tests.cluster.release import NAME, Release, assert_stream_is
from tests.conftest import Run
from tests.integration import runs
from tests.integration.helpers import message_count

STORES = "1,2"
CUSTOMERS = "50"
COMPONENTS = ("clock", "foot-traffic", "shelf", "redis-kafka-bridge", "register", "ledger", "truth")


def release_values(stack: dict[str, str]) -> dict[str, Any]:
    """The module's release (tests/cluster/conftest.py installs it): a backfilled day of two stores."""
    return {
        "common": {"env": {"SIM_START": runs.START, "SIM_END": runs.END, "SEED": runs.SEED}},
        "components": {
            "clock": {"env": {"CLOCK_MODE": "backfill"}},
            "foot-traffic": {"env": {"BASE_DAILY_CUSTOMERS": CUSTOMERS}},
        },
        "stores": [{"storeId": "STORE-001"}, {"storeId": "STORE-002"}],
    }


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return runs.embedded(tmp_path_factory.mktemp("embedded"), STORES, customers=CUSTOMERS)


def pods(release: Release) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = release.cluster.get("pods", "-n", release.namespace)["items"]
    return items


def condition(obj: dict[str, Any], kind: str) -> str | None:
    for entry in obj.get("status", {}).get("conditions", []):
        if entry["type"] == kind:
            return str(entry["status"])
    return None


def test_every_pod_is_running_and_ready_through_its_probes(release: Release) -> None:
    found = {pod["metadata"]["name"]: pod for pod in pods(release)}
    components = Counter(
        pod["metadata"]["labels"].get("app.kubernetes.io/component") for pod in found.values()
    )
    assert components == Counter({**dict.fromkeys(COMPONENTS, 1), "pos": 1, "controller": 2, "setup": 1}), (
        sorted(found)
    )
    for name, pod in found.items():
        if pod["metadata"]["labels"]["app.kubernetes.io/component"] == "setup":
            assert pod["status"]["phase"] == "Succeeded", name
            continue
        assert pod["status"]["phase"] == "Running", name
        assert condition(pod, "Ready") == "True", name
        for container in pod["spec"]["containers"]:
            assert "httpGet" in container["readinessProbe"], f"{name}/{container['name']}: no readiness probe"
            assert "httpGet" in container["livenessProbe"], f"{name}/{container['name']}: no liveness probe"
        restarts = [status["restartCount"] for status in pod["status"]["containerStatuses"]]
        assert restarts == [0] * len(restarts), f"{name} restarted: {restarts}"


def test_the_init_container_copied_the_data_into_a_read_only_volume(release: Release) -> None:
    probe = (
        "import os, pathlib\n"
        "print(' '.join(sorted(os.listdir('/data'))))\n"
        "try:\n    pathlib.Path('/data/written').write_text('x')\n    print('writable')\n"
        "except OSError as error:\n    print(type(error).__name__, error.errno)\n"
    )
    for workload in (f"deploy/{NAME}-shelf", f"statefulset/{NAME}-pos", f"deploy/{NAME}-truth"):
        out = release.cluster.kubectl("-n", release.namespace, "exec", workload, "--", "python", "-c", probe)
        listing, written = out.splitlines()
        assert listing == "all_discounts.parquet store_inventory_final.parquet", workload
        assert written == "OSError 30", workload  # EROFS: the mount is read-only


def test_the_pos_volume_is_bound_through_the_default_storage_class(release: Release) -> None:
    (claim,) = release.cluster.get("pvc", "-n", release.namespace)["items"]
    assert claim["status"]["phase"] == "Bound"
    classes = release.cluster.get("storageclass")["items"]
    default = [
        c["metadata"]["name"]
        for c in classes
        if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert default == [claim["spec"]["storageClassName"]]
    volume = release.cluster.get("pv", claim["spec"]["volumeName"])
    assert volume["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == "rancher.io/local-path"


def test_the_setup_job_completed(release: Release) -> None:
    (job,) = release.cluster.get("jobs", "-n", release.namespace)["items"]
    assert condition(job, "Complete") == "True", job["status"]
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})


def test_one_controller_leads(release: Release) -> None:
    lease = release.cluster.get("lease", f"{NAME}-controller", "-n", release.namespace)
    controllers = [
        pod["metadata"]["name"]
        for pod in pods(release)
        if pod["metadata"]["labels"]["app.kubernetes.io/component"] == "controller"
    ]
    assert lease["spec"]["holderIdentity"] in controllers


def test_the_backfilled_day_is_the_embedded_run(release: Release, expected: Run) -> None:
    assert_stream_is(release, expected, deadline_seconds=900)
    assert message_count(release.stack, release.dlq, deadline_seconds=10) == 0


MEMORY_CGROUPS = Path("/sys/fs/cgroup/memory/kubepods")  # kubelet's cgroupfs layout, cgroup v1
MEMORY_REPORT = REPO / ".stack" / "cluster" / "logs" / "pod-memory.txt"  # logs outlive `cluster down`


def resident_bytes(pod_uid: str) -> int:
    """The pod's resident memory (its cgroup's total_rss, every container and the pause one)."""
    found = [*MEMORY_CGROUPS.glob(f"pod{pod_uid}"), *MEMORY_CGROUPS.glob(f"*/pod{pod_uid}")]
    assert len(found) == 1, f"pod {pod_uid}: memory cgroups {found}"
    stat = dict(line.split() for line in (found[0] / "memory.stat").read_text().splitlines())
    return int(stat["total_rss"])


def limit_bytes(pod: dict[str, Any]) -> int | None:
    limits = [c.get("resources", {}).get("limits", {}).get("memory") for c in pod["spec"]["containers"]]
    if not limits or None in limits:
        return None
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return sum(int(v[:-2]) * units[v[-2:]] if v[-2:] in units else int(v) for v in limits)


def test_every_pod_after_the_day_stays_within_its_memory_limit(release: Release) -> None:
    """Read from the node's own cgroups after the backfilled day; the figures go to MEMORY_REPORT."""
    lines = []
    for pod in pods(release):
        if pod["status"]["phase"] != "Running":
            continue
        name, rss, limit = pod["metadata"]["name"], resident_bytes(pod["metadata"]["uid"]), limit_bytes(pod)
        lines.append(f"{name}: RSS {rss / 2**20:.0f} MiB" + (f" of {limit / 2**20:.0f} MiB" if limit else ""))
        assert rss > 0, name
        if limit is not None:
            assert rss < 0.9 * limit, f"{name}: {rss / 2**20:.0f} MiB of its {limit / 2**20:.0f} MiB limit"
    MEMORY_REPORT.write_text("\n".join(sorted(lines)) + "\n")


def test_helm_test_passes(release: Release) -> None:
    done = release.cluster.helm("test", NAME, "--namespace", release.namespace, "--timeout", "10m")
    assert done.returncode == 0, done.stdout + done.stderr


def test_uninstall_leaves_nothing_of_the_release(release: Release) -> None:
    """Every object of the release goes, the POS's claim (and so its volume) with its StatefulSet. What
    survives, on purpose: the controller's leader-election Lease, which no release object owns (as any
    operator's). Its holder stays written: helm deletes the controller's RoleBinding together with its
    pods, so the stopping leader is no longer allowed to release it; it simply expires."""
    release.uninstall()
    kinds = "all,configmaps,secrets,pvc,serviceaccounts,roles,rolebindings,leases,pdb,networkpolicies,stores"
    lease = f"lease.coordination.k8s.io/{NAME}-controller"

    def leftovers() -> list[str]:
        listed = release.cluster.kubectl("-n", release.namespace, "get", f"{kinds},jobs", "-o", "name")
        return [line for line in listed.splitlines() if not line.endswith(("/kube-root-ca.crt", "/default"))]

    wait_for(
        lambda: leftovers() == [lease], 180, f"only the Lease left in {release.namespace}: {leftovers()}"
    )

    def volumes() -> list[str]:
        items = release.cluster.get("pv")["items"]
        return [
            v["metadata"]["name"] for v in items if v["spec"]["claimRef"]["namespace"] == release.namespace
        ]

    wait_for(lambda: volumes() == [], 60, "the POS's volume deleted with its claim")


def test_nothing_of_the_cluster_left_the_machine(cluster: Cluster, release: Release) -> None:
    listed = subprocess.run(
        ["iptables", "-t", "mangle", "-L", "STORESIM-GUARD", "-v", "-x", "-n"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split() for line in listed.stdout.splitlines()[2:] if line.strip()]
    assert len(rows) == 4, listed.stdout
    assert sum(int(row[0]) for row in rows) == 0, listed.stdout
