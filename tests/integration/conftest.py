"""The local infrastructure (scripts/stack, scripts/kube) as session fixtures for the integration tests.

`stack` brings the stack up (installing it on first use) and, at the end of the session, stops the
services that it started itself; services that were already running before the session stay up. It
also deletes the Kafka topics the session created (every test makes its own): a broker that keeps
them all, session after session, ends up spending its heap and minutes of each restart on them. `kube`
does the same with the Kubernetes control plane.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from kubernetes import client, config

from tests.integration.helpers import STORESIM, base_env

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "scripts" / "stack"
KUBE = REPO / "scripts" / "kube"
COLD_INSTALL_TIMEOUT = 15 * 60
# The first `scripts/kube up` on a machine builds kube-apiserver (`scripts/install` does it beforehand).
KUBE_COLD_INSTALL_TIMEOUT = 40 * 60
SERVICES = ("kafka", "registry", "redis", "postgres", "prometheus")
DATA_LOADER = str(Path(STORESIM).with_name("storesim-data-loader"))


def stack_status(launcher: Path = STACK) -> list[dict[str, object]]:
    """`scripts/stack status --json` (or scripts/kube's): one entry per service with its name, state, pid
    and address."""
    result = subprocess.run(
        [str(launcher), "status", "--json"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def read_env(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


@contextlib.contextmanager
def topics_created_are_deleted(bootstrap: str) -> Iterator[None]:
    """Deletes, on the way out, the topics that appeared inside the block (Kafka's own excepted)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    before = set(admin.list_topics(timeout=30).topics)
    yield
    with contextlib.suppress(KafkaException):  # a broker that is down keeps them; nothing is lost
        created = [t for t in set(admin.list_topics(timeout=30).topics) - before if not t.startswith("__")]
        if created:
            for future in admin.delete_topics(created, operation_timeout=60).values():
                with contextlib.suppress(KafkaException):
                    future.result(90)


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, str]]:
    """The settings of the running stack (.stack/env as a dict), starting it if needed."""
    # A service with a live recorded PID (running, or still starting) was not started by this session.
    there_before = {str(row["name"]) for row in stack_status() if row["pid"] is not None}
    started_here = [name for name in SERVICES if name not in there_before]
    try:
        subprocess.run([str(STACK), "up"], cwd=REPO, check=True, timeout=COLD_INSTALL_TIMEOUT)
        env = read_env(REPO / ".stack" / "env")
        with topics_created_are_deleted(env["KAFKA_BROKER"]):
            yield env
    finally:
        if started_here:
            subprocess.run(
                [str(STACK), "down", "--only", ",".join(started_here)], cwd=REPO, check=False, timeout=300
            )


@pytest.fixture(scope="session")
def kube() -> Iterator[Path]:
    """The admin's kubeconfig of the running control plane (etcd and kube-apiserver), starting it if
    needed; stopped at the end of the session only if this session started it."""
    there_before = {str(row["name"]) for row in stack_status(KUBE) if row["pid"] is not None}
    started_here = [name for name in ("etcd", "kube-apiserver") if name not in there_before]
    try:
        subprocess.run([str(KUBE), "up"], cwd=REPO, check=True, timeout=KUBE_COLD_INSTALL_TIMEOUT)
        yield REPO / ".stack" / "kubeconfig"
    finally:
        if started_here:
            subprocess.run(
                [str(KUBE), "down", "--only", ",".join(started_here)], cwd=REPO, check=False, timeout=300
            )


@pytest.fixture(scope="session")
def admin(kube: Path) -> Iterator[client.ApiClient]:
    """A client of the control plane with the admin's rights."""
    api = config.new_client_from_config(config_file=str(kube))
    yield api
    api.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: dict[str, str]) -> str:
    return stack["KAFKA_BROKER"]


@pytest.fixture(scope="session")
def registry_url(stack: dict[str, str]) -> str:
    return stack["SCHEMA_REGISTRY_URL"]


@pytest.fixture(scope="session")
def redis_address(stack: dict[str, str]) -> tuple[str, int]:
    return stack["REDIS_HOST"], int(stack["REDIS_PORT"])


@pytest.fixture(scope="session")
def pg_dsn(stack: dict[str, str]) -> str:
    return f"postgresql://{stack['PG_USER']}:{stack['PG_PASS']}@{stack['PG_HOST']}:{stack['PG_PORT']}/{stack['PG_DB']}"


@pytest.fixture(scope="session")
def dataset(stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data loader's files, and its daily discounts in Postgres: what the chart's Job does."""
    out = tmp_path_factory.mktemp("data")
    env = base_env(stack)
    for args in (
        ["build", "--out", str(out), "--from", "2025-03-01", "--to", "2025-04-30"],
        ["load-postgres", "--data", str(out)],
    ):
        result = subprocess.run([DATA_LOADER, *args], env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
    return out
