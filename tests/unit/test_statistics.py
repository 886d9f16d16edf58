"""The seeds' parameters, checked statistically on what the simulators emit.

Every bound is computed from the parameter under test (binomial 4.5-sigma intervals, a chi-square
critical value, the ±DAILY_VARIATION_PCT band), every sample comes from fixed seeds, so each test is
deterministic and fails when a parameter is not honoured. The large samples are drawn by driving the
engines directly (as the embedded runner does, with the same keyed generators); one test checks that
this reproduces exactly what `storesim simulate` writes, and the ledger and trip tests read Avro runs.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from storesim._time import epoch_day, local_day
from storesim.data import Dataset, build_dataset
from storesim.engines import FootTrafficEngine, Session, ShelfEngine
from storesim.events import FOOT_TRAFFIC, SHELF_EVENTS
from storesim.settings import ComponentSettings, FootTrafficSettings, ShelfSettings
from storesim.world import (
    TIME_SLOTS,
    WEEKDAY_FACTORS,
    WEEKDAYS,
    DayPricing,
    TrafficVolume,
    expected_customers,
    slot_weights,
    store,
)
from tests.conftest import STORESIM_VARIABLES, Run, epoch_seconds, simulate

Record = dict[str, Any]
S = TypeVar("S", bound=ComponentSettings)

SEED = 20250303
START = date(2025, 3, 3)  # a Monday; March 2025 also holds the US and EU daylight-saving switches
SIGMAS = 4.5

# Chi-square critical value for p = 0.001 with 27 degrees of freedom (28 possible action counts, 3..30):
# the 99.9th percentile of the chi-square distribution with 27 df.
CHI2_CRITICAL_27_DF_P001 = 55.476

# The seeds' documented values (not read from storesim, so a changed default fails here).
SEED_MIN_ACTIONS, SEED_MAX_ACTIONS = 3, 30  # shelf seed: "3–30 actions uniformly"
SEED_FIRST_ACTION_AFTER_ENTRY, SEED_LAST_ACTION_BEFORE_EXIT = 60, 30  # "between entry+60s and exit-30s"
SEED_PUTBACK_PROB = 0.15
SEED_REFUND_PROBABILITY = 0.1
SEED_DAILY_VARIATION_PCT = 0.10
SEED_DEFAULT_DAILY_CUSTOMERS = 1000
SEED_REFUND_REASONS = ("defective", "wrong_item", "not_as_described", "changed_mind", "damaged_shipping")
REFUND_MAX_DAYS_LATER = 3  # engines/ledger.py: the same day or up to three days later

STORE_SIZES = (1, 3, 7, 16, 24)  # large, medium, small, large (New York), small (Tokyo)
WEEK_STORES = (1, 3, 5, 7, 8, 10, 13, 15, 16, 19, 22, 24)


# --- helpers -------------------------------------------------------------------------------------


def settings_from_env(cls: type[S], env: Mapping[str, str]) -> S:
    """A component's settings with ``env`` as the only storesim variables."""
    with pytest.MonkeyPatch.context() as patch:
        for name in STORESIM_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        return cls.from_env()


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def seconds(value: Any) -> int:
    """UTC seconds of a timestamp, whether an engine's record (int millis) or an Avro one (datetime)."""
    if isinstance(value, int):
        return value // 1000
    return epoch_seconds(value)


def store_number(store_id: str) -> int:
    return int(store_id.removeprefix("STORE-"))


def local_time(ts: int, timezone: str) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(zone(timezone))


def local_date(record: Record, field: str = "entry_time") -> date:
    return local_time(seconds(record[field]), store(store_number(record["store_id"])).timezone).date()


def binomial_bounds(p: float, n: int) -> tuple[float, float]:
    half = SIGMAS * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


def dates(start: date, days: int) -> list[date]:
    return [start + timedelta(days=n) for n in range(days)]


def foot_sessions(volume: TrafficVolume, stores: Iterable[int], days: list[date]) -> list[Session]:
    engine = FootTrafficEngine(SEED, volume)
    sessions: list[Session] = []
    for number in stores:
        shop = store(number)
        for day in days:
            sessions.extend(engine.sessions(shop, local_day(epoch_day(day), shop.timezone)))
    return sessions


