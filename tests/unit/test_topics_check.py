"""`storesim topics check`, the chart's helm test: its wait loop, its error without a broker, its CLI."""

from __future__ import annotations

import pytest

from storesim.cli import app
from storesim.cli._errors import run_command
from storesim.kafka import TopicsError, topic_event_counts, wait_for_events


class FakeTime:
    """A clock that moves only when the loop pauses, so the test needs no sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_the_wait_ends_as_soon_as_every_topic_has_events() -> None:
    answers = iter([{"a": 0, "b": 0}, {"a": 3, "b": 0}, {"a": 3, "b": 1}, {"a": 9, "b": 9}])
    time = FakeTime()
    counts = wait_for_events(lambda: next(answers), 60, interval=5, clock=time.clock, pause=time.pause)
    assert counts == {"a": 3, "b": 1}
    assert time.pauses == [5, 5]


def test_the_wait_gives_up_at_the_timeout_with_the_last_counts() -> None:
    time = FakeTime()
    counts = wait_for_events(lambda: {"a": 2, "b": 0}, 12, interval=5, clock=time.clock, pause=time.pause)
    assert counts == {"a": 2, "b": 0}
    assert time.pauses == [5, 5, 2]  # never past the deadline
    assert time.now == 12


def test_without_a_broker_the_count_is_one_error_naming_it() -> None:
    with pytest.raises(TopicsError, match=r"KAFKA_BROKER=127\.0\.0\.1:1: cannot reach Kafka"):
        topic_event_counts("127.0.0.1:1", ["foot_traffic"], timeout=1)


def test_the_command_rejects_a_negative_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(app, "storesim", ["topics", "check", "--timeout", "-1"]) == 2
    assert "--timeout" in capsys.readouterr().err
