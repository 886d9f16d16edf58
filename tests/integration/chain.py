"""A whole storesim chain as subprocesses on the local stack: one run's names, data and services.

Every run gets its own topics, Redis namespace, stream and consumer groups, so runs never see each
other's state on the shared stack.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from storesim.events import TRUTH
from tests.integration.helpers import (
    STORESIM,
    base_env,
    free_port,
    prepare_topics,
    stop_process,
    unique_names,
    wait_ready,
)

# The seven simulators and the answer key, which replays their world (services/truth.py).
COMPONENTS = ("clock", "foot-traffic", "shelf", "redis-kafka-bridge", "pos", "register", "ledger", "truth")


@dataclass
class Service:
    component: str
    process: subprocess.Popen[str]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    stopped_in: float = 0.0

    def stop(self, timeout: float = 15) -> int:
        began = time.monotonic()
        code = stop_process(self.process, timeout)
        self.stopped_in = time.monotonic() - began
        return code


@dataclass
class Chain:
    stack: dict[str, str]
    workdir: Path
    data: Path
    settings: dict[str, str]
    partitions: int = 3
    names: dict[str, str] = field(default_factory=unique_names)
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    services: list[Service] = field(default_factory=list)
    replicas: dict[str, int] = field(default_factory=dict)  # component -> replicas started so far
    spawned: int = 0  # processes started, restarts included (each has its own log)

    def __post_init__(self) -> None:
        self.common = {
            **self.settings,
            "SIM_NAMESPACE": f"test-{self.run}",
            "DLQ_TOPIC": f"storesim.dlq.{self.names['refunds']}",
            "STORE_CONTROL_TOPIC": f"storesim.stores.{self.names['refunds']}",
            "STORE_PARQUET": str(self.data / "store_inventory_final.parquet"),
            "DISCOUNT_PARQUET_PATH": str(self.data / "all_discounts.parquet"),
            "SLEEP": "0.05",
        }
        prepare_topics(self.stack, self.names, self.partitions)

    def clock_end(self) -> int:
        """SIM_END in UTC seconds."""
        from datetime import datetime

        return int(datetime.fromisoformat(self.settings["SIM_END"]).timestamp())

    @property
    def dlq(self) -> str:
        return self.common["DLQ_TOPIC"]

    def topics(self, component: str, index: int) -> dict[str, str]:
        """The component's own names for its topics, as its seed calls them."""
        n, stream = self.names, f"shelf_events.{self.run}"
        return {
            "clock": {},
            "foot-traffic": {
                "KAFKA_TOPIC": n["foot_traffic"],
                "KAFKA_TOPIC_REALISTIC": n["foot_traffic_realistic"],
            },
            "shelf": {
                "KAFKA_TOPIC_FOOT": n["foot_traffic"],
                "KAFKA_TOPIC_SHELF": n["shelf_events"],
                "REDIS_STREAM": stream,
                "SHELF_GROUP_ID": f"shelf.{self.run}",
            },
            "redis-kafka-bridge": {
                "KAFKA_TOPIC_SHELF": n["shelf_events"],
                "REDIS_STREAM": stream,
                "BRIDGE_CONSUMER": f"bridge-{index}",
            },
            "pos": {
                "FOOT_TOPIC": n["foot_traffic"],
                "SHELF_TOPIC": n["shelf_events"],
                "POS_TOPIC": n["pos_transactions"],
                "GROUP_ID_FOOT": f"pos.{self.run}",
            },
            "register": {"KAFKA_TOPIC": n["pos_events"], "POS_TOPIC": n["pos_transactions"]},
            "ledger": {
                "KAFKA_TOPIC": n["transactions"],
                "KAFKA_TOPIC_REFUNDS": n["refunds"],
                "POS_TOPIC": n["pos_transactions"],
            },
            "truth": {"TRUTH_TOPIC": n[TRUTH]},
        }[component]

    def start(self, component: str, replicas: int = 1, **extra: str) -> list[Service]:
        """New replicas; each has its own REPLICA_ID and STATE_DIR, as a StatefulSet's pods have."""
        started = []
        for _ in range(replicas):
            replica = f"{component}-{self.replicas.get(component, 0)}"
            self.replicas[component] = self.replicas.get(component, 0) + 1
            env = base_env(
                self.stack,
                **self.common,
                **self.topics(component, len(self.services)),
                KAFKA_BOOTSTRAP_SERVERS=self.stack["KAFKA_BROKER"],
                REPLICA_ID=replica,
                STATE_DIR=str(self.workdir / "state" / replica),
                **extra,
            )
            started.append(self._spawn(component, env))
        return started

    def replica(self, component: str) -> Service:
        """The first running replica of ``component``."""
        return next(s for s in self.services if s.component == component)

    def restart(self, service: Service) -> Service:
        """The same replica again (its REPLICA_ID, STATE_DIR and settings), after it stopped or was killed."""
        assert service.process.poll() is not None, "stop or kill it first"
        self.services.remove(service)
        return self._spawn(service.component, service.env)

    def _spawn(self, component: str, env: dict[str, str]) -> Service:
        port = free_port()
        env = {**env, "METRICS_PORT": str(port)}
        self.spawned += 1
        log = self.workdir / f"{env['REPLICA_ID']}.{self.spawned}.log"
        with log.open("w") as handle:
            process = subprocess.Popen(
                [STORESIM, "run", component], env=env, stderr=handle, stdout=handle, text=True
            )
        service = Service(component, process, port, log, env)
        self.services.append(service)
        return service

    def start_all(self, replicas: dict[str, int] | None = None) -> None:
        for component in COMPONENTS:
            self.start(component, (replicas or {}).get(component, 1))

    def wait_ready(self, deadline_seconds: float = 60) -> None:
        for service in self.services:
            assert wait_ready(service.process, service.port, deadline_seconds), self.describe(service)

    def describe(self, service: Service) -> str:
        tail = service.log.read_text()[-3000:] if service.log.exists() else ""
        return f"{service.component} (exit {service.process.poll()}):\n{tail}"

    def stop(self) -> dict[str, list[int]]:
        codes: dict[str, list[int]] = {}
        for service in reversed(self.services):
            codes.setdefault(service.component, []).append(service.stop())
        return codes
