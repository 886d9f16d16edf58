"""What operators do to a running release on the real node, and what the stream must show for it.

A paced day of two stores (TIME_SCALE 360: four minutes) serves the module's tests in order: during the
run the shelf is scaled to 3, the POS StatefulSet 1 → 3 → 1, and storesim-pos-0 is deleted once gracefully
and once with --grace-period=0 --force; the day is still exactly the embedded run's records, none
duplicated (read_committed). After the run, `helm upgrade` of one component's environment rolls that
Deployment only, and taking the Kafka endpoint away turns the simulators NotReady without a restart (their
liveness probe, /healthz, checks no dependency; readiness, /readyz, does), Ready again once it is back.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.cluster.conftest import NODE_STACK, STACK
from tests.cluster.kube import REPO, wait_for
from tests.cluster.release import NAME, SIMULATORS, Release, assert_stream_is
from tests.conftest import Run
from tests.integration import runs
from tests.integration.helpers import end_offsets, wait_until

STORES = "1,2"
CUSTOMERS = "50"
# Components whose readiness pings Kafka (the clock needs only Redis, the controller only the API).
KAFKA_USERS = ("foot-traffic", "shelf", "redis-kafka-bridge", "register", "ledger", "pos", "truth")


def release_values(stack: dict[str, str]) -> dict[str, Any]:
    """The module's release (tests/cluster/conftest.py installs it): a paced day of two stores."""
    return {
        "common": {"env": {"SIM_START": runs.START, "SIM_END": runs.END, "SEED": runs.SEED}},
        "components": {
            "clock": {"env": {"CLOCK_MODE": "paced", "TIME_SCALE": "360"}},
            "foot-traffic": {"env": {"BASE_DAILY_CUSTOMERS": CUSTOMERS}},
        },
        "stores": [{"storeId": "STORE-001"}, {"storeId": "STORE-002"}],
    }


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return runs.embedded(tmp_path_factory.mktemp("embedded"), STORES, customers=CUSTOMERS)


