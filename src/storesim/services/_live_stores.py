"""The run's stores while it runs: STORES_FILE, read again whenever its bytes change.

In a cluster the file is the Store controller's ConfigMap, mounted as a directory: the kubelet swaps in
the new content atomically (a symlink flip), so a service reads either the old file or the new one, never
half of each. Comparing bytes rather than mtimes is what survives that flip and any copy that keeps times.

A file that is missing is "not yet there" (the ConfigMap is created by the controller after the chart's
pods start): the service simulates no store and is not ready until it appears. A file that turns invalid
keeps the last good stores and is logged and counted; a rolling mistake in one Store resource (which the
CRD should already have refused) must not stop a running chain.

A SCENARIO_FILE that was not there at start-up hides every store the same way (ScenarioRules): a store
simulated without the scenarios it is declared with would not be the world the answer key describes. The
service restarts in place once that file appears (services/_scenario_file.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import structlog

from storesim.settings import ServiceSettings
from storesim.world import Store, StoreCatalogue, StoresFileError, parse_stores_file

__all__ = ["LiveStores", "StoresChange"]

_POLL_EVERY = 1.0  # seconds between two reads of the file


@dataclass(frozen=True)
class StoresChange:
    """What a new stores file changed, by store number."""

    added: frozenset[int]
    removed: frozenset[int]
    changed: frozenset[int]  # still declared, with other attributes
    # The file's first version, after it was missing since the service started (the controller writes the
    # ConfigMap after the pods start): its stores are the run's, from the clock's start, not stores added
    # at the current instant.
    appeared: bool = False


class LiveStores(Mapping[int, Store]):
    """The current stores by number; :meth:`refresh` polls STORES_FILE (without one, they never change).

    Looking up a store the file does not declare reads the file again at once: an event of a store
    declared a moment ago can reach a stage before its own poll does. A store deleted while the chain runs
    is still found by number (its events in flight, its refunds), but is no longer among :attr:`numbers`.
    """

    def __init__(self, settings: ServiceSettings, log: structlog.stdlib.BoundLogger) -> None:
        self._path = settings.stores_file
        self._log = log
        self._catalogue = self._reported = settings.stores
        self._scenarios_awaited = bool(getattr(settings, "scenarios_awaited", False))
        if self._scenarios_awaited:
            self._catalogue = self._reported = StoreCatalogue.of_specs([])
            log.warning(
                "no store until SCENARIO_FILE exists; the service restarts in place when it appears",
                scenario_file=str(getattr(settings, "scenario_file", "")),
            )
        self._retired: dict[int, Store] = {}
        self._bytes = self._read_bytes()
        self._awaiting_file = not self.declared
        self._checked = time.monotonic()
        self.rejected = 0  # versions of the file that were not valid

    def _read_bytes(self) -> bytes | None:
        if self._path is None or self._scenarios_awaited:
            return None
        try:
            return self._path.read_bytes()
        except OSError:
            return None

    @property
    def declared(self) -> bool:
        """False while STORES_FILE is set but does not exist yet, or while SCENARIO_FILE is awaited."""
        return (self._path is None or self._bytes is not None) and not self._scenarios_awaited

    @property
    def follows_file(self) -> bool:
        """True with STORES_FILE: the stores may change while the service runs."""
        return self._path is not None

    @property
    def numbers(self) -> tuple[int, ...]:
        return self._catalogue.numbers

    def __getitem__(self, number: int) -> Store:
        if number not in self._catalogue and number not in self._retired:
            self._reload()
        if number in self._catalogue:
            return self._catalogue[number]
        return self._retired[number]

    def __iter__(self) -> Iterator[int]:
        return iter(self._catalogue)

    def __len__(self) -> int:
        return len(self._catalogue)

    def _reload(self) -> None:
        self._checked = time.monotonic()
        raw = self._read_bytes()
        if self._path is None or raw is None or raw == self._bytes:  # unchanged, or gone for a moment
            return
        self._bytes = raw
        try:
            catalogue = StoreCatalogue.of_specs(parse_stores_file(raw, self._path))
        except StoresFileError as exc:
            self.rejected += 1
            self._log.error("stores file rejected; keeping the stores", error=str(exc))
            return
        self._retired.update((n, shop) for n, shop in self._catalogue.items() if n not in catalogue)
        self._catalogue = catalogue

    def refresh(self, force: bool = False) -> StoresChange | None:
        """Reads the file again (at most once a second unless ``force``); what changed since the last
        change this returned, if anything."""
        if self._path is not None and (force or time.monotonic() - self._checked >= _POLL_EVERY):
            self._reload()
        old, new = self._reported, self._catalogue
        if old is new:
            return None
        self._reported = new
        before, after = set(old), set(new)
        change = StoresChange(
            added=frozenset(after - before),
            removed=frozenset(before - after),
            changed=frozenset(n for n in before & after if old[n] != new[n]),
            appeared=self._awaiting_file,
        )
        self._awaiting_file = False
        self._log.info(
            "stores file changed",
            stores=list(new.numbers),
            added=sorted(change.added),
            removed=sorted(change.removed),
            changed=sorted(change.changed),
            appeared=change.appeared,
        )
        return change
