"""DESIGN.md's invariants ("One world, one causal chain"), checked on a multi-store, multi-day run.

Everything here is recomputed from the output files and the data loader's raw tables, not from the
engines' own helpers, so a wrong engine cannot agree with itself.

The run ends at an instant (CHAIN_END), as every run does: a visit still in its store then has its
session and the shelf events before the end, but no exit and no checkout; a register sequence still
under way has only its events before the end. The invariants hold for everything the end did not cut.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import storesim_dataloader as loader
from storesim._keys import derived_uuid
from storesim.world import store
from tests.conftest import CHAIN_END, Run, epoch_seconds

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def dec(value: float) -> Decimal:
    return Decimal(str(value))


def store_number(store_id: str) -> int:
    return int(store_id.removeprefix("STORE-"))


def sessions_by_customer(run: Run) -> dict[str, dict[str, Any]]:
    sessions = {r["customer_id"]: r for r in run.records["foot_traffic"]}
    assert len(sessions) == len(run.records["foot_traffic"]), "a customer has two sessions"
    return sessions


def ended(session: dict[str, Any]) -> bool:
    """The visit ended within the run (the others were cut by its end)."""
    return epoch_seconds(session["exit_time"]) < CHAIN_END


def test_nothing_is_written_at_or_after_the_end_and_the_end_cut_some_visits(chain_run: Run) -> None:
    for topic, field in TIMES:
        assert all(epoch_seconds(r[field]) < CHAIN_END for r in chain_run.records[topic]), topic
    cut = [s for s in chain_run.records["foot_traffic"] if not ended(s)]
    assert cut, "no visit was open at the end: the run does not show its edge"
    assert {s["store_id"] for s in cut} <= {"STORE-016", "STORE-022"}, "only the American stores are open"


@pytest.fixture(scope="module")
def catalogue() -> dict[str, dict[str, Any]]:
    return {row["shelf_id"]: row for row in loader.read_catalogue().to_pylist()}


@pytest.fixture(scope="module")
def discount_on(catalogue: dict[str, dict[str, Any]]) -> Any:
    shelf_ids = list(catalogue)
    weekly = loader.weekly_discounts(shelf_ids).to_pylist()
    daily = loader.daily_discounts(shelf_ids, date(2025, 3, 1), date(2025, 4, 30)).to_pylist()

    def lookup(shelf_id: str, day: date) -> Decimal:
        total = Decimal(0)
        for row in weekly:
            if row["shelf_id"] == shelf_id and row["week"] == day.isocalendar().week:
                total += dec(row["discount"])
        for row in daily:
            if row["shelf_id"] == shelf_id and row["date"] == day:
                total += dec(row["discount"])
        return total

    return lookup


def test_the_run_is_big_enough_to_mean_something(chain_run: Run) -> None:
    records = chain_run.records
    assert len(records["foot_traffic"]) > 1500
    assert {r["store_id"] for r in records["foot_traffic"]} == {
        "STORE-001",
        "STORE-007",
        "STORE-016",
        "STORE-022",
    }
    assert all(records[topic] for topic in records), "every topic has events"


TIMES = [
    ("foot_traffic", "entry_time"),
    ("foot_traffic_realistic", "time"),
    ("shelf_events", "timestamp"),
    ("pos_transactions", "timestamp"),
    ("pos_events", "timestamp"),
    ("transactions", "timestamp"),
    ("refunds", "timestamp"),
]


@pytest.mark.parametrize(("topic", "field"), TIMES)
def test_every_file_is_in_event_time_order(chain_run: Run, topic: str, field: str) -> None:
    times = [epoch_seconds(r[field]) for r in chain_run.records[topic]]
    assert times == sorted(times)


def test_every_shelf_event_belongs_to_an_open_session(chain_run: Run) -> None:
    sessions = sessions_by_customer(chain_run)
    for event in chain_run.records["shelf_events"]:
        session = sessions[event["customer_id"]]
        ts = epoch_seconds(event["timestamp"])
        assert epoch_seconds(session["entry_time"]) <= ts <= epoch_seconds(session["exit_time"]), event
        assert event["store_id"] == session["store_id"]


def test_door_events_match_sessions(chain_run: Run) -> None:
    entries = Counter(
        (r["store_id"], epoch_seconds(r["entry_time"])) for r in chain_run.records["foot_traffic"]
    )
    exits = Counter(
        (r["store_id"], epoch_seconds(r["exit_time"])) for r in chain_run.records["foot_traffic"] if ended(r)
    )
    door = chain_run.records["foot_traffic_realistic"]
    assert (
        Counter((r["store_id"], epoch_seconds(r["time"])) for r in door if r["event_type"] == "entry")
        == entries
    )
    assert (
        Counter((r["store_id"], epoch_seconds(r["time"])) for r in door if r["event_type"] == "exit") == exits
    )


def net_carts(run: Run) -> dict[str, dict[str, int]]:
    """Each customer's cart after replaying pickups and putbacks; asserts no putback exceeds the cart."""
    carts: dict[str, dict[str, int]] = defaultdict(dict)
    for event in run.records["shelf_events"]:
        cart = carts[event["customer_id"]]
        if event["event_type"] == "pickup":
            cart[event["item_id"]] = cart.get(event["item_id"], 0) + event["quantity"]
        elif event["event_type"] == "putback":
            held = cart.get(event["item_id"], 0)
            assert event["quantity"] <= held, f"putback of {event['quantity']} with {held} held: {event}"
            cart[event["item_id"]] = held - event["quantity"]
    return {customer: {i: q for i, q in cart.items() if q} for customer, cart in carts.items()}


