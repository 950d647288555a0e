"""Gemini replies -> OpenAI shapes: responses, usage, finish reasons and errors.

``candidates`` become ``choices`` (text parts joined, ``functionCall`` parts as tool calls
with generated ids and JSON-string arguments, ``thought`` parts as ``reasoning_content``);
``usageMetadata`` becomes :class:`~llmrelay.types.Usage`; ``{"error": {"code", "message",
"status"}}`` bodies become the matching :class:`~llmrelay.exceptions.LLMRelayError`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ...exceptions import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    LLMRelayError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    error_for_status,
)
from ...types import Choices, Message, ModelResponse, Usage, new_id
from ..base import Call, body_excerpt
from .translate import SIGNATURE_SEP

__all__ = ["FILTER_REASONS", "ReadParts", "blocked_error", "error_from_body", "finish_reason",
           "gemini_error", "parse_generate", "read_parts", "to_usage"]

FILTER_REASONS = frozenset({"SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
                            "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT"})
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}
_BY_STATUS_NAME: dict[str, type[LLMRelayError]] = {
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "UNAVAILABLE": ServiceUnavailableError,
    "DEADLINE_EXCEEDED": Timeout,
    "NOT_FOUND": NotFoundError,
    "INTERNAL": InternalServerError,
    "INVALID_ARGUMENT": BadRequestError,
    "FAILED_PRECONDITION": BadRequestError,
    "OUT_OF_RANGE": BadRequestError,
}
_CONTEXT_MARKERS = ("exceeds the maximum number of tokens", "input token count",
                    "context window", "too many tokens")
# A bad, expired, leaked or missing key: Google answers 400 or 403, we say 401.
_KEY_MARKERS = ("API_KEY_INVALID", "API key not valid", "API key expired", "API_KEY_EXPIRED",
                "API key was reported as leaked", "unregistered callers")


def finish_reason(reason: str | None, has_tool_calls: bool) -> str | None:
    """Gemini's ``finishReason`` in OpenAI's words (None while a stream is still going)."""
    if not reason:
        return None
    if reason in FILTER_REASONS:
        return "content_filter"
    if has_tool_calls:
        return "tool_calls"
    return _FINISH.get(reason, "stop")


def to_usage(meta: Any) -> Usage:
    """``usageMetadata`` -> Usage; thoughts count as completion (and reasoning) tokens."""
    meta = meta if isinstance(meta, dict) else {}
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount")
                                                          or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=int(meta.get("totalTokenCount") or 0) or prompt + completion,
                 prompt_tokens_details={
                     "cached_tokens": int(meta.get("cachedContentTokenCount") or 0)},
                 completion_tokens_details={"reasoning_tokens": thoughts})


class ReadParts:
    """What one candidate's ``content.parts`` hold, in OpenAI terms."""

    __slots__ = ("reasoning", "text", "tool_calls")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []

    @property
    def empty(self) -> bool:
        return not (self.text or self.reasoning or self.tool_calls)


