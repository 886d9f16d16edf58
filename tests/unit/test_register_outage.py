"""The registerOutage scenario: its file form and refusals, the register engine's terminals under it (exact:
nothing here is random but the checkouts), and an embedded run with it — the window's sequences where they
must be, every sequence still the register seed's, the untouched store and topics byte-identical, the run
deterministic, the answer key naming it, and the register service's engine making the same sequences."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from storesim.cli import app
from storesim.cli._errors import run_command
from storesim.engines import RegisterEngine
from storesim.events import (
    FOOT_TRAFFIC,
    POS_EVENTS,
    POS_TRANSACTIONS,
    REFUNDS,
    SHELF_EVENTS,
    TOPICS,
    TRANSACTIONS,
    TRUTH,
    Emitted,
    Record,
)
from storesim.services.register import _Register
from storesim.settings import RegisterSettings, SettingsError
from storesim.world import (
    ScenarioBook,
    ScenariosFileError,
    parse_scenarios_file,
    store,
    write_scenarios_file,
)
from tests.conftest import Run, epoch_seconds, of, without_and_twice_with
from tests.unit import test_invariants as invariants
from tests.unit.test_engines import DAY, SEED, at, day_checkouts, item_ids, make_tx
from tests.unit.test_scenarios import write

SHOP = store(7)  # Athens: three terminals
assert SHOP.registers == 3


def book(*scenarios: dict[str, Any]) -> ScenarioBook:
    return ScenarioBook(parse_scenarios_file(json.dumps({"scenarios": list(scenarios)}), "test.json"))


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def outage(name: str, start: int, end: int, **effect: Any) -> dict[str, Any]:
    window = {"start": iso(start), "end": iso(end)}
    return {"name": name, "stores": ["STORE-007"], "window": window, "effects": {"registerOutage": effect}}


def terminal_of(event: Emitted | Record) -> int:
    """The terminal index of a login, logout or basket_started (an employee works at one terminal)."""
    record = event.record if isinstance(event, Emitted) else event
    if record["terminal_id"] is not None:
        return int(record["terminal_id"][-2:]) - 1
    return (int(record["employee_id"][-2:]) - 1) % SHOP.registers


def kinds(events: list[Emitted]) -> list[str]:
    return [e.record["event_type"] for e in events]


# -- the file form -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effect", "message"),
    [
        ({"terminals": 0}, "registerOutage.terminals: Input should be greater than or equal to 1"),
        ({"terminals": 100}, "registerOutage.terminals: Input should be less than or equal to 99"),
        ({"terminals": "2"}, "registerOutage.terminals: Input should be a valid integer"),
        ({"terminals": 1.5}, "registerOutage.terminals: Input should be a valid integer"),
        ({"tills": 2}, "registerOutage.tills: Extra inputs are not permitted"),
    ],
)
def test_a_bad_register_outage_is_one_line_naming_the_problem(effect: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenariosFileError, match=message) as error:
        book(outage("a", 0, 3600, **effect))
    assert str(error.value).startswith("test.json: scenarios.0.effects.")
    assert "\n" not in str(error.value)


def test_a_bad_file_stops_simulate_and_the_register_service_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"scenarios": [outage("a", 0, 3600, terminals=0)]}))
    code = run_command(app, "storesim", ["simulate", *ARGS, "--out", str(tmp_path), "--scenario", str(path)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith(
        f"storesim: error: --scenario: {path}: scenarios.0.effects.registerOutage.terminals"
    )
    with pytest.raises(
        SettingsError,
        match=r"^invalid settings: SCENARIO_FILE: .*registerOutage\.terminals: Input should be greater",
    ) as error:
        RegisterSettings.from_env(scenario_file=path)
    assert "\n" not in str(error.value)


def test_the_file_form_round_trips_and_all_terminals_is_the_default() -> None:
    scenarios = book(outage("all", 0, 3600), outage("two", 0, 3600, terminals=2)).scenarios
    assert parse_scenarios_file(write_scenarios_file(scenarios), "x") == list(scenarios)
    every, two = (s.effects.register_outage for s in scenarios)
    assert every is not None
    assert two is not None
    assert [every.first_down(n) for n in (1, 3, 8)] == [0, 0, 0]
    assert [two.first_down(n) for n in (1, 2, 3, 8)] == [0, 0, 1, 6]


# -- the engine ----------------------------------------------------------------------------------------------

DOWN, UP = at(7, 12), at(7, 13)


def test_with_every_terminal_down_the_checkouts_wait_for_the_end_and_spread_over_the_terminals() -> None:
    register = RegisterEngine(SEED, SHOP, book(outage("down", DOWN, UP)))
    items = item_ids()
    outs = [register.on_checkout(make_tx(7, n, DOWN + 60 * n, {items[n]: 1})) for n in range(4)]
    for n, events in enumerate(outs[:3]):
        assert kinds(events)[:2] == ["employee_login", "basket_started"]
        assert events[0].ts == UP, "the first customers start at the outage's end, not before"
        assert events[0].record["terminal_id"] == f"T-007-0{n + 1}"
    first_free = min(range(3), key=lambda n: (outs[n][-1].ts, n))
    queued = outs[3]
    assert kinds(queued)[0] == "basket_started"
    assert terminal_of(queued[0]) == first_free
    assert outs[first_free][-1].ts < queued[0].ts <= outs[first_free][-1].ts + 60
    assert min(e.ts for events in outs for e in events) == UP


def test_with_some_terminals_down_the_customers_queue_at_the_others() -> None:
    register = RegisterEngine(SEED, SHOP, book(outage("two", DOWN, UP, terminals=2)))
    plain = RegisterEngine(SEED, SHOP)
    items = item_ids()
    txs = [make_tx(7, n, DOWN + n, {items[n]: 2}) for n in range(3)]
    outs = [register.on_checkout(tx) for tx in txs]
    assert {terminal_of(e) for events in outs for e in events if e.record["employee_id"]} == {0}
    for before, after in pairwise(outs):
        assert after[0].record["event_type"] == "basket_started"
        assert after[0].ts > before[-1].ts, "one basket at a time at the one terminal up"
    # Without the outage the three go to the three terminals at once.
    assert [terminal_of(plain.on_checkout(tx)[0]) for tx in txs] == [0, 1, 2]
    # After it, the next customer takes a terminal that was down: the one idle longest, the lowest.
    later = register.on_checkout(make_tx(7, 3, UP, {items[3]: 1}))
    assert kinds(later)[0] == "employee_login"
    assert later[0].record["terminal_id"] == "T-007-02"
    assert later[0].ts == UP


def test_more_terminals_down_than_the_store_has_is_all_of_them() -> None:
    every = RegisterEngine(SEED, SHOP, book(outage("down", DOWN, UP)))
    many = RegisterEngine(SEED, SHOP, book(outage("down", DOWN, UP, terminals=50)))
    txs = day_checkouts(7, DAY, 400)
    assert [every.on_checkout(tx) for tx in txs] == [many.on_checkout(tx) for tx in txs]


def test_a_sequence_started_before_the_outage_is_finished_and_the_next_waits() -> None:
    register = RegisterEngine(SEED, SHOP, book(outage("down", DOWN, UP)))
    items = item_ids()
    started = register.on_checkout(make_tx(7, 0, DOWN - 5, dict.fromkeys(items[:8], 1)))
    assert started[0].ts == DOWN - 5
    assert started[-1].record["event_type"] == "payment_completed"
    assert started[-1].ts > DOWN, "the basket in hand is rung up to its payment"
    waiting = register.on_checkout(make_tx(7, 1, DOWN + 1, {items[9]: 1}))
    assert waiting[0].ts == UP


def test_a_store_without_the_outage_and_the_outage_store_before_it_are_unchanged() -> None:
    scenarios = book(outage("down", DOWN, UP))
    other, other_plain = RegisterEngine(SEED, store(1), scenarios), RegisterEngine(SEED, store(1))
    txs = day_checkouts(1, DAY, 600)
    assert [other.on_checkout(tx) for tx in txs] == [other_plain.on_checkout(tx) for tx in txs]
    mine, mine_plain = RegisterEngine(SEED, SHOP, scenarios), RegisterEngine(SEED, SHOP)
    before = [tx for tx in day_checkouts(7, DAY, 600) if tx["timestamp"] // 1000 < DOWN - 600]
    assert len(before) > 50
    assert [mine.on_checkout(tx) for tx in before] == [mine_plain.on_checkout(tx) for tx in before]


def test_a_restored_register_goes_on_as_the_one_that_was_never_stopped() -> None:
    scenarios = book(
        outage("down", DOWN, UP),
        {
            "name": "two",
            "stores": ["STORE-007"],
            "daily": {"from": "17:00", "to": "19:00"},
            "effects": {"registerOutage": {"terminals": 2}},
        },
    )
    txs = day_checkouts(7, DAY, 800)
    whole = RegisterEngine(SEED, SHOP, scenarios)
    first = RegisterEngine(SEED, SHOP, scenarios)
    cut = next(n for n, tx in enumerate(txs) if tx["timestamp"] // 1000 >= DOWN + 1800)  # mid-outage
    expected = [whole.on_checkout(tx) for tx in txs] + [whole.due(1 << 62)]
    head = [first.on_checkout(tx) for tx in txs[:cut]]
    second = RegisterEngine(SEED, SHOP, scenarios)
    second.restore(json.loads(json.dumps(first.snapshot())))
    tail = [second.on_checkout(tx) for tx in txs[cut:]] + [second.due(1 << 62)]
    assert head + tail == expected


# -- an embedded run -----------------------------------------------------------------------------------------

FIRST = date(2025, 3, 28)  # a Friday; Athens is UTC+2 until the 30th
ARGS = ("--store-ids", "1,7", "--start", FIRST.isoformat(), "--days", "2", "--seed", "5")
ENV = {"BASE_DAILY_CUSTOMERS": "200"}
ALL_DOWN = (epoch_seconds("2025-03-28T10:00:00+00:00"), epoch_seconds("2025-03-28T11:00:00+00:00"))
# 17:00–19:00 in Athens, both days: the two highest-numbered of the three terminals.
TWO_DOWN = [
    (epoch_seconds(f"2025-03-{d}T15:00:00+00:00"), epoch_seconds(f"2025-03-{d}T17:00:00+00:00"))
    for d in (28, 29)
]
SCENARIOS = (
    outage("tills-down", *ALL_DOWN),
    {
        "name": "two-tills-down",
        "stores": ["STORE-007"],
        "daily": {"from": "17:00", "to": "19:00"},
        "effects": {"registerOutage": {"terminals": 2}},
    },
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run, Run]:
    """(without scenarios, with the outages, with them again)."""
    tmp = tmp_path_factory.mktemp("register-outage")
    path = write(tmp / "s.json", *SCENARIOS)
    return without_and_twice_with(tmp, path, *ARGS, env=ENV)


def starts(run: Run) -> list[dict[str, Any]]:
    """Store 7's logins and basket_started: the instants a terminal starts something."""
    return [
        r for r in of(run, POS_EVENTS, "STORE-007") if r["event_type"] in ("employee_login", "basket_started")
    ]