def test_a_putback_never_returns_more_than_the_customer_holds(chain_run: Run) -> None:
    carts = net_carts(chain_run)
    assert sum(1 for e in chain_run.records["shelf_events"] if e["event_type"] == "putback") > 100
    assert carts


def test_weight_change_is_the_item_weight_times_quantity(
    chain_run: Run, catalogue: dict[str, dict[str, Any]]
) -> None:
    events = chain_run.records["shelf_events"]
    actions = [e for e in events if e["event_type"] != "weight_change"]
    changes = [e for e in events if e["event_type"] == "weight_change"]
    assert len(actions) == len(changes)
    pending: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for action in actions:
        pending[(action["customer_id"], action["item_id"], epoch_seconds(action["timestamp"]))].append(action)
    for change in changes:
        action = pending[(change["customer_id"], change["item_id"], epoch_seconds(change["timestamp"]))].pop(
            0
        )
        weight = catalogue[action["item_id"]]["item_weight"]
        assert action["weight"] == weight
        sign = -1 if action["event_type"] == "pickup" else 1
        assert change["delta_weight"] == pytest.approx(sign * weight * action["quantity"], abs=1e-9)


def test_exactly_one_checkout_per_session_with_its_net_pickups_priced_that_day(
    chain_run: Run, catalogue: dict[str, dict[str, Any]], discount_on: Any
) -> None:
    sessions = sessions_by_customer(chain_run)
    carts = net_carts(chain_run)
    checkouts = chain_run.records["pos_transactions"]
    assert len({c["customer_id"] for c in checkouts}) == len(checkouts), "two checkouts for one customer"
    assert len({c["transaction_id"] for c in checkouts}) == len(checkouts)
    checked_out = {c["customer_id"] for c in checkouts}
    for customer, session in sessions.items():
        # Empty carts are not checked out (FORCE_CHECKOUT_IF_EMPTY is off in this run), nor visits cut
        # by the end.
        assert (customer in checked_out) == (bool(carts.get(customer)) and ended(session)), customer
    for checkout in checkouts:
        session = sessions[checkout["customer_id"]]
        assert epoch_seconds(checkout["timestamp"]) == epoch_seconds(session["exit_time"])
        assert checkout["store_id"] == session["store_id"]
        timezone = ZoneInfo(store(store_number(session["store_id"])).timezone)
        day = datetime.fromtimestamp(epoch_seconds(session["entry_time"]), UTC).astimezone(timezone).date()
        lines = {line["item_id"]: line for line in checkout["items"]}
        assert len(lines) == len(checkout["items"])
        assert {i: line["quantity"] for i, line in lines.items()} == carts[checkout["customer_id"]]
        for item_id, line in lines.items():
            assert dec(line["unit_price"]) == dec(catalogue[item_id]["item_price"])
            assert dec(line["discount"]) == discount_on(item_id, day)
            expected = money(line["quantity"] * dec(line["unit_price"]) * (1 - dec(line["discount"])))
            assert dec(line["total_price"]) == expected, line


def test_discounts_are_really_applied(chain_run: Run) -> None:
    lines = [line for c in chain_run.records["pos_transactions"] for line in c["items"]]
    assert sum(1 for line in lines if line["discount"] > 0) > 50


def register_sequences(run: Run) -> dict[str, list[dict[str, Any]]]:
    by_basket: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in run.records["pos_events"]:
        if event["basket_id"] is not None:
            by_basket[event["basket_id"]].append(event)
    return by_basket