def read_parts(candidate: Any) -> ReadParts:
    out = ReadParts()
    content = candidate.get("content") if isinstance(candidate, dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    for part in parts or ():
        if not isinstance(part, dict):
            continue
        fc = part.get("functionCall")
        if isinstance(fc, dict):
            call_id = fc.get("id") or "call_" + uuid.uuid4().hex[:24]
            if part.get("thoughtSignature"):
                call_id += SIGNATURE_SEP + str(part["thoughtSignature"])
            out.tool_calls.append({"id": call_id, "type": "function", "function": {
                "name": fc.get("name"),
                "arguments": json.dumps(fc.get("args") or {}, ensure_ascii=False)}})
        elif isinstance(part.get("text"), str):
            (out.reasoning if part.get("thought") else out.text).append(part["text"])
    return out


def blocked_error(call: Call, data: dict[str, Any], body: bytes | None) -> LLMRelayError | None:
    """ContentPolicyViolationError when the prompt was blocked (``promptFeedback``)."""
    feedback = data.get("promptFeedback")
    if not isinstance(feedback, dict) or not feedback.get("blockReason"):
        return None
    reason = feedback["blockReason"]
    text = f"gemini blocked the prompt (blockReason {reason})"
    if feedback.get("blockReasonMessage"):
        text += f": {feedback['blockReasonMessage']}"
    return ContentPolicyViolationError(
        text, llm_provider=call.provider, model=call.model, code=str(reason),
        response_body=body_excerpt(body) if body else None)


def parse_generate(call: Call, data: Any, body: bytes) -> ModelResponse:
    """A ``generateContent`` reply -> ModelResponse.

    Raises ContentPolicyViolationError when the prompt was blocked or every candidate stopped
    for safety with no content; APIConnectionError for a reply with no candidates at all.
    """
    if not isinstance(data, dict):
        raise APIConnectionError(f"gemini reply is not a JSON object: {body_excerpt(body)}",
                                 llm_provider=call.provider, model=call.model)
    blocked = blocked_error(call, data, body)
    if blocked is not None:
        raise blocked
    candidates = data.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        raise APIConnectionError(f"gemini reply has no candidates: {body_excerpt(body)}",
                                 llm_provider=call.provider, model=call.model,
                                 response_body=body_excerpt(body))
    choices = []
    filtered = 0
    for pos, cand in enumerate(candidates):
        got = read_parts(cand)
        reason = cand.get("finishReason")
        if reason in FILTER_REASONS and got.empty:
            filtered += 1
        msg = Message(role="assistant", content="".join(got.text) if got.text or not
                      got.tool_calls else None, tool_calls=got.tool_calls or None)
        if got.reasoning:
            msg.reasoning_content = "".join(got.reasoning)  # type: ignore[attr-defined]
        choices.append(Choices(index=cand.get("index", pos), message=msg,
                               finish_reason=finish_reason(reason, bool(got.tool_calls))
                               or "stop"))
    if filtered == len(candidates):
        raise ContentPolicyViolationError(
            f"gemini stopped the reply for {candidates[0].get('finishReason')} before any "
            "content", llm_provider=call.provider, model=call.model,
            code=str(candidates[0].get("finishReason")), response_body=body_excerpt(body))
    return ModelResponse(id=data.get("responseId") or new_id(),
                         model=data.get("modelVersion") or call.model, choices=choices,
                         usage=to_usage(data.get("usageMetadata")))


def _retry_delay(details: Any) -> str | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "23.5s"``), as text."""
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict) or not str(detail.get("@type", "")).endswith(
                "RetryInfo"):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, dict):  # the proto form {"seconds": 23, "nanos": 0}
            seconds = float(delay.get("seconds") or 0) + float(delay.get("nanos") or 0) / 1e9
        elif isinstance(delay, str) and delay.endswith("s"):
            try:
                seconds = float(delay[:-1])
            except ValueError:
                return None
        else:
            return None
        return f"{max(seconds, 0.0):g}"
    return None


def error_from_body(call: Call, status: int, headers: dict[str, str], body: bytes,
                    err: Any) -> LLMRelayError:
    """The exception for a decoded Gemini ``error`` object (or anything else).

    A ``RetryInfo`` detail's delay becomes a ``retry-after`` response header (when the reply
    has none), so that retries wait as long as Google asks."""
    message = code_name = reason = None
    details: Any = None
    if isinstance(err, dict):
        message = err.get("message")
        code_name = err.get("status")
        details = err.get("details")
        for detail in details if isinstance(details, list) else ():
            if isinstance(detail, dict) and detail.get("reason"):
                reason = str(detail["reason"])
                break
    text = str(message or f"HTTP {status} from gemini: {body_excerpt(body)}")
    cls = _BY_STATUS_NAME.get(str(code_name), error_for_status(status))
    status_code = status
    if reason in _KEY_MARKERS or any(m in text for m in _KEY_MARKERS):
        cls, status_code = AuthenticationError, 401  # Gemini answers a bad key with a 400
    elif issubclass(cls, BadRequestError) and any(m in text.lower() for m in _CONTEXT_MARKERS):
        cls = ContextWindowExceededError
    delay = _retry_delay(details)
    if delay is not None and "retry-after" not in {k.lower() for k in headers}:
        headers = {**headers, "retry-after": delay}
    return cls(text, status_code=status_code, llm_provider=call.provider, model=call.model,
               response_body=body_excerpt(body), response_headers=headers,
               code=reason or (str(code_name) if code_name else None))


def gemini_error(call: Call, status: int, headers: dict[str, str],
                 body: bytes) -> LLMRelayError:
    """Map an HTTP error reply ``{"error": {"code", "message", "status", "details"}}``."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, list) and data:  # streaming endpoints wrap errors in a list
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    return error_from_body(call, status, headers, body, err)
