"""What a cache entry holds, and how responses are rebuilt from it.

An entry is a JSON envelope ``{"v": 1, "kind": ..., "type": <call type>, "t": <unix time
written>, "data": ...}``. Kinds: ``"response"`` (a whole response's ``model_dump()``),
``"stream"`` (the list of chunk dumps of one complete stream) and ``"item"`` (one embedding
vector with its model and its share of the prompt tokens). Anything else found under a key
(bad JSON, another shape) raises :class:`CorruptEntry`; the layer treats it as a miss and
the fresh answer overwrites it.
"""

from __future__ import annotations

import json
from typing import Any

from .._calltypes import CALL_TYPES
from ..types import (
    EmbeddingResponse,
    ModelResponse,
    ModelResponseStream,
    TextCompletionResponse,
)

__all__ = ["CorruptEntry", "Entry", "decode", "encode", "rebuild_chunks", "rebuild_response"]

_VERSION = 1
_RESPONSES: dict[str, Any] = {"completion": ModelResponse,
                              "text_completion": TextCompletionResponse,
                              "embedding": EmbeddingResponse}
_CHUNKS: dict[str, Any] = {"completion": ModelResponseStream,
                           "text_completion": TextCompletionResponse}


class CorruptEntry(ValueError):
    """A stored value that is not an entry this version can read."""


class Entry:
    """A decoded envelope: ``kind``, ``data`` and ``written`` (unix time)."""

    __slots__ = ("data", "kind", "written")

    def __init__(self, kind: str, data: Any, written: float) -> None:
        self.kind = kind
        self.data = data
        self.written = written


def encode(kind: str, call_type: str, data: Any, now: float) -> str:
    """The stored text of one entry."""
    envelope = {"v": _VERSION, "kind": kind, "type": call_type, "t": now, "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, default=str)


def decode(raw: str | bytes, kind: str, call_type: str, now: float,
           max_age: float | None = None) -> Entry | None:
    """Read a stored entry of the expected ``kind``; None when it is older than
    ``max_age`` seconds. Raises :class:`CorruptEntry` for anything unreadable."""
    try:
        env = json.loads(raw)
    except (ValueError, TypeError) as exc:  # TypeError: a stored value that is not text
        raise CorruptEntry(f"not JSON: {exc}") from exc
    if not isinstance(env, dict) or env.get("v") != _VERSION:
        raise CorruptEntry("not a cache envelope")
    if env.get("kind") != kind or env.get("type") != call_type:
        raise CorruptEntry(f"expected a {kind!r} entry for {call_type!r}")
    written = env.get("t")
    if not isinstance(written, (int, float)) or isinstance(written, bool):
        raise CorruptEntry("no write time")
    if max_age is not None and now - written > max_age:
        return None
    data = env.get("data")
    _check(kind, call_type, data)
    return Entry(kind, data, float(written))


def _is_list_of_dicts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


# The part of each choice that must be an object, per call type and entry kind.
_INNER = {("response", "completion"): "message", ("stream", "completion"): "delta"}


def _choices_ok(kind: str, call_type: str, choices: Any) -> bool:
    if not _is_list_of_dicts(choices):
        return False
    inner = _INNER.get((kind, call_type))
    if inner is None:
        return all(isinstance(c.get("text", ""), str) for c in choices)
    return all(isinstance(c.get(inner) or {}, dict) for c in choices)


def _check(kind: str, call_type: str, data: Any) -> None:
    if kind == "response" and call_type not in _RESPONSES:
        ok = isinstance(data, dict)  # another surface: its class checks the fields
    elif kind == "response" and call_type == "embedding":
        ok = isinstance(data, dict) and _is_list_of_dicts(data.get("data"))
    elif kind == "response":
        ok = isinstance(data, dict) and _choices_ok(kind, call_type, data.get("choices"))
    elif kind == "stream":
        ok = (_is_list_of_dicts(data) and bool(data)
              and all(_choices_ok(kind, call_type, c.get("choices")) for c in data))
    elif kind == "item":
        ok = (isinstance(data, dict) and isinstance(data.get("embedding"), (list, str))
              and isinstance(data.get("tokens", 0), int))
    else:
        ok = False
    if not ok:
        raise CorruptEntry(f"a {kind!r} entry of the wrong shape")


def rebuild_response(call_type: str, data: dict[str, Any]) -> Any:
    """A fresh response object of the call type's class; raises CorruptEntry."""
    try:
        cls = _RESPONSES.get(call_type) or CALL_TYPES[call_type].response_type
        return cls(**data)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise CorruptEntry(f"cannot rebuild the response: {exc}") from exc


def rebuild_chunks(call_type: str, data: list[dict[str, Any]]) -> list[Any]:
    """Fresh stream chunks (``ModelResponseStream``, or ``TextCompletionResponse`` for a
    text completion); raises CorruptEntry."""
    try:
        cls = _CHUNKS[call_type]
        return [cls(**chunk) for chunk in data]
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise CorruptEntry(f"cannot rebuild the stream: {exc}") from exc