def test_register_sequence_carries_the_checkouts_ids_and_amounts(chain_run: Run) -> None:
    baskets = register_sequences(chain_run)
    by_checkout = {events[0]["basket_id"]: events for events in baskets.values()}
    checkouts = chain_run.records["pos_transactions"]
    assert len(baskets) == len(checkouts)
    cut = 0
    for checkout in checkouts:
        events = by_checkout[derived_uuid(checkout["transaction_id"], "basket")]
        kinds = [e["event_type"] for e in events]
        n = len(checkout["items"])
        whole = ["basket_started", "customer_identified"] + ["item_added"] * n
        whole += ["subtotal_calculated", "payment_completed"]
        if kinds != whole:  # still at the register when the run ended: the start of its sequence only
            assert kinds == whole[: len(kinds)], kinds
            cut += 1
        times = [epoch_seconds(e["timestamp"]) for e in events]
        assert times == sorted(times)
        assert times[0] >= epoch_seconds(checkout["timestamp"])
        assert {e["store_id"] for e in events} == {checkout["store_id"]}
        assert len(events) < 2 or events[1]["customer_id"] == checkout["customer_id"]
        for added, line in zip(events[2 : 2 + n], checkout["items"], strict=False):
            assert (added["item_id"], added["quantity"], added["price"]) == (
                line["item_id"],
                line["quantity"],
                line["unit_price"],
            )
            assert added["total_price"] == line["total_price"]
        if kinds != whole:
            continue
        assert events[-1]["transaction_id"] == checkout["transaction_id"]
        subtotal = sum((dec(line["total_price"]) for line in checkout["items"]), Decimal(0))
        tax_rate = Decimal(store(store_number(checkout["store_id"])).tax_rate_bp) / 10000
        assert dec(events[-2]["subtotal"]) == subtotal
        assert dec(events[-2]["tax"]) == money(subtotal * tax_rate)
        assert dec(events[-1]["amount"]) == subtotal + money(subtotal * tax_rate)
        assert events[-1]["payment_method"] in {"credit_card", "debit_card", "cash", "mobile_wallet"}
    assert cut <= 16, f"{cut} sequences cut: more than a store's terminals can hold at once"


def test_employees_log_in_before_they_sell_and_out_at_the_end(chain_run: Run) -> None:
    logged_in: dict[str, str | None] = defaultdict(lambda: None)  # terminal → employee
    working: Counter[str] = Counter()
    logins = 0
    for event in chain_run.records["pos_events"]:
        kind = event["event_type"]
        if kind == "employee_login":
            assert logged_in[event["terminal_id"]] is None, f"double login on {event['terminal_id']}"
            logged_in[event["terminal_id"]] = event["employee_id"]
            working[event["employee_id"]] += 1
            logins += 1
        elif kind == "employee_logout":
            assert logged_in[event["terminal_id"]] == event["employee_id"]
            logged_in[event["terminal_id"]] = None
            working[event["employee_id"]] -= 1
        elif kind == "basket_started":
            assert working[event["employee_id"]] == 1, f"{event['employee_id']} sells without being logged in"
    assert logins > 8
    # Who is still logged in when the run ends works in a store that is still open then.
    still_open = {terminal for terminal, employee in logged_in.items() if employee is not None}
    assert {terminal[:5] for terminal in still_open} <= {"T-016", "T-022"}, still_open


def test_ledger_entries_are_the_checkout_lines(chain_run: Run) -> None:
    transactions = chain_run.records["transactions"]
    ids = [t["transaction_id"] for t in transactions]
    assert len(set(ids)) == len(ids), "ledger transaction ids are not unique"
    by_checkout: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in transactions:
        by_checkout[t["pos_transaction_id"]].append(t)
    checkouts = chain_run.records["pos_transactions"]
    assert len(by_checkout) == len(checkouts)
    for checkout in checkouts:
        entries = by_checkout[checkout["transaction_id"]]
        assert [(e["product_id"], e["amount"]) for e in entries] == [
            (line["item_id"], line["total_price"]) for line in checkout["items"]
        ]
        for entry in entries:
            assert entry["customer_id"] == checkout["customer_id"]
            assert entry["store_id"] == checkout["store_id"]
            assert epoch_seconds(entry["timestamp"]) == epoch_seconds(checkout["timestamp"])


def test_refunds_point_at_an_earlier_sale_of_the_same_store_and_customer(chain_run: Run) -> None:
    sales = {t["transaction_id"]: t for t in chain_run.records["transactions"]}
    refunds = chain_run.records["refunds"]
    assert len(refunds) > 20
    assert len({r["original_transaction_id"] for r in refunds}) == len(refunds), "a sale refunded twice"
    for refund in refunds:
        sale = sales[refund["original_transaction_id"]]
        assert (refund["store_id"], refund["customer_id"], refund["product_id"]) == (
            sale["store_id"],
            sale["customer_id"],
            sale["product_id"],
        )
        assert epoch_seconds(refund["timestamp"]) > epoch_seconds(sale["timestamp"])
        assert 0 < refund["refund_amount"] <= sale["amount"]
        assert refund["reason"] in {
            "defective",
            "wrong_item",
            "not_as_described",
            "changed_mind",
            "damaged_shipping",
        }
