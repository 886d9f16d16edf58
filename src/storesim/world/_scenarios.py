"""Scenarios as declared: time-windowed effects on some stores (or all), in the file form that
`storesim simulate --scenario FILE` and SCENARIO_FILE read.

A scenario names its stores, a window in simulated time — an absolute one (start, end: ISO instants, UTC
when naive) or a daily one in each store's local time (from, to: HH:MM) — and its effects. The model is
strict like StoreSpec's, so that the Scenario resource generated from it later accepts exactly what the
simulators run.

Effects: ``traffic`` (a multiplier of the arrivals in the window, or ``closed``: none), ``promotion`` (items
or categories at a discount, optionally displayed more prominently), ``duplicates``, ``shrink``,
``sensorFaults``, ``uplinkOutage`` and ``registerOutage`` (terminals that take no customer in the window).
An effect the model does not know is refused as an unknown field, never silently ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Generic, Literal, Self, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator

from storesim._time import LocalDay, epoch_day_at, local_day
from storesim.world._catalogue import Catalogue, Item
from storesim.world._store_specs import STORE_ID_PATTERN, _Spec

__all__ = [
    "DuplicateStage",
    "DuplicatesEffect",
    "EffectWindow",
    "Effects",
    "PromotionEffect",
    "PromotionWindow",
    "RegisterOutageEffect",
    "ScenarioBook",
    "ScenarioSpec",
    "ScenariosFileError",
    "SensorFaultsEffect",
    "ShrinkEffect",
    "TrafficEffect",
    "TrafficWindow",
    "UplinkOutageEffect",
    "best_offer",
    "parse_scenarios_file",
    "read_scenarios_files",
    "write_scenarios_file",
]

_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"
# The ISO 8601 shapes an instant may take (a date; a date and time, to the minute, second or microsecond;
# an optional Z or offset): a pattern the Scenario resource's schema carries too, so the API server and
# the simulators accept the same text. Python's fromisoformat takes more (week dates, compact forms).
_INSTANT = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"  # a Kubernetes object name (DNS label)


class ScenariosFileError(ValueError):
    """A scenarios file that cannot be read or is not valid: one line naming the file and the problem."""


def _instant(text: str) -> int:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def _clock_seconds(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


class AbsoluteWindow(_Spec):
    """From ``start`` to ``end`` (exclusive), ISO 8601 instants; naive ones are UTC."""

    # The pattern is the schema's (the resource's); the validator checks it too, with a readable message.
    start: str = Field(
        json_schema_extra={"pattern": _INSTANT, "maxLength": 40},
        description="First instant, ISO 8601 (naive: UTC).",
    )
    end: str = Field(
        json_schema_extra={"pattern": _INSTANT, "maxLength": 40},
        description="Instant after the last one, ISO 8601 (naive: UTC).",
    )

    @field_validator("start", "end")
    @classmethod
    def _iso(cls, value: str) -> str:
        try:
            if len(value) > 40 or not re.match(_INSTANT, value):
                raise ValueError
            _instant(value)
        except ValueError:
            raise ValueError(
                f"not an ISO 8601 instant (2025-03-28T10:00, Z or offset optional): {value!r}"
            ) from None
        return value

    @property
    def seconds(self) -> tuple[int, int]:
        """[start, end) in UTC epoch seconds."""
        return _instant(self.start), _instant(self.end)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if _instant(self.end) <= _instant(self.start):
            raise ValueError("window.end must be after window.start")
        return self


class DailyWindow(_Spec):
    """Every day from ``from`` to ``to`` (exclusive), in each store's local time."""

    from_: str = Field(alias="from", pattern=_CLOCK, description="Local start, HH:MM.")
    to: str = Field(pattern=_CLOCK, description="Local end, HH:MM (24:00: midnight).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if _clock_seconds(self.to) <= _clock_seconds(self.from_):
            raise ValueError("daily.to must be after daily.from")
        return self


class TrafficEffect(_Spec):
    """Arrivals in the window times ``multiplier`` (Black Friday: 5), or none at all (``closed``); visits
    under way when a closure begins go on to their checkout and exit."""

    multiplier: Annotated[float, Field(ge=0, le=100)] | None = Field(
        None, description="Scales the arrivals in the window (0.5 halves them, 5 is five times as many)."
    )
    closed: bool | None = Field(None, description="No arrivals in the window.")

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.multiplier is None) == (not self.closed):
            raise ValueError("traffic takes either multiplier or closed: true")
        return self

    @property
    def factor(self) -> float:
        return 0.0 if self.closed else float(self.multiplier or 0.0)


