"""Where the stores and scenarios files go: the ConfigMap that the chart mounts into every simulator (keys
stores.json and scenarios.json), and, for plain processes (the local stack, the tests), files on disk in
place of the kubelet's projection of it.

Both keys are written in one update: the kubelet projects a ConfigMap's keys together, so a simulator that
starts before the controller's first write sees the two files appear at once.

Both are written only when their bytes differ, so a reconcile that changes nothing writes nothing: a
ConfigMap update wakes every kubelet that projects it, and a file's new mtime every simulator that polls
it. The ConfigMap is replaced with the resourceVersion it was read at, so a deposed leader's late write
fails (409) instead of overwriting its successor's. The file is written whole to a temporary file in
the same directory and renamed over the old one: a reader sees the old bytes or the new, never half.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from kubernetes import client

from storesim.operator._kube import ApiException, Timeout

__all__ = ["SCENARIOS_KEY", "STORES_KEY", "ConfigMapWriter", "write_file_atomically"]

STORES_KEY = "stores.json"
SCENARIOS_KEY = "scenarios.json"
LABELS = {"app.kubernetes.io/part-of": "storesim", "app.kubernetes.io/managed-by": "storesim-controller"}


class ConfigMapWriter:
    """Keeps ConfigMap `name`'s keys equal to the texts it is given (others it leaves alone)."""

    def __init__(self, core: client.CoreV1Api, namespace: str, name: str, timeout: Timeout) -> None:
        self._core = core
        self._namespace = namespace
        self.name = name
        self._timeout = timeout
        self._known: dict[str, str] | None = None  # what the ConfigMap held when we last read or wrote it

    def forget(self) -> None:
        """Read the ConfigMap again before the next write (someone else may have written it)."""
        self._known = None

    def write(self, data: Mapping[str, str]) -> bool:
        """Make the keys of `data` hold its texts; True when this wrote them, False when they already did.
        A 409 (another writer got there first) raises, after which the next write reads the ConfigMap
        again."""
        wanted = dict(data)
        if self._known == wanted:
            return False
        try:
            return self._write(wanted)
        except ApiException:
            self._known = None
            raise

    def _write(self, wanted: dict[str, str]) -> bool:
        try:
            current = self._core.read_namespaced_config_map(
                self.name, self._namespace, _request_timeout=self._timeout
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=self.name, labels=dict(LABELS)), data=dict(wanted)
            )
            self._core.create_namespaced_config_map(self._namespace, body, _request_timeout=self._timeout)
            self._known = wanted
            return True
        held = current.data or {}
        if all(held.get(key) == text for key, text in wanted.items()):
            self._known = wanted
            return False
        current.data = {**held, **wanted}
        self._core.replace_namespaced_config_map(
            self.name, self._namespace, current, _request_timeout=self._timeout
        )
        self._known = wanted
        return True


def write_file_atomically(path: Path, text: str) -> bool:
    """Make `path` hold `text` (UTF-8); True when it was written, False when it already held it."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from a simulator running as another user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True
