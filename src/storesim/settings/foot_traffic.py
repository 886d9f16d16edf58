"""Settings of the foot-traffic component (the foot-traffic seed's variables)."""

from __future__ import annotations

from pydantic import Field

from storesim.settings._service import ServiceSettings
from storesim.world import TrafficVolume

__all__ = ["FootTrafficSettings"]


class FootTrafficSettings(ServiceSettings):
    kafka_broker: str = "kafka:9092"
    kafka_topic: str = Field("foot_traffic", min_length=1)
    kafka_topic_realistic: str = Field("foot_traffic_realistic", min_length=1)
    sleep: float = Field(0.5, ge=0)
    time_scale: float = Field(1.0, gt=0)
    default_daily_customers: int = Field(1000, ge=0)
    base_daily_customers: int | None = Field(None, ge=0)
    daily_customers: int | None = Field(None, ge=0)
    daily_variation_pct: float = Field(0.10, ge=0, lt=1)
    disable_daily_variation: bool = False
    max_retries: int = Field(6, ge=0)
    retry_backoff_seconds: float = Field(5.0, ge=0)

    def volume(self) -> TrafficVolume:
        baseline = self.base_daily_customers
        return TrafficVolume(
            baseline=self.default_daily_customers if baseline is None else baseline,
            fixed_daily=self.daily_customers,
            variation_pct=self.daily_variation_pct,
            variation=not self.disable_daily_variation,
        )
