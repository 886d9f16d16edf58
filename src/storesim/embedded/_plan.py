"""What an embedded run simulates: which stores and days, with which seed and component settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from storesim._time import epoch_day
from storesim.engines.store_chain import ChainRules
from storesim.events import (
    FOOT_TRAFFIC,
    FOOT_TRAFFIC_REALISTIC,
    POS_EVENTS,
    POS_TRANSACTIONS,
    REFUNDS,
    SHELF_EVENTS,
    TRANSACTIONS,
    TRUTH,
)
from storesim.settings import (
    FootTrafficSettings,
    LedgerSettings,
    PosSettings,
    RegisterSettings,
    SettingsError,
    ShelfSettings,
)
from storesim.world import ScenarioBook, Store

__all__ = ["SimulationPlan"]


@dataclass(frozen=True, slots=True)
class SimulationPlan:
    stores: tuple[Store, ...]
    start: date
    days: int
    seed: int
    foot: FootTrafficSettings
    shelf: ShelfSettings
    pos: PosSettings
    register: RegisterSettings
    ledger: LedgerSettings
    scenarios: ScenarioBook = field(default_factory=ScenarioBook)

    @property
    def dates(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]

    @property
    def utc_window(self) -> tuple[int, int]:
        """[first, end) in UTC seconds of the run's calendar days, for the chain-level stand-alone modes."""
        first = epoch_day(self.start) * 86400
        return first, first + self.days * 86400

    def chain_rules(self) -> ChainRules:
        """What each store's chain follows: the components' settings of the world, and the window."""
        start, end = self.utc_window
        return ChainRules(
            seed=self.seed,
            volume=self.foot.volume(),
            putback_prob=self.shelf.putback_prob,
            force_checkout_if_empty=self.pos.force_checkout_if_empty,
            max_session_age=self.pos.max_session_age_sec,
            refund_probability=self.ledger.refund_probability,
            register=self.register.register_mode == "coherent",
            ledger=self.ledger.ledger_mode == "coherent",
            start=start,
            end=end,
            first=self.start,
            last=self.start + timedelta(days=self.days),
            scenarios=self.scenarios,
        )

    def topic_names(self) -> dict[str, str]:
        """Logical topic → configured name (the answer key's file is always truth.*); one process writes
        every topic, so two may not share a name."""
        names = {
            TRUTH: ("", TRUTH),  # first, so that a topic named like it is the one reported
            FOOT_TRAFFIC: ("KAFKA_TOPIC", self.foot.kafka_topic),
            FOOT_TRAFFIC_REALISTIC: ("KAFKA_TOPIC_REALISTIC", self.foot.kafka_topic_realistic),
            SHELF_EVENTS: ("KAFKA_TOPIC_SHELF", self.shelf.kafka_topic_shelf),
            POS_TRANSACTIONS: ("POS_TOPIC", self.pos.pos_topic),
            POS_EVENTS: ("KAFKA_TOPIC", self.register.kafka_topic),
            TRANSACTIONS: ("KAFKA_TOPIC", self.ledger.kafka_topic),
            REFUNDS: ("KAFKA_TOPIC_REFUNDS", self.ledger.kafka_topic_refunds),
        }
        seen: dict[str, str] = {}
        for topic, (variable, name) in names.items():
            if name in seen:
                raise SettingsError(
                    f"invalid setting {variable}={name}: "
                    f"the {seen[name]} and {topic} topics would share one name"
                )
            if "/" in name or name.startswith("."):
                raise SettingsError(f"invalid setting {variable}={name}: not usable as a file name")
            seen[name] = topic
        return {topic: name for topic, (_, name) in names.items()}