_Probability = Annotated[float, Field(ge=0, le=1)]
DuplicateStage = Literal["pos", "register", "ledger"]


class DuplicatesEffect(_Spec):
    """An at-least-once POS retry: a checkout, a register sequence or a ledger line sent a second time with
    the same ids, outside the exactly-once guarantee on purpose. storesim's own stages ignore the copies
    (a visit has one checkout); a pipeline under test has to deduplicate them."""

    probability: Annotated[float, Field(gt=0, le=1)] = Field(
        description="The share of checkouts, register sequences and ledger lines sent twice."
    )
    stages: list[DuplicateStage] | None = Field(
        None, description="Which stages' messages: pos (checkouts), register, ledger; left out: all three."
    )

    def covers(self, stage: DuplicateStage) -> bool:
        return self.stages is None or stage in self.stages


class ShrinkEffect(_Spec):
    """Shoplifting: picked items that leave the store unpaid. The shelf saw the pickup; the checkout has
    no line for it; the answer key counts it."""

    share: Annotated[float, Field(gt=0, le=1)] = Field(
        description="The probability that one picked unit leaves without being paid for."
    )


class SensorFaultsEffect(_Spec):
    """Smart shelves misbehaving: noisy, missed and phantom weight_change events. Pickups and putbacks (and
    so the carts) are unaffected; the answer key counts the missed and phantom events."""

    noise_grams: Annotated[float, Field(ge=0, le=10000)] = Field(
        0.0, description="The standard deviation of a normal noise added to delta_weight, in grams."
    )
    missed: _Probability = Field(0.0, description="The probability that a weight_change is not sent.")
    phantom: _Probability = Field(
        0.0, description="The probability that an action is followed by a weight_change with no pickup."
    )

    @model_validator(mode="after")
    def _some(self) -> Self:
        if not (self.noise_grams or self.missed or self.phantom):
            raise ValueError("sensorFaults needs noiseGrams, missed or phantom above 0")
        return self


class UplinkOutageEffect(_Spec):
    """The store's link to Kafka is down: its messages are held for the window and released in a burst at
    its end, with their own event timestamps (late, and out of order against the other stores)."""


class RegisterOutageEffect(_Spec):
    """Checkout terminals down for the window: a terminal that is down starts no register sequence, so the
    customers queue at the others, and with none left up they wait for the end of the outage.

    ``terminals`` is a count, not a list of terminal ids, because one scenario may name several stores (or
    all of them) and their terminal ids and numbers differ; the highest-numbered terminals are the ones
    down, so the ones still up are always terminals 1, 2, … — the ones a smaller store has too. A sequence
    that started before the outage is finished (the basket is already being rung up when the terminal goes
    down), and shift changes happen as usual: an employee logs out at the shift's end, down or not, and the
    next one logs in with the terminal's first customer after the outage."""

    terminals: Annotated[int, Field(ge=1, le=99)] | None = Field(
        None,
        description="How many terminals are down, the highest-numbered ones; left out or more than the "
        "store has: all.",
    )

    def first_down(self, registers: int) -> int:
        """The index of the first terminal down in a store of ``registers`` terminals (0: all are down)."""
        return 0 if self.terminals is None else max(0, registers - self.terminals)


_Name = Annotated[str, Field(min_length=1)]