def foot_records(sessions: Iterable[Session]) -> list[Record]:
    """The foot_traffic records (the session topic) of the sessions."""
    out = []
    for session in sessions:
        event = FootTrafficEngine.events(session)[0]
        assert event.topic == FOOT_TRAFFIC
        out.append(event.record)
    return out


def traffic(env: Mapping[str, str], stores: Iterable[int], days: list[date]) -> list[Record]:
    volume = settings_from_env(FootTrafficSettings, env).volume()
    return foot_records(foot_sessions(volume, stores, days))


def counts_per_store_day(records: Iterable[Record]) -> Counter[tuple[int, date]]:
    return Counter((store_number(r["store_id"]), local_date(r)) for r in records)


def shelf_actions(
    sessions: Iterable[Session], putback_prob: float, dataset: Dataset
) -> dict[str, list[Record]]:
    """Each customer's pickups and putbacks (shelf_events without weight changes), in emitted order."""
    engine = ShelfEngine(SEED, putback_prob)
    pricing = cache(lambda day: DayPricing(dataset.catalogue, dataset.discounts, day))
    out: dict[str, list[Record]] = {}
    for session in sessions:
        events = engine.actions(session, pricing(session.day.date))
        assert all(e.topic == SHELF_EVENTS for e in events)
        out[session.customer_id] = [
            e.record for e in events if e.record["event_type"] in ("pickup", "putback")
        ]
    return out


# --- the shelf seed ------------------------------------------------------------------------------

SHELF_DAYS = dates(START, 4)
SHELF_STORES = (1, 12)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return build_dataset(START, START + timedelta(days=40))


@pytest.fixture(scope="module")
def shelf_sessions() -> list[Session]:
    volume = settings_from_env(FootTrafficSettings, {}).volume()
    return foot_sessions(volume, SHELF_STORES, SHELF_DAYS)


@dataclass(frozen=True)
class ShelfSample:
    putback_prob: float
    sessions: list[Session]
    actions: dict[str, list[Record]]


@pytest.fixture(
    scope="module",
    params=[({}, SEED_PUTBACK_PROB), ({"PUTBACK_PROB": "0.4"}, 0.4)],
    ids=["PUTBACK_PROB-default", "PUTBACK_PROB-0.4"],
)
def shelf_sample(
    request: pytest.FixtureRequest, shelf_sessions: list[Session], dataset: Dataset
) -> ShelfSample:
    env, expected = request.param
    putback_prob = settings_from_env(ShelfSettings, env).putback_prob
    assert putback_prob == expected
    return ShelfSample(putback_prob, shelf_sessions, shelf_actions(shelf_sessions, putback_prob, dataset))


def test_actions_per_session_are_uniform_on_3_to_30(shelf_sample: ShelfSample) -> None:
    per_session = [len(shelf_sample.actions[s.customer_id]) for s in shelf_sample.sessions]
    n = len(per_session)
    assert n >= 5000
    assert min(per_session) >= SEED_MIN_ACTIONS
    assert max(per_session) <= SEED_MAX_ACTIONS
    histogram = Counter(per_session)
    values = range(SEED_MIN_ACTIONS, SEED_MAX_ACTIONS + 1)
    assert set(histogram) == set(values), "every count 3..30 occurs"
    expected = n / len(values)
    chi2 = sum((histogram[v] - expected) ** 2 / expected for v in values)
    assert len(values) - 1 == 27
    assert chi2 < CHI2_CRITICAL_27_DF_P001, (
        f"chi-square {chi2:.1f} over {n} sessions: {sorted(histogram.items())}"
    )


