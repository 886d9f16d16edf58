"""Pinned versions, paths and ports of the local stack; every port can be overridden from the environment."""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

KAFKA_VERSION = "4.1.2"
SCALA_VERSION = "2.13"
# Kafka 4.1 logs through slf4j 1.7 (its own pom's slf4j-api); the distribution binds it to log4j2.
LOG4J_VERSION = "2.24.3"
# The newest 3.x on Maven Central that runs on Java 17: 3.3.x is compiled for Java 21 (class files 65),
# which Debian 12 does not package.
APICURIO_VERSION = "3.0.9"
# 2.8 is what `mvn dependency:...` runs on Maven 3.8. Unlike 3.x, its copy does not read the artifact's
# parent pom, which Maven Central lacks for apicurio-registry-app 3.0.9.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:2.8"


def _host() -> str:
    """The address every service listens on and advertises: loopback, or (STORESIM_STACK_HOST) another local
    address, e.g. the cluster node's, so that pods reach a second instance of the stack."""
    raw = os.environ.get("STORESIM_STACK_HOST", "").strip() or "127.0.0.1"
    try:
        ipaddress.IPv4Address(raw)
    except ValueError:
        raise SystemExit(f"stack: STORESIM_STACK_HOST={raw!r} is not an IPv4 address") from None
    return raw


HOST = _host()
PG_USER = "bdt_user"
PG_PASSWORD = "bdt_password"
PG_DB = "smart_shelf"
PG_SCHEMA = "analytics"
CCOMPAT_PATH = "/apis/ccompat/v7"

SERVICES = ("kafka", "registry", "redis", "postgres", "prometheus")

# (environment variable, default) of each port.
PORT_DEFAULTS = {
    "kafka": ("STORESIM_KAFKA_PORT", 19092),
    "controller": ("STORESIM_KAFKA_CONTROLLER_PORT", 19093),
    "registry": ("STORESIM_REGISTRY_PORT", 18081),
    "redis": ("STORESIM_REDIS_PORT", 16379),
    "postgres": ("STORESIM_PG_PORT", 15432),
    "prometheus": ("STORESIM_PROMETHEUS_PORT", 19090),
}


def log(message: str) -> None:
    print(f"stack: {message}", file=sys.stderr, flush=True)


def _port(key: str) -> int:
    return env_port(*PORT_DEFAULTS[key])


def env_port(variable: str, default: int) -> int:
    """The TCP port in the environment variable `variable`, or `default` when it is unset or empty."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"stack: {variable}={raw!r} is not a TCP port")
    return int(raw)


@dataclass(frozen=True)
class Layout:
    """Where the stack keeps its downloads (cache) and its state (<repo>/<state_name>)."""

    repo: Path
    cache: Path
    kafka_port: int
    controller_port: int
    registry_port: int
    redis_port: int
    pg_port: int
    prometheus_port: int
    # Relative to the repository: .stack, or STORESIM_STACK_STATE for a second instance of the stack.
    state_name: str = ".stack"

    @classmethod
    def load(cls, repo: Path) -> Layout:
        cache = os.environ.get("STORESIM_CACHE") or str(Path.home() / ".cache" / "storesim")
        return cls(
            repo=repo,
            cache=Path(cache).expanduser().resolve(),
            kafka_port=_port("kafka"),
            controller_port=_port("controller"),
            registry_port=_port("registry"),
            redis_port=_port("redis"),
            pg_port=_port("postgres"),
            prometheus_port=_port("prometheus"),
            state_name=os.environ.get("STORESIM_STACK_STATE", "").strip() or ".stack",
        )

    @property
    def state(self) -> Path:
        return self.repo / self.state_name

    @property
    def kafka_home(self) -> Path:
        return self.cache / f"kafka-{KAFKA_VERSION}"

    @property
    def apicurio_home(self) -> Path:
        return self.cache / f"apicurio-registry-{APICURIO_VERSION}"

    @property
    def prometheus_targets(self) -> Path:
        """Where file-based service discovery looks: one JSON file of targets per run of services."""
        return self.state / "prometheus" / "targets"

    def log_file(self, name: str) -> Path:
        return self.state / "logs" / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.state / "pids" / f"{name}.pid"

    def address(self, name: str) -> str:
        if name == "registry":
            return f"http://{HOST}:{self.registry_port}{CCOMPAT_PATH}"
        if name == "prometheus":
            return f"http://{HOST}:{self.prometheus_port}"
        port = {"kafka": self.kafka_port, "redis": self.redis_port, "postgres": self.pg_port}[name]
        return f"{HOST}:{port}"

    def env_lines(self) -> list[str]:
        return [
            f"KAFKA_BROKER={HOST}:{self.kafka_port}",
            f"SCHEMA_REGISTRY_URL={self.address('registry')}",
            f"REDIS_HOST={HOST}",
            f"REDIS_PORT={self.redis_port}",
            f"PG_HOST={HOST}",
            f"PG_PORT={self.pg_port}",
            f"PG_DB={PG_DB}",
            f"PG_USER={PG_USER}",
            f"PG_PASS={PG_PASSWORD}",
            f"PROMETHEUS_URL={self.address('prometheus')}",
            f"PROMETHEUS_TARGETS={self.prometheus_targets}",
        ]
