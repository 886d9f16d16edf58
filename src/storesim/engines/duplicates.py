"""The `duplicates` effect: which checkouts, register sequences and ledger lines an at-least-once POS retry
sends a second time, and the copies themselves.

The copies are decided here, for one stage's output of one checkout, so that the embedded chain and the
streamed stage (which both call ``expand`` on what their engine returned) send the same copies in the same
place. Each decision draws from its own generator, keyed by the scenario and the message's id, so a copy does
not shift any other draw and a store without the effect is byte-identical to a run without scenarios.

A copy is the same record (same ids, same event timestamp) sent once more right after its original; a
register sequence is sent again as a whole after its payment, as a terminal that did not hear the
acknowledgement would resend it. storesim's own stages read each visit's checkout once (a visit has one), so
the copies never reach the world; the answer key counts them.
"""

from __future__ import annotations

from collections.abc import Callable

from storesim._keys import decode_customer_id, keyed_rng
from storesim.events._topics import Emitted, Record
from storesim.world import DuplicatesEffect, DuplicateStage, Effects, ScenarioBook, Store

__all__ = ["Duplicates"]


def _duplicates(effects: Effects) -> DuplicatesEffect | None:
    return effects.duplicates


class Duplicates:
    """One stage's copies (``stage``: pos, register or ledger) over the run's stores."""

    def __init__(
        self, seed: int, scenarios: ScenarioBook, stage: DuplicateStage, stores: Callable[[int], Store]
    ) -> None:
        self.seed = seed
        self.stage: DuplicateStage = stage
        self._stores = stores
        # Only the scenarios with this stage's duplicates: a run without any pays one truth test per call.
        self._book = ScenarioBook(
            s
            for s in scenarios.scenarios
            if s.effects.duplicates is not None and s.effects.duplicates.covers(stage)
        )

    def __bool__(self) -> bool:
        return bool(self._book)

    def _sent_twice(self, number: int, day: int, instant: int, entity: str | int) -> bool:
        shop = self._stores(number)
        for window in self._book.acting(number, shop.timezone, instant, _duplicates):
            rng = keyed_rng(self.seed, number, day, f"duplicates/{window.scenario}/{self.stage}", entity)
            if rng.random() < window.effect.probability:
                return True
        return False

    def expand(self, events: list[Emitted], checkout: Record) -> tuple[list[Emitted], list[Emitted]]:
        """``events`` (what this stage's engine made of ``checkout``) with the copies in their places, and
        the copies alone (for the answer key and the metrics)."""
        if not self._book or not events:
            return events, []
        key = decode_customer_id(checkout["customer_id"])
        instant = checkout["timestamp"] // 1000
        if self.stage == "ledger":  # each line on its own: a line is one ledger message
            out: list[Emitted] = []
            copies: list[Emitted] = []
            for event in events:
                out.append(event)
                if self._sent_twice(key.store, key.day, instant, event.record["transaction_id"]):
                    out.append(event)
                    copies.append(event)
            return out, copies
        if not self._sent_twice(key.store, key.day, instant, checkout["transaction_id"]):
            return events, []
        if self.stage == "pos":
            return [event for event in events for _ in (0, 1)], list(events)
        # The customer's sequence (not the terminal's logins and logouts) again, after its payment.
        customer = checkout["customer_id"]
        sequence = [event for event in events if event.key == customer]
        last = sequence[-1].ts
        copies = [Emitted(last, event.topic, event.key, event.record) for event in sequence]
        return events + copies, copies
