"""The promotion scenario: its file form and refusals, the shelf's lift (measured: picks are random), the
POS prices (exact), the register, ledger and answer key that follow from them, and determinism.

Expected values are recomputed here from the catalogue and the day's discounts (Decimal money, the
weights of the README's formula), not taken from the engines' own helpers.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import structlog

from storesim._time import epoch_day, epoch_day_at, local_day
from storesim.cli import app
from storesim.cli._errors import run_command
from storesim.data import Dataset, build_dataset
from storesim.engines import FootTrafficEngine, PosEngine, ShelfEngine
from storesim.events import FOOT_TRAFFIC, POS_EVENTS, POS_TRANSACTIONS, SHELF_EVENTS, TRANSACTIONS, TRUTH
from storesim.world import (
    DayPricing,
    ScenarioBook,
    ScenariosFileError,
    TrafficVolume,
    parse_scenarios_file,
    store,
    write_scenarios_file,
)
from tests.conftest import epoch_seconds, simulate

FIRST = date(2025, 3, 28)
DAYS = 40
CATEGORY = "Dairy & Eggs"
DISCOUNT, BOOST = 30, 2.0
FROM, TO = 10 * 3600, 16 * 3600  # the daily window, local seconds
WINDOW = {"daily": {"from": "10:00", "to": "16:00"}}


def book(*scenarios: dict[str, Any]) -> ScenarioBook:
    return ScenarioBook(parse_scenarios_file(json.dumps({"scenarios": list(scenarios)}), "test.json"))


def promotion(name: str, effect: dict[str, Any], **where: Any) -> dict[str, Any]:
    return {"name": name, **(where or WINDOW), "effects": {"promotion": effect}}


DAIRY = promotion("dairy", {"categories": [CATEGORY], "discountPct": DISCOUNT, "displayBoost": BOOST})


@cache
def dataset() -> Dataset:
    return build_dataset(FIRST, FIRST + timedelta(days=DAYS))


# -- the file form -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effect", "message"),
    [
        ({"discountPct": 10}, "promotion needs items or categories"),
        ({"items": [], "discountPct": 10}, "at least 1 item"),
        ({"items": [""], "discountPct": 10}, "at least 1 character"),
        ({"items": ["A01"]}, "discountPct: Field required"),
        ({"items": ["A01"], "discountPct": 0}, "greater than or equal to 1"),
        ({"items": ["A01"], "discountPct": 91}, "less than or equal to 90"),
        ({"items": ["A01"], "discountPct": 12.5}, "valid integer"),
        ({"items": ["A01"], "discountPct": "10"}, "valid integer"),
        ({"items": ["A01"], "discountPct": 10, "displayBoost": 0.5}, "greater than or equal to 1"),
        ({"items": ["A01"], "discountPct": 10, "display": 2}, "display: Extra inputs"),
    ],
)
def test_a_bad_promotion_is_one_line_naming_the_problem(effect: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenariosFileError, match=message) as error:
        book(promotion("p", effect))
    assert "\n" not in str(error.value)
    assert str(error.value).startswith("test.json: scenarios.0.effects.promotion")


def test_the_file_form_round_trips_with_its_defaults() -> None:
    scenarios = book(
        DAIRY,
        promotion(
            "a01",
            {"items": ["A01", "A02"], "discountPct": 15},
            stores=["STORE-002"],
            window={"start": "2025-03-28T09:00", "end": "2025-03-29"},
        ),
    ).scenarios
    assert parse_scenarios_file(write_scenarios_file(scenarios), "x") == list(scenarios)
    effect = scenarios[1].effects.promotion
    assert effect is not None
    assert effect.display_boost == 1.0
    assert effect.categories is None


@pytest.mark.parametrize(
    ("effect", "message"),
    [
        (
            {"categories": [CATEGORY, "Dairy"], "discountPct": 10},
            r"^scenario 'p': promotion.categories: 'Dairy' is not a category of the catalogue \(Baby & Pet,",
        ),
        ({"items": ["A01", "Z99"], "discountPct": 10}, "^scenario 'p': promotion.items: 'Z99' is not in the"),
    ],
)
def test_names_the_catalogue_lacks_are_refused_once_it_is_known(effect: dict[str, Any], message: str) -> None:
    """The catalogue is a data file (--data, STORE_PARQUET), read after the scenarios: checked then."""
    scenarios = book(promotion("p", effect))
    with pytest.raises(ScenariosFileError, match=message) as error:
        scenarios.check_catalogue(dataset().catalogue)
    assert "\n" not in str(error.value)
    book(promotion("p", {"categories": [CATEGORY], "items": ["A01"], "discountPct": 10})).check_catalogue(
        dataset().catalogue
    )


def test_simulate_refuses_an_unknown_category_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"scenarios": [promotion("p", {"categories": ["Diary"], "discountPct": 10})]}))
    args = ["simulate", "--store-ids", "1", "--start", "2025-03-28", "--days", "1", "--out", str(tmp_path)]
    code = run_command(app, "storesim", [*args, "--scenario", str(path)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("storesim: error: --scenario: scenario 'p': promotion.categories: 'Diary' is not")
    assert "\n" not in err


# -- the shelf: the lift -------------------------------------------------------------------------------------


def pickups(scenarios: ScenarioBook, number: int = 1, days: int = DAYS) -> list[tuple[date, int, str]]:
    """(date, local second of the day, item) of every pickup of store ``number`` over ``days`` days."""
    data, shop = dataset(), store(number)
    foot, shelf = FootTrafficEngine(9, TrafficVolume(baseline=400)), ShelfEngine(9, 0.1, scenarios=scenarios)
    out = []
    for n in range(days):
        day_date = FIRST + timedelta(days=n)
        day = local_day(epoch_day(day_date), shop.timezone)
        pricing = DayPricing(data.catalogue, data.discounts, day_date)
        for session in foot.sessions(shop, day):
            for event in shelf.actions(session, pricing):
                if event.record["event_type"] == "pickup":
                    out.append((day_date, event.ts - day.start, event.record["item_id"]))
    return out


def weights(day: date, promoted: bool) -> dict[str, float]:
    """Each item's pick weight on ``day``: visibility × (1 + discount), and for a promoted item in the
    window visibility × (1 + max(day's discount, the promotion's)) × boost."""
    data = dataset()
    pct = data.discounts.for_day(day)
    out = {}
    for item in data.catalogue.items:
        d = pct.get(item.shelf_id, 0)
        if promoted and item.category == CATEGORY:
            out[item.shelf_id] = item.visibility * (1 + max(d, DISCOUNT) / 100) * BOOST
        else:
            out[item.shelf_id] = item.visibility * (1 + d / 100)
    return out


def share(day: date, promoted: bool, items: set[str]) -> float:
    w = weights(day, promoted)
    return sum(w[i] for i in items) / sum(w.values())


def check_count(observed: int, probabilities: list[float], what: str) -> None:
    """``observed`` successes of independent draws with these probabilities: within 4.5 standard
    deviations of the mean (a false failure about once in 150,000 runs per check)."""
    mean = sum(probabilities)
    sd = math.sqrt(sum(p * (1 - p) for p in probabilities))
    assert abs(observed - mean) < 4.5 * sd, f"{what}: {observed} observed, {mean:.0f} ± {sd:.0f} expected"


@cache
def lift_runs() -> tuple[list[tuple[date, int, str]], list[tuple[date, int, str]]]:
    return pickups(ScenarioBook()), pickups(book(DAIRY))


def test_the_promoted_items_are_picked_more_inside_the_window_by_the_expected_factor() -> None:
    """Over 40 days of 400 customers (about 85,000 pickups in the window, 100,000 outside), each pick is
    one independent draw: the promoted share in the window is the weights' within sampling error, outside
    it the day's, and their ratio the expected lift within 5 % (about 4 standard errors of the ratio,
    whose relative error is sqrt(1/n) over the ~13,000 and ~7,000 promoted pickups: about 1.1 %)."""
    dairy = {i.shelf_id for i in dataset().catalogue.items if i.category == CATEGORY}
    base, got = lift_runs()
    inside = [(d, item) for d, t, item in got if FROM <= t < TO]
    outside = [(d, item) for d, t, item in got if not FROM <= t < TO]
    base_inside = [(d, item) for d, t, item in base if FROM <= t < TO]
    assert len(inside) > 50_000
    assert len(outside) > 50_000
    p_in = [share(d, True, dairy) for d, _ in inside]
    p_out = [share(d, False, dairy) for d, _ in outside]
    check_count(sum(i in dairy for _, i in inside), p_in, "promoted pickups in the window")
    check_count(sum(i in dairy for _, i in outside), p_out, "promoted pickups outside the window")
    check_count(
        sum(i in dairy for _, i in base_inside),
        [share(d, False, dairy) for d, _ in base_inside],
        "the same window without the promotion",
    )
    observed = (sum(i in dairy for _, i in inside) / len(inside)) / (
        sum(i in dairy for _, i in outside) / len(outside)
    )
    expected = (sum(p_in) / len(p_in)) / (sum(p_out) / len(p_out))
    assert expected > 2.2, "the test's promotion should make a lift worth measuring"
    assert abs(observed / expected - 1) < 0.05, f"lift {observed:.3f}, expected {expected:.3f}"


def test_the_other_items_keep_their_relative_weights_inside_the_window() -> None:
    """Among the pickups of items not on promotion in the window, each other category has the share its
    day's weights give it: the promotion takes picks from all of them alike."""
    catalogue = dataset().catalogue
    _, got = lift_runs()
    others = [(d, i) for d, t, i in got if FROM <= t < TO and catalogue.by_id[i].category != CATEGORY]
    categories = sorted({i.category for i in catalogue.items} - {CATEGORY})
    by_day: dict[date, dict[str, float]] = {}
    for day in {d for d, _ in others}:
        w = weights(day, False)
        total = sum(v for i, v in w.items() if catalogue.by_id[i].category != CATEGORY)
        by_day[day] = defaultdict(float)
        for i, v in w.items():
            by_day[day][catalogue.by_id[i].category] += v / total
    counts = Counter(catalogue.by_id[i].category for _, i in others)
    for category in categories:
        check_count(counts[category], [by_day[d][category] for d, _ in others], category)