class PromotionEffect(_Spec):
    """Items on offer in the window: ``items`` (shelf ids) plus every item of ``categories``. At the
    register a promoted line is priced at the larger of ``discountPct`` and the day's discount; on the
    shelf a promoted item's pick weight is visibility × (1 + that discount) × ``displayBoost`` (an end-cap
    display: more customers reach for it, whatever the price).

    The names are checked against the run's catalogue when the run has one (ScenarioBook.check_catalogue):
    the catalogue is a data file the services read after their settings, so a file cannot be checked
    against it when it is parsed."""

    items: list[_Name] | None = Field(None, min_length=1, description="Shelf ids on offer (A01).")
    categories: list[_Name] | None = Field(
        None, min_length=1, description="Catalogue categories on offer, every item of each (Dairy & Eggs)."
    )
    discount_pct: Annotated[int, Field(ge=1, le=90)] = Field(
        description="The discount in whole percent; an item keeps its day's discount where that is larger."
    )
    display_boost: Annotated[float, Field(ge=1, le=100)] = Field(
        1.0, description="Multiplies the promoted items' pick weight on the shelf (1: the discount alone)."
    )

    @model_validator(mode="after")
    def _some(self) -> Self:
        if not (self.items or self.categories):
            raise ValueError("promotion needs items or categories")
        return self

    def covers(self, item: Item) -> bool:
        return bool(
            (self.items and item.shelf_id in self.items)
            or (self.categories and item.category in self.categories)
        )


def best_offer(promotions: Sequence[PromotionEffect], item: Item) -> tuple[int, float] | None:
    """(discount %, display boost) of ``item`` under the promotions acting together; None if none covers it.
    Promotions do not stack: the largest discount and the largest boost apply (two offers on one item are
    two signs on the shelf, not a price cut twice)."""
    covering = [p for p in promotions if p.covers(item)]
    if not covering:
        return None
    return max(p.discount_pct for p in covering), max(p.display_boost for p in covering)


class Effects(_Spec):
    """What happens in the window: one effect or several, acting together."""

    traffic: TrafficEffect | None = Field(None, description="More, fewer or no arrivals.")
    promotion: PromotionEffect | None = Field(None, description="Items at a discount, maybe on display.")
    duplicates: DuplicatesEffect | None = Field(None, description="Messages sent twice.")
    shrink: ShrinkEffect | None = Field(None, description="Items leaving unpaid.")
    sensor_faults: SensorFaultsEffect | None = Field(None, description="Noisy, missed, phantom weights.")
    uplink_outage: UplinkOutageEffect | None = Field(None, description="Messages held, then a burst.")
    register_outage: RegisterOutageEffect | None = Field(None, description="Checkout terminals down.")

    def any(self) -> bool:
        return bool(self.model_dump(exclude_none=True))


class ScenarioSpec(_Spec):
    """One scenario: which stores, when, and what happens."""

    name: str = Field(pattern=_NAME, description="The scenario's name, as the answer key lists it.")
    stores: list[Annotated[str, Field(pattern=STORE_ID_PATTERN)]] | None = Field(
        None, description="The stores it applies to (STORE-003); left out: every store."
    )
    window: AbsoluteWindow | None = Field(None, description="An absolute window.")
    daily: DailyWindow | None = Field(None, description="A daily window in each store's local time.")
    effects: Effects

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if (self.window is None) == (self.daily is None):
            raise ValueError("a scenario takes either window or daily")
        if not self.effects.any():
            raise ValueError("a scenario needs at least one effect")
        return self

    def applies_to(self, number: int) -> bool:
        return self.stores is None or any(int(s.removeprefix("STORE-")) == number for s in self.stores)

    def interval(self, day: LocalDay) -> tuple[int, int] | None:
        """The window's part in a store's local day, [start, end) in UTC seconds; None if it has none."""
        day_end = day.start + 86400
        if self.window is not None:
            start, end = _instant(self.window.start), _instant(self.window.end)
        else:
            assert self.daily is not None
            start, end = day.at(_clock_seconds(self.daily.from_)), day.at(_clock_seconds(self.daily.to))
        start, end = max(start, day.start), min(end, day_end)
        return (start, end) if start < end else None


class _ScenariosFile(_Spec):
    scenarios: list[ScenarioSpec]


_Effect = TypeVar("_Effect")


@dataclass(frozen=True, slots=True)
class EffectWindow(Generic[_Effect]):
    """One effect's part in one store-day: [start, end) in UTC seconds."""

    scenario: str
    start: int
    end: int
    effect: _Effect

    def __contains__(self, instant: int) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True, slots=True)
class TrafficWindow:
    """A traffic effect's part in one store-day."""

    scenario: str
    start: int
    end: int
    factor: float


PromotionWindow = EffectWindow[PromotionEffect]
"""A promotion's part in one store-day."""


