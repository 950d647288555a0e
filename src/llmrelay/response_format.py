"""``response_format=`` given as a class: a Pydantic model (or a dataclass / TypedDict that
Pydantic can describe) becomes OpenAI's ``json_schema`` response format, as LiteLLM and the
OpenAI SDK's ``parse()`` send it.

The schema is made strict the way OpenAI's structured outputs require (``strict: true``):
every object lists all its properties as required and allows no others; ``$defs``
references are kept. The reply's JSON can then be read with ``Model.model_validate_json``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["response_format_of", "strict_schema"]


def strict_schema(schema: Any) -> Any:
    """A copy of ``schema`` with every object closed (``additionalProperties: false``)
    and all its properties required; defaults dropped (strict mode refuses them)."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict_schema(v) for k, v in schema.items() if k != "default"}
    if out.get("type") == "object" or "properties" in out:
        props = out.get("properties") or {}
        out["properties"] = props
        out["required"] = list(props)
        out["additionalProperties"] = False
    return out


def response_format_of(value: Any) -> Any:
    """``value`` as the request's ``response_format``: a class becomes a ``json_schema``
    format named after it; anything else is returned as it is."""
    if not isinstance(value, type):
        return value
    from .exceptions import BadRequestError

    try:
        schema_of = getattr(value, "model_json_schema", None)
        if schema_of is None:
            from pydantic import TypeAdapter  # dataclasses, TypedDicts ...

            schema_of = TypeAdapter(value).json_schema
        schema = schema_of()
    except Exception as exc:  # not describable: say which class and why
        raise BadRequestError(f"response_format={value.__name__}: the class cannot be "
                              f"described as a JSON schema (use a Pydantic model, a "
                              f"dataclass or a TypedDict): {type(exc).__name__}: {exc}",
                              param="response_format") from exc
    return {"type": "json_schema", "json_schema": {
        "name": value.__name__, "schema": strict_schema(schema), "strict": True}}
