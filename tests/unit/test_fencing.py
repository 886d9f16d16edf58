"""Renewals: a client that went fatal now and then is replaced; one fenced again and again stops."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from storesim.streaming import FencedError
from storesim.streaming._fencing import Renewals

FENCED = KafkaError(KafkaError._FATAL, "Static consumer fenced", fatal=True)


def test_renewals_past_the_limit_within_the_window_stop_the_service() -> None:
    now = [0.0]
    renewals = Renewals("consumer", limit=2, window=60.0, clock=lambda: now[0])
    renewals.record(FENCED)
    now[0] = 30.0
    renewals.record(FENCED)
    now[0] = 59.0
    with pytest.raises(FencedError, match=r"consumer is fenced again and again .*REPLICA_ID"):
        renewals.record(FENCED)


def test_renewals_spread_wider_than_the_window_go_on_for_ever() -> None:
    now = [0.0]
    renewals = Renewals("producer", limit=2, window=60.0, clock=lambda: now[0])
    for _ in range(10):
        renewals.record(FENCED)
        now[0] += 31.0  # never more than two within any 60 s
