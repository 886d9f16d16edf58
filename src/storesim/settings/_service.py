"""What every long-running service adds to its seed's variables: the registry, the output format,
the ops port, the simulated range and stores, the Redis that holds the clock, and the names that keep
one simulation's shared state apart from another's on the same Redis and Kafka (SIM_NAMESPACE)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import NoDecode

from storesim._keys import MAX_STORE
from storesim.settings._base import ComponentSettings
from storesim.settings._names import DLQ_TOPIC, STORE_CONTROL_TOPIC
from storesim.world import StoreCatalogue, StoresFileError, read_stores_file

__all__ = ["ServiceSettings"]


class ServiceSettings(ComponentSettings):
    schema_registry_url: str = Field("http://schema-registry:8081/apis/ccompat/v7", pattern=r"^https?://")
    output_format: Literal["avro", "json"] = "avro"
    metrics_port: int = Field(8000, ge=0, lt=65536)
    store_ids: Annotated[tuple[int, ...], NoDecode] = (1, 2, 3)
    # The stores as declared (the Store controller's ConfigMap, mounted): their numbers replace STORE_IDS.
    stores_file: Path | None = None
    sim_start: datetime | None = None
    sim_end: datetime | None = None
    redis_host: str = "redis"
    redis_port: int = Field(6379, gt=0, lt=65536)
    redis_db: int = Field(0, ge=0)
    sim_namespace: str = Field("storesim", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    dlq_topic: str = Field(DLQ_TOPIC, min_length=1)
    store_control_topic: str = Field(STORE_CONTROL_TOPIC, min_length=1)
    seed: int | None = None
    _catalogue: StoreCatalogue = PrivateAttr()

    @field_validator("store_ids", mode="before")
    @classmethod
    def _parse_store_ids(cls, value: object) -> object:
        """STORE_IDS is written as in the CLI: 1,4,5."""
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if not parts or not all(part.isdigit() for part in parts):
                raise ValueError("expected comma-separated store numbers such as 1,4,5")
            value = tuple(int(part) for part in parts)
        return value

    @field_validator("store_ids")
    @classmethod
    def _check_store_ids(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(not 1 <= n <= MAX_STORE for n in value) or len(set(value)) != len(value):
            raise ValueError(f"store numbers must be distinct and between 1 and {MAX_STORE}")
        return tuple(sorted(value))

    @model_validator(mode="after")
    def _read_stores(self) -> Self:
        """The stores file is read here, so that a bad one stops the service at start-up; a missing one is
        an empty chain that the service waits on, not ready (see services/_live_stores.py)."""
        if self.stores_file is None:
            self._catalogue = StoreCatalogue.of_numbers(self.store_ids)
            return self
        if not self.stores_file.exists():  # the controller has not written it yet: no store until it does
            self._catalogue = StoreCatalogue(())
            object.__setattr__(self, "store_ids", ())
            return self
        try:
            specs = read_stores_file(self.stores_file)
        except StoresFileError as exc:
            raise ValueError(f"STORES_FILE: {exc}") from None
        self._catalogue = StoreCatalogue.of_specs(specs)
        object.__setattr__(self, "store_ids", self._catalogue.numbers)
        return self

    @property
    def stores(self) -> StoreCatalogue:
        """The stores this run simulates: STORES_FILE's, else the built-in stores of STORE_IDS."""
        return self._catalogue

    @field_validator("sim_start", "sim_end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A naive instant is taken as UTC, as everywhere in storesim."""
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
