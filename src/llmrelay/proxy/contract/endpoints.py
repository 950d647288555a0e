"""The request contract of each LLM endpoint: its required fields and the OpenAI
parameters it forwards, each with the check OpenAI applies to it.

One :class:`Endpoint` per route family, keyed by the SDK call type. Adding an endpoint is
one entry here (and its handler); ``/openapi.json`` describes it from the same entry.
Ranges follow OpenAI's API (``temperature`` 0-2, ``top_p`` 0-1, penalties -2..2, ``n`` >= 1,
at most 128 tools, ...). Enumerations OpenAI keeps growing (``reasoning_effort``,
``service_tier``, ``verbosity``) are checked as strings only, so a client newer than this
table is not refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..limits import Limits
from .checks import (
    INT64,
    AnyOf,
    Array,
    Boolean,
    Check,
    Integer,
    Number,
    Object,
    String,
    invalid,
)

__all__ = ["ENDPOINTS", "ROLES", "Endpoint", "Messages", "add_endpoint", "endpoint_for_path"]

ROLES = ("system", "developer", "user", "assistant", "tool", "function")


@dataclass(frozen=True)
class Endpoint:
    """What a caller may send to one endpoint.

    ``call_type`` is the SDK call serving it; ``required`` fields must be present;
    ``params`` are OpenAI's optional parameters, forwarded upstream after their check.
    Fields outside both follow :mod:`llmrelay.proxy.contract.policy`."""

    call_type: str
    paths: tuple[str, ...]
    summary: str
    required: Mapping[str, Check]
    params: Mapping[str, Check]
    streams: bool = True
    response: str = "object"  # the OpenAPI component name of the JSON answer
    tags: tuple[str, ...] = field(default=("LLM",))
    # how the request and answer travel (see proxy/answers.py): the body is "json" or
    # "multipart"; the answer "json" or "audio" (bytes streamed through); a stream
    # "chat" (data-only SSE ending in [DONE]) or "events" (named SSE events); errors
    # in "openai" or "anthropic" shape
    body: str = "json"
    answer: str = "json"
    stream_style: str = "chat"
    errors: str = "openai"
    default_model: str | None = None  # the model group used when the body names none
    files: tuple[str, ...] = ()  # multipart fields that are files
    forward_headers: tuple[str, ...] = ()  # request headers passed on to the upstream
    accounted: bool = True  # False: no usage record (a token count is not a model call)


class Messages(Check):
    """``messages``: a non-empty array (at most ``max_messages``) of objects with a known
    ``role``; ``content`` a string, an array of typed parts, or null where OpenAI allows
    it (an assistant message with tool calls, ...)."""

    expected = "an array of message objects"
    nullable = False
    _LIST = Array(min_items=1, limit="max_messages")
    _ROLE = String(ROLES)
    _NAME = String()
    _PARTS = Array(Object({"type": String(nullable=False)}, required=("type",)))
    _CALLS = Array(Object({"type": String(), "id": String(), "function": Object()}))

    def check(self, value: Any, path: str, limits: Limits) -> None:
        self._LIST(value, path, limits)
        for i, message in enumerate(value):
            self._one(message, f"{path}[{i}]", limits)

    def _one(self, m: Any, path: str, limits: Limits) -> None:
        if not isinstance(m, dict):
            Object()(m, path, limits)
        role = m.get("role")
        if role is None:
            raise invalid(f"{path}.role", f"Missing required parameter: '{path}.role'.",
                          "missing_required_parameter")
        self._ROLE(role, f"{path}.role", limits)
        content = m.get("content")
        if content is None:
            if role in ("user", "system", "developer") or (
                    "content" not in m and not m.get("tool_calls") and not m.get("function_call")):
                raise invalid(f"{path}.content", f"Missing required parameter: "
                                                 f"'{path}.content'.", "missing_required_parameter")
        elif not isinstance(content, str):
            if not isinstance(content, list):
                raise invalid(f"{path}.content", f"Invalid type for '{path}.content': expected "
                              f"one of a string or an array of content parts, but got "
                              f"{_json(content)} instead.", "invalid_type")
            self._PARTS(content, f"{path}.content", limits)
        self._NAME(m.get("name"), f"{path}.name", limits)
        self._CALLS(m.get("tool_calls"), f"{path}.tool_calls", limits)
        if "tool_call_id" in m:
            self._NAME(m["tool_call_id"], f"{path}.tool_call_id", limits)

    def schema(self, limits: Limits) -> dict[str, Any]:
        message = {"type": "object", "required": ["role"], "properties": {
            "role": {"type": "string", "enum": list(ROLES)},
            "content": {"anyOf": [{"type": "string"}, self._PARTS.schema(limits),
                                  {"type": "null"}]},
            "name": {"type": "string"},
            "tool_calls": self._CALLS.schema(limits),
            "tool_call_id": {"type": "string"}}}
        return {"type": "array", "items": message, "minItems": 1,
                "maxItems": limits.max_messages}


def _json(value: Any) -> str:
    from .checks import describe

    return describe(value)


_MODEL = String(min_len=1, nullable=False)
_PENALTY = Number(-2, 2)
_STOP = AnyOf(String(), Array(String()), expected="a string or an array of strings")
_TOKENS = Integer(1, INT64)
_TOKEN_IDS = Array(Integer(0, INT64), min_items=1)
_FLAG = Boolean()
_TEXT = String()
_OBJECT = Object()
_STREAM_OPTIONS = Object({"include_usage": Boolean(), "include_obfuscation": Boolean()})
# Options every text-generating endpoint shares with OpenAI's completions API.
_SAMPLING: dict[str, Check] = {
    "frequency_penalty": _PENALTY, "presence_penalty": _PENALTY,
    "logit_bias": Object(values=Number(-100, 100)),
    "max_tokens": _TOKENS, "n": Integer(1, limit="max_n"),
    "seed": Integer(-INT64 - 1, INT64), "stop": _STOP,
    "stream": _FLAG, "stream_options": _STREAM_OPTIONS,
    "temperature": Number(0, 2), "top_p": Number(0, 1), "user": _TEXT,
}

CHAT = Endpoint(
    call_type="completion", paths=("/v1/chat/completions", "/chat/completions"),
    summary="Create a chat completion (OpenAI's chat completions API)",
    required={"model": _MODEL, "messages": Messages()},
    params={
        **_SAMPLING,
        "audio": _OBJECT, "function_call": AnyOf(String(), _OBJECT,
                                                 expected="a string or an object"),
        "functions": Array(_OBJECT, max_items=128),
        "logprobs": _FLAG, "max_completion_tokens": _TOKENS,
        "modalities": Array(String()), "moderation": _OBJECT,
        "parallel_tool_calls": _FLAG, "prediction": _OBJECT,
        "prompt_cache_key": _TEXT, "prompt_cache_options": _OBJECT,
        "prompt_cache_retention": _TEXT, "reasoning_effort": _TEXT,
        "response_format": Object(
            {"type": String(("text", "json_object", "json_schema"), nullable=False)},
            required=("type",)),
        "safety_identifier": _TEXT, "service_tier": _TEXT, "store": _FLAG,
        "tool_choice": AnyOf(String(("none", "auto", "required")), _OBJECT,
                             expected="a string or an object"),
        "tools": Array(Object({"type": String(nullable=False)}, required=("type",)),
                       max_items=128),
        "top_logprobs": Integer(0, 20), "verbosity": _TEXT, "web_search_options": _OBJECT,
    },
    response="ChatCompletion")

TEXT = Endpoint(
    call_type="text_completion", paths=("/v1/completions", "/completions"),
    summary="Create a text completion (OpenAI's legacy completions API)",
    required={"model": _MODEL, "prompt": AnyOf(
        String(), Array(String()), _TOKEN_IDS, Array(_TOKEN_IDS),
        expected="a string, an array of strings or an array of token ids")},
    params={**_SAMPLING, "best_of": Integer(0, 20), "echo": _FLAG,
            "logprobs": Integer(0, 5), "suffix": _TEXT},
    response="Completion")

EMBEDDINGS = Endpoint(
    call_type="embeddings", paths=("/v1/embeddings", "/embeddings"),
    summary="Create embeddings (OpenAI's embeddings API)",
    required={"model": _MODEL, "input": AnyOf(
        String(), Array(String(), min_items=1, limit="max_embedding_inputs"),
        Array(Integer(0, INT64), min_items=1),
        Array(_TOKEN_IDS, min_items=1, limit="max_embedding_inputs"),
        expected="a string, an array of strings or an array of token ids")},
    params={"dimensions": Integer(1, 8192), "encoding_format": String(("float", "base64")),
            "user": _TEXT},
    streams=False, response="EmbeddingList")

ENDPOINTS: dict[str, Endpoint] = {e.call_type: e for e in (CHAT, TEXT, EMBEDDINGS)}


def add_endpoint(endpoint: Endpoint) -> Endpoint:
    """Declare one more endpoint (the surfaces beyond chat: :mod:`.surfaces`)."""
    ENDPOINTS[endpoint.call_type] = endpoint
    return endpoint


def endpoint_for_path(path: str) -> Endpoint | None:
    for endpoint in ENDPOINTS.values():
        if path in endpoint.paths:
            return endpoint
    return None
