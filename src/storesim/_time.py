"""Simulated time as whole UTC epoch seconds, and the two text forms the seeds use.

Events carry whole seconds: the seeds' timestamps have no fraction, so a JSON run and an Avro run
(milliseconds) hold exactly the same instants.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

__all__ = [
    "LocalDay",
    "day_date",
    "epoch_day",
    "epoch_day_at",
    "iso_utc",
    "ledger_utc",
    "local_day",
    "parse_iso_utc",
]

_EPOCH = date(1970, 1, 1)


def epoch_day(day: date) -> int:
    """Days since 1970-01-01: the compact day number used in keys and ids."""
    return (day - _EPOCH).days


def iso_utc(ts: int) -> str:
    """The seeds' ISO 8601 form, e.g. 2025-11-07T09:32:10+00:00."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))


def ledger_utc(ts: int) -> str:
    """The ledger seed's form, e.g. 2025-01-01 12:34:56 (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def parse_iso_utc(text: str) -> int:
    """Reads either form back into epoch seconds (a naive value is taken as UTC)."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


class LocalDay:
    """A store's local calendar day, and the conversion of its local clock times to UTC seconds.

    The UTC offset is taken at local noon: daylight-saving switches happen at night, when stores are
    closed, so every trading hour of the day has that offset.
    """

    __slots__ = ("date", "number", "offset", "start", "weekday")

    def __init__(self, day: date, timezone: str) -> None:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(timezone))
        offset = noon.utcoffset() or timedelta(0)
        self.date = day
        self.number = epoch_day(day)
        self.offset = int(offset.total_seconds())
        self.start = self.number * 86400 - self.offset  # local 00:00 in UTC seconds
        self.weekday = day.weekday()

    def at(self, local_seconds: int) -> int:
        """UTC seconds of a local clock time (seconds after local midnight) on this day."""
        return self.start + local_seconds

    def local_seconds(self, ts: int) -> int:
        return ts - self.start


def day_date(number: int) -> date:
    """The date of an epoch day number (the inverse of epoch_day)."""
    return _EPOCH + timedelta(days=number)


@cache
def local_day(number: int, timezone: str) -> LocalDay:
    """The LocalDay of an epoch day number in a timezone (cached: every event of a store-day asks)."""
    return LocalDay(day_date(number), timezone)


def epoch_day_at(ts: int, timezone: str) -> int:
    """The epoch day number of the local date at UTC second ``ts`` in a timezone ("today" for a store)."""
    return epoch_day(datetime.fromtimestamp(ts, ZoneInfo(timezone)).date())
