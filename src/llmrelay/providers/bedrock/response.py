"""Bedrock replies -> OpenAI shapes: Converse messages, usage, stop reasons and errors.

Usage follows OpenAI's convention: ``prompt_tokens = inputTokens + cacheReadInputTokens +
cacheWriteInputTokens`` (Bedrock's ``inputTokens`` counts only uncached input), and the cache
counts are kept as ``cache_read_input_tokens``/``cache_creation_input_tokens`` for pricing.

Errors: Bedrock names the error in the ``x-amzn-errortype`` header (``ThrottlingException:
http://internal...``) and puts ``{"message": ...}`` (or ``"Message"``) in the body; inside an
event stream the same names come as ``:exception-type`` headers (``throttlingException``).
"""

from __future__ import annotations

import json
from typing import Any

from ...exceptions import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    LLMRelayError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
)
from ...types import ModelResponse, Usage, new_id
from ..anthropic.response import JSON_TOOL, assistant_message, json_tool_name
from ..base import Call, body_excerpt, decode_json, error_from_reply

__all__ = ["bedrock_error", "error_from_event", "finish_reason", "parse_converse",
           "tool_call", "usage_from"]

_STOP = {
    "end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls",
    "max_tokens": "length", "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter", "content_filtered": "content_filter",
}
# Exception name (lower-cased, no "exception") -> (HTTP status, class)
_ERRORS: dict[str, tuple[int, type[LLMRelayError] | None]] = {
    "validation": (400, None),  # None: refined by message (context window ...)
    "serializationexception": (400, BadRequestError),
    "accessdenied": (403, PermissionDeniedError),
    "unrecognizedclient": (403, AuthenticationError),
    "invalidsignature": (403, AuthenticationError),
    "expiredtoken": (403, AuthenticationError),
    "incompletesignature": (403, AuthenticationError),
    "missingauthenticationtoken": (403, AuthenticationError),
    "resourcenotfound": (404, NotFoundError),
    "modeltimeout": (408, Timeout),
    "throttling": (429, RateLimitError),
    "servicequotaexceeded": (429, RateLimitError),
    "modelnotready": (429, ServiceUnavailableError),
    "modelerror": (424, InternalServerError),
    "modelstreamerror": (424, InternalServerError),
    "internalserver": (500, InternalServerError),
    "serviceunavailable": (503, ServiceUnavailableError),
}
_CONTEXT_MARKERS = ("too many input tokens", "input is too long", "prompt is too long",
                    "context window", "too many tokens", "input length", "maximum context")


def finish_reason(stop: Any, json_answer: bool = False) -> str:
    if stop == "tool_use" and json_answer:
        return "stop"
    return _STOP.get(str(stop), "stop") if stop else "stop"


def usage_from(raw: Any) -> Usage:
    raw = raw if isinstance(raw, dict) else {}
    fresh = int(raw.get("inputTokens") or 0)
    read = int(raw.get("cacheReadInputTokens") or 0)
    write = int(raw.get("cacheWriteInputTokens") or 0)
    return Usage(prompt_tokens=fresh + read + write,
                 completion_tokens=int(raw.get("outputTokens") or 0),
                 prompt_tokens_details={"cached_tokens": read},
                 cache_read_input_tokens=read, cache_creation_input_tokens=write)


def tool_call(use: dict[str, Any]) -> dict[str, Any]:
    return {"id": use.get("toolUseId"), "type": "function",
            "function": {"name": use.get("name"),
                         "arguments": json.dumps(use.get("input") or {}, ensure_ascii=False)}}


def _message(call: Call, blocks: list[Any]) -> tuple[dict[str, Any], bool]:
    json_tool = json_tool_name(call)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thoughts: list[str] = []
    thinking: list[dict[str, Any]] = []
    answer: str | None = None
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            if json_tool and use.get("name") == JSON_TOOL:
                answer = json.dumps(use.get("input") or {}, ensure_ascii=False)
            else:
                calls.append(tool_call(use))
        elif isinstance(block.get("reasoningContent"), dict):
            rc = block["reasoningContent"]
            rt = rc.get("reasoningText")
            if isinstance(rt, dict):
                thoughts.append(str(rt.get("text") or ""))
                thinking.append({"type": "thinking", "thinking": rt.get("text") or "",
                                 "signature": rt.get("signature")})
            elif rc.get("redactedContent") is not None:
                thinking.append({"type": "redacted_thinking", "data": rc["redactedContent"]})
    return assistant_message(texts, calls, thoughts, thinking, answer)


def parse_converse(call: Call, status: int, headers: dict[str, str], body: bytes) -> Any:
    """A :class:`ModelResponse` from a Converse reply."""
    data = decode_json(call, status, headers, body)
    output = data.get("output") if isinstance(data, dict) else None
    msg = output.get("message") if isinstance(output, dict) else None
    if not isinstance(msg, dict) or not isinstance(msg.get("content"), list):
        raise APIConnectionError(
            f"upstream reply is not a Bedrock Converse response: {body_excerpt(body)}",
            status_code=status, llm_provider=call.provider, model=call.model,
            response_body=body_excerpt(body), response_headers=headers)
    message, json_answer = _message(call, msg["content"])
    rid = headers.get("x-amzn-requestid")
    return ModelResponse(id=f"chatcmpl-{rid}" if rid else new_id(), model=call.model,
                         usage=usage_from(data.get("usage")),
                         choices=[{"index": 0, "message": message,
                                   "finish_reason": finish_reason(data.get("stopReason"),
                                                                  json_answer)}])


def _kind(name: str | None) -> str:
    """``ThrottlingException:http://...`` / ``throttlingException`` -> ``throttling``."""
    base = (name or "").split(":", 1)[0].split("#")[-1].lower()
    return base[: -len("exception")] if base.endswith("exception") else base


def _build(call: Call, status: int, headers: dict[str, str], body: bytes, name: str | None,
           message: str) -> LLMRelayError:
    kind = _kind(name)
    known_status, cls = _ERRORS.get(kind, (0, None))
    status = status or known_status or 500
    code = (name or "").split(":", 1)[0] or None
    if cls is None and any(m in message.lower() for m in _CONTEXT_MARKERS):
        cls = ContextWindowExceededError
    if cls is None:
        return error_from_reply(call, status, headers, body, message, code)
    return cls(message, status_code=status, llm_provider=call.provider, model=call.model,
               response_body=body_excerpt(body), response_headers=headers, code=code)


def bedrock_error(call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
    """The mapped exception for a Bedrock HTTP error reply."""
    name = headers.get("x-amzn-errortype")
    message = None
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = data.get("message") or data.get("Message")
        name = name or data.get("__type") or data.get("code")
    if not message:
        message = f"HTTP {status} from Bedrock: {body_excerpt(body)}"
    return _build(call, status, headers, body, name, str(message))


def error_from_event(call: Call, kind: str | None, payload: bytes,
                     message: str | None = None) -> LLMRelayError:
    """The mapped exception for an ``exception``/``error`` frame inside an event stream."""
    if message is None:
        try:
            data = json.loads(payload)
        except ValueError:
            data = None
        message = (data.get("message") or data.get("Message")) if isinstance(data, dict) \
            else None
    text = str(message or f"Bedrock stream error {kind}: {body_excerpt(payload)}")
    return _build(call, 0, {}, payload, kind, text)
