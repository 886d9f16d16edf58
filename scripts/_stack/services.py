"""The stack's services: how each is prepared and launched, how it proves it is ready, how it is stopped."""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import probes, procs
from .config import CCOMPAT_PATH, HOST, PG_DB, PG_PASSWORD, PG_SCHEMA, PG_USER, Layout
from .install import apicurio_jar, pg_bindir, prometheus_server, redis_server


class StackError(Exception):
    """A service could not be started or did not become ready; the message says which and why."""


@dataclass(frozen=True)
class Service:
    name: str
    ports: Callable[[Layout], tuple[int, ...]]
    launch: Callable[[Layout], subprocess.Popen[bytes]]  # prepares the state directory, then spawns
    ready: Callable[[Layout], bool]  # a quick probe in the service's own protocol
    deadline: float  # seconds from launch to ready
    finish: Callable[[Layout], None] | None = None  # once ready (also when already running)
    stop_signal: int = signal.SIGTERM
    stop_whole_group: bool = True


def _state_dir(layout: Layout, name: str) -> Path:
    path = layout.state / name
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- Kafka: one KRaft node, broker and controller in one JVM -------------------------------------------

_STORAGE_TOOL = "kafka.tools.StorageTool"
_KAFKA_MAIN = "kafka.Kafka"


def _kafka_properties(layout: Layout, data: Path) -> str:
    broker, controller = layout.kafka_port, layout.controller_port
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller}",
        "listeners": f"PLAINTEXT://{HOST}:{broker},CONTROLLER://{HOST}:{controller}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{broker}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _kafka_cluster_id() -> str:
    # As Kafka's Uuid.randomUuid(): URL-safe base64 of 16 random bytes, never starting with '-'.
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def _launch_kafka(layout: Layout) -> subprocess.Popen[bytes]:
    state = _state_dir(layout, "kafka")
    data = state / "data"
    config = state / "server.properties"
    config.write_text(_kafka_properties(layout, data))
    log4j = layout.kafka_home / "config" / "log4j2.properties"
    # Without log4j2's own shutdown hook, the broker's shutdown is logged to the end.
    java = ["java", f"-Dlog4j2.configurationFile={log4j}", "-Dlog4j2.shutdownHookEnabled=false"]
    classpath = ["-cp", str(layout.kafka_home / "libs" / "*")]
    if not (data / "meta.properties").exists():
        format_args = ["--cluster-id", _kafka_cluster_id(), "--config", str(config), "--ignore-formatted"]
        layout.log_file("kafka").parent.mkdir(parents=True, exist_ok=True)
        with layout.log_file("kafka").open("ab") as log_handle:
            formatted = subprocess.run(
                [*java, "-Xmx256m", *classpath, _STORAGE_TOOL, "format", *format_args],
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )
        if formatted.returncode != 0:
            raise StackError(f"kafka: formatting {data} failed:\n{procs.log_tail(layout, 'kafka')}")
    jvm = ["-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", f"-Dkafka.logs.dir={state}"]
    return procs.spawn(layout, "kafka", [*java, *jvm, *classpath, _KAFKA_MAIN, str(config)], cwd=state)


# --- Apicurio Registry: a Quarkus application, in-memory (H2) storage -------------------------------


def _launch_registry(layout: Layout) -> subprocess.Popen[bytes]:
    state = _state_dir(layout, "registry")
    settings = {
        "quarkus.http.host": HOST,
        "quarkus.http.port": layout.registry_port,
        # A small pool for the in-memory database (the default keeps 20 connections open).
        "apicurio.datasource.jdbc.initial-size": 2,
        "apicurio.datasource.jdbc.min-size": 2,
        # A development registry: let tests delete what they registered.
        "apicurio.rest.deletion.group.enabled": "true",
        "apicurio.rest.deletion.artifact.enabled": "true",
        "apicurio.rest.deletion.artifact-version.enabled": "true",
        "apicurio.storage.snapshot.location": state,
        "apicurio.import.work-dir": state,
    }
    argv = ["java", "-Xmx384m", *(f"-D{key}={value}" for key, value in settings.items())]
    return procs.spawn(layout, "registry", [*argv, "-jar", str(apicurio_jar(layout))], cwd=state)


