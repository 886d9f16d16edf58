"""Where the stores file goes: the ConfigMap that the chart mounts into every simulator, and, for plain
processes (the local stack, the tests), a file on disk in place of the kubelet's projection of it.

Both are written only when their bytes differ, so a reconcile that changes nothing writes nothing: a
ConfigMap update wakes every kubelet that projects it, and a file's new mtime every simulator that polls
it. The ConfigMap is replaced with the resourceVersion it was read at, so a deposed leader's late write
fails (409) instead of overwriting its successor's. The file is written whole to a temporary file in
the same directory and renamed over the old one: a reader sees the old bytes or the new, never half.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kubernetes import client

from storesim.operator._kube import ApiException, Timeout

__all__ = ["STORES_KEY", "ConfigMapWriter", "write_file_atomically"]

STORES_KEY = "stores.json"
LABELS = {"app.kubernetes.io/part-of": "storesim", "app.kubernetes.io/managed-by": "storesim-controller"}


class ConfigMapWriter:
    """Keeps ConfigMap `name`'s stores.json equal to the text it is given."""

    def __init__(self, core: client.CoreV1Api, namespace: str, name: str, timeout: Timeout) -> None:
        self._core = core
        self._namespace = namespace
        self.name = name
        self._timeout = timeout
        self._known: str | None = None  # what the ConfigMap held when we last read or wrote it

    def forget(self) -> None:
        """Read the ConfigMap again before the next write (someone else may have written it)."""
        self._known = None

    def write(self, text: str) -> bool:
        """Make stores.json `text`; True when this wrote it, False when it already was. A 409 (another
        writer got there first) raises, after which the next write reads the ConfigMap again."""
        if self._known == text:
            return False
        try:
            return self._write(text)
        except ApiException:
            self._known = None
            raise

    def _write(self, text: str) -> bool:
        try:
            current = self._core.read_namespaced_config_map(
                self.name, self._namespace, _request_timeout=self._timeout
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=self.name, labels=dict(LABELS)), data={STORES_KEY: text}
            )
            self._core.create_namespaced_config_map(self._namespace, body, _request_timeout=self._timeout)
            self._known = text
            return True
        if (current.data or {}).get(STORES_KEY) == text:
            self._known = text
            return False
        current.data = {**(current.data or {}), STORES_KEY: text}
        self._core.replace_namespaced_config_map(
            self.name, self._namespace, current, _request_timeout=self._timeout
        )
        self._known = text
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
