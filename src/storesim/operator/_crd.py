"""The CustomResourceDefinition of Store (stores.storesim.io/v1alpha1), built from StoreSpec.

The spec's openAPIV3Schema is pydantic's JSON schema of StoreSpec turned structural: each optional field's
`anyOf [X, null]` becomes X, $refs are inlined, titles and defaults dropped. What a JSON schema cannot see is
added here: the timezone enum (StoreSpec checks it in a validator), the opens-before-closes rule (a model
validator) as CEL, and storeId's immutability (a resource's identity, which no single spec can express).

Unknown fields: a structural schema does not reject them, the API server prunes (drops) them. With field
validation Strict (kubectl's default, `--validate=strict`; the controller's own writes) the request is
rejected instead, as StoreSpec's extra="forbid" does. A client that asks for Ignore or Warn gets its unknown
field dropped: the stored spec is still one that StoreSpec accepts.
"""

from __future__ import annotations

from typing import Any

from storesim.operator._structural import structural
from storesim.world import OpeningHours, StoreSpec, timezones

__all__ = [
    "GROUP",
    "KIND",
    "PLURAL",
    "PRINTER_COLUMNS",
    "VERSION",
    "condition_schema",
    "custom_resource_definition",
    "spec_schema",
    "store_crd",
]

GROUP = "storesim.io"
VERSION = "v1alpha1"
KIND = "Store"
PLURAL = "stores"

PRINTER_COLUMNS: tuple[dict[str, Any], ...] = (
    {"name": "Store", "type": "string", "jsonPath": ".spec.storeId"},
    {"name": "City", "type": "string", "jsonPath": ".spec.city"},
    {"name": "Customers/day", "type": "integer", "jsonPath": ".spec.dailyCustomers"},
    {"name": "Sessions today", "type": "integer", "jsonPath": ".status.sessionsToday"},
    {"name": "Revenue today", "type": "number", "jsonPath": ".status.revenueToday"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)


def spec_schema() -> dict[str, Any]:
    """StoreSpec's structural schema, with what its validators check written as enum and CEL."""
    schema = structural(StoreSpec)
    fields = schema["properties"]
    fields["timezone"]["enum"] = list(timezones())
    fields["storeId"]["x-kubernetes-validations"] = [
        {"rule": "self == oldSelf", "message": "storeId is immutable: create another Store instead"}
    ]
    hours = fields["openingHours"]
    assert set(hours["properties"]) == {OpeningHours.model_fields[n].alias or n for n in ("opens", "closes")}
    # Zero-padded HH:MM compares as text in time order, as OpeningHours' own validator does.
    hours["x-kubernetes-validations"] = [
        {"rule": "self.opens < self.closes", "message": "opens must be before closes"}
    ]
    return schema


def condition_schema() -> dict[str, Any]:
    """metav1.Condition's shape, as Store and Scenario status report it."""
    return {
        "type": "object",
        "description": "metav1.Condition: one aspect of the Store's state.",
        "required": ["type", "status", "lastTransitionTime", "reason", "message"],
        "properties": {
            "type": {"type": "string", "description": "The condition's type, e.g. Ready.", "maxLength": 316},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"], "description": "Its status."},
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "The .metadata.generation the condition was set from.",
            },
            "lastTransitionTime": {
                "type": "string",
                "format": "date-time",
                "description": "When the status last changed.",
            },
            "reason": {
                "type": "string",
                "maxLength": 1024,
                "description": "CamelCase reason for the last transition.",
            },
            "message": {"type": "string", "maxLength": 32768, "description": "Human-readable detail."},
        },
    }


def _status_schema() -> dict[str, Any]:
    """What the controller reports: conditions, and today's figures for the printer columns."""
    return {
        "type": "object",
        "description": "What the controller last observed of the Store.",
        "properties": {
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "description": "The .metadata.generation the controller last acted on.",
            },
            "conditions": {
                "type": "array",
                "description": "Standard conditions (Ready).",
                "items": condition_schema(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
            "sessionsToday": {"type": "integer", "description": "Customer sessions in the simulated day."},
            "revenueToday": {"type": "number", "description": "Revenue of the simulated day."},
            "lastEventTime": {
                "type": "string",
                "format": "date-time",
                "description": "Time of the Store's last event.",
            },
        },
    }


def custom_resource_definition(
    names: dict[str, Any],
    columns: tuple[dict[str, Any], ...],
    description: str,
    spec: dict[str, Any],
    status: dict[str, Any],
    rules: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A namespaced CRD of group storesim.io at VERSION, with a status subresource; ``rules`` are CEL
    rules on the whole object (the only place that can see metadata.name)."""
    root: dict[str, Any] = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    if rules:
        root["x-kubernetes-validations"] = rules
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{names['plural']}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "storesim"},
        },
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(column) for column in columns],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def store_crd() -> dict[str, Any]:
    """The CustomResourceDefinition of Store, as the API server takes it."""
    names = {
        "plural": PLURAL,
        "singular": "store",
        "kind": KIND,
        "listKind": f"{KIND}List",
        # `st` is free among the built-ins, but short; `sst` is unlikely to clash with anyone's.
        "shortNames": ["sst"],
        "categories": ["storesim"],
    }
    return custom_resource_definition(
        names,
        PRINTER_COLUMNS,
        "A store of the simulation, as its spec declares it.",
        spec_schema(),
        _status_schema(),
    )
