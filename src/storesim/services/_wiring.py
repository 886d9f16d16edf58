"""What the streaming services build alike: Redis and the clock, consumers, readiness pings, the seed."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from storesim.kafka._producer import EventProducer
from storesim.service import ClockState, RedisClock
from storesim.services._runtime import ServiceRuntime
from storesim.settings import ServiceSettings

__all__ = ["add_pings", "consumer_conf", "redis_client", "run_seed"]

_PROBE_KWARGS = ("host", "port", "db", "username", "password")


def redis_client(settings: ServiceSettings) -> redis.Redis:
    return redis.Redis(
        settings.redis_host,
        settings.redis_port,
        settings.redis_db,
        socket_timeout=5,
        socket_connect_timeout=2,
    )


def consumer_conf(bootstrap: str, group: str, **extra: Any) -> dict[str, Any]:
    """read_committed, no auto-commit (services commit what they have finished), range assignment so that
    co-partitioned topics land on one member."""
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "range",
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        "log_level": 3,
    }
    conf.update(extra)
    return conf


def add_pings(
    runtime: ServiceRuntime, producer: EventProducer, client: redis.Redis, clock: RedisClock
) -> None:
    """Kafka, the registry and our schemas, Redis and the clock: what every service needs."""
    runtime.health.add_ping("kafka", producer.ping)
    runtime.health.add_ping("registry", producer.registry_ping)
    runtime.health.add_ping("schemas", lambda: producer.ready)
    probe = redis.Redis(
        connection_pool=None,
        **{k: v for k, v in client.connection_pool.connection_kwargs.items() if k in _PROBE_KWARGS},
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )
    runtime.health.add_ping("redis", lambda: bool(probe.ping()))
    runtime.health.add_ping("clock", lambda: clock.state(refresh=False) is not None)


def run_seed(settings: ServiceSettings, state: ClockState) -> int:
    """SEED, or else the one the clock service chose, so that every service of a run draws alike."""
    if settings.seed is not None:
        return settings.seed
    if state.seed is None:
        raise ValueError("neither SEED nor the clock in Redis gives a seed")
    return state.seed
