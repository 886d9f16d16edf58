"""Event-time progress that each stage publishes in Redis, so that the next stage knows when it has
seen all of its input up to an instant — in paced and in backfill mode alike, whatever the replicas.

A stage advances part P (a store, an input partition) to T only after every event it produces at or
before T for P has been delivered. Values only grow: a replica that replays after a restart or a
rebalance may publish an older mark, and Redis keeps the newer one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import redis

__all__ = ["Watermarks"]

# HSET field value only where it raises the mark: several replicas and replays write the same hash.
_ADVANCE = """
for i = 1, #ARGV, 2 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if (not current) or tonumber(current) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 0
"""
_PARTS = "parts"


class Watermarks:
    """One stage's marks: a Redis hash ``<namespace>:watermark:<stage>`` of part → UTC seconds."""

    def __init__(self, client: redis.Redis, namespace: str, stage: str) -> None:
        self._client = client
        self.key = f"{namespace}:watermark:{stage}"
        self._advance = client.register_script(_ADVANCE)

    def advance(self, marks: Mapping[int, int], parts: int | None = None) -> None:
        """Raises the marks; ``parts`` records how many partitions the stage's input has, so a reader
        knows which marks to wait for."""
        self.advance_in(self._client, marks, parts)

    def advance_in(self, client: Any, marks: Mapping[int, int], parts: int | None = None) -> None:
        """:meth:`advance` as part of a pipeline (``client``), atomic with what else it carries."""
        args: list[Any] = []
        for part, value in marks.items():
            args += [str(part), str(value)]
        if parts is not None:
            args += [_PARTS, str(parts)]
        if args:
            self._advance(keys=[self.key], args=args, client=client)

    def read(self) -> dict[int, int]:
        fields = cast(dict[bytes, bytes], self._client.hgetall(self.key))
        return {int(k): int(v) for k, v in fields.items() if k != _PARTS.encode()}

    def parts(self) -> int | None:
        value = cast(bytes | None, self._client.hget(self.key, _PARTS))
        return int(value) if value is not None else None

    def low(self, parts: Iterable[int] | None = None) -> int | None:
        """The lowest mark over ``parts`` (default: the partitions the stage recorded); None while any
        of them has none."""
        wanted = list(range(self.parts() or 0)) if parts is None else list(parts)
        marks = self.read()
        if not wanted or any(part not in marks for part in wanted):
            return None
        return min(marks[part] for part in wanted)
