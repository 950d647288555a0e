"""Gemini's ``streamGenerateContent?alt=sse`` events -> OpenAI chunks.

Each SSE event carries a whole ``GenerateContentResponse`` holding the newest parts. Every
event with candidates becomes one chunk (the first delta of a candidate has role
``assistant``); a candidate's ``finishReason`` becomes the chunk's ``finish_reason``; at the
end one usage chunk (``choices == []``) carries the last ``usageMetadata``. A stream that ends
before any ``finishReason`` was cut and raises :class:`APIConnectionError`.
"""

from __future__ import annotations

import time
from typing import Any

from ...exceptions import ContentPolicyViolationError
from ...types import ModelResponseStream, StreamingChoices, new_id
from ..base import Call, body_excerpt, stream_event_object
from ..sse import SSEDecoder, SSEStreamDecoder
from .response import (
    FILTER_REASONS,
    blocked_error,
    error_from_body,
    finish_reason,
    read_parts,
    to_usage,
)

__all__ = ["GeminiStreamDecoder"]


class GeminiStreamDecoder(SSEStreamDecoder):
    """One per streamed call; see the module docstring for what it yields and raises."""

    __slots__ = (
        "_call",
        "_content",
        "_created",
        "_finished",
        "_id",
        "_model",
        "_sse",
        "_started",
        "_tools",
        "_usage",
    )

    def __init__(self, call: Call) -> None:
        self._call = call
        self._sse = SSEDecoder()
        self._id = new_id()
        self._created = int(time.time())
        self._model = call.model
        self._started: set[int] = set()  # candidates whose first delta went out
        self._content: set[int] = set()  # candidates that produced any content
        self._tools: dict[int, int] = {}  # tool calls sent so far, per candidate
        self._finished = False
        self._usage: Any = None

    cut_message = ("gemini stream ended before any candidate finished (no finishReason); the "
                   "reply was cut")

    def finish(self) -> list[Any]:
        out = self._flush()
        if self._usage is not None:
            out.append(ModelResponseStream(id=self._id, created=self._created,
                                           model=self._model, choices=[],
                                           usage=to_usage(self._usage)))
        return out

    def _event(self, data: bytes) -> list[ModelResponseStream]:
        call = self._call
        obj = stream_event_object(call, data, "gemini")
        if obj is None:
            return []
        if "error" in obj:  # an error sent after the 200 status line
            err = obj["error"]
            code = err.get("code") if isinstance(err, dict) else None
            raise error_from_body(call, code if isinstance(code, int) else 500, {}, data, err)
        blocked = blocked_error(call, obj, data)
        if blocked is not None:
            raise blocked
        if obj.get("usageMetadata"):
            self._usage = obj["usageMetadata"]
        if obj.get("modelVersion"):
            self._model = obj["modelVersion"]
        choices = [self._choice(pos, cand, data)
                   for pos, cand in enumerate(obj.get("candidates") or ())
                   if isinstance(cand, dict)]
        if not choices:
            return []
        return [ModelResponseStream(id=self._id, created=self._created, model=self._model,
                                    choices=choices)]

    def _choice(self, pos: int, cand: dict[str, Any], raw: bytes) -> StreamingChoices:
        index = int(cand.get("index", pos))
        got = read_parts(cand)
        reason = cand.get("finishReason")
        if not got.empty:
            self._content.add(index)
        if reason in FILTER_REASONS and index not in self._content:
            raise ContentPolicyViolationError(
                f"gemini stopped the reply for {reason} before any content",
                llm_provider=self._call.provider, model=self._call.model, code=str(reason),
                response_body=body_excerpt(raw))
        delta: dict[str, Any] = {}
        if index not in self._started:
            self._started.add(index)
            delta["role"] = "assistant"
        if got.text:
            delta["content"] = "".join(got.text)
        if got.reasoning:
            delta["reasoning_content"] = "".join(got.reasoning)
        if got.tool_calls:
            first = self._tools.get(index, 0)
            delta["tool_calls"] = [{"index": first + i, **tc}
                                   for i, tc in enumerate(got.tool_calls)]
            self._tools[index] = first + len(got.tool_calls)
        if reason:
            self._finished = True
        return StreamingChoices(index=index, delta=delta,
                                finish_reason=finish_reason(reason, index in self._tools))
