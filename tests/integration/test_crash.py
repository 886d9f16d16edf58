"""Crashes and moves of the stateful stages on the real stack: whatever happens to the POS, the register,
the ledger or the answer key, what is committed (read_committed) is the embedded run's events, none
missing, none twice."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import KafkaException

from storesim.events import TOPICS, TRUTH
from tests.integration.chain import Chain, Service
from tests.integration.conftest import STACK
from tests.integration.helpers import end_offsets, message_count, wait_ready, wait_until
from tests.integration.runs import assert_same_events, backfill, consume_chain, embedded

STORES, CUSTOMERS = "1,2", "80"
KILLS = 10
OUTPUT = {"pos": "pos_transactions", "register": "pos_events", "ledger": "transactions"}
KILL_DURING_RESTORE = 4  # the kill that waits for the restarted replica to start restoring


def paced(scale: int = 3600) -> dict[str, str]:
    """A simulated day in 86400/scale wall seconds (24 by default): long enough for a broker restart,
    two rebalances or ten kills to happen while the stores are open."""
    return {**backfill(STORES, customers=CUSTOMERS), "CLOCK_MODE": "paced", "TIME_SCALE": str(scale)}


def beyond(stack: dict[str, str], topic: str, offsets: int) -> Callable[[], bool]:
    """The condition that ``topic`` was written to past ``offsets`` (its end offsets summed)."""
    return lambda: end_offsets(stack, topic) > offsets


def kill(service: Service) -> None:
    service.process.kill()
    service.process.wait(10)


def restored_from_store(chain: Chain, component: str) -> int:
    """How many restores of ``component`` found its state store (the logs of every replica run)."""
    logs = chain.workdir.glob(f"{component}-*.log")
    return sum(text.count('"source": "store') for text in (log.read_text() for log in logs))


@pytest.mark.parametrize("victim", ["pos", "register", "ledger"])
def test_kill_9_at_random_moments_loses_nothing_and_duplicates_nothing(
    victim: str, stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    expected = embedded(tmp_path / "embedded", STORES, customers=CUSTOMERS)
    chain = Chain(stack, tmp_path, dataset, paced(2400))
    rng = random.Random(f"kill-{victim}")
    try:
        chain.start_all()
        service = chain.replica(victim)
        output = chain.names[OUTPUT[victim]]
        assert wait_until(lambda: end_offsets(stack, output) > 0, service.process, 120), (
            f"{victim} sent nothing"
        )
        for number in range(KILLS):
            if number == KILL_DURING_RESTORE:
                log = service.log
                restoring = lambda log=log: '"restoring"' in log.read_text()  # noqa: E731
                assert wait_until(restoring, service.process, 60), log.read_text()[-2000:]
            else:
                assert wait_ready(service.process, service.port, 60), chain.describe(service)
                # A random moment of real work: once the victim has sent a few more messages, or at a
                # random deadline if its output pauses (the kill comes either way).
                target = end_offsets(stack, output) + rng.randint(1, 30)
                wait_until(
                    lambda t=target: end_offsets(stack, output) >= t, service.process, rng.uniform(0.5, 3)
                )
            kill(service)
            service = chain.restart(service)
        got = consume_chain(chain, expected)
        chain.wait_ready()
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    assert_same_events(chain, got, expected)
    assert restored_from_store(chain, victim) > 0, "no restart found its state store"


def test_the_answer_key_killed_mid_run_sends_each_hour_once(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    """kill -9 of the truth workload right after it sent an hour, four times: its successor (the same
    REPLICA_ID, so the same transactional.id) replays the stores and goes on from the committed hours."""
    expected = embedded(tmp_path / "embedded", STORES, customers=CUSTOMERS)
    chain = Chain(stack, tmp_path, dataset, paced(2400))
    try:
        chain.start_all()
        service = chain.replica("truth")
        output = chain.names[TRUTH]
        for _ in range(4):
            target = end_offsets(stack, output) + 1
            assert wait_until(lambda t=target: end_offsets(stack, output) >= t, service.process, 60), (
                chain.describe(service)
            )
            kill(service)
            service = chain.restart(service)
        got = consume_chain(chain, expected)
        chain.wait_ready()
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    assert_same_events(chain, got, expected)


def test_a_broker_restart_mid_run_loses_nothing(stack: dict[str, str], dataset: Path, tmp_path: Path) -> None:
    """The stateful stages' outputs stay exact; the sources (foot-traffic, shelf, bridge) are at least
    once: a send the broker took but never confirmed before it went down is sent again."""
    expected = embedded(tmp_path / "embedded", STORES, customers=CUSTOMERS)
    chain = Chain(stack, tmp_path, dataset, paced())
    names = chain.names

    counts: dict[str, int] = {}

    def complete() -> bool:
        try:
            counts.update({t: message_count(stack, names[t]) for t in TOPICS})
        except KafkaException:  # the broker is still electing its partitions' leaders
            return False
        return all(counts[t] >= len(expected.records[t]) for t in TOPICS)

    try:
        chain.start_all()
        checkouts, pos = names["pos_transactions"], chain.replica("pos").process
        assert wait_until(lambda: end_offsets(stack, checkouts) > 0, pos, 120), (
            "no checkout before the restart"
        )
        for action in ("down", "up"):
            subprocess.run([str(STACK), action, "--only", "kafka"], check=True, timeout=300)
        assert wait_until(complete, pos, 240, 1.0), (
            "the chain did not finish after the broker restart: "
            + ", ".join(f"{t} {counts.get(t)}/{len(expected.records[t])}" for t in TOPICS)
        )
        total = sum(message_count(stack, names[t]) for t in TOPICS)
        got = consume_chain(chain, expected, total)
        chain.wait_ready()
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    sources = frozenset({"foot_traffic", "foot_traffic_realistic", "shelf_events"})
    assert_same_events(chain, got, expected, at_least_once=sources)


def test_scaling_the_pos_1_3_2_mid_run_loses_and_duplicates_nothing(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    expected = embedded(tmp_path / "embedded", STORES, customers=CUSTOMERS)
    chain = Chain(stack, tmp_path, dataset, paced())
    checkouts = chain.names["pos_transactions"]
    total = len(expected.records["pos_transactions"])
    try:
        chain.start_all()
        first = chain.replica("pos").process
        assert wait_until(lambda: end_offsets(stack, checkouts) > 0, first, 120), (
            "no checkout from one replica"
        )
        added = chain.start("pos", 2)
        for service in added:
            assert wait_ready(service.process, service.port, 60), chain.describe(service)
        last = added[-1]
        grown = beyond(stack, checkouts, end_offsets(stack, checkouts))
        assert wait_until(grown, first, 120), "no checkout from three replicas"
        assert last.stop() == 0  # a static member: its partitions move when its session times out
        chain.services.remove(last)
        got = consume_chain(chain, expected)
        chain.wait_ready()
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    assert_same_events(chain, got, expected)
    assert total > 0
