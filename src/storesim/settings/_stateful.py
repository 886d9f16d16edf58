"""What the stages that produce transactionally add: who they are across restarts, whether their output
is exactly-once, and (for those that consume and keep state: pos, register, ledger) where that lives."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

__all__ = ["ReplicaSettings", "StatefulSettings"]


class ReplicaSettings(BaseSettings):
    """REPLICA_ID must survive a restart of the same replica (a StatefulSet's pod name does): it names
    the replica's Kafka transactional.id and static group membership, which fence a killed instance's
    unfinished transaction the moment its successor starts."""

    replica_id: str = Field(default_factory=socket.gethostname, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    exactly_once: bool = True


class StatefulSettings(ReplicaSettings):
    state_dir: Path = Path("state")
