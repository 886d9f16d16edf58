"""The foot-traffic engine: a store-day's visits, as sessions and as door-sensor entry/exit events."""

from __future__ import annotations

import random
from dataclasses import dataclass

from storesim._keys import CustomerKey, customer_id, keyed_rng
from storesim._time import LocalDay
from storesim.events._topics import FOOT_TRAFFIC, FOOT_TRAFFIC_REALISTIC, Emitted
from storesim.world import (
    WEEKDAYS,
    ScenarioBook,
    SlotPicker,
    Store,
    TrafficVolume,
    TrafficWindow,
    daily_customers,
    slot_weights,
    trip_minutes,
)

__all__ = ["FootTrafficEngine", "Session"]

COMPONENT = "foot-traffic"


@dataclass(frozen=True, slots=True)
class Session:
    customer_id: str
    key: CustomerKey
    store: Store
    day: LocalDay
    entry: int  # UTC seconds
    exit: int
    minutes: int
    time_slot: str

    @property
    def weekday(self) -> str:
        return WEEKDAYS[self.day.weekday]


# (entry, tie-breaker, trip minutes, slot label, slot start, slot end): one arrival before it is a session.
_Draw = tuple[int, int, int, str, int, int]
_JITTER = 900  # seconds: how far a surge's extra arrival may come from the one it follows


def _scaled(draws: list[_Draw], window: TrafficWindow, rng: random.Random) -> list[_Draw]:
    """The arrivals with a traffic effect applied inside its window. Fewer: each arrival in the window
    stays with probability ``factor``. More: each one brings ``factor - 1`` others on average, a few
    minutes from it within its time slot, so the day keeps its shape. The scenario's own generator
    draws, so the store-day's other arrivals are the ones it has without the scenario."""
    out: list[_Draw] = []
    extra = max((draw[1] for draw in draws), default=-1) + 1
    for draw in draws:
        entry, _, _, label, slot_start, slot_end = draw
        if not window.start <= entry < window.end:
            out.append(draw)
            continue
        if window.factor < 1:
            if rng.random() < window.factor:
                out.append(draw)
            continue
        out.append(draw)
        more = window.factor - 1
        copies = int(more) + (rng.random() < more - int(more))
        low, high = max(slot_start, window.start), min(slot_end, window.end)
        for _ in range(copies):
            at = min(max(entry + int((rng.random() * 2 - 1) * _JITTER), low), high - 1)
            out.append((at, extra, trip_minutes(rng), label, slot_start, slot_end))
            extra += 1
    return out


class FootTrafficEngine:
    """Draws each store-day from its own generator, so any subset of stores and days reproduces."""

    def __init__(self, seed: int, volume: TrafficVolume, scenarios: ScenarioBook | None = None) -> None:
        self.seed = seed
        self.volume = volume
        self.scenarios = scenarios or ScenarioBook()

    def sessions(self, store: Store, day: LocalDay) -> list[Session]:
        rng = keyed_rng(self.seed, store.number, day.number, COMPONENT)
        count = daily_customers(self.volume, store, day.weekday, rng)
        picker = SlotPicker(slot_weights(store, day.weekday))
        draws: list[_Draw] = []
        for index in range(count):
            slot, start, end, _ = picker.pick(rng)
            entry = day.at(start + int(rng.random() * (end - start)))
            draws.append((entry, index, trip_minutes(rng), slot.label, day.at(start), day.at(end)))
        for window in self.scenarios.traffic(store.number, day):
            draws = _scaled(draws, window, keyed_rng(self.seed, store.number, day.number, window.scenario))
        draws.sort()
        sessions = []
        for seq, (entry, _, minutes, label, _, _) in enumerate(draws):
            key = CustomerKey(store.number, day.number, seq)
            sessions.append(
                Session(
                    customer_id(self.seed, key), key, store, day, entry, entry + minutes * 60, minutes, label
                )
            )
        return sessions

    @staticmethod
    def events(session: Session) -> tuple[Emitted, Emitted, Emitted]:
        """The session record at entry, and the sensor's entry and exit."""
        store_id = session.store.store_id
        weekday = session.weekday
        cid = session.customer_id
        return (
            Emitted(
                session.entry,
                FOOT_TRAFFIC,
                cid,
                {
                    "event_type": "foot_traffic",
                    "customer_id": cid,
                    "entry_time": session.entry * 1000,
                    "exit_time": session.exit * 1000,
                    "trip_duration_minutes": session.minutes,
                    "weekday": weekday,
                    "time_slot": session.time_slot,
                    "store_id": store_id,
                },
            ),
            Emitted(
                session.entry,
                FOOT_TRAFFIC_REALISTIC,
                cid,
                {
                    "event_type": "entry",
                    "time": session.entry * 1000,
                    "weekday": weekday,
                    "time_slot": session.time_slot,
                    "store_id": store_id,
                },
            ),
            Emitted(
                session.exit,
                FOOT_TRAFFIC_REALISTIC,
                cid,
                {
                    "event_type": "exit",
                    "time": session.exit * 1000,
                    "weekday": weekday,
                    "time_slot": session.time_slot,
                    "store_id": store_id,
                },
            ),
        )
