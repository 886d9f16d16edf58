"""Crashes and moves of the stateful stages on the real stack: whatever happens to the POS, the register
or the ledger, what is committed (read_committed) is the embedded run's events, none missing, none
twice."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.chain import Chain, Service
from tests.integration.conftest import STACK
from tests.integration.helpers import end_offsets
from tests.integration.runs import assert_same_events, backfill, consume_chain, embedded

STORES, CUSTOMERS = "1,2", "80"
KILLS = 10
KILL_DURING_RESTORE = 4  # the kill that waits for the restarted replica to start restoring


def wait_for(condition: Callable[[], bool], deadline_seconds: float, poll: float = 0.1) -> bool:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()


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
    chain = Chain(stack, tmp_path, dataset, backfill(STORES, customers=CUSTOMERS))
    rng = random.Random(f"kill-{victim}")
    try:
        chain.start_all()
        service = next(s for s in chain.services if s.component == victim)
        for number in range(KILLS):
            if number == KILL_DURING_RESTORE:
                log = service.log
                restoring = lambda log=log: '"restoring"' in log.read_text()  # noqa: E731
                assert wait_for(restoring, 60), log.read_text()[-2000:]
            else:
                time.sleep(rng.uniform(0.3, 2.5))  # the chaos schedule: a random moment, not a sync point
            kill(service)
            service = chain.restart(service)
        got = consume_chain(chain, expected)
        chain.wait_ready()
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    assert_same_events(chain, got, expected)
    assert restored_from_store(chain, victim) > 0, "no restart found its state store"


def test_a_broker_restart_mid_run_loses_nothing(stack: dict[str, str], dataset: Path, tmp_path: Path) -> None:
    expected = embedded(tmp_path / "embedded", STORES, customers=CUSTOMERS)
    chain = Chain(stack, tmp_path, dataset, backfill(STORES, customers=CUSTOMERS))
    try:
        chain.start_all()
        checkouts = chain.names["pos_transactions"]
        assert wait_for(lambda: end_offsets(stack, checkouts) > 0, 120), "no checkout before the restart"
        for action in ("down", "up"):
            subprocess.run([str(STACK), action, "--only", "kafka"], check=True, timeout=300)
        got = consume_chain(chain, expected)
        chain.wait_ready()
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    assert_same_events(chain, got, expected)


def test_scaling_the_pos_1_3_2_mid_run_loses_and_duplicates_nothing(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    expected = embedded(tmp_path / "embedded", STORES, customers=CUSTOMERS)
    chain = Chain(stack, tmp_path, dataset, backfill(STORES, customers=CUSTOMERS))
    checkouts = chain.names["pos_transactions"]
    total = len(expected.records["pos_transactions"])
    try:
        chain.start_all()
        assert wait_for(lambda: end_offsets(stack, checkouts) > 0, 120), "no checkout from one replica"
        _, last = chain.start("pos", 2)
        reached = end_offsets(stack, checkouts)
        assert wait_for(lambda: end_offsets(stack, checkouts) > reached, 120), "no checkout from three"
        assert last.stop() == 0  # a static member: its partitions move when its session times out
        chain.services.remove(last)
        got = consume_chain(chain, expected)
        chain.wait_ready()
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    assert_same_events(chain, got, expected)
    assert total > 0
