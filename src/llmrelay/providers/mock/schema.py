"""Values that satisfy a JSON Schema, for the mock provider's tool calls and structured
output. Covers what OpenAI's structured outputs and function tools accept (and what
Pydantic emits): objects, arrays, strings with enum/const/format/length, numbers with
bounds and multiples, booleans, null, ``anyOf``/``oneOf``/``allOf``, type lists and
``$ref`` into ``$defs``/``definitions``. Choices come from ``rng`` (deterministic for a
seeded ``random.Random``).
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["sample"]

_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
_FORMATS = {"date": "2024-01-15", "date-time": "2024-01-15T10:30:00Z", "time": "10:30:00",
            "email": "user@example.com", "uri": "https://example.com/item",
            "url": "https://example.com/item", "uuid": "123e4567-e89b-42d3-a456-426614174000",
            "ipv4": "192.0.2.1", "hostname": "example.com"}
_MAX_DEPTH = 8


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    merged = {k: v for k, v in schema.items() if k != "$ref"}
    return {**_resolve(node, root), **merged} if isinstance(node, dict) else merged


def _string(schema: dict[str, Any], rng: random.Random, name: str) -> str:
    fmt = schema.get("format")
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    text = f"{name or 'value'} {rng.choice(_WORDS)}"
    while len(text) < low:
        text += f" {rng.choice(_WORDS)}"
    return text[:int(high)] if high is not None else text


def _number(schema: dict[str, Any], rng: random.Random, integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    lo = float(low) if low is not None else (float(high) - 100 if high is not None else 0.0)
    hi = float(high) if high is not None else lo + 100
    if "exclusiveMinimum" in schema and "minimum" not in schema:
        lo += 1 if integer else (hi - lo) / 1000 or 1e-6
    if "exclusiveMaximum" in schema and "maximum" not in schema:
        hi -= 1 if integer else (hi - lo) / 1000 or 1e-6
    step = schema.get("multipleOf")
    if step:
        first = -(-lo // step) * step
        count = max(0, int((hi - first) // step))
        value: float = first + step * rng.randint(0, count)
        return int(value) if integer else value
    if integer:
        import math

        return rng.randint(math.ceil(lo), max(math.ceil(lo), math.floor(hi)))
    return round(rng.uniform(lo, hi), 2)


def _object(schema: dict[str, Any], rng: random.Random, root: dict[str, Any],
            depth: int) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    out = {}
    for key, sub in props.items():  # every property: strict schemas require them all
        if key in required or depth < 3:
            out[key] = _value(sub, rng, root, depth + 1, key)
    low = int(schema.get("minProperties", 0))
    extra = schema.get("additionalProperties")
    i = 0
    while len(out) < low and extra is not False:
        out[f"key_{i}"] = _value(extra if isinstance(extra, dict) else {"type": "string"},
                                 rng, root, depth + 1, f"key_{i}")
        i += 1
    return out


def _array(schema: dict[str, Any], rng: random.Random, root: dict[str, Any],
           depth: int, name: str) -> list[Any]:
    low = int(schema.get("minItems", 1 if depth < 4 else 0))
    high = schema.get("maxItems")
    count = max(low, min(2, int(high) if high is not None else 2))
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    prefix = schema.get("prefixItems") or []
    out = [_value(p, rng, root, depth + 1, name) for p in prefix]
    while len(out) < count:
        out.append(_value(items, rng, root, depth + 1, name))
    return out


def _value(schema: Any, rng: random.Random, root: dict[str, Any], depth: int,
           name: str) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None if depth > _MAX_DEPTH else f"{name or 'value'}"
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return rng.choice(list(schema["enum"]))
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or []
                   if _resolve(o, root).get("type") != "null"] or schema.get(key)
        if options:
            return _value(options[0], rng, root, depth, name)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = _resolve(part, root)
            merged = {**merged, **part, "properties": {**merged.get("properties", {}),
                                                      **part.get("properties", {})},
                      "required": [*merged.get("required", []), *part.get("required", [])]}
        return _value(merged, rng, root, depth, name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else (
            "string")
    if kind == "object":
        return _object(schema, rng, root, depth)
    if kind == "array":
        return _array(schema, rng, root, depth, name)
    if kind in ("integer", "number"):
        return _number(schema, rng, kind == "integer")
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, rng, name)


def sample(schema: dict[str, Any] | None, rng: random.Random) -> Any:
    """A value valid against ``schema`` (an empty or missing schema gives ``{}``)."""
    if not schema:
        return {}
    return _value(schema, rng, schema, 0, "")
