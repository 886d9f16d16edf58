"""Leader election's rules, one by one: who may take the lease and when, what a renewal and a release
write, how the renew deadline ends leadership, and MicroTime as the API server parses it.

The elector runs here against an in-memory lease with the API server's one rule that matters (a write
with a stale resourceVersion is a conflict) and clocks the test moves; the real Lease is exercised by
tests/integration/test_controller.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from storesim.operator._lease import (
    LeaderElector,
    LeaseConflictError,
    LeaseRecord,
    claim,
    micro_time,
    parse_time,
    released,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_micro_time_always_has_six_fractional_digits() -> None:
    """The client's isoformat() drops a zero fraction, which the API server rejects for a MicroTime."""
    assert micro_time(T0) == "2026-03-01T12:00:00.000000Z"
    assert micro_time(T0 + timedelta(microseconds=7)) == "2026-03-01T12:00:00.000007Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", micro_time(datetime.now(UTC)))


def test_times_read_back() -> None:
    assert parse_time("2026-03-01T12:00:00.000000Z") == T0
    assert parse_time("2026-03-01T12:00:00Z") == T0
    assert parse_time(micro_time(T0 + timedelta(microseconds=123456))) == T0 + timedelta(microseconds=123456)
    assert parse_time(None) is None
    assert parse_time("") is None


def test_a_record_round_trips_through_the_spec() -> None:
    record = LeaseRecord("pod-a", 15, T0, T0 + timedelta(seconds=3), 4)
    spec = record.to_spec()
    assert spec == {
        "holderIdentity": "pod-a",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-03-01T12:00:00.000000Z",
        "renewTime": "2026-03-01T12:00:03.000000Z",
        "leaseTransitions": 4,
    }
    assert LeaseRecord.from_spec(spec) == record
    assert "holderIdentity" not in released(record, T0).to_spec()


def test_no_lease_is_taken_with_no_transition() -> None:
    assert claim(None, "a", 15, T0) == LeaseRecord("a", 15, T0, T0, 0)


def test_the_holder_renews_keeping_its_acquire_time_and_transitions() -> None:
    held = LeaseRecord("a", 15, T0, T0, 2)
    later = T0 + timedelta(seconds=2)
    assert claim(held, "a", 15, later) == LeaseRecord("a", 15, T0, later, 2)


def test_a_live_lease_of_another_holder_is_left_alone() -> None:
    held = LeaseRecord("a", 15, T0, T0, 0)
    assert claim(held, "b", 15, T0 + timedelta(seconds=14)) is None
    assert claim(held, "b", 15, T0 + timedelta(seconds=15)) is None, "renewTime + duration is not yet past"


def test_an_expired_lease_is_taken_over_as_a_transition() -> None:
    held = LeaseRecord("a", 15, T0, T0, 3)
    now = T0 + timedelta(seconds=15, microseconds=1)
    assert claim(held, "b", 15, now) == LeaseRecord("b", 15, now, now, 4)


def test_a_released_lease_is_taken_at_once() -> None:
    left = released(LeaseRecord("a", 15, T0, T0, 3), T0 + timedelta(seconds=1))
    assert (left.holder, left.duration_seconds, left.transitions) == (None, 1, 3)
    now = T0 + timedelta(seconds=1, microseconds=1)
    assert claim(left, "b", 15, now) == LeaseRecord("b", 15, now, now, 4)


class MemoryLease:
    """A Lease as the API server keeps it: a resourceVersion that every write bumps and checks."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self.version = 0
        self.reachable = True

    def get(self) -> tuple[LeaseRecord, str] | None:
        if not self.reachable:
            raise ConnectionRefusedError("api server down")
        return None if self.record is None else (self.record, str(self.version))

    def create(self, record: LeaseRecord) -> None:
        if self.record is not None:
            raise LeaseConflictError("already exists")
        self.record, self.version = record, self.version + 1

    def replace(self, record: LeaseRecord, resource_version: str) -> None:
        if resource_version != str(self.version):
            raise LeaseConflictError("the object has been modified")
        self.record, self.version = record, self.version + 1


class Clocks:
    def __init__(self) -> None:
        self.elapsed = 0.0

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return 1000.0 + self.elapsed


def elector(lease: MemoryLease, clocks: Clocks, identity: str) -> LeaderElector:
    return LeaderElector(lease, identity, 4, 3, wall=clocks.wall, monotonic=clocks.monotonic)


def test_one_of_two_candidates_leads_and_the_other_takes_over_after_the_lease_expires() -> None:
    lease, clocks = MemoryLease(), Clocks()
    a, b = elector(lease, clocks, "a"), elector(lease, clocks, "b")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert b.observed_holder == "a"
    clocks.elapsed = 1
    assert a.try_acquire_or_renew(), "renewal"
    assert lease.record is not None
    assert lease.record.renew_time == clocks.wall()

    # a stops renewing (hung, partitioned): past the renew deadline it no longer leads...
    clocks.elapsed = 3.99
    assert a.is_leader
    clocks.elapsed = 4.0
    assert not a.is_leader
    assert not b.try_acquire_or_renew(), "...but its lease is live until renewTime + duration"
    clocks.elapsed = 5.01
    assert b.try_acquire_or_renew()
    assert lease.record == LeaseRecord("b", 4, clocks.wall(), clocks.wall(), 1)
    assert not a.try_acquire_or_renew(), "a comes back and finds b holding a live lease"
    assert not a.is_leader


def test_leadership_lasts_the_renew_deadline_without_an_api_server() -> None:
    lease, clocks = MemoryLease(), Clocks()
    a = elector(lease, clocks, "a")
    assert a.try_acquire_or_renew()
    lease.reachable = False
    clocks.elapsed = 2.9
    with pytest.raises(ConnectionRefusedError):
        a.try_acquire_or_renew()
    assert a.is_leader, "one failed renewal does not end leadership"
    clocks.elapsed = 3.0
    assert not a.is_leader, "the renew deadline does"
    lease.reachable = True
    assert a.try_acquire_or_renew(), "its own lease, renewed once the API server answers again"


def test_of_two_racing_writers_exactly_one_wins() -> None:
    lease, clocks = MemoryLease(), Clocks()
    lease.record, lease.version = LeaseRecord("gone", 4, T0, T0, 0), 7
    clocks.elapsed = 10  # expired for both
    a, b = elector(lease, clocks, "a"), elector(lease, clocks, "b")
    read_by_b = lease.get()
    assert a.try_acquire_or_renew()
    assert read_by_b is not None
    wanted = claim(read_by_b[0], "b", 4, clocks.wall())
    assert wanted is not None
    with pytest.raises(LeaseConflictError):
        lease.replace(wanted, read_by_b[1])  # b's write, from the version it read before a's
    assert not b.try_acquire_or_renew()
    assert lease.record is not None
    assert lease.record.holder == "a"


def test_release_hands_over_at_once() -> None:
    lease, clocks = MemoryLease(), Clocks()
    a, b = elector(lease, clocks, "a"), elector(lease, clocks, "b")
    assert a.try_acquire_or_renew()
    assert a.release()
    assert not a.is_leader
    assert lease.record is not None
    assert lease.record.holder is None
    assert b.try_acquire_or_renew(), "no waiting for the lease duration"
    assert lease.record.transitions == 1
    assert not a.release(), "a follower has nothing to release"
    assert lease.record.holder == "b"
