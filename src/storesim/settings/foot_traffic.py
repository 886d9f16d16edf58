"""Settings of the foot-traffic component (the foot-traffic seed's variables)."""

from __future__ import annotations

from pydantic import Field

from storesim.settings._service import ServiceSettings
from storesim.settings._world import ScenarioRules, VisitRules

__all__ = ["FootTrafficSettings"]


class FootTrafficSettings(ServiceSettings, VisitRules, ScenarioRules):
    kafka_broker: str = "kafka:9092"
    kafka_topic: str = Field("foot_traffic", min_length=1)
    kafka_topic_realistic: str = Field("foot_traffic_realistic", min_length=1)
    sleep: float = Field(0.5, ge=0)
    time_scale: float = Field(1.0, gt=0)
    max_retries: int = Field(6, ge=0)
    retry_backoff_seconds: float = Field(5.0, ge=0)
