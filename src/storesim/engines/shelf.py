"""The shelf engine: a session's pickups and putbacks, each with the shelf's weight change."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

from storesim._keys import keyed_rng
from storesim._time import local_day
from storesim.engines.foot_traffic import Session
from storesim.events._topics import SHELF_EVENTS, Emitted
from storesim.world import (
    DayPricing,
    Effects,
    EffectWindow,
    PromotionWindow,
    ScenarioBook,
    SensorFaultsEffect,
    best_offer,
)

__all__ = ["MAX_ACTIONS", "MIN_ACTIONS", "ShelfEngine"]

COMPONENT = "shelf"
MIN_ACTIONS, MAX_ACTIONS = 3, 30
FIRST_ACTION_AFTER_ENTRY = 60
LAST_ACTION_BEFORE_EXIT = 30
_PICKUP_QUANTITIES = (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3)
PHANTOM_MAX_DELAY = 10  # a phantom weight_change comes 1..10 s after the action it follows
FaultSink = Callable[[str, int], None]  # ("missed" | "phantom", instant)


def _sensor_faults(effects: Effects) -> SensorFaultsEffect | None:
    return effects.sensor_faults


class ShelfEngine:
    """Each session draws from its own generator keyed by the visit, so the actions of a customer are
    the same whichever replica handles them and in whatever order sessions arrive."""

    def __init__(
        self,
        seed: int,
        putback_prob: float,
        *,
        scenarios: ScenarioBook = ScenarioBook(),  # noqa: B008 (immutable)
        on_fault: FaultSink | None = None,
    ) -> None:
        """``on_fault``: told of every missed and phantom weight_change (the answer key counts them)."""
        self.seed = seed
        self.putback_prob = putback_prob
        self.scenarios = scenarios
        self._faulty = any(s.effects.sensor_faults is not None for s in scenarios.scenarios)
        self._on_fault = on_fault
        self._promoting = any(s.effects.promotion is not None for s in scenarios.scenarios)
        self._windows: dict[tuple[int, int, str], list[PromotionWindow]] = {}  # by store-day
        # A day's pricing under the promotions acting together, by (day, their names): (the day's, it).
        self._promoted: dict[tuple[date, tuple[str, ...]], tuple[DayPricing, DayPricing]] = {}

    def actions(self, session: Session, pricing: DayPricing) -> list[Emitted]:
        key = session.key
        rng = keyed_rng(self.seed, key.store, key.day, COMPONENT, key.seq)
        count = MIN_ACTIONS + int(rng.random() * (MAX_ACTIONS - MIN_ACTIONS + 1))
        first, last = session.entry + FIRST_ACTION_AFTER_ENTRY, session.exit - LAST_ACTION_BEFORE_EXIT
        span = last - first + 1
        times = sorted(first + int(rng.random() * span) for _ in range(count))
        held: dict[str, int] = {}
        weights: dict[str, float] = {}
        cid, store_id = session.customer_id, session.store.store_id
        declared = session.store.putback_prob  # a Store resource's, before PUTBACK_PROB
        putback_prob = self.putback_prob if declared is None else declared
        out: list[Emitted] = []
        promotions = self._promotions(session, first, last) if self._promoting else None
        for ts in times:
            if held and rng.random() < putback_prob:
                item_id = list(held)[int(rng.random() * len(held))]
                quantity = 1 + int(rng.random() * held[item_id])
                held[item_id] -= quantity
                if not held[item_id]:
                    del held[item_id]
                kind, sign, weight = "putback", 1.0, weights[item_id]
            else:
                item = (self._pricing_at(pricing, promotions, ts) if promotions else pricing).pick(rng)
                item_id, weight = item.shelf_id, item.weight
                quantity = _PICKUP_QUANTITIES[int(rng.random() * len(_PICKUP_QUANTITIES))]
                held[item_id] = held.get(item_id, 0) + quantity
                weights[item_id] = weight
                kind, sign = "pickup", -1.0
            millis = ts * 1000
            out.append(
                Emitted(
                    ts,
                    SHELF_EVENTS,
                    cid,
                    {
                        "event_type": kind,
                        "customer_id": cid,
                        "item_id": item_id,
                        "weight": weight,
                        "quantity": quantity,
                        "delta_weight": None,
                        "timestamp": millis,
                        "store_id": store_id,
                    },
                )
            )
            out.append(
                Emitted(
                    ts,
                    SHELF_EVENTS,
                    cid,
                    {
                        "event_type": "weight_change",
                        "customer_id": cid,
                        "item_id": item_id,
                        "weight": None,
                        "quantity": None,
                        "delta_weight": round(sign * weight * quantity, 3),
                        "timestamp": millis,
                        "store_id": store_id,
                    },
                )
            )
        if self._faulty:
            day = local_day(key.day, session.store.timezone)
            windows = self.scenarios.windows(key.store, day, _sensor_faults)
            for window in windows:
                out = self._faults(session, pricing, out, window)
        return out

    def _faults(
        self,
        session: Session,
        pricing: DayPricing,
        events: list[Emitted],
        window: EffectWindow[SensorFaultsEffect],
    ) -> list[Emitted]:
        """``events`` as faulty shelves in ``window`` send them. The draws come from the scenario's own
        generator for this visit, so the actions themselves (and every other visit) are unchanged."""
        key, effect = session.key, window.effect
        rng = keyed_rng(self.seed, key.store, key.day, f"sensor-faults/{window.scenario}", key.seq)
        out: list[Emitted] = []
        for event in events:
            if event.ts not in window:
                out.append(event)
                continue
            record = event.record
            if record["event_type"] != "weight_change":
                out.append(event)
                if effect.phantom and rng.random() < effect.phantom:
                    out.append(self._phantom(session, pricing, event, rng))
                continue
            if effect.missed and rng.random() < effect.missed:
                if self._on_fault is not None:
                    self._on_fault("missed", event.ts)
                continue
            if effect.noise_grams:
                noisy = round(record["delta_weight"] + rng.gauss(0.0, effect.noise_grams) / 1000, 3)
                event = Emitted(event.ts, event.topic, event.key, {**record, "delta_weight": noisy})
            out.append(event)
        out.sort(key=lambda e: e.ts)  # stable: a phantom after its action, before a later one
        return out

    def _phantom(self, session: Session, pricing: DayPricing, action: Emitted, rng: random.Random) -> Emitted:
        """A weight_change that no pickup or putback caused, a few seconds after ``action`` (still inside
        the visit: the POS only accepts shelf events of open visits)."""
        ts = min(action.ts + 1 + int(rng.random() * PHANTOM_MAX_DELAY), session.exit - 1)
        item = pricing.pick(rng)
        sign = -1.0 if rng.random() < 0.5 else 1.0
        if self._on_fault is not None:
            self._on_fault("phantom", ts)
        record = {**action.record, "event_type": "weight_change", "item_id": item.shelf_id}
        record.update(
            weight=None, quantity=None, delta_weight=round(sign * item.weight, 3), timestamp=ts * 1000
        )
        return Emitted(ts, SHELF_EVENTS, action.key, record)

    # -- promotions: a pick inside a promotion's window draws from the promoted weights --------------------
    def _promotions(self, session: Session, first: int, last: int) -> list[PromotionWindow]:
        """The promotion windows of the session's store-day that overlap its actions' span [first, last]."""
        key = session.key
        timezone = session.store.timezone  # in the key: a Store resource may move the store to another
        windows = self._windows.get((key.store, key.day, timezone))
        if windows is None:
            if len(self._windows) >= 1024:  # the store-days gone by are not asked again
                self._windows.clear()
            day = local_day(key.day, timezone)
            windows = self._windows[key.store, key.day, timezone] = self.scenarios.promotions(key.store, day)
        return [w for w in windows if w.start <= last and first < w.end] if windows else windows

    def _pricing_at(self, pricing: DayPricing, promotions: list[PromotionWindow], ts: int) -> DayPricing:
        """The pricing a pick at ``ts`` draws from: the day's, or the day's under the promotions acting then
        (DayPricing.promoted: the same single draw, from other weights)."""
        acting = [w for w in promotions if w.start <= ts < w.end]
        if not acting:
            return pricing
        key = (pricing.day, tuple(w.scenario for w in acting))
        cached = self._promoted.get(key)
        if cached is None or cached[0] is not pricing:
            if len(self._promoted) >= 64:  # a long streamed run: the days gone by are not asked again
                self._promoted.clear()
            effects = [w.effect for w in acting]
            cached = self._promoted[key] = (pricing, pricing.promoted(lambda item: best_offer(effects, item)))
        return cached[1]
