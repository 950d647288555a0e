"""The ``kwargs`` dict every callback receives, and the standard logging payload.

Secrets never reach a callback: API keys are masked (``sk-...abcd``) and auth headers
dropped. With message logging turned off, prompts and completions are replaced by
:data:`REDACTED` everywhere a callback can see them. The raw request body a redacting
logger sees is not a filtered copy of the real one: it is the provider's own request built
from a redacted call (:func:`redact_call`), so no list of vendor body fields can miss one.

:class:`EventKwargs` is the dict of a terminal event: its ``standard_logging_object`` is
built on first access, once, and shared by every logger that receives the event.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .._headers import additional_headers
from ..types.lazy_chunks import parsed
from ..types.responses import RAW_JSON

if TYPE_CHECKING:
    from ..providers.base import Call

__all__ = [
    "REDACTED",
    "SCHEMA_VERSION",
    "EventKwargs",
    "mask_headers",
    "mask_key",
    "redact_call",
    "redact_input",
    "redact_messages",
    "redact_params",
    "redact_response",
    "standard_payload",
]

REDACTED = "redacted-by-llmrelay"
SCHEMA_VERSION = 1
_SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "x-goog-api-key",
                             "proxy-authorization", "cookie"})


def mask_key(key: Any) -> Any:
    """``sk-abcdef123456`` -> ``sk-...3456``; short or non-string values are fully masked."""
    if not isinstance(key, str) or not key:
        return key
    masked = _masked.get(key)
    if masked is None:
        if len(key) < 12:
            masked = "****"
        else:
            head = key[:3] if key[2:3] == "-" else key[:2]
            masked = f"{head}...{key[-4:]}"
        if len(_masked) >= _MASKED_MAX:  # a process sees a handful of keys; never grow
            _masked.clear()
        _masked[key] = masked
    return masked


_masked: dict[str, str] = {}  # key -> its masked form (a pure function, asked every call)
_MASKED_MAX = 256


def mask_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """A copy of ``headers`` with credentials masked (and nothing else changed)."""
    if not headers:
        return {}
    out = dict(headers)
    secret = _secret_names
    for k in headers:
        is_secret = secret.get(k)
        if is_secret is None:
            is_secret = secret[k] = k.lower() in _SECRET_HEADERS
        if is_secret:
            value = out[k]
            masked = _masked_values.get(value)
            if masked is None:
                masked = mask_key(value.rpartition(" ")[2])
                if len(_masked_values) >= _MASKED_MAX:
                    _masked_values.clear()
                _masked_values[value] = masked
            out[k] = masked
    return out


_masked_values: dict[str, str] = {}  # a secret header's value -> its masked form
_secret_names: dict[str, bool] = {}  # header name as written -> whether it carries a secret


def _redact_content(content: Any) -> Any:
    if isinstance(content, list):
        return [{"type": "text", "text": REDACTED}]
    return REDACTED if content is not None else None


def redact_messages(messages: Any) -> Any:
    if not isinstance(messages, list):
        return REDACTED if messages is not None else None
    out = []
    for m in messages:
        if isinstance(m, dict):
            m = dict(m)
            if "content" in m:
                m["content"] = _redact_content(m["content"])
            if "text" in m:  # a content block (Anthropic system blocks, ...)
                m["text"] = REDACTED
            if "parts" in m:  # Gemini contents
                m["parts"] = [{"text": REDACTED}]
            for key in ("tool_calls", "input", "thinking", "output", "arguments", "summary"):
                if m.get(key):
                    m[key] = REDACTED
        else:
            m = REDACTED
        out.append(m)
    return out


def redact_input(value: Any) -> Any:
    """An embedding input or prompt with every text replaced (token-id lists kept)."""
    if value is None:
        return None
    if isinstance(value, list):
        if value and isinstance(value[0], int):
            return value  # token ids are not text
        return [redact_input(v) for v in value]
    return REDACTED


def redact_params(params: dict[str, Any], prompt_params: frozenset[str]) -> dict[str, Any]:
    """``params`` with the ones that carry prompt text (``system``, ``instructions``,
    ``documents`` ...) redacted; the same dict when it has none."""
    if not prompt_params or prompt_params.isdisjoint(params):
        return params
    return {k: _redact_value(v) if k in prompt_params else v for k, v in params.items()}


def _redact_value(value: Any) -> Any:
    """A prompt-carrying value with its text replaced and its shape kept: text blocks
    (``{"type": "text", "text": ...}``) stay blocks, so the request built from it is still
    one the provider's translation accepts."""
    if isinstance(value, list):
        return [{**v, "text": REDACTED} if isinstance(v, dict) and "text" in v
                else _redact_value(v) for v in value]
    return None if value is None else REDACTED