def inside(record: dict[str, Any], window: tuple[int, int]) -> bool:
    return window[0] <= epoch_seconds(record["timestamp"]) < window[1]


def test_nothing_starts_while_every_terminal_is_down_and_the_waiting_start_at_its_end(
    runs: tuple[Run, Run, Run],
) -> None:
    plain, down, _ = runs
    assert any(inside(r, ALL_DOWN) for r in starts(plain)), "the window is busy without the outage"
    assert not any(inside(r, ALL_DOWN) for r in starts(down))
    waiting = sorted(
        (r for r in of(down, POS_TRANSACTIONS, "STORE-007") if inside(r, ALL_DOWN)),
        key=lambda r: (epoch_seconds(r["timestamp"]), r["customer_id"]),
    )
    assert len(waiting) >= 5
    basket_started: dict[str, dict[str, Any]] = {}
    started: dict[str, dict[str, Any]] = {}  # customer -> the basket_started of their checkout
    for r in of(down, POS_EVENTS, "STORE-007"):
        if r["event_type"] == "basket_started":
            basket_started[r["basket_id"]] = r
        elif r["event_type"] == "customer_identified":
            started[r["customer_id"]] = basket_started[r["basket_id"]]
    up = ALL_DOWN[1]
    assert all(epoch_seconds(started[r["customer_id"]]["timestamp"]) >= up for r in waiting)
    # The first ones take the three terminals at the end (a login takes 2–6 s before the basket).
    first = [started[r["customer_id"]] for r in waiting[: SHOP.registers]]
    assert all(up <= epoch_seconds(r["timestamp"]) <= up + 6 for r in first)
    assert sorted(terminal_of(r) for r in first) == [0, 1, 2]


