"""`storesim run ledger`: a sales-ledger transaction per checkout line of the stores this replica owns,
and the refunds drawn for them, each sent when the simulated clock reaches it."""

from __future__ import annotations

from storesim._time import epoch_day_at
from storesim.engines import LedgerEngine
from storesim.events import REFUNDS, TRANSACTIONS, Emitted
from storesim.services._checkouts import CheckoutEngine, CheckoutStage
from storesim.services._runtime import ServiceRuntime
from storesim.settings import LedgerSettings, SettingsError

__all__ = ["run_ledger"]


class _Ledger(CheckoutStage):
    component = "ledger"

    def __init__(self, settings: LedgerSettings, runtime: ServiceRuntime) -> None:
        outputs = {TRANSACTIONS: settings.kafka_topic, REFUNDS: settings.kafka_topic_refunds}
        super().__init__(settings, runtime, settings.kafka_bootstrap_servers, settings.pos_topic, outputs)
        self.refund_probability = settings.refund_probability
        self._last_line: object = None  # the transaction line sent last: a duplicate's copy follows it

    def engine(self, seed: int, number: int) -> LedgerEngine:
        return LedgerEngine(seed, self.refund_probability, self.live_stores.__getitem__)

    def sent(self, event: Emitted) -> None:
        if event.topic == REFUNDS:  # never copied: a duplicates scenario copies transaction lines only
            self.metrics.refund_sent(event.record)
        elif event.topic == TRANSACTIONS:
            if event.record["transaction_id"] == self._last_line:
                return  # a duplicates scenario's copy: revenue is booked once
            self._last_line = event.record["transaction_id"]
            store_id = event.record["store_id"]
            self.metrics.revenue.labels(store_id=store_id).inc(event.record["amount"])

    def progressed(self, number: int, engine: CheckoutEngine, until: int) -> None:
        assert isinstance(engine, LedgerEngine)
        shop = self.live_stores[number]
        today = engine.revenue_on(epoch_day_at(until, shop.timezone))
        self.metrics.store_revenue_today.labels(store_id=shop.store_id).set(today)


def run_ledger(settings: LedgerSettings) -> int:
    settings.refuse_unstreamed()
    if settings.ledger_mode != "coherent":
        raise SettingsError(
            "invalid setting LEDGER_MODE=standalone: the stand-alone ledger runs in `storesim simulate`"
        )
    runtime = ServiceRuntime("ledger", settings.metrics_port).start()
    return _Ledger(settings, runtime).serve()
