"""The rules of the simulated world that more than one component follows.

The stage that owns a rule reads it (foot-traffic the daily volume, the shelf PUTBACK_PROB, the POS the
cart rules, the ledger the refunds); the answer key replays the whole world and reads all of them. Each
rule is declared once, here, so the two cannot drift apart in name, default or bounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, PrivateAttr, model_validator

from storesim.settings._base import ComponentSettings, SettingsError
from storesim.world import ScenarioBook, ScenariosFileError, TrafficVolume, parse_scenarios_file

__all__ = ["CartRules", "RefundRules", "ScenarioRules", "ShoppingRules", "VisitRules"]


class VisitRules(ComponentSettings):
    """How many customers come (the foot-traffic seed's variables)."""

    default_daily_customers: int = Field(1000, ge=0)
    base_daily_customers: int | None = Field(None, ge=0)
    daily_customers: int | None = Field(None, ge=0)
    daily_variation_pct: float = Field(0.10, ge=0, lt=1)
    disable_daily_variation: bool = False

    def volume(self) -> TrafficVolume:
        baseline = self.base_daily_customers
        return TrafficVolume(
            baseline=self.default_daily_customers if baseline is None else baseline,
            fixed_daily=self.daily_customers,
            variation_pct=self.daily_variation_pct,
            variation=not self.disable_daily_variation,
        )


class ShoppingRules(ComponentSettings):
    """What a customer does at the shelves (the shelf seed's)."""

    putback_prob: float = Field(0.15, ge=0, le=1)


class CartRules(ComponentSettings):
    """When a cart checks out (the POS seed's)."""

    force_checkout_if_empty: bool = False
    max_session_age_sec: int = Field(10800, gt=0)


class RefundRules(ComponentSettings):
    """Whether checkouts are booked and refunded (the ledger seed's)."""

    refund_probability: float = Field(0.1, ge=0, le=1)
    ledger_mode: Literal["coherent", "standalone"] = "coherent"


class ScenarioRules(ComponentSettings):
    """The scenarios acting on the world (world/_scenarios.py), from SCENARIO_FILE, read at start-up: a
    file that is there but not valid stops the service with one line naming it.

    A file that is not there yet is awaited, as STORES_FILE is (in a cluster both are keys of the Store
    controller's ConfigMap, written after the pods start): the service declares no store, so it is not
    ready and simulates nothing, until the file appears and the service restarts in place to read it
    (services/_scenario_file.py, which also restarts it on every later change of the file)."""

    scenario_file: Path | None = None
    _scenarios: ScenarioBook = PrivateAttr(default_factory=ScenarioBook)
    _scenario_bytes: bytes | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _read_scenarios(self) -> Self:
        if self.scenario_file is not None:
            try:
                raw = self.scenario_file.read_bytes()
            except FileNotFoundError:
                return self
            except OSError as exc:
                raise ValueError(f"SCENARIO_FILE: {self.scenario_file}: {exc.strerror or exc}") from None
            try:
                self._scenarios = ScenarioBook(parse_scenarios_file(raw, self.scenario_file))
            except ScenariosFileError as exc:
                raise ValueError(f"SCENARIO_FILE: {exc}") from None
            self._scenario_bytes = raw
        return self

    @property
    def scenarios_awaited(self) -> bool:
        """SCENARIO_FILE is set but was not there at start-up."""
        return self.scenario_file is not None and self._scenario_bytes is None

    @property
    def scenario_bytes(self) -> bytes | None:
        """The bytes of SCENARIO_FILE the service runs with (None: unset, or awaited)."""
        return self._scenario_bytes

    @property
    def scenarios(self) -> ScenarioBook:
        return self._scenarios

    def refuse_unstreamed(self) -> None:
        """The services' check: an effect that only `storesim simulate` runs stops a service at start-up
        with one line, rather than giving a streamed world that differs from the embedded one."""
        held = [s.name for s in self._scenarios.scenarios if s.effects.uplink_outage is not None]
        if held:
            raise SettingsError(
                f"invalid setting SCENARIO_FILE: scenario {held[0]!r}: uplinkOutage runs in "
                "`storesim simulate` only (the services do not hold a store's messages yet)"
            )