def pods(release: Release, component: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/component={component}"
    items: list[dict[str, Any]] = release.cluster.get("pods", "-n", release.namespace, "-l", selector)[
        "items"
    ]
    return items


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def restarts(release: Release) -> dict[str, int]:
    found = release.cluster.get("pods", "-n", release.namespace)["items"]
    return {
        pod["metadata"]["name"]: sum(s["restartCount"] for s in pod["status"].get("containerStatuses", []))
        for pod in found
    }


def all_ready(release: Release, component: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        found = [p for p in pods(release, component) if "deletionTimestamp" not in p["metadata"]]
        return len(found) == count and all(ready(p) for p in found)

    return check


def growing(release: Release, topic: str) -> Callable[[], bool]:
    """True once the topic has grown since this was made: the run is still going."""
    start = end_offsets(release.stack, release.names[topic])
    return lambda: end_offsets(release.stack, release.names[topic]) > start


def test_scaling_and_killing_pods_during_a_run_loses_and_repeats_nothing(
    release: Release, expected: Run
) -> None:
    k = release.cluster.kubectl
    ns = ("-n", release.namespace)
    wait_for(growing(release, "shelf_events"), 120, "shelf events flowing")

    k(*ns, "scale", f"deploy/{NAME}-shelf", "--replicas=3")
    wait_for(all_ready(release, "shelf", 3), 180, "3 shelf replicas Ready")
    k(*ns, "scale", f"statefulset/{NAME}-pos", "--replicas=3")
    wait_for(all_ready(release, "pos", 3), 180, "3 POS replicas Ready")
    wait_for(growing(release, "pos_transactions"), 120, "checkouts with 3 POS replicas")

    k(*ns, "delete", "pod", f"{NAME}-pos-0", "--wait=true")  # gracefully: SIGTERM, drain, exit
    wait_for(all_ready(release, "pos", 3), 180, "storesim-pos-0 back and Ready")
    wait_for(growing(release, "pos_transactions"), 120, "checkouts after the graceful delete")
    k(*ns, "delete", "pod", f"{NAME}-pos-0", "--grace-period=0", "--force")
    wait_for(all_ready(release, "pos", 3), 180, "storesim-pos-0 back after the forced delete")

    k(*ns, "scale", f"statefulset/{NAME}-pos", "--replicas=1")
    wait_for(all_ready(release, "pos", 1), 180, "back to 1 POS replica")
    # Back to the values' replicas: `helm upgrade` would otherwise (rightly) scale the shelf back itself.
    k(*ns, "scale", f"deploy/{NAME}-shelf", "--replicas=1")
    wait_for(all_ready(release, "shelf", 1), 180, "back to 1 shelf replica")
    wait_for(growing(release, "pos_transactions"), 120, "checkouts after the last step: the run still going")

    assert_stream_is(release, expected, deadline_seconds=600)


def workloads(release: Release) -> dict[str, tuple[int, frozenset[str]]]:
    """Each Deployment and StatefulSet: its generation and the uids of its pods (not those terminating)."""
    out = {}
    for kind in ("deployments", "statefulsets"):
        for item in release.cluster.get(kind, "-n", release.namespace)["items"]:
            component = item["metadata"]["labels"]["app.kubernetes.io/component"]
            live = [p for p in pods(release, component) if "deletionTimestamp" not in p["metadata"]]
            uids = frozenset(p["metadata"]["uid"] for p in live)
            out[item["metadata"]["name"]] = (int(item["metadata"]["generation"]), uids)
    return out


def test_helm_upgrade_of_one_components_env_rolls_that_deployment_only(release: Release) -> None:
    before = workloads(release)
    args = ["upgrade", NAME, str(REPO / "chart"), "--namespace", release.namespace, "--reuse-values"]
    # A variable of the ledger's own: a world rule it owns (REFUND_PROBABILITY) would roll the answer
    # key's Deployment too, which follows it (tests/k8s/test_settings_env.py).
    args += ["--set-string", "components.ledger.env.PRODUCER_SLEEP_SECONDS=2.0"]
    done = release.cluster.helm(*args, "--wait", "--wait-for-jobs", "--timeout", "10m")
    assert done.returncode == 0, done.stderr
    ledger = f"{NAME}-ledger"
    # --wait returns once the new pod is ready; the old one may still be on its way out.
    wait_for(
        lambda: not workloads(release)[ledger][1] & before[ledger][1], 60, "the ledger's old pod replaced"
    )
    after = workloads(release)
    assert after[ledger][0] == before[ledger][0] + 1
    assert len(after[ledger][1]) == 1
    assert {n: v for n, v in after.items() if n != ledger} == {n: v for n, v in before.items() if n != ledger}
    env = release.cluster.get("deploy", ledger, "-n", release.namespace)["spec"]["template"]["spec"]
    values = {e["name"]: e.get("value") for e in env["containers"][0]["env"]}
    assert values["PRODUCER_SLEEP_SECONDS"] == "2.0"
    jobs = [j["metadata"]["name"] for j in release.cluster.get("jobs", "-n", release.namespace)["items"]]
    assert len(jobs) == 1, jobs  # revision 2's setup Job; helm deleted revision 1's
    assert f"{NAME}-setup-2-" in jobs[0], jobs


def node_stack_command(*args: str) -> None:
    env = {**os.environ, **NODE_STACK}
    subprocess.run([str(STACK), *args], cwd=REPO, env=env, check=True, timeout=300)


def test_without_kafka_the_simulators_turn_not_ready_and_back_without_restarting(release: Release) -> None:
    wait_for(lambda: all(all_ready(release, c, 1)() for c in SIMULATORS), 180, "every simulator Ready")
    before = restarts(release)
    node_stack_command("down", "--only", "kafka")
    try:
        for component in KAFKA_USERS:
            wait_for(
                lambda c=component: not any(ready(p) for p in pods(release, c)),  # type: ignore[misc]
                120,
                f"{component} NotReady without Kafka",
            )
        assert all(ready(p) for p in pods(release, "clock")), "the clock needs no Kafka"
        # Longer than the liveness probe's period × failure threshold (20 s × 3): a restart would show.
        assert not wait_until(lambda: restarts(release) != before, None, 70, interval=2), restarts(release)
    finally:
        node_stack_command("up", "--only", "kafka")
    for component in KAFKA_USERS:
        wait_for(all_ready(release, component, 1), 180, f"{component} Ready again with Kafka back")
    assert restarts(release) == before
