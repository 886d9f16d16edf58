"""Registers, the employees who staff them and their shifts.

A store's register day runs from opening to 105 minutes after closing (a visit lasts at most 90, and
the last customers still check out), split into an early and a late shift; every terminal has one
employee per shift.
"""

from __future__ import annotations

from dataclasses import dataclass

from storesim.world._stores import Store

__all__ = ["REGISTER_DAY_AFTER_CLOSE", "Shift", "employee_id", "shifts", "terminal_id"]

REGISTER_DAY_AFTER_CLOSE = 105 * 60


@dataclass(frozen=True, slots=True)
class Shift:
    index: int
    start: int  # seconds after local midnight
    end: int


def shifts(store: Store) -> tuple[Shift, Shift]:
    day_end = store.closes + REGISTER_DAY_AFTER_CLOSE
    middle = store.opens + ((day_end - store.opens) // 2 // 3600) * 3600
    return Shift(0, store.opens, middle), Shift(1, middle, day_end)


def terminal_id(store: Store, terminal: int) -> str:
    return f"T-{store.number:03d}-{terminal + 1:02d}"


def employee_id(store: Store, shift: int, terminal: int) -> str:
    return f"EMP-{store.number:03d}-{shift * store.registers + terminal + 1:02d}"
