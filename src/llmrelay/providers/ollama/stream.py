"""Ollama's streamed ``/api/chat`` reply (NDJSON) -> OpenAI chunks.

Each line is one JSON object ``{model, created_at, message: {role, content, thinking?,
tool_calls?}, done}``; the last has ``done: true``, ``done_reason`` and the token counts. Every
line with something to say becomes one chunk (the first with role ``assistant``), the last
line the chunk with ``finish_reason``, followed by one usage chunk (``choices == []``). A
body that ends before ``done: true`` was cut and raises :class:`APIConnectionError`.
"""

from __future__ import annotations

import json
from typing import Any

from ...exceptions import APIConnectionError
from ...types import ModelResponseStream, StreamingChoices, new_id
from ..base import Call, body_excerpt
from .translate import created_of, finish_of, ollama_error, to_usage, tool_calls_of

__all__ = ["OllamaStreamDecoder"]


class OllamaStreamDecoder:
    """One per streamed call; see the module docstring for what it yields and raises."""

    __slots__ = ("_call", "_created", "_done", "_id", "_started", "_tools")

    def __init__(self, call: Call) -> None:
        self._call = call
        self._id = new_id()
        self._created: int | None = None
        self._started = False
        self._tools = 0  # tool calls sent so far
        self._done = False

    def feed(self, line: bytes) -> list[ModelResponseStream]:
        line = line.strip()
        if not line or self._done:
            return []
        call = self._call
        try:
            obj: Any = json.loads(line)
        except ValueError as exc:
            raise APIConnectionError(f"ollama sent an unreadable stream line: "
                                     f"{body_excerpt(line)}", llm_provider=call.provider,
                                     model=call.model) from exc
        if not isinstance(obj, dict):
            return []
        if obj.get("error"):  # an error after the 200 status line
            raise ollama_error(call, 500, {}, line)
        return self._chunks(obj)

    def _chunks(self, obj: dict[str, Any]) -> list[ModelResponseStream]:
        if self._created is None:
            self._created = created_of(obj)
        raw = obj.get("message")
        message: dict[str, Any] = raw if isinstance(raw, dict) else {}
        delta: dict[str, Any] = {}
        if not self._started:
            self._started = True
            delta["role"] = "assistant"
        if message.get("content"):
            delta["content"] = message["content"]
        if message.get("thinking"):
            delta["reasoning_content"] = message["thinking"]
        calls = tool_calls_of(message)
        if calls:
            delta["tool_calls"] = [{"index": self._tools + i, **tc} for i, tc in enumerate(calls)]
            self._tools += len(calls)
        done = bool(obj.get("done"))
        model = obj.get("model") or self._call.model
        out = []
        if delta or done:
            finish = finish_of(obj, self._tools > 0) if done else None
            out.append(ModelResponseStream(
                id=self._id, created=self._created, model=model,
                choices=[StreamingChoices(index=0, delta=delta, finish_reason=finish)]))
        if done:
            self._done = True
            out.append(ModelResponseStream(id=self._id, created=self._created, model=model,
                                           choices=[], usage=to_usage(obj)))
        return out

    def finish(self) -> list[ModelResponseStream]:
        if not self._done:
            raise APIConnectionError(
                "ollama stream ended before its final line (no done: true); the reply was cut",
                llm_provider=self._call.provider, model=self._call.model)
        return []
