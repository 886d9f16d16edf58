"""`storesim run foot-traffic` on the real stack: the embedded mode's events, decoded via the registry,
with its watermark and metrics."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import redis

from storesim.streaming import Watermarks
from tests.integration.chain import Chain
from tests.integration.helpers import consume
from tests.integration.runs import backfill, canonical, embedded


def test_a_backfill_sends_what_the_embedded_mode_writes(stack: dict[str, str], tmp_path: Path) -> None:
    expected = embedded(tmp_path / "embedded", "1,4")
    want = {topic: expected.records[topic] for topic in ("foot_traffic", "foot_traffic_realistic")}
    chain = Chain(stack, tmp_path, tmp_path, backfill("1,4"))
    try:
        chain.start("clock")
        (service,) = chain.start("foot-traffic")
        names = chain.names
        got = consume(stack, [names[t] for t in want], sum(len(r) for r in want.values()))
        chain.wait_ready()
        with urllib.request.urlopen(f"http://127.0.0.1:{service.port}/metrics", timeout=2) as response:
            metrics = response.read().decode()
    finally:
        codes = chain.stop()
    assert codes == {"clock": [0], "foot-traffic": [0]}
    assert (
        f'storesim_events_produced_total{{event_type="foot_traffic",topic="{names["foot_traffic"]}"}}'
        in metrics
    )
    for topic, records in want.items():
        received = [record for name, _, record in got if name == names[topic]]
        assert sorted(map(canonical, received)) == sorted(map(canonical, records)), topic
    sessions = {record["customer_id"] for name, _, record in got if name == names["foot_traffic"]}
    assert {key for name, key, _ in got} == sessions, "every message is keyed by its customer_id"
    client = redis.Redis(stack["REDIS_HOST"], int(stack["REDIS_PORT"]))
    marks = Watermarks(client, chain.common["SIM_NAMESPACE"], "foot-traffic").read()
    last = chain.clock_end() - 1  # the range is [SIM_START, SIM_END): delivered up to its last second
    assert marks == {1: last, 4: last}