def test_actions_are_uniform_between_entry_plus_60s_and_exit_minus_30s(shelf_sample: ShelfSample) -> None:
    positions = []
    for session in shelf_sample.sessions:
        record = foot_records([session])[0]
        first = seconds(record["entry_time"]) + SEED_FIRST_ACTION_AFTER_ENTRY
        last = seconds(record["exit_time"]) - SEED_LAST_ACTION_BEFORE_EXIT
        assert last > first
        for action in shelf_sample.actions[session.customer_id]:
            ts = seconds(action["timestamp"])
            assert first <= ts <= last, (action, record)
            positions.append((ts - first) / (last - first))
    assert len(positions) > 50_000
    assert statistics.fmean(positions) == pytest.approx(0.5, abs=0.02)


def replay_putbacks(actions: dict[str, list[Record]]) -> tuple[int, int, int, int]:
    """(actions, putbacks, actions while holding something, putbacks among those), replaying carts."""
    total = putbacks = holding = holding_putbacks = 0
    for events in actions.values():
        cart: dict[str, int] = defaultdict(int)
        for event in events:
            held = sum(cart.values()) > 0
            is_putback = event["event_type"] == "putback"
            total += 1
            putbacks += is_putback
            holding += held
            holding_putbacks += held and is_putback
            if is_putback:
                assert event["quantity"] <= cart[event["item_id"]], event
                cart[event["item_id"]] -= event["quantity"]
            else:
                cart[event["item_id"]] += event["quantity"]
    return total, putbacks, holding, holding_putbacks


def test_putback_share_follows_putback_prob(shelf_sample: ShelfSample) -> None:
    p = shelf_sample.putback_prob
    total, putbacks, holding, holding_putbacks = replay_putbacks(shelf_sample.actions)
    low, high = binomial_bounds(p, holding)
    assert low <= holding_putbacks / holding <= high, (
        f"PUTBACK_PROB={p}: {holding_putbacks}/{holding} putbacks while holding an item, "
        f"outside [{low:.4f}, {high:.4f}]"
    )
    # A customer with an empty cart can only pick up, so the overall share is a little lower.
    assert 0.8 * p <= putbacks / total <= p, f"PUTBACK_PROB={p}: overall share {putbacks / total:.4f}"


def test_putback_prob_zero_gives_no_putbacks(shelf_sessions: list[Session], dataset: Dataset) -> None:
    putback_prob = settings_from_env(ShelfSettings, {"PUTBACK_PROB": "0"}).putback_prob
    assert putback_prob == 0
    actions = shelf_actions(shelf_sessions[:2000], putback_prob, dataset)
    kinds = Counter(e["event_type"] for events in actions.values() for e in events)
    assert kinds["pickup"] > 10_000
    assert set(kinds) == {"pickup"}


# --- the foot-traffic seed: daily volume ---------------------------------------------------------

VOLUME_DAYS = dates(START, 21)


def check_within_variation(env: Mapping[str, str], pct: float) -> list[float]:
    """Every store-day inside expected×(1±pct); returns the relative deviations."""
    volume = settings_from_env(FootTrafficSettings, env).volume()
    assert volume.variation_pct == pct
    counts = counts_per_store_day(traffic(env, STORE_SIZES, VOLUME_DAYS))
    store_days = {(n, d) for n in STORE_SIZES for d in VOLUME_DAYS}
    assert set(counts) == store_days
    deviations = []
    for (number, day), count in sorted(counts.items()):
        expected = expected_customers(volume, store(number), day.weekday())
        assert expected * (1 - pct) <= count <= expected * (1 + pct), (number, day, count, expected)
        deviations.append(count / expected - 1)
    return deviations


@pytest.mark.parametrize(
    ("env", "pct"),
    [
        ({}, SEED_DAILY_VARIATION_PCT),
        ({"DAILY_VARIATION_PCT": "0.10"}, 0.10),
        ({"DAILY_VARIATION_PCT": "0.3"}, 0.3),
    ],
    ids=["default", "0.10", "0.3"],
)
def test_daily_totals_vary_within_daily_variation_pct(env: dict[str, str], pct: float) -> None:
    deviations = check_within_variation(env, pct)
    n = len(deviations)
    assert n >= 5 * 14
    # The noise is really drawn, fills the band on both sides, and is centred (uniform on ±pct: sd pct/√3).
    assert sum(1 for d in deviations if abs(d) > 0.01) > n / 2, "the days barely vary"
    assert max(deviations) > 0.8 * pct
    assert min(deviations) < -0.8 * pct
    assert abs(statistics.fmean(deviations)) < SIGMAS * pct / math.sqrt(3 * n)