def test_a_promotion_changes_only_the_picks_in_its_window_and_the_visits_that_have_some() -> None:
    """Every pick draws one random number, promoted or not, and every visit draws from its own generator:
    the actions before the window are those of a run without it, and so is every visit with no action in
    the window."""
    data, shop = dataset(), store(1)
    foot = FootTrafficEngine(9, TrafficVolume(baseline=400))
    base, promoted = ShelfEngine(9, 0.1), ShelfEngine(9, 0.1, scenarios=book(DAIRY))
    touched = untouched = 0
    for n in range(3):
        day_date = FIRST + timedelta(days=n)
        day = local_day(epoch_day(day_date), shop.timezone)
        pricing = DayPricing(data.catalogue, data.discounts, day_date)
        for session in foot.sessions(shop, day):
            before, after = base.actions(session, pricing), promoted.actions(session, pricing)
            assert [e for e in before if e.ts < day.at(FROM)] == [e for e in after if e.ts < day.at(FROM)]
            if any(day.at(FROM) <= e.ts < day.at(TO) for e in before):
                touched += before != after
            else:
                untouched += 1
                assert before == after
    assert touched > 100
    assert untouched > 100


def test_a_store_the_promotion_does_not_name_picks_as_without_it() -> None:
    elsewhere = book({**DAIRY, "stores": ["STORE-002"]})
    assert pickups(elsewhere, 1, days=3) == pickups(ScenarioBook(), 1, days=3)


