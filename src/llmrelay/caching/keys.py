"""Cache keys: a sha256 over a canonical JSON of everything that changes the answer.

What goes in: the call type, provider, model, the prompt (``messages``, or ``input`` /
``prompt``), every provider parameter the caller set (``temperature``, ``tools``,
``response_format``, ``stream_options`` ...), ``extra_body``, ``api_base``, ``api_version``,
whether the call streams, and ``mock_response`` when one is given.

What stays out: the API key (a cache must never hold secrets, and the same question asked
with two keys has the same answer), extra headers (they carry auth and tracing ids),
``metadata``, timeouts, retries and callbacks. Tenants that must not share answers use
different namespaces.

A namespace, when set, prefixes the key as ``"<namespace>:<hex digest>"``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..providers.base import Call

__all__ = ["cache_key", "canonical_json", "embedding_items", "item_keys"]

_VERSION = 1  # bump when the key layout changes, so old entries are simply never found


def _default(value: Any) -> Any:
    """JSON stand-ins for what ``json`` cannot write: response objects, pydantic models
    and classes (``response_format=MyModel``), sets, bytes and exceptions."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return dump()
    schema = getattr(value, "model_json_schema", None)
    if callable(schema):
        return {"$pydantic": f"{value.__module__}.{value.__qualname__}", "schema": schema()}
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, BaseException):
        return {"$error": f"{type(value).__qualname__}: {value}"}
    if isinstance(value, Mapping):
        return dict(value)
    return {"$repr": f"{type(value).__qualname__}:{value!s}"}


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, non-JSON values made explicit."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_default)


def _request_fields(call: Call, mock: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "v": _VERSION,
        "call_type": call.call_type,
        "provider": call.provider,
        "model": call.model,
        "params": call.params,
        "stream": bool(call.stream),
    }
    if call.api_base:
        fields["api_base"] = call.api_base.rstrip("/")
    if call.api_version:
        fields["api_version"] = call.api_version
    if call.extra_body:
        fields["extra_body"] = call.extra_body
    if mock is not None:
        fields["mock_response"] = mock
    return fields


def _digest(fields: dict[str, Any], namespace: str | None) -> str:
    digest = hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()
    return f"{namespace}:{digest}" if namespace else digest


def cache_key(call: Call, namespace: str | None = None, mock: Any = None) -> str:
    """The key of a whole call (``mock`` is the call's ``mock_response``, if any)."""
    fields = _request_fields(call, mock)
    if call.call_type == "completion":
        fields["messages"] = call.messages
    else:
        fields["input"] = call.input
        if call.messages is not None:  # Anthropic's Messages API: the prompt is messages
            fields["messages"] = call.messages
    return _digest(fields, namespace)


def embedding_items(value: Any) -> list[Any]:
    """The separate inputs of an embedding call: a string or one token array is a single
    item; a list of strings or of token arrays is one item each."""
    if isinstance(value, list) and value and not all(isinstance(x, int) for x in value):
        return list(value)
    return [value]


def item_keys(call: Call, items: list[Any], namespace: str | None = None,
              mock: Any = None) -> list[str]:
    """One key per embedding input item; the other request fields are shared."""
    fields = _request_fields(call, mock)
    fields["call_type"] = "embedding_item"
    keys = []
    for item in items:
        fields["input"] = item
        keys.append(_digest(fields, namespace))
    return keys
