"""A release of the chart on the test cluster, in external mode against the node's stack.

Each release gets its own namespace, topic names, Redis stream and SIM_NAMESPACE, so releases in one
session never read each other's events. Installed the way a user (or Argo CD) does: `helm install --wait
--wait-for-jobs`, which returns only once every pod is Ready and the setup Job has completed.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storesim.events import OUTPUTS
from tests.cluster.kube import CHART, Cluster
from tests.conftest import Run
from tests.integration.helpers import consume, message_count
from tests.integration.runs import canonical

NAME = "storesim"
# The chart's topic keys (values.topics) for each of storesim's seven topics and the answer key.
TOPIC_KEYS = {
    "foot_traffic": "footTraffic",
    "foot_traffic_realistic": "footTrafficRealistic",
    "shelf_events": "shelfEvents",
    "pos_transactions": "posTransactions",
    "pos_events": "posEvents",
    "transactions": "transactions",
    "refunds": "refunds",
    "truth": "truth",
}
assert set(TOPIC_KEYS) == set(OUTPUTS)


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, maps merged key by key (as helm merges values files)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
        )
    return out


SIMULATORS = ("clock", "foot-traffic", "shelf", "redis-kafka-bridge", "register", "ledger", "truth")


def small_requests() -> dict[str, Any]:
    """CPU requests of a few millicores: the node has 2 cores, and a test scales the shelf and the POS to
    three replicas each; the scheduler must place them all (the limits stay as the chart has them)."""
    small = {"requests": {"cpu": "10m", "memory": "64Mi"}}
    return {
        "components": {name: {"resources": small} for name in SIMULATORS},
        "pos": {"resources": small},
        "operator": {"resources": small},
        "setup": {"resources": small},
    }


@dataclass
class Release:
    cluster: Cluster
    stack: dict[str, str]
    images: dict[str, dict[str, str]]
    workdir: Path
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    uninstalled: bool = False

    @property
    def namespace(self) -> str:
        return f"storesim-{self.run}"

    @property
    def names(self) -> dict[str, str]:
        """The Kafka topic of each of storesim's topics and of the answer key, as the release names them."""
        return {topic: f"{topic}.{self.run}" for topic in OUTPUTS}

    @property
    def dlq(self) -> str:
        return f"storesim.dlq.{self.run}"

    def values(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        host, port = self.stack["KAFKA_BROKER"], self.stack["PG_PORT"]
        topics: dict[str, Any] = {TOPIC_KEYS[t]: name for t, name in self.names.items()}
        topics |= {"deadLetters": self.dlq, "storeControl": f"storesim.stores.{self.run}"}
        topics |= {"shelfRedisStream": f"shelf_events.{self.run}", "partitions": 3}
        base: dict[str, Any] = {
            "image": {**self.images["storesim"], "pullPolicy": "Never"},
            "dataLoaderImage": {**self.images["storesim-data-loader"], "pullPolicy": "Never"},
            "common": {"env": {"SIM_NAMESPACE": f"test-{self.run}"}},
            "topics": topics,
            "kafka": {"bundled": False, "external": {"bootstrapServers": host}},
            "schemaRegistry": {"bundled": False, "external": {"url": self.stack["SCHEMA_REGISTRY_URL"]}},
            "redis": {
                "bundled": False,
                "external": {"host": self.stack["REDIS_HOST"], "port": int(self.stack["REDIS_PORT"])},
            },
            "postgres": {
                "bundled": False,
                "external": {"host": self.stack["PG_HOST"], "port": int(port)},
                "user": self.stack["PG_USER"],
                "password": self.stack["PG_PASS"],
                "database": self.stack["PG_DB"],
            },
        }
        return merge(merge(base, small_requests()), extra)

    def install(self, extra: Mapping[str, Any], timeout: str = "10m") -> None:
        path = self.workdir / f"values-{self.run}.json"
        path.write_text(json.dumps(self.values(extra), indent=2))
        args = ["install", NAME, str(CHART), "--namespace", self.namespace, "--create-namespace"]
        done = self.cluster.helm(
            *args, "--values", str(path), "--wait", "--wait-for-jobs", "--timeout", timeout
        )
        assert done.returncode == 0, f"helm install: {done.stderr.strip()}\n{self.describe()}"

    def describe(self) -> str:
        """What a person would look at when an install hangs: the pods and the namespace's recent events."""
        pods = self.cluster.try_kubectl("-n", self.namespace, "get", "pods", "-o", "wide").stdout
        events = self.cluster.try_kubectl(
            "-n", self.namespace, "get", "events", "--sort-by=.lastTimestamp"
        ).stdout
        return f"{pods}\n{events[-6000:]}"

    def uninstall(self) -> None:
        """`helm uninstall --wait`, once: a second call (a test already uninstalled) does nothing, nor does
        one after an install that never got as far as a release."""
        if (
            self.uninstalled
            or self.cluster.helm("status", NAME, "--namespace", self.namespace).returncode != 0
        ):
            return
        done = self.cluster.helm(
            "uninstall", NAME, "--namespace", self.namespace, "--wait", "--timeout", "5m"
        )
        assert done.returncode == 0, f"helm uninstall: {done.stderr.strip()}"
        self.uninstalled = True


@contextlib.contextmanager
def installed(
    cluster: Cluster,
    stack: dict[str, str],
    images: dict[str, dict[str, str]],
    workdir: Path,
    values: Mapping[str, Any],
) -> Iterator[Release]:
    """A release installed with ``values`` for the block, uninstalled after it (a failed install too)."""
    release = Release(cluster, stack, images, workdir)
    try:
        release.install(values)
        yield release
    finally:
        release.uninstall()


def assert_stream_is(release: Release, expected: Run, deadline_seconds: float) -> None:
    """Record for record the embedded run's events on all seven topics and its answer key (the truth
    workload's), read from outside the cluster through the registry, and no message more
    (read_committed: an aborted write is no message)."""
    total = sum(len(expected.records[t]) for t in OUTPUTS)
    names = [release.names[t] for t in OUTPUTS]
    got = consume(release.stack, names, total, deadline_seconds=deadline_seconds)
    logical = {name: topic for topic, name in release.names.items()}
    have: dict[str, Counter[str]] = {t: Counter() for t in OUTPUTS}
    for name, _, record in got:
        have[logical[name]][canonical(record)] += 1
    for topic in OUTPUTS:
        want = Counter(map(canonical, expected.records[topic]))
        missing, extra = sum((want - have[topic]).values()), sum((have[topic] - want).values())
        assert have[topic] == want, f"{topic}: {missing} missing, {extra} extra"
        count = message_count(release.stack, release.names[topic])
        assert count == len(expected.records[topic]), f"{topic}: {count} messages, duplicates"
