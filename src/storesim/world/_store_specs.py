"""Stores as declared: the spec of a Store resource (stores.storesim.io) and the stores file it becomes.

One model serves three readers: the CRD's openAPIV3Schema is generated from it (storesim.operator),
the controller validates a resource's spec with it before writing the stores file, and every component
reads that file with it (STORES_FILE). So whatever the API server accepts, the simulators can run.

A spec names a store by its id (STORE-004 is store 4); every other field is optional and overrides what
store 4 is without one (world/_stores.py) or, for the scenario knobs, the component's setting.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from storesim._keys import MAX_STORE
from storesim.world._stores import Store, store

__all__ = [
    "CLOSES_PATTERN",
    "OPENS_PATTERN",
    "STORE_ID_PATTERN",
    "OpeningHours",
    "StoreCatalogue",
    "StoreSpec",
    "StoresFileError",
    "parse_stores_file",
    "read_stores_file",
    "store_id_pattern",
    "timezones",
    "write_stores_file",
]

# Within the day's visiting slots (07:00-22:00, world/_traffic.py): closing at 22:00 at the latest, a visit
# (at most 90 minutes) ends on the day it began.
OPENS_PATTERN = r"^(0[7-9]|1[0-9]|2[01]):[0-5][0-9]$"
CLOSES_PATTERN = r"^((0[7-9]|1[0-9]|2[01]):[0-5][0-9]|22:00)$"
_HOUR, _MINUTE = 3600, 60


def store_id_pattern(highest: int = MAX_STORE) -> str:
    """A regular expression for exactly the ids store_code() writes for 1..highest (STORE-001 ...)."""
    if not 1000 <= highest < 100_000:
        raise ValueError("the pattern is written for a highest store of 4 or 5 digits")
    text = str(highest)
    # Numbers of up to `len(text)` digits: 001-999 padded to three, then no leading zero.
    alternatives = ["00[1-9]", "0[1-9][0-9]", "[1-9][0-9]{2}"]
    alternatives += [f"[1-9][0-9]{{{n - 1}}}" for n in range(4, len(text))]
    # Numbers of exactly len(text) digits up to `highest`, digit by digit.
    for i, digit in enumerate(text):
        if i == 0 and digit == "1":
            continue
        low = "1" if i == 0 else "0"
        if int(digit) > int(low):
            rest = len(text) - i - 1
            tail = f"[0-9]{{{rest}}}" if rest else ""
            alternatives.append(f"{text[:i]}[{low}-{int(digit) - 1}]{tail}")
    alternatives.append(text)
    return f"^STORE-({'|'.join(alternatives)})$"


STORE_ID_PATTERN = store_id_pattern()


@cache
def timezones() -> tuple[str, ...]:
    """The IANA zones of the pinned tzdata package: the CRD's enum, so an unknown zone is rejected."""
    return tuple(sorted(importlib.resources.files("tzdata").joinpath("zones").read_text().split()))


def _seconds(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * _HOUR + int(minutes) * _MINUTE


class _Spec(BaseModel):
    # strict: no coercion of "5" or true into numbers, which the API server's schema (type: integer) rejects;
    # the model accepts what the CRD accepts (tests/integration/test_store_crd.py).
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        allow_inf_nan=False,
    )


class OpeningHours(_Spec):
    """Local opening and closing time, 24-hour HH:MM."""

    opens: str = Field(pattern=OPENS_PATTERN, description="Local opening time, HH:MM, 07:00-21:59.")
    closes: str = Field(pattern=CLOSES_PATTERN, description="Local closing time, HH:MM, 07:01-22:00.")

    @model_validator(mode="after")
    def _opens_before_closing(self) -> OpeningHours:
        if self.opens >= self.closes:  # zero-padded HH:MM compares as text in time order
            raise ValueError("opens must be before closes")
        return self


Probability = Annotated[float, Field(ge=0, le=1)]


