"""The business metrics the services export for the overview's Business row: what a checkout, a refund
and a shrink add to their store's counters, the POS engine telling which store was robbed, and the
scenario gauge foot-traffic sets (and forgets with the store)."""

from __future__ import annotations

from typing import Any

from storesim._keys import CustomerKey, customer_id
from storesim._time import epoch_day, local_day
from storesim.engines import PosEngine
from storesim.ops import Metrics
from storesim.services.foot_traffic import scenario_states
from storesim.world import store
from tests.unit.test_engines import DAY, dataset, pricing
from tests.unit.test_scenarios import book


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def checkout(store_id: str, *lines: tuple[int, float]) -> dict[str, Any]:
    items = [{"item_id": "A01", "quantity": q, "total_price": total} for q, total in lines]
    return {"store_id": store_id, "items": items}


def test_a_checkout_counts_once_for_its_store_with_its_units_and_value() -> None:
    metrics = Metrics()
    metrics.checkout_sent(checkout("STORE-001", (2, 0.1), (1, 0.2)))
    metrics.checkout_sent(checkout("STORE-001", (3, 10.05)))
    metrics.checkout_sent(checkout("STORE-002", (1, 4.5)))
    assert sample(metrics, "storesim_checkouts_total", store_id="STORE-001") == 2
    assert sample(metrics, "storesim_basket_items_total", store_id="STORE-001") == 6
    # Summed in cents: 0.1 + 0.2 is 0.3, not 0.30000000000000004.
    assert sample(metrics, "storesim_basket_value_total", store_id="STORE-001") == 0.3 + 10.05
    assert sample(metrics, "storesim_checkouts_total", store_id="STORE-002") == 1
    assert sample(metrics, "storesim_basket_value_total", store_id="STORE-002") == 4.5


def test_a_refund_and_a_shrink_count_for_their_store() -> None:
    metrics = Metrics()
    metrics.refund_sent({"store_id": "STORE-003", "refund_amount": 12.5})
    metrics.refund_sent({"store_id": "STORE-003", "refund_amount": 0.5})
    metrics.shrunk("STORE-002", 3, 1250)
    assert sample(metrics, "storesim_refunds_total", store_id="STORE-003") == 2
    assert sample(metrics, "storesim_refund_amount_total", store_id="STORE-003") == 13.0
    assert sample(metrics, "storesim_shrink_units_total", store_id="STORE-002") == 3
    assert sample(metrics, "storesim_shrink_value_total", store_id="STORE-002") == 12.5
    assert sample(metrics, "storesim_shrink_units_total", store_id="STORE-003") is None


def test_the_pos_engine_tells_the_shrink_sink_the_robbed_store() -> None:
    """Everything picked at store 2 leaves unpaid (share 1): the sink hears store 2 with every unit and
    its price; store 1's checkout is whole and the sink hears nothing of it."""
    shops = {1: store(1), 2: store(2)}
    day = epoch_day(DAY)
    scenarios = book(
        {
            "name": "theft",
            "stores": ["STORE-002"],
            "daily": {"from": "00:00", "to": "24:00"},
            "effects": {"shrink": {"share": 1}},
        }
    )
    heard: list[tuple[int, int, int, int]] = []

    def sink(number: int, instant: int, units: int, cents: int) -> None:
        heard.append((number, instant, units, cents))

    engine = PosEngine(
        dataset().catalogue,
        pricing,
        scenarios=scenarios,
        stores=shops.__getitem__,
        on_shrink=sink,
    )
    item = next(i for i in dataset().catalogue.items if i.shelf_id not in pricing(DAY).discount_pct)
    for number, shop in shops.items():
        entry = local_day(day, shop.timezone).at(12 * 3600)
        visitor = customer_id(7, CustomerKey(number, day, 0))
        engine.open_session(visitor, entry, entry + 600)
        engine.apply_shelf(visitor, "pickup", item.shelf_id, 3, entry + 60)
    sent = engine.due(1 << 62)
    assert [c.record["store_id"] for c in sent] == ["STORE-001"]
    exit_2 = local_day(day, shops[2].timezone).at(12 * 3600) + 600
    assert heard == [(2, exit_2, 3, 3 * item.price_cents)]


def test_the_scenario_gauge_names_each_scenario_of_the_store_and_whether_it_acts() -> None:
    shop = store(2)
    day = local_day(epoch_day(DAY), shop.timezone)
    scenarios = book(
        {
            "name": "rush",
            "daily": {"from": "17:00", "to": "19:00"},
            "effects": {"traffic": {"multiplier": 3}},
        },
        {
            "name": "theft",
            "stores": ["STORE-002"],
            "daily": {"from": "10:00", "to": "11:00"},
            "effects": {"shrink": {"share": 0.1}},
        },
        {
            "name": "elsewhere",
            "stores": ["STORE-001"],
            "daily": {"from": "10:00", "to": "11:00"},
            "effects": {"shrink": {"share": 0.1}},
        },
    )
    assert scenario_states(scenarios, 2, shop.timezone, day.at(10 * 3600)) == {"rush": False, "theft": True}
    assert scenario_states(scenarios, 2, shop.timezone, day.at(11 * 3600)) == {"rush": False, "theft": False}
    assert scenario_states(scenarios, 2, shop.timezone, day.at(18 * 3600)) == {"rush": True, "theft": False}
    assert scenario_states(book(), 2, shop.timezone, day.at(18 * 3600)) == {}

    metrics = Metrics()
    metrics.set_scenario_active("theft", "STORE-002", True)
    metrics.set_scenario_active("rush", "STORE-002", False)
    metrics.set_scenario_active("rush", "STORE-001", True)
    assert sample(metrics, "storesim_scenario_active", scenario="theft", store_id="STORE-002") == 1
    assert sample(metrics, "storesim_scenario_active", scenario="rush", store_id="STORE-002") == 0
    metrics.forget_stores(["STORE-002"])  # handed over: only the new owner reports the store
    assert sample(metrics, "storesim_scenario_active", scenario="theft", store_id="STORE-002") is None
    assert sample(metrics, "storesim_scenario_active", scenario="rush", store_id="STORE-002") is None
    assert sample(metrics, "storesim_scenario_active", scenario="rush", store_id="STORE-001") == 1
    metrics.forget_stores(["STORE-002"])  # twice is harmless