def redact_call(call: Call, prompt_params: frozenset[str] = frozenset()) -> Call:
    """The same call with its prompt redacted: messages, input or prompt, the parameters
    that carry prompt text, and the earlier turns a layer resolved (``state``). The
    provider's request built from it is what a redacting logger sees as
    ``complete_input_dict``."""
    state = call.state
    if isinstance(state, list):
        state = redact_messages(state)
    return dataclasses.replace(call, messages=redact_messages(call.messages),
                               input=redact_input(call.input),
                               params=redact_params(call.params, prompt_params),
                               state=state)


def redact_response(response: Any) -> Any:
    """A deep copy of a response object with completions, tool calls and embeddings redacted;
    the caller's object is untouched."""
    if response is None:
        return None
    response = parsed(response)  # a chunk still as bytes: its fields, to redact
    own = getattr(response, "_redacted", None)
    if callable(own):  # a response shape that knows where its text is
        return own()
    clone = copy.copy(response)
    d = getattr(clone, "__dict__", None)
    if d is None:
        return REDACTED
    d = clone.__dict__ = dict(d)
    d.pop(RAW_JSON, None)  # the upstream's bytes hold the text unredacted
    if "_hidden_params" in d:
        d["_hidden_params"] = dict(d["_hidden_params"])
    choices = d.get("choices")
    if isinstance(choices, list):
        new = []
        for c in choices:
            c = copy.copy(c)
            c.__dict__ = dict(c.__dict__)
            for part in ("message", "delta"):
                msg = c.__dict__.get(part)
                if msg is not None:
                    msg = copy.copy(msg)
                    msg.__dict__ = dict(msg.__dict__)
                    if msg.__dict__.get("content") is not None:
                        msg.__dict__["content"] = REDACTED
                    if msg.__dict__.get("tool_calls"):
                        msg.__dict__["tool_calls"] = None
                    for extra in ("reasoning_content", "thinking_blocks"):
                        if msg.__dict__.get(extra) is not None:
                            msg.__dict__[extra] = REDACTED
                    c.__dict__[part] = msg
            if "text" in c.__dict__:
                c.__dict__["text"] = REDACTED
            new.append(c)
        d["choices"] = new
    data = d.get("data")
    if isinstance(data, list) and d.get("object") == "list":
        d["data"] = []
    return clone


