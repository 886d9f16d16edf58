"""Settings of the clock service: the simulated clock's start, speed and (for a backfill) end."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from storesim.settings._service import ServiceSettings

__all__ = ["ClockSettings"]


class ClockSettings(ServiceSettings):
    time_scale: float = Field(1.0, gt=0)
    clock_mode: Literal["paced", "backfill"] = "paced"

    @model_validator(mode="after")
    def _backfill_needs_a_range(self) -> ClockSettings:
        if self.clock_mode == "backfill" and self.sim_end is None:
            raise ValueError("SIM_END is required when CLOCK_MODE=backfill")
        if self.sim_start is not None and self.sim_end is not None and self.sim_end <= self.sim_start:
            raise ValueError("SIM_END must be after SIM_START")
        return self
