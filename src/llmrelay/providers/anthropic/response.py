"""Anthropic replies -> OpenAI shapes: messages, usage, stop reasons and errors.

Usage follows OpenAI's convention that ``prompt_tokens`` counts every input token, so it is
``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``; the two cache counts
are also kept as ``Usage`` attributes (the cost table prices them separately) and
``prompt_tokens_details.cached_tokens`` is the cache read count.
"""

from __future__ import annotations

import json
from typing import Any

from ...exceptions import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    LLMRelayError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
)
from ...types import ModelResponse, TextCompletionResponse, Usage
from ..base import Call, body_excerpt, decode_json, error_from_reply

__all__ = ["JSON_TOOL", "anthropic_error", "assistant_message", "error_status", "finish_reason",
           "json_tool_name", "parse_message", "usage_from"]

# Name of the tool that carries response_format output (see translate.py).
JSON_TOOL = "json_response"

_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Error ``type`` -> (HTTP status it comes with, exception class).
_ERRORS: dict[str, tuple[int, type[LLMRelayError] | None]] = {
    "invalid_request_error": (400, None),  # None: pick by status and message
    "request_too_large": (413, None),
    "authentication_error": (401, AuthenticationError),
    "billing_error": (402, None),
    "conflict_error": (409, None),
    "permission_error": (403, PermissionDeniedError),
    "not_found_error": (404, NotFoundError),
    "rate_limit_error": (429, RateLimitError),
    "api_error": (500, InternalServerError),
    "timeout_error": (504, Timeout),
    "overloaded_error": (529, ServiceUnavailableError),
}
_POLICY_MARKERS = ("content filtering", "output blocked", "usage policy", "acceptable use")


def json_tool_name(call: Call) -> str | None:
    """:data:`JSON_TOOL` when the call asked for JSON output through ``response_format``."""
    fmt = call.params.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return JSON_TOOL
    return None


def finish_reason(stop_reason: Any, json_answer: bool = False) -> str:
    """OpenAI's ``finish_reason`` for an Anthropic ``stop_reason``; a forced JSON tool call
    is the answer itself, so it reads ``stop``."""
    if stop_reason == "tool_use" and json_answer:
        return "stop"
    return _STOP.get(str(stop_reason), "stop") if stop_reason else "stop"


def usage_from(raw: Any) -> Usage:
    """OpenAI :class:`Usage` from Anthropic's ``usage`` object (see the module docstring).

    When the reply splits its cache writes by TTL (``usage.cache_creation``), the split is
    kept in ``prompt_tokens_details.cache_creation_token_details``: one-hour writes cost more.
    """
    raw = raw if isinstance(raw, dict) else {}
    fresh = int(raw.get("input_tokens") or 0)
    read = int(raw.get("cache_read_input_tokens") or 0)
    write = int(raw.get("cache_creation_input_tokens") or 0)
    output = int(raw.get("output_tokens") or 0)
    details: dict[str, Any] = {"cached_tokens": read}
    split = raw.get("cache_creation")
    if isinstance(split, dict) and split:
        details["cache_creation_token_details"] = {
            "ephemeral_5m_input_tokens": int(split.get("ephemeral_5m_input_tokens") or 0),
            "ephemeral_1h_input_tokens": int(split.get("ephemeral_1h_input_tokens") or 0)}
    return Usage(prompt_tokens=fresh + read + write, completion_tokens=output,
                 prompt_tokens_details=details,
                 cache_read_input_tokens=read, cache_creation_input_tokens=write)


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    return {"id": block.get("id"), "type": "function",
            "function": {"name": block.get("name"),
                         "arguments": json.dumps(block.get("input") or {})}}


