"""The foot-traffic engine: a store-day's visits, as sessions and as door-sensor entry/exit events."""

from __future__ import annotations

from dataclasses import dataclass

from storesim._keys import CustomerKey, customer_id, keyed_rng
from storesim._time import LocalDay
from storesim.events._topics import FOOT_TRAFFIC, FOOT_TRAFFIC_REALISTIC, Emitted
from storesim.world import (
    WEEKDAYS,
    SlotPicker,
    Store,
    TrafficVolume,
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


class FootTrafficEngine:
    """Draws each store-day from its own generator, so any subset of stores and days reproduces."""

    def __init__(self, seed: int, volume: TrafficVolume) -> None:
        self.seed = seed
        self.volume = volume

    def sessions(self, store: Store, day: LocalDay) -> list[Session]:
        rng = keyed_rng(self.seed, store.number, day.number, COMPONENT)
        count = daily_customers(self.volume, store, day.weekday, rng)
        picker = SlotPicker(slot_weights(store, day.weekday))
        draws = []
        for index in range(count):
            slot, start, end, _ = picker.pick(rng)
            entry = day.at(start + int(rng.random() * (end - start)))
            draws.append((entry, index, trip_minutes(rng), slot.label))
        draws.sort()
        sessions = []
        for seq, (entry, _, minutes, label) in enumerate(draws):
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
