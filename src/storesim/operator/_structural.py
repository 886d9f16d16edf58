"""A pydantic model's JSON schema as a Kubernetes structural schema, the openAPIV3Schema of a CRD's spec.

Each optional field's `anyOf [X, null]` becomes X, $refs are inlined, titles and defaults dropped. An
unexpected keyword is an error, so a constraint added to a model later is either translated here or
noticed, never lost. What a JSON schema cannot see (a model validator's rule) each CRD adds as CEL.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["structural"]

# Keywords that mean the same in JSON schema and in a CRD's OpenAPI v3 subset, copied as they are.
_KEPT = (
    "type",
    "description",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "enum",
    "format",
)
# Keywords of pydantic's schema that a structural schema does without: additionalProperties: false is not
# allowed beside properties (unknown fields are pruned, or rejected under Strict field validation).
_DROPPED = ("title", "default", "additionalProperties")


def _node(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        target = defs[schema["$ref"].removeprefix("#/$defs/")]
        return _node({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, defs)
    if "anyOf" in schema:
        branches = [branch for branch in schema["anyOf"] if branch != {"type": "null"}]
        if len(branches) != 1:
            raise ValueError(f"cannot express {schema['anyOf']} in a structural schema")
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        # The field's own description wins over the referenced model's.
        return _node({**branches[0], **rest}, defs)
    node: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _KEPT:
            node[key] = value
        elif key == "properties":
            node[key] = {name: _node(sub, defs) for name, sub in value.items()}
        elif key == "items":
            node[key] = _node(value, defs)
        elif key == "required":
            node[key] = list(value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            # A bound in JSON schema, a flag beside minimum/maximum in OpenAPI 3.0.
            node["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            node[key] = True
        elif key not in _DROPPED and key != "$defs":
            raise ValueError(f"no structural-schema translation for {key!r} in {schema}")
    return node


def structural(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s schema (by alias) as a structural schema, its docstring as the description."""
    source = model.model_json_schema(by_alias=True)
    schema = _node(source, source.get("$defs", {}))
    schema["description"] = model.__doc__
    return schema
