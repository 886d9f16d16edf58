"""SCENARIO_FILE while a service runs: a new version restarts the service in place, which then reads it.

Why a restart and not a reload: the scenarios reach into every engine of a stage (prices, pick weights,
copies, faults, the answer key's replays), and some of them plan ahead (foot-traffic a store-day at a time,
the truth hours ahead). A stage restarted resumes from what it committed, exactly as after a crash, which
every stateful stage is tested to do byte for byte; so a scenario declared before its window opens gives
the same events as one that was there from the start. A change to a window already open takes effect at
the restart of each stage, which is not an instant of simulated time: that part is not replayable.

The restart is the service's own SIGTERM (readiness false, the loop's clean stop: produced, committed,
group left), then an exec of the same command line, so the process keeps its PID (a container its PID 1)
and nothing outside has to restart it. A version that is not valid is logged and counted and changes
nothing: the service goes on with the scenarios it has, as LiveStores keeps the last good stores.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import structlog

from storesim.settings import ScenarioRules
from storesim.world import ScenarioBook, ScenariosFileError, parse_scenarios_file

__all__ = ["ScenarioFileWatcher"]

_POLL_EVERY = 1.0  # seconds between two reads of the file


class ScenarioFileWatcher:
    """Polls SCENARIO_FILE from a thread of its own; :attr:`restart_requested` once a valid new version
    is there (the service has been sent SIGTERM by then)."""

    def __init__(self, path: Path, running: bytes | None, poll_every: float = _POLL_EVERY) -> None:
        self.path = path
        self.running = running  # the bytes the service started with; None: awaited
        self.poll_every = poll_every
        self.restart_requested = False
        self.rejected: set[bytes] = set()  # versions seen and refused, each logged once
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scenario-file", daemon=True)
        self._log = structlog.get_logger().bind(scenario_file=str(path))

    @classmethod
    def start_for(cls, settings: object) -> ScenarioFileWatcher | None:
        """A started watcher for a service with SCENARIO_FILE; None for one without."""
        if not isinstance(settings, ScenarioRules) or settings.scenario_file is None:
            return None
        watcher = cls(settings.scenario_file, settings.scenario_bytes)
        watcher._thread.start()
        return watcher

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> bool:
        """Reads the file once; True when a valid version other than the running one is there."""
        try:
            raw = self.path.read_bytes()
        except OSError:
            return False  # gone for a moment (a ConfigMap's projection flips a symlink), or not there yet
        if raw == self.running or raw in self.rejected:
            return False
        try:
            ScenarioBook(parse_scenarios_file(raw, self.path))
        except ScenariosFileError as exc:
            self.rejected.add(raw)
            self._log.error("scenario file rejected; keeping the scenarios", error=str(exc))
            return False
        return True

    def _run(self) -> None:
        changed = False
        while not self._stop.wait(self.poll_every):
            changed = changed or self.check()
            # Only once the service handles SIGTERM (ServiceRuntime.start): before, it would kill it.
            if changed and signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
                self.restart_requested = True
                self._log.info("scenario file changed: restarting in place to apply it")
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def restart(self) -> None:
        """Replaces the process with a new run of the same command line (same PID)."""
        self._log.info("restarting")
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
