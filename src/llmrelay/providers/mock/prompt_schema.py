"""The JSON Schema a prompt asks the answer to follow, for the mock's ``json_object`` mode.

Libraries that use ``response_format={"type": "json_object"}`` (instructor's JSON mode,
LangChain's ``json_mode``) put the schema of the wanted object into the messages as JSON
text. :func:`schema_in_messages` finds the last such schema (a JSON object with
``properties``, or an object-typed schema) in the messages' text, so the mock can answer
with JSON valid against it, as a model following the prompt would.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["schema_in_messages"]

_MAX_TEXT = 200_000  # characters of one message searched
_MAX_STARTS = 400  # "{" positions tried per message
_DECODER = json.JSONDecoder()


def _texts(message: Any) -> list[str]:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [p["text"] for p in content
                if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return []


def _is_schema(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("properties"), dict) and (
        value.get("type") in (None, "object"))


def _schema_in(text: str) -> dict[str, Any] | None:
    """The last JSON-Schema object written in ``text`` (outermost objects only)."""
    found: dict[str, Any] | None = None
    text = text[:_MAX_TEXT]
    at = text.find("{")
    tried = 0
    while at != -1 and tried < _MAX_STARTS:
        tried += 1
        try:
            value, end = _DECODER.raw_decode(text, at)
        except ValueError:
            at = text.find("{", at + 1)
            continue
        if _is_schema(value):
            found = value
        at = text.find("{", end)
    return found


def schema_in_messages(messages: Any) -> dict[str, Any] | None:
    """The JSON Schema the conversation last states, or None."""
    for message in reversed(messages or []):
        for text in reversed(_texts(message)):
            schema = _schema_in(text)
            if schema is not None:
                return schema
    return None