def _registry_ready(layout: Layout) -> bool:
    return probes.http_status(f"http://{HOST}:{layout.registry_port}{CCOMPAT_PATH}/subjects") == 200


# --- Redis ---------------------------------------------------------------------------------------------


def _launch_redis(layout: Layout) -> subprocess.Popen[bytes]:
    state = _state_dir(layout, "redis")
    binary = redis_server()
    if binary is None:
        raise StackError("redis: redis-server is not installed (run `scripts/stack install`)")
    argv = [binary, "--port", str(layout.redis_port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    if HOST != "127.0.0.1":
        # Protected mode refuses clients from any address but loopback's; here they are the cluster's pods.
        argv += ["--protected-mode", "no"]
    return procs.spawn(layout, "redis", [*argv, "--daemonize", "no", "--dir", str(state)], cwd=state)


# --- PostgreSQL: a cluster of its own in .stack/pg, run by the `postgres` user when we are root ---------


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as `postgres`; otherwise as ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def _pg_tool(tool: str) -> str:
    bindir = pg_bindir()
    if bindir is None:
        raise StackError("postgres: PostgreSQL is not installed (run `scripts/stack install`)")
    return str(bindir / tool)


def _pg_dirs(layout: Layout) -> tuple[Path, Path, Path]:
    root = layout.state / "pg"
    return root, root / "data", root / "run"


def _launch_postgres(layout: Layout) -> subprocess.Popen[bytes]:
    root, data, sockets = _pg_dirs(layout)
    user = _pg_user()
    for path in (root, sockets):
        path.mkdir(parents=True, exist_ok=True)
        if user is not None:
            account = pwd.getpwnam(user)
            shutil.chown(path, account.pw_uid, account.pw_gid)
    if not (data / "PG_VERSION").exists():
        layout.log_file("postgres").parent.mkdir(parents=True, exist_ok=True)
        with layout.log_file("postgres").open("ab") as log_handle:
            initdb = [_pg_tool("initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8", "--locale=C"]
            initialised = subprocess.run(
                [*initdb, "--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions"],
                cwd=root,
                user=user,
                group=user,
                extra_groups=[] if user else None,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )
        if initialised.returncode != 0:
            raise StackError(f"postgres: initdb failed:\n{procs.log_tail(layout, 'postgres')}")
        if HOST != "127.0.0.1":
            # initdb lets in loopback clients only; on another address (the cluster node's) the clients are
            # pods, from the pod range. It listens on HOST alone, and asks every client for the password.
            with (data / "pg_hba.conf").open("a") as hba:
                hba.write("host all all 0.0.0.0/0 scram-sha-256\n")
    argv = [_pg_tool("postgres"), "-D", str(data), "-p", str(layout.pg_port)]
    argv += ["-c", f"listen_addresses={HOST}", "-c", f"unix_socket_directories={sockets}"]
    return procs.spawn(layout, "postgres", argv, cwd=root, user=user)


def _pg_isready(layout: Layout) -> bool:
    argv = [_pg_tool("pg_isready"), "-q", "-h", HOST, "-p", str(layout.pg_port), "-t", "2"]
    return subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode == 0


def psql_as_app_user(layout: Layout, sql: str) -> subprocess.CompletedProcess[str]:
    argv = [_pg_tool("psql"), "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(layout.pg_port)]
    env = {**os.environ, "PGPASSWORD": PG_PASSWORD, "PGCONNECT_TIMEOUT": "5"}
    argv += ["-U", PG_USER, "-d", PG_DB, "-c", sql]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)


_PG_SETUP = f"""
SELECT format('CREATE ROLE {PG_USER} LOGIN PASSWORD %L', '{PG_PASSWORD}')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_USER}') \\gexec
SELECT 'CREATE DATABASE {PG_DB} OWNER {PG_USER}'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{PG_DB}') \\gexec
\\connect {PG_DB}
CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA} AUTHORIZATION {PG_USER};
"""


def _finish_postgres(layout: Layout) -> None:
    """Creates the application's role, database and schema (idempotent), then connects as that role."""
    _, _, sockets = _pg_dirs(layout)
    argv = [_pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(sockets)]
    setup = subprocess.run(
        [*argv, "-p", str(layout.pg_port), "-U", "postgres", "-d", "postgres"],
        input=_PG_SETUP,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if setup.returncode != 0:
        raise StackError(f"postgres: creating {PG_USER}/{PG_DB}/{PG_SCHEMA} failed:\n{setup.stderr}")
    if not probes.wait_until(lambda: psql_as_app_user(layout, "select 1").stdout.strip() == "1", 15):
        failure = psql_as_app_user(layout, "select 1")
        raise StackError(f"postgres: cannot connect as {PG_USER} to {PG_DB}:\n{failure.stderr}")


# --- Prometheus: scrapes whatever storesim services run, found through file-based discovery -------------

# Every run of services (a test's chain, scripts/dev) writes <targets>/<run>.json with its metrics
# addresses and the labels the chart's ServiceMonitor gives a pod (namespace, component), so the chart's
# dashboards and alerts query the local stack exactly as they query a cluster.
_PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 2s
  scrape_timeout: 1s
  evaluation_interval: 2s
scrape_configs:
  - job_name: storesim
    file_sd_configs:
      - files: ["{targets}/*.json"]
        refresh_interval: 2s
"""


def _launch_prometheus(layout: Layout) -> subprocess.Popen[bytes]:
    state = _state_dir(layout, "prometheus")
    binary = prometheus_server()
    if binary is None:
        raise StackError("prometheus: prometheus is not installed (run `scripts/stack install`)")
    layout.prometheus_targets.mkdir(parents=True, exist_ok=True)
    config = state / "prometheus.yml"
    config.write_text(_PROMETHEUS_CONFIG.format(targets=layout.prometheus_targets))
    argv = [binary, f"--config.file={config}", f"--web.listen-address={HOST}:{layout.prometheus_port}"]
    argv += [f"--storage.tsdb.path={state / 'data'}", "--storage.tsdb.retention.time=2d"]
    return procs.spawn(layout, "prometheus", argv, cwd=state)


SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        Service(
            "kafka",
            ports=lambda layout: (layout.kafka_port, layout.controller_port),
            launch=_launch_kafka,
            ready=lambda layout: probes.kafka_ready(HOST, layout.kafka_port),
            deadline=120,
        ),
        Service(
            "registry",
            ports=lambda layout: (layout.registry_port,),
            launch=_launch_registry,
            ready=_registry_ready,
            deadline=180,
        ),
        Service(
            "redis",
            ports=lambda layout: (layout.redis_port,),
            launch=_launch_redis,
            ready=lambda layout: probes.redis_ping(HOST, layout.redis_port),
            deadline=20,
        ),
        Service(
            "postgres",
            ports=lambda layout: (layout.pg_port,),
            launch=_launch_postgres,
            ready=_pg_isready,
            deadline=60,
            finish=_finish_postgres,
            # SIGINT to the postmaster alone is PostgreSQL's "fast" shutdown; it stops its children itself.
            stop_signal=signal.SIGINT,
            stop_whole_group=False,
        ),
        Service(
            "prometheus",
            ports=lambda layout: (layout.prometheus_port,),
            launch=_launch_prometheus,
            ready=lambda layout: probes.http_status(f"{layout.address('prometheus')}/-/ready") == 200,
            deadline=60,
        ),
    )
}