class StoreSpec(_Spec):
    """What a Store resource declares. Fields left out keep the store's built-in attributes."""

    store_id: str = Field(pattern=STORE_ID_PATTERN, description="The store id: STORE-004 is store 4.")
    name: str | None = Field(None, min_length=1, max_length=100, description="Display name.")
    city: str | None = Field(None, min_length=1, max_length=100, description="City.")
    timezone: str | None = Field(None, description="IANA time zone the opening hours are in.")
    opening_hours: OpeningHours | None = Field(None, description="Local opening hours.")
    daily_customers: int | None = Field(
        None, ge=0, le=1_000_000, description="Customers on an average day (before weekday factors)."
    )
    registers: int | None = Field(None, ge=1, le=99, description="Checkout terminals.")
    tax_rate: float | None = Field(None, ge=0, le=1, description="Sales tax as a fraction (0.15 is 15%).")
    putback_prob: Probability | None = Field(None, description="Chance that a shelf action puts back.")
    refund_probability: Probability | None = Field(None, description="Chance that a sold line is refunded.")
    traffic_multiplier: float | None = Field(
        None, ge=0, le=100, description="Scales the store's customers (1 keeps them as they are)."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and value not in timezones():
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value

    @property
    def number(self) -> int:
        return int(self.store_id.removeprefix("STORE-"))

    def store(self) -> Store:
        """Store `number` as this spec declares it."""
        base = store(self.number)
        changes: dict[str, object] = {
            key: value
            for key, value in (
                ("name", self.name),
                ("city", self.city),
                ("timezone", self.timezone),
                ("daily_customers", self.daily_customers),
                ("registers", self.registers),
                ("putback_prob", self.putback_prob),
                ("refund_probability", self.refund_probability),
                ("traffic_multiplier", self.traffic_multiplier),
            )
            if value is not None
        }
        if self.opening_hours is not None:
            changes["opens"] = _seconds(self.opening_hours.opens)
            changes["closes"] = _seconds(self.opening_hours.closes)
        if self.tax_rate is not None:
            changes["tax_rate_bp"] = round(self.tax_rate * 10_000)
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


class _StoresFile(_Spec):
    stores: list[StoreSpec]

    @model_validator(mode="after")
    def _distinct(self) -> _StoresFile:
        ids = [spec.store_id for spec in self.stores]
        if len(set(ids)) != len(ids):
            raise ValueError("a store id appears twice")
        return self


class StoresFileError(Exception):
    """The stores file cannot be read or does not hold valid store specs; the message says where."""


class StoreCatalogue(Mapping[int, Store]):
    """The stores a run simulates, by number: declared specs, or the built-in stores of STORE_IDS."""

    def __init__(self, stores: Iterable[Store]) -> None:
        self._stores = {shop.number: shop for shop in sorted(stores, key=lambda shop: shop.number)}

    @classmethod
    def of_numbers(cls, numbers: Iterable[int]) -> StoreCatalogue:
        return cls(store(n) for n in numbers)

    @classmethod
    def of_specs(cls, specs: Iterable[StoreSpec]) -> StoreCatalogue:
        return cls(spec.store() for spec in specs)

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(self._stores)

    def __getitem__(self, number: int) -> Store:
        return self._stores[number]

    def __iter__(self) -> Iterator[int]:
        return iter(self._stores)

    def __len__(self) -> int:
        return len(self._stores)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoreCatalogue) and self._stores == other._stores

    def __hash__(self) -> int:
        return hash(tuple(self._stores.values()))


def read_stores_file(path: Path) -> tuple[StoreSpec, ...]:
    """The specs in a stores file ({"stores": [spec, ...]}, camelCase keys as in the resource)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StoresFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_stores_file(raw, path)


def parse_stores_file(raw: bytes, path: Path) -> tuple[StoreSpec, ...]:
    """The specs in a stores file's bytes (read once: a reader that polls compares and parses the same
    bytes); ``path`` only names the file in the error."""
    try:
        parsed = _StoresFile.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise StoresFileError(f"{path}: {where}: {first['msg']}") from None
    return tuple(sorted(parsed.stores, key=lambda spec: spec.number))


def write_stores_file(specs: Iterable[StoreSpec]) -> str:
    """The stores file's text for `specs`: sorted by store, unset fields left out, stable byte for byte
    (the controller compares it with what the ConfigMap holds)."""
    ordered = sorted(specs, key=lambda spec: spec.number)
    body = {"stores": [spec.model_dump(by_alias=True, exclude_none=True) for spec in ordered]}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"
