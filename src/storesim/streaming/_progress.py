"""What a stateful stage commits as its progress, in the metadata of its committed offsets.

Two things, committed in the same Kafka transaction as the step's outputs:

- ``until``: every input event at or before this instant is applied and the outputs it caused are
  committed (a replay sends nothing at or before it);
- ``seen``: per input partition, the offset before which every message was handled — applied, queued,
  dropped as already applied, or dead-lettered with its dead letter committed.

``seen`` is what makes a replay tell old messages from new ones. A stage rewound to its committed state
reads again from its committed offsets, which trail ``seen`` (an input not yet due holds them back): a
message before ``seen`` that is undecodable, or older than ``until``, was dead-lettered before and is not
again; one at or after ``seen`` is new, and if its event time is at or before ``until`` it arrived late
(its stage had moved past it already): that is a dead letter of its own, reason ``late``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

__all__ = ["Progress"]


@dataclass(frozen=True)
class Progress:
    until: int = -1
    seen: dict[str, int] = field(default_factory=dict)  # input partition (the stage's key) -> offset

    def encode(self) -> str:
        return json.dumps(self.as_json(), separators=(",", ":"))

    def as_json(self) -> dict[str, object]:
        return {"until": self.until, "seen": dict(sorted(self.seen.items()))}

    @classmethod
    def from_json(cls, value: object) -> Progress:
        """Also reads the plain instant that earlier versions committed (nothing seen then)."""
        if isinstance(value, int):
            return cls(value)
        if not isinstance(value, dict):
            raise ValueError(f"not a stage's progress: {value!r}")
        return cls(int(value["until"]), {str(k): int(v) for k, v in dict(value.get("seen") or {}).items()})

    @classmethod
    def decode(cls, text: str | None) -> Progress:
        """The progress committed as offset metadata; the empty progress where none is."""
        if not text:
            return cls()
        return cls.from_json(json.loads(text))

    def seen_at(self, key: str) -> int:
        return self.seen.get(key, -1)
