"""Cohere v2 chat streams (SSE, one typed JSON event each) -> OpenAI chunks.

``message-start`` -> role chunk; ``content-delta`` -> content (or ``reasoning_content`` for
thinking); ``tool-plan-delta`` -> ``delta.tool_plan``; ``tool-call-start``/``-delta`` ->
``delta.tool_calls`` (id and name first, then argument pieces); ``citation-start`` ->
``delta.annotations`` (and the raw citation in ``delta.citations``); ``message-end`` -> the
finish reason, then a usage chunk (``choices == []``). A stream without ``message-end`` was
cut and raises APIConnectionError.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ...types import ModelResponseStream, new_id
from ..base import Call, stream_event_object
from ..sse import SSEDecoder, SSEStreamDecoder
from .chat import citation_annotations, cohere_error, finish_reason, usage_from

__all__ = ["CohereStreamDecoder"]


def _message(event: dict[str, Any]) -> dict[str, Any]:
    delta = event.get("delta") or {}
    msg = delta.get("message") if isinstance(delta, dict) else None
    return msg if isinstance(msg, dict) else {}


class CohereStreamDecoder(SSEStreamDecoder):
    """One per streamed call; see the module docstring."""

    cut_message = "Cohere stream ended before message-end: the reply was cut"

    def __init__(self, call: Call) -> None:
        self._call = call
        self._sse = SSEDecoder()
        self._id = new_id()
        self._created = int(time.time())
        self._tools: dict[int, int] = {}
        self._finished = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> ModelResponseStream:
        return ModelResponseStream(id=self._id, created=self._created, model=self._call.model,
                                   choices=[{"index": 0, "delta": delta,
                                             "finish_reason": finish}])


    def _event(self, data: bytes) -> list[Any]:
        event = stream_event_object(self._call, data, "Cohere")
        if event is None:
            return []
        kind = event.get("type")
        if kind == "message-start":
            self._id = event.get("id") or self._id
            return [self._chunk({"role": "assistant", "content": ""})]
        msg = _message(event)
        if kind == "content-delta":
            content = msg.get("content") or {}
            if content.get("thinking"):
                return [self._chunk({"reasoning_content": content["thinking"]})]
            return [self._chunk({"content": content["text"]})] if content.get("text") else []
        if kind == "tool-plan-delta" and msg.get("tool_plan"):
            return [self._chunk({"tool_plan": msg["tool_plan"]})]
        if kind in ("tool-call-start", "tool-call-delta"):
            return self._tool(event, msg, kind == "tool-call-start")
        if kind == "citation-start" and msg.get("citations"):
            cite = msg["citations"]
            return [self._chunk({"annotations": citation_annotations([cite]), "citations": [cite]})]
        if kind == "message-end":
            self._finished = True
            delta = event.get("delta") or {}
            if delta.get("error"):
                raise cohere_error(self._call, 500, {}, json.dumps(
                    {"message": delta["error"]}).encode())
            return [self._chunk({}, finish_reason(delta.get("finish_reason"))),
                    ModelResponseStream(id=self._id, created=self._created,
                                        model=self._call.model, choices=[],
                                        usage=usage_from(delta.get("usage")))]
        return []

    def _tool(self, event: dict[str, Any], msg: dict[str, Any], start: bool) -> list[Any]:
        tc = msg.get("tool_calls") or {}
        index = int(event.get("index", 0))
        fn = tc.get("function") or {}
        if start:
            position = self._tools[index] = len(self._tools)
            return [self._chunk({"tool_calls": [{
                "index": position, "id": tc.get("id"), "type": "function",
                "function": {"name": fn.get("name"), "arguments": fn.get("arguments") or ""}}]})]
        if not fn.get("arguments") or index not in self._tools:
            return []
        return [self._chunk({"tool_calls": [{"index": self._tools[index],
                                             "function": {"arguments": fn["arguments"]}}]})]
