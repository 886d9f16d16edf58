"""The embedded mode: the whole chain in one process, in event-time order, without sleeping.

Each store runs as its own time-ordered stream (engines/store_chain.py); the streams are merged by
(time, store, sequence). The run covers the instants [start, end) of the plan's UTC window, as a
streamed backfill covers [SIM_START, SIM_END): both modes cut the range alike, so they write the same
events.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from datetime import date
from functools import cache

from storesim.data import Dataset
from storesim.embedded._plan import SimulationPlan
from storesim.engines import standalone_ledger, standalone_register
from storesim.engines.store_chain import ChainRow, StoreChain, Summary
from storesim.events import REFUNDS, TRANSACTIONS, Emitted, Record
from storesim.world import DayPricing

__all__ = ["LateSink", "Sink", "Summary", "simulate"]

# What the run hands each event to: topic, Kafka key (the one the services send), record.
Sink = Callable[[str, str, Record], None]
# An event an uplink outage held, handed over when it is released: also the instant of that (ms).
LateSink = Callable[[str, str, Record, int], None]


def _chain_rows(events: Iterator[Emitted]) -> Iterator[ChainRow]:
    for seq, event in enumerate(events):
        yield event.ts, 0, seq, event.topic, event.key, event.record, False


def simulate(
    plan: SimulationPlan,
    dataset: Dataset,
    write: Sink,
    progress: Callable[[int, int], None] | None = None,
    write_late: LateSink | None = None,
) -> Summary:
    """Runs the plan and hands every event, in time order, to ``write(topic, key, record)``; an event an
    uplink outage held comes at its release, to ``write_late`` if given (a Kafka sink stamps it then)."""
    summary = Summary(plan.seed)
    rules = plan.chain_rules()

    @cache
    def pricing(day: date) -> DayPricing:
        return DayPricing(dataset.catalogue, dataset.discounts, day)

    streams: list[Iterator[ChainRow]] = [
        iter(StoreChain(rules, s, dataset.catalogue, pricing, summary)) for s in plan.stores
    ]
    first, end = plan.utc_window
    if plan.register.register_mode == "standalone":
        streams.append(
            _chain_rows(standalone_register(plan.seed, first, end, plan.register.delay_between_sequences))
        )
    if plan.ledger.ledger_mode == "standalone":
        streams.append(
            _chain_rows(
                standalone_ledger(
                    plan.seed, first, end, plan.ledger.producer_sleep_seconds, plan.ledger.refund_probability
                )
            )
        )
    counts = summary.events
    written = 0
    ts = 0
    for ts, _, _, topic, key, record, late in heapq.merge(*streams):
        if late and write_late is not None:
            write_late(topic, key, record, ts * 1000)
        else:
            write(topic, key, record)
        counts[topic] += 1
        if topic == TRANSACTIONS:
            summary.revenue_cents += round(record["amount"] * 100)
        elif topic == REFUNDS:
            summary.refunds += 1
            summary.refunded_cents += round(record["refund_amount"] * 100)
        written += 1
        if progress is not None and not written & 0xFFFF:
            progress(written, ts)
    if progress is not None:
        progress(written, ts)
    return summary