class ScenarioBook:
    """The run's scenarios, as the engines ask about them: by store and day, or by instant."""

    def __init__(self, scenarios: Iterable[ScenarioSpec] = ()) -> None:
        self.scenarios = tuple(scenarios)
        names = [s.name for s in self.scenarios]
        if len(set(names)) != len(names):
            duplicate = next(n for n in names if names.count(n) > 1)
            raise ScenariosFileError(f"scenario {duplicate!r} is declared twice")

    def __bool__(self) -> bool:
        return bool(self.scenarios)

    def __repr__(self) -> str:
        """The scenarios themselves: a `simulate --kafka` run's fingerprint is taken over its plan's repr."""
        return f"ScenarioBook({list(self.scenarios)!r})"

    def traffic(self, number: int, day: LocalDay) -> list[TrafficWindow]:
        """The traffic effects on store ``number``'s local day, in declaration order."""
        out = []
        for scenario in self.scenarios:
            effect = scenario.effects.traffic
            if effect is None or not scenario.applies_to(number):
                continue
            interval = scenario.interval(day)
            if interval is not None:
                out.append(TrafficWindow(scenario.name, *interval, effect.factor))
        return out

    def windows(
        self, number: int, day: LocalDay, effect: Callable[[Effects], _Effect | None]
    ) -> list[EffectWindow[_Effect]]:
        """One kind of effect (``effect`` picks it from a scenario's effects: ``lambda e: e.shrink``) on store
        ``number``'s local day, in declaration order."""
        out = []
        for scenario in self.scenarios:
            chosen = effect(scenario.effects)
            if chosen is not None and scenario.applies_to(number):
                interval = scenario.interval(day)
                if interval is not None:
                    out.append(EffectWindow(scenario.name, *interval, chosen))
        return out

    def acting(
        self, number: int, timezone: str, instant: int, effect: Callable[[Effects], _Effect | None]
    ) -> list[EffectWindow[_Effect]]:
        """The windows of one kind of effect acting on store ``number`` (in ``timezone``) at ``instant``."""
        if not self.scenarios:
            return []
        day = local_day(epoch_day_at(instant, timezone), timezone)
        return [w for w in self.windows(number, day, effect) if instant in w]

    def at(self, number: int, timezone: str, instant: int) -> list[ScenarioSpec]:
        """The scenarios acting on store ``number`` (in ``timezone``) at ``instant``, in declaration order:
        what an engine that acts at one instant (a checkout, a shelf action) asks."""
        if not self.scenarios:
            return []
        day = local_day(epoch_day_at(instant, timezone), timezone)
        out = []
        for scenario in self.scenarios:
            if scenario.applies_to(number):
                interval = scenario.interval(day)
                if interval is not None and interval[0] <= instant < interval[1]:
                    out.append(scenario)
        return out

    def active(self, number: int, days: Iterator[LocalDay], start: int, end: int) -> list[str]:
        """The names of the scenarios acting on store ``number`` at some instant of [start, end), given
        the store's local days that overlap it."""
        names: list[str] = []
        for day in days:
            for scenario in self.scenarios:
                if scenario.name in names or not scenario.applies_to(number):
                    continue
                interval = scenario.interval(day)
                if interval is not None and interval[0] < end and start < interval[1]:
                    names.append(scenario.name)
        return sorted(names)

    def promotions(self, number: int, day: LocalDay) -> list[PromotionWindow]:
        """The promotions on store ``number``'s local day, in declaration order."""
        return self.windows(number, day, _promotion)

    def promotions_at(self, number: int, timezone: str, instant: int) -> list[PromotionEffect]:
        """The promotions acting on store ``number`` (in ``timezone``) at ``instant``."""
        if not any(s.effects.promotion is not None and s.applies_to(number) for s in self.scenarios):
            return []  # the common case, asked at every checkout: no local day to compute
        return [w.effect for w in self.acting(number, timezone, instant, _promotion)]

    def uplink_outage(self, number: int, timezone: str, instant: int) -> tuple[int, int] | None:
        """The uplink outage holding what store ``number`` (in ``timezone``) sends at ``instant``, as
        [start, release) in UTC seconds, or None. Windows that touch or overlap are one outage (an
        absolute window cut at local midnight, a daily window to 24:00 and the next from 00:00, two
        scenarios' windows): a message is released when the uplink is back, not between two of its
        windows. Asked of one instant, without the run's dates, so that an open-ended streamed run's
        stages can ask it too; an outage longer than ``_OUTAGE_HORIZON_DAYS`` ends there."""
        if not any(s.effects.uplink_outage is not None and s.applies_to(number) for s in self.scenarios):
            return None
        today = epoch_day_at(instant, timezone)
        pieces: dict[int, list[tuple[int, int]]] = {}

        def of_day(day: int) -> list[tuple[int, int]]:
            if day not in pieces:
                found = self.windows(number, local_day(day, timezone), _uplink_outage)
                pieces[day] = [(w.start, w.end) for w in found]
            return pieces[day]

        low, high = today, today
        while True:
            outage = _span_holding(sorted(p for d in range(low, high + 1) for p in of_day(d)), instant)
            if outage is None:
                return None
            # Near a day's edge (within a daylight-saving shift of it) the day beyond may touch it.
            edge = local_day(low, timezone).start + _DST_MARGIN
            earlier = outage[0] <= edge and today - low < _OUTAGE_HORIZON_DAYS
            edge = local_day(high + 1, timezone).start - _DST_MARGIN
            later = outage[1] >= edge and high - today < _OUTAGE_HORIZON_DAYS
            if not (earlier or later):
                return outage
            low, high = low - earlier, high + later

    def check_catalogue(self, catalogue: Catalogue) -> None:
        """Every promoted item and category exists in ``catalogue``: a misspelt name would otherwise
        promote nothing, silently. One line naming the scenario and the name (ScenariosFileError)."""
        categories = sorted({item.category for item in catalogue.items})
        for scenario in self.scenarios:
            effect = scenario.effects.promotion
            if effect is None:
                continue
            for shelf_id in effect.items or ():
                if shelf_id not in catalogue.by_id:
                    raise ScenariosFileError(
                        f"scenario {scenario.name!r}: promotion.items: {shelf_id!r} is not in the catalogue"
                    )
            for category in effect.categories or ():
                if category not in categories:
                    raise ScenariosFileError(
                        f"scenario {scenario.name!r}: promotion.categories: {category!r} is not a category "
                        f"of the catalogue ({', '.join(categories)})"
                    )


