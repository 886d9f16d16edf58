"""`storesim run foot-traffic` on the real stack: the embedded mode's events, decoded via the registry."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from storesim.service import ClockState, RedisClock
from storesim.services.foot_traffic import PROGRESS_KEY
from tests.conftest import simulate
from tests.integration.helpers import (
    STORESIM,
    base_env,
    consume,
    free_port,
    prepare_topics,
    unique_names,
    wait_ready,
)

REDIS_DB = "13"
START, END = datetime(2025, 11, 3, tzinfo=UTC), datetime(2025, 11, 5, tzinfo=UTC)


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


def test_a_backfill_sends_what_the_embedded_mode_writes(stack: dict[str, str], tmp_path: Path) -> None:
    names = unique_names()
    prepare_topics(stack, names)
    client = redis.Redis(stack["REDIS_HOST"], int(stack["REDIS_PORT"]), int(REDIS_DB))
    client.delete(PROGRESS_KEY)
    RedisClock(client).set(
        ClockState(
            start_ms=int(START.timestamp() * 1000),
            anchor_ms=time.time_ns() // 1_000_000,
            speed=1.0,
            mode="backfill",
            end_ms=int(END.timestamp() * 1000),
        )
    )
    port = free_port()
    env = base_env(
        stack,
        REDIS_DB=REDIS_DB,
        KAFKA_TOPIC=names["foot_traffic"],
        KAFKA_TOPIC_REALISTIC=names["foot_traffic_realistic"],
        STORE_IDS="1,4",
        SIM_START=START.isoformat(),
        SIM_END=END.isoformat(),
        SEED="7",
        BASE_DAILY_CUSTOMERS="40",
        METRICS_PORT=str(port),
        SLEEP="0.05",
    )
    expected = simulate(
        tmp_path / "embedded",
        "--store-ids",
        "1,4",
        "--start",
        "2025-11-03",
        "--days",
        "2",
        "--seed",
        "7",
        env={"BASE_DAILY_CUSTOMERS": "40"},
    )
    want = {topic: expected.records[topic] for topic in ("foot_traffic", "foot_traffic_realistic")}
    service = subprocess.Popen([STORESIM, "run", "foot-traffic"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        got = consume(stack, [names[t] for t in want], sum(len(r) for r in want.values()))
        assert wait_ready(service, port), "ready while it runs"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            metrics = response.read().decode()
        assert (
            f'storesim_events_produced_total{{event_type="foot_traffic",topic="{names["foot_traffic"]}"}}'
            in metrics
        )
    finally:
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=15)
    assert service.returncode == 0, stderr[-2000:]
    for topic, records in want.items():
        received = [record for name, _, record in got if name == names[topic]]
        assert Counter(map(canonical, received)) == Counter(map(canonical, records)), topic
    sessions = {record["customer_id"] for name, _, record in got if name == names["foot_traffic"]}
    assert {key for name, key, _ in got} == sessions, "every message is keyed by its customer_id"
    progress = {int(k): int(v) for k, v in client.hgetall(PROGRESS_KEY).items()}
    assert set(progress) == {1, 4}
