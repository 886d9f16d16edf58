"""Leader election over a coordination.k8s.io/v1 Lease, so that of several controller replicas exactly one
writes the ConfigMap and the Stores' status.

The rules are client-go's leaderelection, written out so that each one can be tested:
- a candidate takes the lease when there is none, when it has no holder (released), or when the holder's
  renewTime + leaseDurationSeconds is in the past (the holder died); otherwise it only watches;
- every write goes through get and then create or replace with the resourceVersion it read, so of two
  candidates racing for one expired lease the API server lets exactly one win (the other gets 409);
- the holder renews every RETRY_PERIOD, and stops acting as leader once no renewal has succeeded for
  RENEW_DEADLINE, which is shorter than the lease's duration: it gives up before anyone may take over
  (the deadline runs on this process's monotonic clock, from the moment the renewal was sent);
- leaseTransitions counts changes of holder; a leader that stops releases the lease (no holder, duration
  1 s) so that another replica takes it at its next try instead of a whole lease duration later.

Expiry compares the holder's renewTime with this process's wall clock, so the replicas' clocks must agree
to well within the lease duration (NTP-synchronised nodes do, by far).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kubernetes import client

from storesim.operator._kube import ApiException, Timeout, request_json

__all__ = [
    "KubeLease",
    "LeaderElector",
    "LeaseConflictError",
    "LeaseRecord",
    "LeaseStore",
    "claim",
    "micro_time",
    "parse_time",
    "released",
]


def micro_time(instant: datetime) -> str:
    """A metav1.MicroTime as the API server parses it: RFC3339 in UTC with exactly six fractional digits."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    """A Time or MicroTime from the API server (or None)."""
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The Lease's spec: who holds it, since when, until when."""

    holder: str | None
    duration_seconds: int
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0

    def expired(self, now: datetime) -> bool:
        """True when the holder has not renewed within the lease's duration (or never did)."""
        if self.renew_time is None:
            return True
        return self.renew_time + timedelta(seconds=self.duration_seconds) < now

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "leaseDurationSeconds": self.duration_seconds,
            "leaseTransitions": self.transitions,
        }
        if self.holder:
            spec["holderIdentity"] = self.holder
        if self.acquire_time is not None:
            spec["acquireTime"] = micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = micro_time(self.renew_time)
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LeaseRecord:
        return cls(
            holder=spec.get("holderIdentity") or None,
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=parse_time(spec.get("acquireTime")),
            renew_time=parse_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
        )


def claim(
    current: LeaseRecord | None, identity: str, duration_seconds: int, now: datetime
) -> LeaseRecord | None:
    """The record that makes `identity` the holder at `now` (a renewal if it already is), or None while
    another holder's lease is live."""
    if current is None:
        return LeaseRecord(identity, duration_seconds, now, now, 0)
    if current.holder == identity:
        return dataclasses.replace(
            current,
            duration_seconds=duration_seconds,
            renew_time=now,
            acquire_time=current.acquire_time or now,
        )
    if current.holder is None or current.expired(now):
        return LeaseRecord(identity, duration_seconds, now, now, current.transitions + 1)
    return None


def released(current: LeaseRecord, now: datetime) -> LeaseRecord:
    """The record a stopping holder leaves: no holder, so any candidate takes it at once."""
    return LeaseRecord(None, 1, now, now, current.transitions)


class LeaseConflictError(Exception):
    """Someone else wrote the Lease between our read and our write (HTTP 409): they won this round."""


class LeaseStore(Protocol):
    """Where the lease lives: get, and writes that fail with LeaseConflictError when the lease moved on."""

    def get(self) -> tuple[LeaseRecord, str] | None:
        """The record and its resourceVersion, or None when there is no Lease."""
        ...

    def create(self, record: LeaseRecord) -> None: ...

    def replace(self, record: LeaseRecord, resource_version: str) -> None: ...


class KubeLease:
    """The Lease object `name` in `namespace`, read and written as raw JSON (see _kube: MicroTime)."""

    def __init__(self, api: client.ApiClient, namespace: str, name: str, timeout: Timeout) -> None:
        self._api = api
        self._name = name
        self._namespace = namespace
        self._collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._timeout = timeout

    def get(self) -> tuple[LeaseRecord, str] | None:
        try:
            lease = request_json(self._api, "GET", f"{self._collection}/{self._name}", self._timeout)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return LeaseRecord.from_spec(lease.get("spec") or {}), str(lease["metadata"]["resourceVersion"])

    def create(self, record: LeaseRecord) -> None:
        body = self._body(record, None)
        self._write("POST", self._collection, body)

    def replace(self, record: LeaseRecord, resource_version: str) -> None:
        self._write("PUT", f"{self._collection}/{self._name}", self._body(record, resource_version))

    def _body(self, record: LeaseRecord, resource_version: str | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": self._name,
            "namespace": self._namespace,
            "labels": {"app.kubernetes.io/part-of": "storesim", "app.kubernetes.io/component": "controller"},
        }
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": record.to_spec(),
        }

    def _write(self, method: str, path: str, body: dict[str, Any]) -> None:
        try:
            request_json(self._api, method, path, self._timeout, body)
        except ApiException as exc:
            if exc.status == 409:  # created meanwhile (AlreadyExists) or changed since our read (Conflict)
                raise LeaseConflictError(str(exc.reason)) from None
            raise


def _wall() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    """One candidate's side of the election: `try_acquire_or_renew` once per RETRY_PERIOD, `is_leader`
    before every write, `release` when stopping. API failures propagate (the caller retries); they do
    not end leadership by themselves, the renew deadline does."""

    def __init__(
        self,
        lease: LeaseStore,
        identity: str,
        duration_seconds: int,
        renew_deadline_seconds: float,
        wall: Callable[[], datetime] = _wall,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lease = lease
        self.identity = identity
        self._duration = duration_seconds
        self._deadline = renew_deadline_seconds
        self._wall = wall
        self._monotonic = monotonic
        self._renewed_at: float | None = None
        self.observed_holder: str | None = None

    @property
    def is_leader(self) -> bool:
        """True while the last successful renewal is younger than the renew deadline."""
        return self._renewed_at is not None and self._monotonic() - self._renewed_at < self._deadline

    def try_acquire_or_renew(self) -> bool:
        """One round: read the lease, take or renew it if the rules allow; whether we lead afterwards."""
        sent = self._monotonic()
        found = self._lease.get()
        now = self._wall()
        try:
            if found is None:
                record = claim(None, self.identity, self._duration, now)
                assert record is not None
                self._lease.create(record)
            else:
                current, version = found
                self.observed_holder = current.holder
                wanted = claim(current, self.identity, self._duration, now)
                if wanted is None:  # another holder's live lease: whatever we thought, we do not lead
                    self._renewed_at = None
                    return False
                self._lease.replace(wanted, version)
        except LeaseConflictError:
            return self.is_leader
        self._renewed_at = sent
        self.observed_holder = self.identity
        return True

    def release(self) -> bool:
        """Give the lease up if we hold it; True when it was released."""
        if self._renewed_at is None:
            return False
        self._renewed_at = None
        found = self._lease.get()
        if found is None or found[0].holder != self.identity:
            return False
        try:
            self._lease.replace(released(found[0], self._wall()), found[1])
        except LeaseConflictError:
            return False
        self.observed_holder = None
        return True