def parse_scenarios_file(raw: bytes | str, path: Path | str) -> list[ScenarioSpec]:
    try:
        return _ScenariosFile.model_validate_json(raw).scenarios
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the file"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ScenariosFileError(f"{path}: {where}: {message}") from None


def read_scenarios_files(paths: Iterable[Path]) -> ScenarioBook:
    """Every file's scenarios, in order; names must be distinct across them."""
    specs: list[ScenarioSpec] = []
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ScenariosFileError(f"{path}: {exc.strerror or exc}") from None
        specs += parse_scenarios_file(raw, path)
    return ScenarioBook(specs)


def write_scenarios_file(specs: Iterable[ScenarioSpec]) -> str:
    """The file form of ``specs``, unset fields left out."""
    body = {"scenarios": [s.model_dump(by_alias=True, exclude_none=True) for s in specs]}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def _promotion(effects: Effects) -> PromotionEffect | None:
    return effects.promotion


def _uplink_outage(effects: Effects) -> UplinkOutageEffect | None:
    return effects.uplink_outage


# How far (local days either side of an instant) an uplink outage's touching windows are followed: a
# daily window from 00:00 to 24:00 would otherwise never end.
_OUTAGE_HORIZON_DAYS = 366
# A local day's [start, start + 24 h) (its offset taken at noon) overlaps the next one, or leaves a gap
# before it, by a daylight-saving shift: at most an hour (half an hour on Lord Howe Island).
_DST_MARGIN = 2 * 3600


def _span_holding(pieces: list[tuple[int, int]], instant: int) -> tuple[int, int] | None:
    """The union of sorted [start, end) ``pieces`` that contains ``instant``: its connected part."""
    span: tuple[int, int] | None = None
    for start, end in pieces:
        if span is not None and start <= span[1]:
            span = (span[0], max(span[1], end))
            continue
        if span is not None and span[0] <= instant < span[1]:
            return span
        span = (start, end)
    return span if span is not None and span[0] <= instant < span[1] else None