def test_disable_daily_variation_gives_exactly_the_expected_volume() -> None:
    env = {"DISABLE_DAILY_VARIATION": "1"}
    counts = counts_per_store_day(traffic(env, STORE_SIZES, VOLUME_DAYS))
    assert len(counts) == len(STORE_SIZES) * len(VOLUME_DAYS)
    for (number, day), count in counts.items():
        shop = store(number)
        expected = SEED_DEFAULT_DAILY_CUSTOMERS * WEEKDAY_FACTORS[day.weekday()] * shop.traffic_factor
        assert count == round(expected), (number, day)


def test_daily_customers_fixes_every_store_day() -> None:
    counts = counts_per_store_day(traffic({"DAILY_CUSTOMERS": "77"}, STORE_SIZES, VOLUME_DAYS))
    assert len(counts) == len(STORE_SIZES) * len(VOLUME_DAYS)
    assert set(counts.values()) == {77}


@pytest.mark.parametrize(
    ("env", "baseline"),
    [
        ({"DEFAULT_DAILY_CUSTOMERS": "500"}, 500),
        ({"DEFAULT_DAILY_CUSTOMERS": "500", "BASE_DAILY_CUSTOMERS": "200"}, 200),
        ({"BASE_DAILY_CUSTOMERS": "200"}, 200),
    ],
    ids=["default-only", "base-overrides-default", "base-only"],
)
def test_base_daily_customers_overrides_default_daily_customers(env: dict[str, str], baseline: int) -> None:
    counts = counts_per_store_day(
        traffic({**env, "DISABLE_DAILY_VARIATION": "1"}, STORE_SIZES, VOLUME_DAYS[:7])
    )
    assert len(counts) == len(STORE_SIZES) * 7
    for (number, day), count in counts.items():
        assert count == round(baseline * WEEKDAY_FACTORS[day.weekday()] * store(number).traffic_factor)


# --- the foot-traffic seed: weekday and time-slot shape ------------------------------------------

WEEK_DAYS = dates(START, 28)  # four whole weeks, Monday to Sunday
WEEK_ENV = {"BASE_DAILY_CUSTOMERS": "400"}


@pytest.fixture(scope="module")
def week_traffic() -> list[Record]:
    return traffic(WEEK_ENV, WEEK_STORES, WEEK_DAYS)


@pytest.fixture(scope="module")
def week_traffic_exact() -> list[Record]:
    return traffic({**WEEK_ENV, "DISABLE_DAILY_VARIATION": "1"}, WEEK_STORES, WEEK_DAYS)


def per_weekday(records: Iterable[Record]) -> Counter[int]:
    out: Counter[int] = Counter()
    for record in records:
        weekday = local_date(record).weekday()
        assert record["weekday"] == WEEKDAYS[weekday]
        out[weekday] += 1
    return out


def test_four_whole_weeks() -> None:
    assert Counter(d.weekday() for d in WEEK_DAYS) == dict.fromkeys(range(7), 4)


@pytest.mark.parametrize(
    ("fixture", "ratio_tolerance"), [("week_traffic", 0.08), ("week_traffic_exact", 0.005)]
)
def test_sessions_per_weekday_follow_weekday_factors(
    request: pytest.FixtureRequest, fixture: str, ratio_tolerance: float
) -> None:
    records: list[Record] = request.getfixturevalue(fixture)
    volume = settings_from_env(FootTrafficSettings, WEEK_ENV).volume()
    counts = per_weekday(records)
    assert counts.most_common(1)[0][0] == 5, "Saturday is the busiest day"
    assert {wd for wd, _ in counts.most_common()[-2:]} == {0, 1}, "Monday and Tuesday are the quietest"
    expected_ratio = WEEKDAY_FACTORS[5] / WEEKDAY_FACTORS[0]
    assert counts[5] / counts[0] == pytest.approx(expected_ratio, rel=ratio_tolerance)
    # Each weekday against its expected total: the mean of uniform ±pct noise over its store-days.
    pct = volume.variation_pct if fixture == "week_traffic" else 0.0
    for weekday in range(7):
        expected = [
            expected_customers(TrafficVolume(baseline=400), store(n), weekday)
            for n in WEEK_STORES
            for d in WEEK_DAYS
            if d.weekday() == weekday
        ]
        total = sum(expected)
        sd = pct / math.sqrt(3) * math.sqrt(sum(e * e for e in expected)) / total
        rounding = 0.5 * len(expected) / total
        assert abs(counts[weekday] / total - 1) <= SIGMAS * sd + rounding, (WEEKDAYS[weekday], counts)


