"""What the streaming services build alike: Redis and the clock, consumers, readiness pings, the seed,
the pricing source, and the loop step that hands consumed messages over."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import structlog
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from redis.backoff import NoBackoff
from redis.retry import Retry

from storesim.kafka._producer import EventProducer
from storesim.services._runtime import ServiceRuntime
from storesim.settings import (
    PosSettings,
    ReplicaSettings,
    ServiceSettings,
    SettingsError,
    ShelfSettings,
    StatefulSettings,
    TruthSettings,
)
from storesim.streaming import ClockState, PricingSource, RedisClock, RegistryUnavailableError
from storesim.world import ScenariosFileError

__all__ = [
    "add_pings",
    "consume_into",
    "consumer_conf",
    "open_pricing",
    "redis_client",
    "redis_ping",
    "run_seed",
    "state_path",
    "transactional_id",
]


def redis_client(settings: ServiceSettings, *, probe: bool = False) -> redis.Redis:
    """The service's Redis; ``probe=True`` gives the readiness check's: one short try, so that /readyz
    answers within a probe's timeout instead of waiting out redis-py's retries."""
    if probe:
        return redis.Redis(
            settings.redis_host,
            settings.redis_port,
            settings.redis_db,
            socket_timeout=1,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )
    return redis.Redis(
        settings.redis_host,
        settings.redis_port,
        settings.redis_db,
        socket_timeout=5,
        socket_connect_timeout=2,
    )


def redis_ping(settings: ServiceSettings) -> Callable[[], bool]:
    probe = redis_client(settings, probe=True)
    return lambda: bool(probe.ping())


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
    runtime: ServiceRuntime, producer: EventProducer, settings: ServiceSettings, clock: RedisClock
) -> None:
    """Kafka, the registry and our schemas, Redis and the clock: what every service needs."""
    runtime.health.add_ping("kafka", producer.ping)
    runtime.health.add_ping("registry", producer.registry_ping)
    runtime.health.add_ping("schemas", lambda: producer.ready)
    runtime.health.add_ping("redis", redis_ping(settings))
    runtime.health.add_ping("clock", lambda: clock.state(refresh=False) is not None)


def run_seed(settings: ServiceSettings, state: ClockState) -> int:
    """SEED, or else the one the clock service chose, so that every service of a run draws alike."""
    if settings.seed is not None:
        return settings.seed
    if state.seed is None:
        raise ValueError("neither SEED nor the clock in Redis gives a seed")
    return state.seed


def open_pricing(
    settings: ShelfSettings | PosSettings | TruthSettings, log: structlog.stdlib.BoundLogger
) -> PricingSource | None:
    """The inventory and weekly discounts from the parquet files; None (logged) while they are unreadable.

    SettingsError (one line naming SCENARIO_FILE) when a promotion names an item or a category that the
    inventory lacks: the first moment the service knows its catalogue, and a mistake no retry mends."""
    try:
        source = PricingSource(
            settings.store_parquet,
            settings.discount_parquet_path,
            settings.pg_dsn,
            settings.daily_discount_table,
        )
    except OSError as exc:
        log.warning("inventory not readable", error=str(exc))
        return None
    try:
        settings.scenarios.check_catalogue(source.catalogue)
    except ScenariosFileError as exc:
        raise SettingsError(f"invalid setting SCENARIO_FILE: {exc}") from None
    return source


def consume_into(
    consumer: Consumer,
    take: Callable[[Message], None],
    log: structlog.stdlib.BoundLogger,
    count: int,
    observe: Callable[[KafkaError], None] | None = None,
) -> bool:
    """One poll: every message to ``take``; errors other than end-of-partition are logged (and handed
    to ``observe``, which a GroupMember uses to notice a fatal one).

    A message that cannot be decoded now because the registry is away (RegistryUnavailableError, raised by
    ``take`` before it counted the message as read) is not the message's fault: its partition is sought
    back to it, the rest of the batch from that partition is left for the next poll, and the call
    returns False so that the caller waits a little.
    """
    retry: set[tuple[str, int]] = set()
    for message in consumer.consume(count, timeout=0.05):
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error", error=str(error))
                if observe is not None:
                    observe(error)
            continue
        where = (str(message.topic()), int(message.partition() or 0))
        if where in retry:
            continue
        try:
            take(message)
        except RegistryUnavailableError as exc:
            log.warning("registry unavailable; reading again later", error=str(exc))
            consumer.seek(TopicPartition(*where, int(message.offset() or 0)))
            retry.add(where)
    return not retry


def transactional_id(settings: ReplicaSettings, component: str) -> str:
    """Stable across restarts of one replica, distinct between replicas and simulations."""
    assert isinstance(settings, ServiceSettings)
    return f"{settings.sim_namespace}.{component}.{settings.replica_id}"


def state_path(settings: StatefulSettings, component: str) -> Path:
    """The replica's state store: one file per simulation, stage and replica under STATE_DIR."""
    return settings.state_dir / f"{transactional_id(settings, component)}.sqlite"
