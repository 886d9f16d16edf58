"""`storesim run register`: each checkout of the stores this replica owns as the register seed's event
sequence (login, basket, items, subtotal, payment, logout) on pos_events."""

from __future__ import annotations

from storesim.engines import RegisterEngine
from storesim.events import POS_EVENTS, Emitted
from storesim.services._checkouts import CheckoutEngine, CheckoutStage
from storesim.services._runtime import ServiceRuntime
from storesim.settings import RegisterSettings, SettingsError

__all__ = ["run_register"]


class _Register(CheckoutStage):
    component = "register"

    def engine(self, seed: int, number: int) -> RegisterEngine:
        # The register outages of SCENARIO_FILE, as the embedded chain's register has them.
        return RegisterEngine(seed, self.live_stores[number], self.settings.scenarios)

    def sent(self, event: Emitted) -> None:
        """pos_events need no metric beyond events produced."""

    def progressed(self, number: int, engine: CheckoutEngine, until: int) -> None:
        """A store's day is reported by foot-traffic (visits) and the ledger (revenue)."""


def run_register(settings: RegisterSettings) -> int:
    settings.refuse_unstreamed()
    if settings.register_mode != "coherent":
        raise SettingsError(
            "invalid setting REGISTER_MODE=standalone: the stand-alone register runs in `storesim simulate`"
        )
    runtime = ServiceRuntime("register", settings.metrics_port).start()
    outputs = {POS_EVENTS: settings.kafka_topic}
    return _Register(settings, runtime, settings.kafka_bootstrap_servers, settings.pos_topic, outputs).serve()