@pytest.mark.parametrize(
    ("group", "weekdays"), [("weekdays", range(5)), ("weekends", range(5, 7))], ids=["weekdays", "weekends"]
)
def test_time_slot_shares_follow_slot_weights(
    week_traffic: list[Record], group: str, weekdays: range
) -> None:
    observed: Counter[str] = Counter()
    per_store_day: Counter[tuple[int, date]] = Counter()
    for record in week_traffic:
        day = local_date(record)
        if day.weekday() in weekdays:
            observed[record["time_slot"]] += 1
            per_store_day[(store_number(record["store_id"]), day)] += 1
    total = sum(observed.values())
    # Expected: slot_weights of each store-day, weighted by that store-day's number of visitors.
    expected: dict[str, float] = defaultdict(float)
    for (number, day), count in per_store_day.items():
        for slot, _, _, weight in slot_weights(store(number), day.weekday()):
            expected[slot.label] += weight * count / total
    assert set(observed) == {slot.label for slot in TIME_SLOTS}
    for slot in TIME_SLOTS:
        share = observed[slot.label] / total
        assert share == pytest.approx(expected[slot.label], abs=0.02), (group, slot.label)


def test_weekday_and_weekend_slot_shapes_differ() -> None:
    """The ±0.02 slot check has power: the two shapes differ by far more than that."""
    shop = store(1)
    weekday = {slot.label: w for slot, _, _, w in slot_weights(shop, 0)}
    weekend = {slot.label: w for slot, _, _, w in slot_weights(shop, 5)}
    assert max(abs(weekday[label] - weekend[label]) for label in weekday) > 0.08


def test_entries_lie_in_opening_hours_and_in_their_labelled_slot(week_traffic: list[Record]) -> None:
    slots = {slot.label: slot for slot in TIME_SLOTS}
    assert len(slots) == 5
    assert {r["time_slot"] for r in week_traffic} == set(slots)
    for record in week_traffic:
        shop = store(store_number(record["store_id"]))
        entry = local_time(seconds(record["entry_time"]), shop.timezone)
        since_midnight = entry.hour * 3600 + entry.minute * 60 + entry.second
        slot = slots[record["time_slot"]]
        assert shop.opens <= since_midnight < shop.closes, record
        assert slot.start <= since_midnight < slot.end, record


# --- simulate runs: engines vs the embedded runner, the ledger seed, trip durations ---------------

RUN_STORES = "1,16"
RUN_DAYS = 5
RUN_ENV = {"BASE_DAILY_CUSTOMERS": "200"}


def run(out: Path, env: Mapping[str, str]) -> Run:
    return simulate(
        out,
        "--store-ids",
        RUN_STORES,
        "--start",
        START.isoformat(),
        "--days",
        str(RUN_DAYS),
        "--seed",
        str(SEED),
        env={**RUN_ENV, **env},
    )


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run(tmp_path_factory.mktemp("stats-default"), {})


@pytest.fixture(scope="module")
def refund_heavy_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run(tmp_path_factory.mktemp("stats-refunds"), {"REFUND_PROBABILITY": "0.3"})


