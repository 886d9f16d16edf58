"""Settings of the POS component (the POS seed's variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from storesim.settings._postgres import PostgresSettings
from storesim.settings._service import ServiceSettings
from storesim.settings._stateful import StatefulSettings
from storesim.settings._world import CartRules, ScenarioRules

__all__ = ["PosSettings"]


class PosSettings(ServiceSettings, PostgresSettings, StatefulSettings, CartRules, ScenarioRules):
    """The seed's POS ran one consumer per topic (GROUP_ID_FOOT, GROUP_ID_SHELF). storesim's reads both
    topics with one consumer in group GROUP_ID_FOOT, so that the range assignor hands a replica partition
    i of both; GROUP_ID_SHELF is accepted and names nothing else."""

    kafka_broker: str = "kafka:9092"
    foot_topic: str = Field("foot_traffic", min_length=1)
    shelf_topic: str = Field("shelf_events", min_length=1)
    pos_topic: str = Field("pos_transactions", min_length=1)
    group_id_shelf: str = "pos-simulator-shelf"
    group_id_foot: str = Field("pos-simulator-foot", min_length=1)
    store_parquet: Path = Path("/data/store_inventory_final.parquet")
    discount_parquet_path: Path = Path("/data/all_discounts.parquet")