# -- the POS: exact prices -----------------------------------------------------------------------------------


def cents(quantity: int, price_cents: int, pct: int) -> float:
    total = Decimal(quantity) * Decimal(price_cents) / 100 * (1 - Decimal(pct) / 100)
    return float(total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def test_a_checkout_in_the_window_prices_promoted_lines_at_the_promotion_and_others_as_the_day() -> None:
    data, shop = dataset(), store(1)
    day = local_day(epoch_day(FIRST), shop.timezone)
    pct = data.discounts.for_day(FIRST)
    plain_item = next(i for i in data.catalogue.items if i.category != CATEGORY and i.shelf_id not in pct)
    dairy = next(
        i for i in data.catalogue.items if i.category == CATEGORY and pct.get(i.shelf_id, 0) < DISCOUNT
    )
    strong = max(
        (i for i in data.catalogue.items if i.category != CATEGORY), key=lambda i: pct.get(i.shelf_id, 0)
    )
    offer = pct[strong.shelf_id] - 1  # the day's discount of ``strong`` is larger: it stays
    scenarios = book(DAIRY, promotion("strong", {"items": [strong.shelf_id], "discountPct": offer}))
    sessions = FootTrafficEngine(9, TrafficVolume(baseline=50)).sessions(shop, day)[:3]
    engine = PosEngine(
        data.catalogue,
        lambda d: DayPricing(data.catalogue, data.discounts, d),
        scenarios=scenarios,
        stores={1: shop}.__getitem__,
    )
    # Visit 0 checks out in the window, visit 1 after it, visit 2 picked in the window and left after it.
    times = [
        (day.at(FROM + 600), day.at(FROM + 1800)),
        (day.at(TO + 60), day.at(TO + 900)),
        (day.at(TO - 600), day.at(TO)),
    ]
    lines = [(plain_item, 2), (dairy, 3), (strong, 1)]
    for session, (entry, exit_time) in zip(sessions, times, strict=True):
        engine.open_session(session.customer_id, entry, exit_time)
        for item, quantity in lines:
            engine.apply_shelf(session.customer_id, "pickup", item.shelf_id, quantity, entry + 60)
    checkouts = engine.due(day.at(TO + 900))
    assert [c.ts for c in checkouts] == [t[1] for t in sorted(times, key=lambda t: t[1])]
    by_customer = {c.key: c.record["items"] for c in checkouts}
    for n, session in enumerate(sessions):
        in_window = n == 0
        expected = {
            plain_item.shelf_id: pct.get(plain_item.shelf_id, 0),
            dairy.shelf_id: DISCOUNT if in_window else pct.get(dairy.shelf_id, 0),
            strong.shelf_id: pct[strong.shelf_id],
        }
        got = by_customer[session.customer_id]
        assert [line["item_id"] for line in got] == [i.shelf_id for i, _ in lines]
        for line, (item, quantity) in zip(got, lines, strict=True):
            assert line["discount"] == expected[item.shelf_id] / 100, (n, item.shelf_id)
            assert line["total_price"] == cents(quantity, item.price_cents, expected[item.shelf_id])
            assert line["unit_price"] == item.price_cents / 100


# -- the chain: register, ledger and answer key follow; untouched stores and days are byte-identical ---------

ARGS = ("--store-ids", "1,2", "--start", "2025-03-28", "--days", "2", "--seed", "5")
ENV = {"BASE_DAILY_CUSTOMERS": "200"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Any]:
    tmp = tmp_path_factory.mktemp("promotion")
    path = tmp / "s.json"
    path.write_text(json.dumps({"scenarios": [{**DAIRY, "stores": ["STORE-002"]}]}))
    plain = simulate(tmp / "plain", *ARGS, env=ENV)
    with_it = simulate(tmp / "with", *ARGS, "--scenario", str(path), env=ENV)
    again = simulate(tmp / "again", *ARGS, "--scenario", str(path), env=ENV)
    return plain, with_it, again


def local_seconds(number: int, ts: int) -> tuple[date, int]:
    timezone = store(number).timezone
    day = local_day(epoch_day_at(ts, timezone), timezone)
    return day.date, ts - day.start


def test_every_checkout_line_has_the_discount_of_its_instant(runs: tuple[Any, Any, Any]) -> None:
    _, with_it, _ = runs
    catalogue, promoted = dataset().catalogue, Counter[str]()
    for tx in with_it.records[POS_TRANSACTIONS]:
        number = int(tx["store_id"].removeprefix("STORE-"))
        day, second = local_seconds(number, epoch_seconds(tx["timestamp"]))
        acting = number == 2 and FROM <= second < TO
        pct = dataset().discounts.for_day(day)
        for line in tx["items"]:
            item = catalogue.by_id[line["item_id"]]
            expected = pct.get(item.shelf_id, 0)
            if acting and item.category == CATEGORY:
                expected = max(expected, DISCOUNT)
                promoted[tx["store_id"]] += 1
            assert line["discount"] == expected / 100
            assert line["total_price"] == cents(line["quantity"], item.price_cents, expected)
    assert promoted["STORE-002"] > 100


def test_the_register_ledger_and_answer_key_carry_the_pos_amounts(runs: tuple[Any, Any, Any]) -> None:
    _, with_it, _ = runs
    records = with_it.records
    txs = {tx["transaction_id"]: tx for tx in records[POS_TRANSACTIONS]}
    baskets = {
        e["basket_id"]: e["customer_id"]
        for e in records[POS_EVENTS]
        if e["event_type"] == "customer_identified"
    }
    added: dict[str, list[tuple[str, int, float, float]]] = defaultdict(list)
    for e in records[POS_EVENTS]:
        if e["event_type"] == "item_added":
            added[baskets[e["basket_id"]]].append(
                (e["item_id"], e["quantity"], e["discount"], e["total_price"])
            )
    booked: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for t in records[TRANSACTIONS]:
        booked[t["pos_transaction_id"]].append((t["product_id"], t["amount"]))
    revenue: Counter[tuple[str, int]] = Counter()
    for tid, tx in txs.items():
        lines = [(li["item_id"], li["quantity"], li["discount"], li["total_price"]) for li in tx["items"]]
        assert added[tx["customer_id"]] == lines
        assert booked[tid] == [(li["item_id"], li["total_price"]) for li in tx["items"]]
        ts = epoch_seconds(tx["timestamp"])
        revenue[tx["store_id"], ts - ts % 3600] += sum(round(li["total_price"] * 100) for li in tx["items"])
    truth = {(r["store_id"], epoch_seconds(r["hour"])): round(r["revenue"] * 100) for r in records[TRUTH]}
    assert {k: v for k, v in truth.items() if v} == {k: v for k, v in revenue.items() if v}
    named = {
        (r["store_id"], local_seconds(2, epoch_seconds(r["hour"]))[1])
        for r in records[TRUTH]
        if r["scenarios"]
    }
    assert named == {("STORE-002", FROM + h * 3600) for h in range(6)}


def test_a_store_without_the_promotion_is_byte_identical_and_the_run_deterministic(
    runs: tuple[Any, Any, Any],
) -> None:
    plain, with_it, again = runs
    for topic, records in with_it.records.items():
        assert records == again.records[topic], f"{topic}: not deterministic"
        if topic == TRUTH:
            continue
        assert [r for r in records if r.get("store_id") != "STORE-002"] == [
            r for r in plain.records[topic] if r.get("store_id") != "STORE-002"
        ], f"{topic}: store 1 changed"
    assert with_it.records[FOOT_TRAFFIC] == plain.records[FOOT_TRAFFIC]  # a promotion brings no one in

    def before_window(run: Any) -> list[dict[str, Any]]:
        return [
            r
            for r in run.records[SHELF_EVENTS]
            if r["store_id"] == "STORE-002" and local_seconds(2, epoch_seconds(r["timestamp"]))[1] < FROM
        ]

    assert before_window(with_it) == before_window(plain)
    assert with_it.records[SHELF_EVENTS] != plain.records[SHELF_EVENTS]


@pytest.mark.parametrize("component", ["shelf", "pos", "truth"])
def test_a_service_stops_with_one_line_on_a_category_its_inventory_lacks(
    tmp_path: Path, component: str
) -> None:
    """The services know their catalogue once they read STORE_PARQUET: the check happens then, and a
    SettingsError (which the service loops do not retry) names SCENARIO_FILE."""
    import storesim_dataloader as loader
    from storesim.services._wiring import open_pricing
    from storesim.settings import PosSettings, SettingsError, ShelfSettings, TruthSettings

    inventory = loader.read_catalogue()
    shelf_ids = inventory.column("shelf_id").to_pylist()
    loader.write_dataset(
        tmp_path,
        inventory,
        loader.weekly_discounts(shelf_ids),
        loader.daily_discounts(shelf_ids, FIRST, FIRST),
    )
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"scenarios": [promotion("p", {"categories": ["Diary"], "discountPct": 10})]}))
    kind = {"shelf": ShelfSettings, "pos": PosSettings, "truth": TruthSettings}[component]
    files = {
        "store_parquet": tmp_path / loader.INVENTORY_PARQUET,
        "discount_parquet_path": tmp_path / loader.WEEKLY_DISCOUNTS_PARQUET,
    }
    settings = kind(scenario_file=path, **files)
    log = structlog.get_logger()
    with pytest.raises(
        SettingsError, match=r"^invalid setting SCENARIO_FILE: scenario 'p': promotion\.categories"
    ):
        open_pricing(settings, log)
    good = kind(**files)
    assert open_pricing(good, log) is not None


def test_the_readme_example_is_a_valid_scenarios_file_for_the_catalogue() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    start = readme.index('{"scenarios": [\n    {"name": "black-friday"')
    example = readme[start : readme.index("]}", start) + 2]
    scenarios = ScenarioBook(parse_scenarios_file(example, "README.md"))
    scenarios.check_catalogue(dataset().catalogue)
    assert any(s.effects.promotion is not None for s in scenarios.scenarios)
