"""The embedded state store: what a stateful stage holds, with the input offsets it reflects, on the
pod's volume (STATE_DIR), one SQLite file per stage and replica.

A scope is the unit that moves between replicas (a POS partition, a register's or ledger's store).
Each save writes a scope's changed entries, its event-time progress and its input offsets in one SQLite
transaction, so a file read back after kill -9 is always a state the stage really was in. It is a cache
of what Kafka has committed: a stage saves only after its Kafka transaction committed, and on restore
compares the two (a scope behind Kafka replays the input between; one that is missing is rebuilt).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Snapshot", "StateStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS progress (
    scope   TEXT PRIMARY KEY,
    until   INTEGER NOT NULL,
    offsets TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    scope TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Snapshot:
    until: int  # every input event at or before this instant is applied, every output sent
    offsets: dict[str, int]  # input partition ("topic:partition") -> first offset still to read
    entries: dict[str, str]  # the stage's own encoding of its state


class StateStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # WAL + synchronous=NORMAL: a commit survives a killed process (the WAL is in the page cache);
        # only a lost machine can drop the newest saves, and Kafka's commit covers those.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def load(self, scope: str) -> Snapshot | None:
        row = self._db.execute("SELECT until, offsets FROM progress WHERE scope = ?", (scope,)).fetchone()
        if row is None:
            return None
        entries = self._db.execute("SELECT key, value FROM entries WHERE scope = ?", (scope,)).fetchall()
        return Snapshot(int(row[0]), json.loads(row[1]), dict(entries))

    def save(
        self,
        scope: str,
        until: int,
        offsets: Mapping[str, int],
        changes: Mapping[str, str | None],
        *,
        replace: bool = False,
    ) -> None:
        """One atomic write: entries mapped to None are deleted; ``replace`` drops every other entry."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if replace:
                db.execute("DELETE FROM entries WHERE scope = ?", (scope,))
            db.executemany(
                "DELETE FROM entries WHERE scope = ? AND key = ?",
                ((scope, key) for key, value in changes.items() if value is None),
            )
            db.executemany(
                "INSERT OR REPLACE INTO entries (scope, key, value) VALUES (?, ?, ?)",
                ((scope, key, value) for key, value in changes.items() if value is not None),
            )
            db.execute(
                "INSERT OR REPLACE INTO progress (scope, until, offsets) VALUES (?, ?, ?)",
                (scope, until, json.dumps(dict(sorted(offsets.items())))),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def drop(self, scopes: Iterable[str]) -> None:
        """Forgets scopes (their state is stale and will be rebuilt)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        for scope in scopes:
            db.execute("DELETE FROM entries WHERE scope = ?", (scope,))
            db.execute("DELETE FROM progress WHERE scope = ?", (scope,))
        db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
