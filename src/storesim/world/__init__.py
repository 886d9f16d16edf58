"""The store world: stores, their traffic, staff, assortment and prices."""

from storesim.world._catalogue import Catalogue, DayPricing, Discounts, Item, line_total_cents
from storesim.world._staff import REGISTER_DAY_AFTER_CLOSE, Shift, employee_id, shifts, terminal_id
from storesim.world._stores import PAYMENT_METHODS, Store, store, store_code, stores
from storesim.world._traffic import (
    MAX_TRIP_MINUTES,
    TIME_SLOTS,
    WEEKDAY_FACTORS,
    WEEKDAYS,
    SlotPicker,
    TimeSlot,
    TrafficVolume,
    daily_customers,
    expected_customers,
    slot_weights,
    trip_minutes,
)

__all__ = [
    "MAX_TRIP_MINUTES",
    "PAYMENT_METHODS",
    "REGISTER_DAY_AFTER_CLOSE",
    "TIME_SLOTS",
    "WEEKDAYS",
    "WEEKDAY_FACTORS",
    "Catalogue",
    "DayPricing",
    "Discounts",
    "Item",
    "Shift",
    "SlotPicker",
    "Store",
    "TimeSlot",
    "TrafficVolume",
    "daily_customers",
    "employee_id",
    "expected_customers",
    "line_total_cents",
    "shifts",
    "slot_weights",
    "store",
    "store_code",
    "stores",
    "terminal_id",
    "trip_minutes",
]