def _epoch(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return value if isinstance(value, (int, float)) else None


def _jsonable(value: Any) -> Any:
    """Plain data as is (messages and params are JSON already); objects dumped; anything
    else made JSON-safe by a round trip that stringifies what JSON cannot hold."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump()
    if isinstance(value, (list, dict)) and _plain(value):
        return value
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def _plain(value: Any, depth: int = 0) -> bool:
    if depth > 6:
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and (v is None or isinstance(v, (str, int, float, bool))
                                           or _plain(v, depth + 1)) for k, v in value.items())
    if isinstance(value, list):
        return all(v is None or isinstance(v, (str, int, float, bool)) or _plain(v, depth + 1)
                   for v in value)
    return False


def standard_payload(kwargs: dict[str, Any], response: Any, status: str) -> dict[str, Any]:
    """One flat, JSON-serialisable record of a finished call (``schema_version`` 1).

    Built once per event on the dispatcher thread and shared by every logger.
    """
    lp = kwargs.get("litellm_params") or {}
    metadata = lp.get("metadata") or {}
    usage = getattr(response, "usage", None) if response is not None else None
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    details = getattr(usage, "prompt_tokens_details", None)
    cache_read = getattr(usage, "cache_read_input_tokens", None)
    if cache_read is None:
        cache_read = getattr(details, "cached_tokens", 0) or 0
    cdetails = getattr(usage, "completion_tokens_details", None)
    start = _epoch(kwargs.get("start_time"))
    end = _epoch(kwargs.get("end_time"))
    first = _epoch(kwargs.get("completion_start_time")) or end
    exc = kwargs.get("exception")
    hidden = getattr(response, "_hidden_params", None) or {}
    choices = getattr(response, "choices", None) or []
    finish = [getattr(c, "finish_reason", None) for c in choices]
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    payload: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": kwargs.get("litellm_call_id"),
        "litellm_call_id": kwargs.get("litellm_call_id"),
        "trace_id": metadata.get("trace_id") or kwargs.get("litellm_trace_id")
        or kwargs.get("litellm_call_id"),
        "call_type": kwargs.get("call_type"),
        "stream": bool(kwargs.get("stream")),
        "status": status,
        "model": kwargs.get("model"),
        "model_group": metadata.get("model_group"),
        "model_id": metadata.get("model_id") or hidden.get("model_id"),
        "custom_llm_provider": lp.get("custom_llm_provider"),
        "api_base": lp.get("api_base"),
        "response_id": getattr(response, "id", None),
        "finish_reasons": [f for f in finish if f],
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(getattr(usage, "total_tokens", 0) or prompt + completion),
        "cache_read_input_tokens": int(cache_read or 0),
        "cache_creation_input_tokens": int(getattr(usage, "cache_creation_input_tokens", 0) or 0),
        "reasoning_tokens": int(getattr(cdetails, "reasoning_tokens", 0) or 0),
        "response_cost": kwargs.get("response_cost"),
        "cache_hit": bool(kwargs.get("cache_hit")),
        "cache_key": kwargs.get("cache_key"),
        "saved_cache_cost": float(kwargs.get("saved_cache_cost") or 0.0),
        "startTime": start,
        "endTime": end,
        "completionStartTime": first,
        "response_time": (end - start) if start is not None and end is not None else None,
        "messages": _jsonable(kwargs.get("messages") if kwargs.get("messages") is not None
                              else kwargs.get("input")),
        "response": _jsonable(response) if status == "success" else None,
        "model_parameters": _jsonable(kwargs.get("optional_params") or {}),
        "metadata": _jsonable(metadata),
        "request_tags": list(tags) if isinstance(tags, (list, tuple)) else [],
        "end_user": (kwargs.get("optional_params") or {}).get("user"),
        "stream_status": kwargs.get("stream_status"),
        "attempts": _jsonable(kwargs.get("attempts") or []),
        "error_str": str(exc) if exc is not None else None,
        "error_class": type(exc).__name__ if exc is not None else None,
        "error_code": getattr(exc, "status_code", None) if exc is not None else None,
        "hidden_params": _hidden_section(kwargs, lp, metadata, hidden),
    }
    return payload


def _hidden_section(kwargs: dict[str, Any], lp: dict[str, Any], metadata: dict[str, Any],
                    hidden: dict[str, Any]) -> dict[str, Any]:
    """LiteLLM's ``hidden_params`` section: what the response's ``_hidden_params`` hold
    that loggers read (``additional_headers``: the upstream headers as LiteLLM names them,
    from the error reply's headers when the call failed)."""
    headers = hidden.get("additional_headers")
    if headers is None:
        headers = additional_headers(kwargs.get("response_headers"))
    return {
        "model_id": metadata.get("model_id") or hidden.get("model_id"),
        "cache_key": kwargs.get("cache_key"),
        "api_base": lp.get("api_base"),
        "response_cost": kwargs.get("response_cost"),
        "litellm_model_name": kwargs.get("model"),
        "additional_headers": _jsonable(headers or {}),
    }


_BUILD_LOCK = threading.Lock()


class EventKwargs(dict[str, Any]):
    """A terminal event's ``kwargs``: a ``dict`` whose lazily built keys (the standard
    logging payload) are computed on first access by any means (``kw[...]``, ``get``,
    ``in``, iteration, copying), once, under a lock, and then stored like any key."""

    __slots__ = ("_lazy",)

    def __init__(self, base: dict[str, Any], lazy: dict[str, Callable[[], Any]]) -> None:
        super().__init__(base)
        self._lazy = lazy

    def _build(self, key: str) -> bool:
        with _BUILD_LOCK:
            fn = self._lazy.pop(key, None)
            if fn is not None and not dict.__contains__(self, key):  # a hook may have set it
                dict.__setitem__(self, key, fn())
            return dict.__contains__(self, key)

    def _all(self) -> None:
        for key in list(self._lazy):
            self._build(key)

    def __missing__(self, key: str) -> Any:
        if key in self._lazy and self._build(key):
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key in self._lazy:
            self._build(key)
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._lazy

    def __iter__(self) -> Iterator[str]:
        self._all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._all()
        return dict.__len__(self)

    def keys(self) -> Any:
        self._all()
        return dict.keys(self)

    def items(self) -> Any:
        self._all()
        return dict.items(self)

    def values(self) -> Any:
        self._all()
        return dict.values(self)

    def copy(self) -> dict[str, Any]:
        self._all()
        return dict(dict.items(self))

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in self._lazy:
            self._build(key)
        return dict.setdefault(self, key, default)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self._lazy:
            self._build(key)
        return dict.pop(self, key, *default)

    def __repr__(self) -> str:
        self._all()
        return dict.__repr__(self)

    def __eq__(self, other: object) -> bool:
        self._all()
        return dict.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Any:  # copy/deepcopy/pickle give a plain dict, payload included
        return (dict, (self.copy(),))


def traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