def test_nothing_starts_on_a_terminal_that_is_down(runs: tuple[Run, Run, Run]) -> None:
    plain, down, _ = runs
    for window in TWO_DOWN:
        used = {terminal_of(r) for r in starts(plain) if inside(r, window)}
        assert used == {0, 1, 2}, "without the outage every terminal works in the window"
        assert {terminal_of(r) for r in starts(down) if inside(r, window)} == {0}


def test_each_terminal_serves_one_customer_at_a_time_with_its_employee_logged_in(
    runs: tuple[Run, Run, Run],
) -> None:
    _, down, _ = runs
    busy_until: dict[int, int] = defaultdict(int)
    logged_in: dict[int, str | None] = defaultdict(lambda: None)
    baskets: dict[str, int] = {}
    for r in of(down, POS_EVENTS, "STORE-007"):
        ts, kind = epoch_seconds(r["timestamp"]), r["event_type"]
        if kind == "employee_login":
            assert logged_in[terminal_of(r)] is None
            logged_in[terminal_of(r)] = r["employee_id"]
        elif kind == "employee_logout":
            assert logged_in[terminal_of(r)] == r["employee_id"]
            assert ts >= busy_until[terminal_of(r)]
            logged_in[terminal_of(r)] = None
        elif kind == "basket_started":
            terminal = terminal_of(r)
            assert logged_in[terminal] == r["employee_id"]
            assert ts > busy_until[terminal], "a basket before the last one was paid"
            baskets[r["basket_id"]] = terminal
        elif kind == "payment_completed":
            busy_until[baskets[r["basket_id"]]] = ts
    assert len(baskets) > 300