def test_the_engines_driven_here_produce_what_simulate_writes(default_run: Run, dataset: Dataset) -> None:
    volume = settings_from_env(FootTrafficSettings, RUN_ENV).volume()
    # The run ends at midnight UTC after its last date: New York's last evening is beyond it.
    end = epoch_day(START + timedelta(days=RUN_DAYS)) * 86400
    sessions = [s for s in foot_sessions(volume, (1, 16), dates(START, RUN_DAYS)) if s.entry < end]
    assert any(s.exit >= end for s in sessions), "no visit open at the end: the cut is not tested"

    def visit(record: Record) -> tuple[Any, ...]:
        return (
            record["customer_id"],
            seconds(record["entry_time"]),
            seconds(record["exit_time"]),
            record["trip_duration_minutes"],
            record["weekday"],
            record["time_slot"],
            record["store_id"],
        )

    assert sorted(map(visit, foot_records(sessions))) == sorted(
        map(visit, default_run.records["foot_traffic"])
    )

    def action(record: Record) -> tuple[Any, ...]:
        return (record["event_type"], record["item_id"], record["quantity"], seconds(record["timestamp"]))

    written: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for record in default_run.records["shelf_events"]:
        if record["event_type"] != "weight_change":
            written[record["customer_id"]].append(action(record))
    engine = shelf_actions(sessions, SEED_PUTBACK_PROB, dataset)
    before_end = {c: [a for a in map(action, events) if a[3] < end] for c, events in engine.items()}
    assert {c: events for c, events in before_end.items() if events} == dict(written)


@pytest.mark.parametrize(
    ("fixture", "refund_probability"),
    [("default_run", SEED_REFUND_PROBABILITY), ("refund_heavy_run", 0.3)],
    ids=["REFUND_PROBABILITY-default", "REFUND_PROBABILITY-0.3"],
)
def test_refund_share_follows_refund_probability(
    request: pytest.FixtureRequest, fixture: str, refund_probability: float
) -> None:
    result: Run = request.getfixturevalue(fixture)
    transactions = {t["transaction_id"]: t for t in result.records["transactions"]}
    refunds = result.records["refunds"]
    assert len(transactions) == len(result.records["transactions"])
    for refund in refunds:
        sale = transactions[refund["original_transaction_id"]]
        assert refund["store_id"] == sale["store_id"]
        timezone = zone(store(store_number(refund["store_id"])).timezone)
        run_end = datetime.combine(START + timedelta(days=RUN_DAYS), time(0), timezone).timestamp()
        assert seconds(sale["timestamp"]) <= seconds(refund["timestamp"]) < run_end, refund
        days_later = (local_date(refund, "timestamp") - local_date(sale, "timestamp")).days
        assert 0 <= days_later <= REFUND_MAX_DAYS_LATER, refund
    # Sales of the first day have every refund (at most three days later) inside the five-day run.
    first_day = {tid for tid, t in transactions.items() if local_date(t, "timestamp") == START}
    refunded = [r for r in refunds if r["original_transaction_id"] in first_day]
    assert len({r["original_transaction_id"] for r in refunded}) == len(refunded)
    n = len(first_day)
    assert n > 2000
    low, high = binomial_bounds(refund_probability, n)
    assert low <= len(refunded) / n <= high, (
        f"REFUND_PROBABILITY={refund_probability}: {len(refunded)}/{n} first-day sales refunded, "
        f"outside [{low:.4f}, {high:.4f}]"
    )
    reasons = Counter(r["reason"] for r in refunds)
    assert set(reasons) == set(SEED_REFUND_REASONS), reasons


@pytest.mark.parametrize("source", ["default_run", "week_traffic"])
def test_trip_durations(request: pytest.FixtureRequest, source: str) -> None:
    value = request.getfixturevalue(source)
    records: list[Record] = value.records["foot_traffic"] if isinstance(value, Run) else value
    assert len(records) > 2000
    minutes = [r["trip_duration_minutes"] for r in records]
    assert min(minutes) >= 4
    assert max(minutes) <= 90
    for record in records:
        duration = seconds(record["exit_time"]) - seconds(record["entry_time"])
        assert duration == record["trip_duration_minutes"] * 60, record
    assert 18 <= statistics.median(minutes) <= 26
