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

from storesim.world import OpeningHours, StoreSpec, timezones

__all__ = ["GROUP", "KIND", "PLURAL", "PRINTER_COLUMNS", "VERSION", "spec_schema", "store_crd"]

GROUP = "storesim.io"
VERSION = "v1alpha1"
KIND = "Store"
PLURAL = "stores"
# Keywords that mean the same in JSON schema and in a CRD's OpenAPI v3 subset, copied as they are.
_KEPT = ("type", "description", "pattern", "minimum", "maximum", "minLength", "maxLength", "enum", "format")
# Keywords of pydantic's schema that a structural schema does without: additionalProperties: false is not
# allowed beside properties (unknown fields are pruned, or rejected under Strict field validation).
_DROPPED = ("title", "default", "additionalProperties")

PRINTER_COLUMNS: tuple[dict[str, Any], ...] = (
    {"name": "Store", "type": "string", "jsonPath": ".spec.storeId"},
    {"name": "City", "type": "string", "jsonPath": ".spec.city"},
    {"name": "Customers/day", "type": "integer", "jsonPath": ".spec.dailyCustomers"},
    {"name": "Sessions today", "type": "integer", "jsonPath": ".status.sessionsToday"},
    {"name": "Revenue today", "type": "number", "jsonPath": ".status.revenueToday"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)


def _structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`schema` (a node of pydantic's JSON schema) as a structural schema node. An unexpected keyword is an
    error, so a constraint added to StoreSpec later is either translated here or noticed, never lost."""
    if "$ref" in schema:
        target = defs[schema["$ref"].removeprefix("#/$defs/")]
        return _structural({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, defs)
    if "anyOf" in schema:
        branches = [branch for branch in schema["anyOf"] if branch != {"type": "null"}]
        if len(branches) != 1:
            raise ValueError(f"cannot express {schema['anyOf']} in a structural schema")
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        # The field's own description wins over the referenced model's.
        return _structural({**branches[0], **rest}, defs)
    node: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _KEPT:
            node[key] = value
        elif key == "properties":
            node[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key == "required":
            node[key] = list(value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            # A bound in JSON schema, a flag beside minimum/maximum in OpenAPI 3.0.
            node["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            node[key] = True
        elif key not in _DROPPED and key != "$defs":
            raise ValueError(f"no structural-schema translation for {key!r} in {schema}")
    return node


def spec_schema() -> dict[str, Any]:
    """StoreSpec's structural schema, with what its validators check written as enum and CEL."""
    source = StoreSpec.model_json_schema(by_alias=True)
    schema = _structural(source, source.get("$defs", {}))
    schema["description"] = StoreSpec.__doc__
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


def _status_schema() -> dict[str, Any]:
    """What the controller reports: metav1.Condition's shape, and today's figures for the printer columns."""
    condition = {
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
                "items": condition,
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


def store_crd() -> dict[str, Any]:
    """The CustomResourceDefinition of Store, as the API server takes it."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "storesim"}},
        "spec": {
            "group": GROUP,
            "names": {
                "plural": PLURAL,
                "singular": "store",
                "kind": KIND,
                "listKind": f"{KIND}List",
                # `st` is free among the built-ins, but short; `sst` is unlikely to clash with anyone's.
                "shortNames": ["sst"],
                "categories": ["storesim"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(column) for column in PRINTER_COLUMNS],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A store of the simulation, as its spec declares it.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema(),
                                "status": _status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }
