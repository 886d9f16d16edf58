"""One store's uplink outages, looked up by instant: what the embedded chain holds back and what the
streamed stages wait for, from one lookup (ScenarioBook.uplink_outage), so the two cannot disagree on
when an outage starts or releases its messages."""

from __future__ import annotations

from storesim._time import local_day
from storesim.world._scenarios import ScenarioBook, _uplink_outage

__all__ = ["UplinkOutages"]

_DAY = 86400


class UplinkOutages:
    """The outages of store ``number`` (in ``timezone``), each [start, release) in UTC seconds with its
    release at ``release_by`` at the latest (a run's end: what is held then is sent then)."""

    def __init__(self, book: ScenarioBook, number: int, timezone: str, release_by: int | None) -> None:
        self._book = ScenarioBook(
            s for s in book.scenarios if s.effects.uplink_outage is not None and s.applies_to(number)
        )
        self._number, self._timezone, self._release_by = number, timezone, release_by
        self._by_day: dict[int, list[tuple[int, int]]] = {}  # UTC day -> the outages that meet it

    def __bool__(self) -> bool:
        return bool(self._book)

    def holding(self, instant: int) -> tuple[int, int] | None:
        """The outage that holds a message sent at ``instant``, or None."""
        if not self._book:
            return None
        day = instant // _DAY
        spans = self._by_day.get(day)
        if spans is None:
            spans = self._by_day[day] = self._meeting(day)
        for start, release in spans:
            if start <= instant < release:
                return start, release
        return None

    def release_of(self, instant: int) -> int | None:
        """When a message sent at ``instant`` reaches Kafka, if an outage holds it."""
        outage = self.holding(instant)
        return None if outage is None else outage[1]

    def delivered_until(self, instant: int) -> int:
        """Up to which instant the store's messages are out once a stage has made everything up to
        ``instant``: ``instant`` itself, or the instant before the outage that holds it."""
        outage = self.holding(instant)
        return instant if outage is None else outage[0] - 1

    def _meeting(self, day: int) -> list[tuple[int, int]]:
        # A window that covers an instant of UTC day D belongs to local day D-1, D or D+1 (UTC-12 to +14).
        low, high = day * _DAY, (day + 1) * _DAY
        spans: set[tuple[int, int]] = set()
        for local in (day - 1, day, day + 1):
            for window in self._book.windows(self._number, local_day(local, self._timezone), _uplink_outage):
                if window.end <= low or window.start >= high:
                    continue
                outage = self._book.uplink_outage(self._number, self._timezone, window.start)
                assert outage is not None  # the window's own start is in it
                start, release = outage
                if self._release_by is not None:
                    release = min(release, self._release_by)
                if start < release:
                    spans.add((start, release))
        return sorted(spans)
