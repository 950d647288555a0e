"""Anthropic's streamed Messages events -> OpenAI chunks.

The server sends SSE events: ``message_start`` (id, model, input usage), then per content
block ``content_block_start`` / ``content_block_delta``... / ``content_block_stop``, then
``message_delta`` (stop reason, output usage) and ``message_stop``; ``ping`` may come at any
time and ``error`` replaces the rest of the stream. They become:

* a first chunk with ``delta.role = "assistant"``;
* ``delta.content`` for text (and for the JSON tool standing in for ``response_format``),
  ``delta.reasoning_content`` for thinking, and once a thinking block ends a chunk whose
  ``delta.thinking_blocks`` holds it with its signature (to send back in later turns);
* ``delta.tool_calls`` for tool blocks: index = position among tool blocks, ``id`` and
  ``name`` in the first delta, ``arguments`` from each ``input_json_delta``;
* at ``message_delta`` a chunk with ``finish_reason``; at ``message_stop`` a usage chunk
  (``choices=[]``) whose usage equals what the unstreamed call reports.

``error`` raises the mapped exception; a body ending before ``message_stop`` raises
:class:`APIConnectionError` from :meth:`AnthropicStreamDecoder.finish`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ...exceptions import APIConnectionError
from ...types import ModelResponseStream, TextCompletionResponse
from ..base import Call, stream_event_object
from ..sse import SSEDecoder
from .response import anthropic_error, finish_reason, json_tool_name, usage_from

__all__ = ["AnthropicStreamDecoder"]

_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
               "cache_creation_input_tokens")


class _Block:
    """What the decoder remembers about one open content block."""

    __slots__ = ("data", "kind", "signature", "thinking", "tool_index")

    def __init__(self, kind: str, tool_index: int = -1) -> None:
        self.kind = kind  # "text" | "tool" | "json" | "thinking" | "redacted" | "other"
        self.tool_index = tool_index
        self.thinking: list[str] = []
        self.signature: str | None = None
        self.data: Any = None


class AnthropicStreamDecoder:
    """Feeds the body lines of one streamed call; see the module docstring."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._sse = SSEDecoder()
        self._text_mode = call.call_type == "text_completion"
        self._json_tool = json_tool_name(call)
        self._id: str | None = None
        self._model = call.model
        self._created = int(time.time())
        self._usage: dict[str, Any] = {}
        self._blocks: dict[int, _Block] = {}
        self._tools = 0
        self._saw_tool = False
        self._done = False
        self._handlers = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "content_block_stop": self._block_stop,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
            "error": self._error,
        }

    # ---- chunk builders ---------------------------------------------------------------------
    def _emit(self, delta: dict[str, Any], finish: str | None = None) -> list[Any]:
        """One chunk carrying ``delta``; text completions only carry text and the finish."""
        if self._text_mode:
            text = delta.get("content")
            if not text and finish is None:
                return []
            return [TextCompletionResponse(
                id=self._id, created=self._created, model=self._model,
                choices=[{"text": text or "", "index": 0, "logprobs": None,
                          "finish_reason": finish}])]
        return [ModelResponseStream(
            id=self._id, created=self._created, model=self._model,
            choices=[{"index": 0, "delta": delta, "finish_reason": finish}])]

    def _usage_chunk(self) -> Any:
        kind = TextCompletionResponse if self._text_mode else ModelResponseStream
        return kind(id=self._id, created=self._created, model=self._model, choices=[],
                    usage=usage_from(self._usage))

    def _take_usage(self, raw: Any) -> None:
        if isinstance(raw, dict):
            for key in _USAGE_KEYS:
                value = raw.get(key)
                if isinstance(value, int):
                    self._usage[key] = value
            if isinstance(raw.get("cache_creation"), dict):
                self._usage["cache_creation"] = raw["cache_creation"]

    # ---- event handlers ---------------------------------------------------------------------
    def _message_start(self, event: dict[str, Any]) -> list[Any]:
        msg = event.get("message") or {}
        self._id = msg.get("id") or self._id
        self._model = msg.get("model") or self._model
        self._take_usage(msg.get("usage"))
        return self._emit({"role": "assistant", "content": ""})

    def _block_start(self, event: dict[str, Any]) -> list[Any]:
        block = event.get("content_block") or {}
        kind = block.get("type")
        index = int(event.get("index", len(self._blocks)))
        if kind == "text":
            self._blocks[index] = _Block("text")
            text = block.get("text")
            return self._emit({"content": text}) if text else []
        if kind == "tool_use" and self._json_tool and block.get("name") == self._json_tool:
            self._blocks[index] = _Block("json")
            return []
        if kind == "tool_use":
            state = self._blocks[index] = _Block("tool", self._tools)
            self._tools += 1
            self._saw_tool = True
            call = {"index": state.tool_index, "id": block.get("id"), "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""}}
            return self._emit({"tool_calls": [call]})
        if kind == "thinking":
            state = self._blocks[index] = _Block("thinking")
            if block.get("thinking"):
                state.thinking.append(block["thinking"])
                return self._emit({"reasoning_content": block["thinking"]})
            return []
        state = self._blocks[index] = _Block("redacted" if kind == "redacted_thinking"
                                             else "other")
        state.data = block.get("data")
        return []

    def _block_delta(self, event: dict[str, Any]) -> list[Any]:
        state = self._blocks.get(int(event.get("index", -1)))
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return self._emit({"content": text}) if text else []
        if kind == "input_json_delta":
            part = delta.get("partial_json")
            if not part or state is None:
                return []
            if state.kind == "json":
                return self._emit({"content": part})
            if state.kind == "tool":
                fn = {"arguments": part}
                return self._emit({"tool_calls": [{"index": state.tool_index,
                                                   "function": fn}]})
            return []
        if kind == "thinking_delta":
            text = delta.get("thinking")
            if not text:
                return []
            if state is not None:
                state.thinking.append(text)
            return self._emit({"reasoning_content": text})
        if kind == "signature_delta" and state is not None:
            state.signature = delta.get("signature")
        return []  # citations and future delta types carry nothing OpenAI-shaped

    def _block_stop(self, event: dict[str, Any]) -> list[Any]:
        state = self._blocks.get(int(event.get("index", -1)))
        if state is None:
            return []
        if state.kind == "thinking":
            block = {"type": "thinking", "thinking": "".join(state.thinking),
                     "signature": state.signature}
        elif state.kind == "redacted":
            block = {"type": "redacted_thinking", "data": state.data}
        else:
            return []
        return self._emit({"thinking_blocks": [block]})

    def _message_delta(self, event: dict[str, Any]) -> list[Any]:
        self._take_usage(event.get("usage"))
        stop = (event.get("delta") or {}).get("stop_reason")
        json_answer = self._json_tool is not None and not self._saw_tool
        return self._emit({}, finish_reason(stop, json_answer))

    def _message_stop(self, event: dict[str, Any]) -> list[Any]:
        self._done = True
        return [self._usage_chunk()]

    def _error(self, event: dict[str, Any]) -> list[Any]:
        raw = json.dumps(event).encode()
        raise anthropic_error(self._call, 0, {}, raw)

    # ---- StreamDecoder ----------------------------------------------------------------------
    def _event(self, name: str | None, data: bytes) -> list[Any]:
        event = stream_event_object(self._call, data, "Anthropic")
        if event is None:
            return []
        handler = self._handlers.get(str(event.get("type") or name))
        return handler(event) if handler is not None else []  # ping and unknown events

    def feed(self, line: bytes) -> list[Any]:
        """Chunks completed by this body line. Raises the mapped error on an ``error``
        event."""
        ev = self._sse.feed(line)
        if ev is None:
            return []
        return self._event(*ev)

    def finish(self) -> list[Any]:
        """Chunks of a last unterminated event; raises :class:`APIConnectionError` when the
        stream ended before ``message_stop``."""
        ev = self._sse.flush()
        out = self._event(*ev) if ev is not None else []
        if not self._done:
            raise APIConnectionError(
                "Anthropic stream ended before message_stop: the reply was cut",
                llm_provider=self._call.provider, model=self._call.model)
        return out
