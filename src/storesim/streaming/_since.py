"""Since when each store is part of a streamed run, decided once by foot-traffic and kept in Redis.

A store declared while the chain runs starts at the clock's instant of the moment a foot-traffic replica
noticed it: its events at or before that instant are never sent. That instant depends on when the file
changed, so it cannot be derived from the seed; whoever must agree with it — foot-traffic's other
replicas and its restarts, the answer key's replay — reads it here. The first claim of a store wins and
never changes, so a replica that restarted and forgot the store was a late one cannot move it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import redis

__all__ = ["StoreSince"]

# HSETNX each store's instant, then answer what is recorded: one round trip, atomic across replicas.
_CLAIM = """
local out = {}
for i = 1, #ARGV, 2 do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  out[#out + 1] = redis.call('HGET', KEYS[1], ARGV[i])
end
return out
"""


class StoreSince:
    """A Redis hash ``<namespace>:stores:since`` of store number → the last instant (UTC seconds) before
    the store's first event: the run's start − 1 for the stores it began with."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._client = client
        self.key = f"{namespace}:stores:since"
        self._claim = client.register_script(_CLAIM)

    def claim(self, proposed: Mapping[int, int]) -> dict[int, int]:
        """Records ``proposed`` where a store has no instant yet; every store's recorded instant."""
        args: list[str] = []
        for number, instant in proposed.items():
            args += [str(number), str(instant)]
        if not args:
            return {}
        values = cast(list[bytes], self._claim(keys=[self.key], args=args))
        return {number: int(value) for number, value in zip(proposed, values, strict=True)}

    def read(self) -> dict[int, int]:
        fields = cast(dict[bytes, bytes], self._client.hgetall(self.key))
        return {int(k): int(v) for k, v in fields.items()}