def _message(call: Call, content: list[Any]) -> tuple[dict[str, Any], bool]:
    """(OpenAI message dict, whether the answer came through the JSON tool)."""
    json_tool = json_tool_name(call)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thoughts: list[str] = []
    blocks: list[dict[str, Any]] = []
    answer: str | None = None
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use" and json_tool and block.get("name") == json_tool:
            answer = json.dumps(block.get("input") or {})
        elif kind == "tool_use":
            calls.append(_tool_call(block))
        elif kind == "thinking":
            thoughts.append(str(block.get("thinking") or ""))
            blocks.append({"type": "thinking", "thinking": block.get("thinking") or "",
                           "signature": block.get("signature")})
        elif kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": block.get("data")})
    return assistant_message(texts, calls, thoughts, blocks, answer)


def assistant_message(texts: list[str], calls: list[dict[str, Any]], thoughts: list[str],
                      blocks: list[dict[str, Any]], answer: str | None
                      ) -> tuple[dict[str, Any], bool]:
    """(OpenAI message dict, whether the answer came through the JSON tool) from the parts
    of a Claude-style reply (shared with Bedrock's Converse, which has the same parts)."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer if answer is not None else ("".join(texts) if texts else None),
        "tool_calls": calls or None,
    }
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if blocks:
        message["thinking_blocks"] = blocks
    return message, answer is not None and not calls


def parse_message(call: Call, status: int, headers: dict[str, str], body: bytes) -> Any:
    """A :class:`ModelResponse` (or ``TextCompletionResponse`` for ``text_completion``)
    from a ``/v1/messages`` reply. Raises the mapped error for an error body, and
    :class:`APIConnectionError` for a body that is not an Anthropic message."""
    data = decode_json(call, status, headers, body)
    if isinstance(data, dict) and data.get("type") == "error":
        raise anthropic_error(call, status if status >= 400 else 0, headers, body)
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise APIConnectionError(
            f"upstream reply is not an Anthropic message: {body_excerpt(body)}",
            status_code=status, llm_provider=call.provider, model=call.model,
            response_body=body_excerpt(body), response_headers=headers)
    message, json_answer = _message(call, data["content"])
    finish = finish_reason(data.get("stop_reason"), json_answer)
    usage = usage_from(data.get("usage"))
    model = data.get("model") or call.model
    if call.call_type == "text_completion":
        return TextCompletionResponse(
            id=data.get("id"), model=model, usage=usage,
            choices=[{"text": message["content"] or "", "index": 0, "logprobs": None,
                      "finish_reason": finish}])
    return ModelResponse(id=data.get("id"), model=model, usage=usage,
                         choices=[{"index": 0, "message": message,
                                   "finish_reason": finish}])


def error_status(error_type: str | None) -> int:
    """The HTTP status Anthropic pairs with an error ``type`` (for errors sent mid-stream)."""
    return _ERRORS.get(error_type or "", (500, None))[0]


def _fields(body: bytes) -> tuple[str | None, str | None]:
    """(error type, message) from ``{"type": "error", "error": {"type", "message"}}``."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        kind, message = err.get("type"), err.get("message")
        return (str(kind) if kind else None), (str(message) if message else None)
    if isinstance(err, str):
        return None, err
    return None, None


def anthropic_error(call: Call, status: int, headers: dict[str, str],
                    body: bytes) -> LLMRelayError:
    """The mapped exception for an Anthropic error reply (or mid-stream ``error`` event,
    with ``status`` 0): the class follows the error ``type`` when it names one, else the
    HTTP status; 400s are refined to context-window and content-policy errors. The
    vendor's message, the error type (as ``code``) and the reply headers are kept."""
    kind, message = _fields(body)
    known_status, cls = _ERRORS.get(kind or "", (0, None))
    status = status or known_status or 500
    if message is None:
        message = f"HTTP {status} from Anthropic: {body_excerpt(body)}"
    err = error_from_reply(call, status, headers, body, message, kind)
    if cls is not None and type(err) is not cls:
        err = cls(message, status_code=status, llm_provider=call.provider, model=call.model,
                  response_body=err.response_body, response_headers=headers, code=kind)
    elif type(err) is BadRequestError and any(m in message.lower() for m in _POLICY_MARKERS):
        err = ContentPolicyViolationError(
            message, status_code=status, llm_provider=call.provider, model=call.model,
            response_body=err.response_body, response_headers=headers, code=kind)
    return err
