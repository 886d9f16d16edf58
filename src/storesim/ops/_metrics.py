"""The metrics every service exports (storesim_ prefix, _total counters, _seconds histograms).

No customer, cart or basket ids as labels: only topic, event type, component, reason and store, whose values
are bounded.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from storesim.events import Record

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))
    _children: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)
    _scenario_series: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        r = self.registry
        self.produced = Counter(
            "storesim_events_produced",
            "Events delivered to Kafka (or Redis).",
            ["topic", "event_type"],
            registry=r,
        )
        self.consumed = Counter(
            "storesim_events_consumed", "Events consumed.", ["topic", "event_type"], registry=r
        )
        self.produce_errors = Counter(
            "storesim_produce_errors", "Events that could not be delivered.", ["topic"], registry=r
        )
        self.delivery_latency = Histogram(
            "storesim_delivery_latency_seconds",
            "Time from produce() to the broker's acknowledgement (of one message in 16).",
            ["topic"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.dead_lettered = Counter(
            "storesim_dead_lettered",
            "Messages sent to the dead-letter topic.",
            ["topic", "reason"],
            registry=r,
        )
        self.open_carts = Gauge("storesim_open_carts", "Carts of customers still in a store.", registry=r)
        self.clock_lag = Gauge(
            "storesim_sim_clock_lag_seconds",
            "How far this service's processed simulated time trails the simulated clock.",
            registry=r,
        )
        self.clock_speed = Gauge("storesim_sim_clock_speed", "Simulated seconds per wall second.", registry=r)
        self.consumer_lag = Gauge(
            "storesim_consumer_lag",
            "Messages behind the end of the partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.sessions = Counter("storesim_sessions", "Store visits simulated.", ["store_id"], registry=r)
        self.revenue = Counter("storesim_revenue", "Ledger revenue booked.", ["store_id"], registry=r)
        self.duplicates_sent = Counter(
            "storesim_duplicates_sent",
            "Messages sent a second time on purpose (a duplicates scenario).",
            ["topic", "store_id"],
            registry=r,
        )
        # The business a store does, counted where its events are produced (each service counts what it
        # sends, not a replay's or a duplicates scenario's copies): the overview's Business row.
        self.checkouts = Counter(
            "storesim_checkouts",
            "Checkouts sent by the POS (one per paying visit).",
            ["store_id"],
            registry=r,
        )
        self.basket_items = Counter(
            "storesim_basket_items", "Units on the checkouts sent by the POS.", ["store_id"], registry=r
        )
        self.basket_value = Counter(
            "storesim_basket_value",
            "Value of the checkouts sent by the POS (their line totals, discounts applied).",
            ["store_id"],
            registry=r,
        )
        self.shrink_units = Counter(
            "storesim_shrink_units",
            "Picked units that left unpaid at a checkout (a shrink scenario).",
            ["store_id"],
            registry=r,
        )
        self.shrink_value = Counter(
            "storesim_shrink_value",
            "What the units that left unpaid would have paid (a shrink scenario).",
            ["store_id"],
            registry=r,
        )
        self.refunds = Counter("storesim_refunds", "Ledger refunds sent.", ["store_id"], registry=r)
        self.refund_amount = Counter(
            "storesim_refund_amount", "Money the ledger's refunds give back.", ["store_id"], registry=r
        )
        # 1 while a scenario's window covers the store's simulated instant (foot-traffic's), 0 outside it;
        # a series per scenario and store it applies to: the overview's annotations.
        self.scenario_active = Gauge(
            "storesim_scenario_active",
            "1 while the scenario acts on the store at the simulated instant, else 0.",
            ["scenario", "store_id"],
            registry=r,
        )
        # A store's day so far, in simulated time, from whichever replica owns it (the Store controller
        # reads them into the Store's status): exported by foot-traffic and the ledger.
        self.store_sessions_today = Gauge(
            "storesim_store_sessions_today",
            "Visits of the store's current local day up to the simulated clock.",
            ["store_id"],
            registry=r,
        )
        self.store_revenue_today = Gauge(
            "storesim_store_revenue_today",
            "Ledger revenue of the store's current local day up to the simulated clock.",
            ["store_id"],
            registry=r,
        )
        self.store_last_event = Gauge(
            "storesim_store_last_event_timestamp_seconds",
            "Simulated instant of the store's latest event sent.",
            ["store_id"],
            registry=r,
        )

    def child(self, metric: Counter | Histogram, *values: str) -> Any:
        """``metric.labels(*values)``, kept: labels() validates and locks on every call (2 µs, a
        tenth of a service's time per event), the child it returns is the same every time. Only for
        metrics whose series are never removed (not the per-store gauges)."""
        key = (id(metric), *values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def checkout_sent(self, record: Record) -> None:
        """A checkout the POS sent (not a duplicates scenario's copy): its store's checkouts, units and
        value."""
        store_id = record["store_id"]
        self.child(self.checkouts, store_id).inc()
        self.child(self.basket_items, store_id).inc(sum(line["quantity"] for line in record["items"]))
        self.child(self.basket_value, store_id).inc(
            sum(round(line["total_price"] * 100) for line in record["items"]) / 100
        )

    def shrunk(self, store_id: str, units: int, cents: int) -> None:
        """Units that left a store unpaid at a checkout, and what they would have paid."""
        self.child(self.shrink_units, store_id).inc(units)
        self.child(self.shrink_value, store_id).inc(cents / 100)

    def refund_sent(self, record: Record) -> None:
        """A refund the ledger sent."""
        store_id = record["store_id"]
        self.child(self.refunds, store_id).inc()
        self.child(self.refund_amount, store_id).inc(record["refund_amount"])

    def forget_stores(self, store_ids: list[str]) -> None:
        """Drops the per-store gauges (a store's day, its scenarios) of stores this replica no longer
        owns, so that only the owner reports a store (a stale series would outlive a handover by the
        scrape's staleness)."""
        for gauge in (self.store_sessions_today, self.store_revenue_today, self.store_last_event):
            for store_id in store_ids:
                with contextlib.suppress(KeyError):
                    gauge.remove(store_id)
        gone = set(store_ids)
        for scenario, store_id in [labels for labels in self._scenario_series if labels[1] in gone]:
            self.scenario_active.remove(scenario, store_id)
            self._scenario_series.discard((scenario, store_id))

    def set_scenario_active(self, scenario: str, store_id: str, active: bool) -> None:
        """storesim_scenario_active for one scenario and store, remembered for forget_stores()."""
        self.scenario_active.labels(scenario, store_id).set(1 if active else 0)
        self._scenario_series.add((scenario, store_id))
