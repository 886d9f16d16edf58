"""From the Store resources of a namespace to the stores file the simulators run, and a verdict per Store.

Pure: the controller lists the resources, this decides, the controller writes. Every spec is validated
with StoreSpec (strict, as the CRD's schema is generated from it) so that a resource stored before a CRD
change, or under a looser CRD, can never put a spec into the file that the simulators would refuse.
Two Stores may declare one storeId (the CRD cannot see across objects). The Store that already holds it
(its status says its current generation is in the file) keeps it; otherwise the oldest, by
creationTimestamp and then name, so the choice does not flip as the list's order does. The holder comes
first because creationTimestamp has whole seconds: a newer Store made in the same second as the holder
must not take the id from it because of its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from storesim.world import StoreSpec, write_stores_file

__all__ = ["DUPLICATE", "INVALID", "Plan", "StoreObject", "Verdict", "plan"]

INVALID = "InvalidSpec"
DUPLICATE = "DuplicateStoreId"
_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StoreObject:
    """What the controller reads of one Store resource."""

    name: str
    generation: int
    created: datetime
    spec: Any
    status: Mapping[str, Any] = field(default_factory=dict)

    @property
    def in_file(self) -> bool:
        """Whether its status says this generation's spec is in the stores file (Ready, observed now)."""
        for condition in self.status.get("conditions") or []:
            if isinstance(condition, Mapping) and condition.get("type") == "Ready":
                return (
                    condition.get("status") == "True"
                    and condition.get("observedGeneration") == self.generation
                )
        return False

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> StoreObject:
        metadata = resource.get("metadata") or {}
        stamp = metadata.get("creationTimestamp")
        created = datetime.fromisoformat(stamp) if stamp else _NEVER
        return cls(
            name=str(metadata["name"]),
            generation=int(metadata.get("generation") or 0),
            created=created if created.tzinfo is not None else created.replace(tzinfo=UTC),
            spec=resource.get("spec"),
            status=resource.get("status") or {},
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """A Store's outcome: its validated spec when it is in the file, else why not (reason, message)."""

    spec: StoreSpec | None
    reason: str = ""
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.spec is not None


@dataclass(frozen=True, slots=True)
class Plan:
    """The stores file's text and each Store's verdict, by resource name."""

    text: str
    verdicts: dict[str, Verdict]

    @property
    def store_ids(self) -> list[str]:
        return sorted(v.spec.store_id for v in self.verdicts.values() if v.spec is not None)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def plan(stores: Iterable[StoreObject]) -> Plan:
    """The file of every valid Store (the holder, else the oldest, of each storeId) and each verdict."""
    verdicts: dict[str, Verdict] = {}
    owners: dict[str, str] = {}
    for store in sorted(stores, key=lambda s: (not s.in_file, s.created, s.name)):
        try:
            spec = StoreSpec.model_validate(store.spec)
        except ValidationError as exc:
            verdicts[store.name] = Verdict(None, INVALID, _first_error(exc))
            continue
        owner = owners.setdefault(spec.store_id, store.name)
        if owner != store.name:
            message = f"{spec.store_id} is already held by the Store {owner}"
            verdicts[store.name] = Verdict(None, DUPLICATE, message)
            continue
        verdicts[store.name] = Verdict(spec)
    specs = [v.spec for v in verdicts.values() if v.spec is not None]
    return Plan(write_stores_file(specs), verdicts)