def test_every_sequence_is_still_the_register_seeds(runs: tuple[Run, Run, Run]) -> None:
    _, down, _ = runs
    invariants.test_register_sequence_carries_the_checkouts_ids_and_amounts(down)
    invariants.test_employees_log_in_before_they_sell_and_out_at_the_end(down)


def test_the_other_store_and_topics_are_byte_identical_and_the_run_deterministic(
    runs: tuple[Run, Run, Run],
) -> None:
    plain, down, again = runs
    for topic in (*TOPICS, TRUTH):
        assert down.file(topic).read_bytes() == again.file(topic).read_bytes(), f"{topic}: not deterministic"
    for topic in (FOOT_TRAFFIC, SHELF_EVENTS, POS_TRANSACTIONS, POS_EVENTS, TRANSACTIONS, REFUNDS):
        assert of(down, topic, "STORE-001") == of(plain, topic, "STORE-001"), f"{topic}: store 1 changed"
        if topic != POS_EVENTS:
            assert of(down, topic, "STORE-007") == of(plain, topic, "STORE-007"), f"{topic}: store 7 changed"
    # Store 7's register is the same up to the first outage, and different after it.
    mine, theirs = of(down, POS_EVENTS, "STORE-007"), of(plain, POS_EVENTS, "STORE-007")
    before = [r for r in theirs if epoch_seconds(r["timestamp"]) < ALL_DOWN[0]]
    assert len(before) > 100
    assert mine[: len(before)] == before
    assert mine != theirs


def test_the_answer_key_names_the_outages_in_their_hours_and_its_figures_stay(
    runs: tuple[Run, Run, Run],
) -> None:
    plain, down, _ = runs
    hours = {
        ("STORE-007", ALL_DOWN[0]): ["tills-down"],
        **{("STORE-007", start + h): ["two-tills-down"] for start, _ in TWO_DOWN for h in (0, 3600)},
    }
    truth = down.records[TRUTH]
    assert len(truth) == len(plain.records[TRUTH]) == 2 * 48
    for r, p in zip(truth, plain.records[TRUTH], strict=True):
        key = (r["store_id"], epoch_seconds(r["hour"]))
        assert r["scenarios"] == hours.get(key, []), key
        assert {**r, "scenarios": []} == p, key  # a register outage moves no sale, refund or visit


def test_the_register_service_makes_the_embedded_sequences(
    tmp_path: Path, runs: tuple[Run, Run, Run]
) -> None:
    """Not a streamed run (that needs the Kafka stack: tests/integration), but the register service's own
    engine, made as `storesim run register` makes it from SCENARIO_FILE, fed the embedded run's checkouts of
    store 7 in the order the service applies them: (time, customer)."""
    _, down, _ = runs
    settings = RegisterSettings.from_env(scenario_file=write(tmp_path / "s.json", *SCENARIOS))
    stage = cast(Any, SimpleNamespace(settings=settings, live_stores={7: SHOP}))
    engine = _Register.engine(stage, 5, 7)
    checkouts = sorted(
        of(down, POS_TRANSACTIONS, "STORE-007"),
        key=lambda r: (epoch_seconds(r["timestamp"]), r["customer_id"]),
    )
    made: list[Emitted] = []
    for checkout in checkouts:
        record = {**checkout, "timestamp": epoch_seconds(checkout["timestamp"]) * 1000}
        made += engine.on_checkout(record)
    made += engine.due(1 << 62)
    end = epoch_seconds("2025-03-30T00:00:00+00:00")  # the run's end: what falls after it is not written

    def canonical(record: dict[str, Any], ts: int) -> tuple[int, str]:
        return ts, json.dumps({**record, "timestamp": ts}, sort_keys=True)

    got = sorted(canonical(e.record, e.ts) for e in made if e.ts < end)
    expected = of(down, POS_EVENTS, "STORE-007")
    assert len(expected) > 1000
    assert got == sorted(canonical(r, epoch_seconds(r["timestamp"])) for r in expected)
