"""Telling a client that went fatal once (a broker restart can do that) from one fenced by a twin.

A transactional producer and a static group member are fenced when another client takes their
transactional.id or group.instance.id, both derived from REPLICA_ID. Each fatal error costs the client,
and a new one takes its place; but a twin replica fences every new client in turn, so renewals that keep
coming stop the service with one line saying why.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import KafkaError

__all__ = ["FencedError", "Renewals"]


class FencedError(RuntimeError):
    """Another instance took this replica's transactional.id or group.instance.id: this one must stop."""


class Renewals:
    """How often a client was replaced after a fatal error: more than ``limit`` within ``window``
    seconds means a twin replica fences it each time, and replacing it again would only fence the twin."""

    def __init__(
        self, what: str, *, limit: int = 3, window: float = 120.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._what = what
        self._limit = limit
        self._window = window
        self._clock = clock
        self._times: list[float] = []

    def record(self, error: KafkaError) -> None:
        """Counts one more replacement; raises FencedError when there were too many."""
        now = self._clock()
        self._times = [t for t in self._times if now - t < self._window] + [now]
        if len(self._times) > self._limit:
            raise FencedError(
                f"the {self._what} is fenced again and again ({error.str()}): "
                "another replica runs with this REPLICA_ID"
            )
