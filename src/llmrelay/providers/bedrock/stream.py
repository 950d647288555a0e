"""ConverseStream replies -> OpenAI chunks.

The body is an AWS event stream (``application/vnd.amazon.eventstream``): binary frames of
prelude (lengths + CRC32), headers and payload, ending in a CRC32 of the whole frame. The
frames are decoded incrementally, CRCs checked, by botocore's ``EventStreamBuffer`` (the
decoder is fed raw byte chunks, ``raw_bytes = True``). Each frame's ``:message-type`` is
``event`` (``:event-type`` names it), ``exception`` (``:exception-type``, a modelled error
such as ``throttlingException``) or ``error`` (``:error-code``/``:error-message``).

Events become chunks: ``messageStart`` -> role chunk; ``contentBlockStart`` with ``toolUse``
-> the tool call's id and name; ``contentBlockDelta`` -> content, tool arguments or
reasoning (a reasoning block's text and signature are also sent as ``thinking_blocks`` when
it stops); ``messageStop`` -> the finish reason; ``metadata`` -> a usage chunk
(``choices == []``). A stream cut before ``messageStop`` raises APIConnectionError.
"""

from __future__ import annotations

import time
from typing import Any

from ...exceptions import APIConnectionError
from ...types import ModelResponseStream, new_id
from ..anthropic.response import JSON_TOOL, json_tool_name
from ..base import Call, stream_event_object
from .response import error_from_event, finish_reason, usage_from

__all__ = ["BedrockStreamDecoder", "EventStreamReader"]


class EventStreamReader:
    """Raw bytes in, ``(headers, payload)`` frames out; CRC and length errors become
    :class:`APIConnectionError` (a corrupt stream is a transport failure)."""

    def __init__(self, call: Call) -> None:
        from botocore.eventstream import EventStreamBuffer

        self._call = call
        self._buffer = EventStreamBuffer()

    def feed(self, data: bytes) -> list[tuple[dict[str, Any], bytes]]:
        from botocore.eventstream import ParserError

        self._buffer.add_data(data)
        out = []
        try:
            for message in self._buffer:
                out.append((message.headers, message.payload))
        except ParserError as exc:
            raise APIConnectionError(
                f"Bedrock sent a corrupt event-stream frame: {type(exc).__name__}: {exc}",
                llm_provider=self._call.provider, model=self._call.model) from exc
        return out

    def pending(self) -> bool:
        """Bytes of an incomplete frame are still buffered."""
        return bool(getattr(self._buffer, "_data", b""))


class BedrockStreamDecoder:
    """One per ConverseStream call; see the module docstring."""

    raw_bytes = True

    def __init__(self, call: Call) -> None:
        self._call = call
        self._reader = EventStreamReader(call)
        self._id = new_id()
        self._created = int(time.time())
        self._json_tool = json_tool_name(call)
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self._json_blocks: set[int] = set()
        self._reasoning: dict[int, dict[str, Any]] = {}
        self._saw_tool = False
        self._stopped = False
        self._usage_sent = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> ModelResponseStream:
        return ModelResponseStream(id=self._id, created=self._created, model=self._call.model,
                                   choices=[{"index": 0, "delta": delta,
                                             "finish_reason": finish}])

    def feed(self, data: bytes) -> list[Any]:
        out: list[Any] = []
        for headers, payload in self._reader.feed(data):
            out += self._frame(headers, payload)
        return out

    def finish(self) -> list[Any]:
        if not self._stopped or self._reader.pending():
            raise APIConnectionError("Bedrock stream ended before messageStop: the reply was "
                                     "cut", llm_provider=self._call.provider,
                                     model=self._call.model)
        return []

    def _frame(self, headers: dict[str, Any], payload: bytes) -> list[Any]:
        kind = headers.get(":message-type")
        if kind == "exception":
            raise error_from_event(self._call, str(headers.get(":exception-type")), payload)
        if kind == "error":
            raise error_from_event(self._call, str(headers.get(":error-code")), payload,
                                   str(headers.get(":error-message") or "") or None)
        event = stream_event_object(self._call, payload, "Bedrock") if payload else {}
        handler = getattr(self, "_on_" + str(headers.get(":event-type")), None)
        return handler(event) if handler is not None and event is not None else []

    def _on_messageStart(self, event: dict[str, Any]) -> list[Any]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_contentBlockStart(self, event: dict[str, Any]) -> list[Any]:
        use = (event.get("start") or {}).get("toolUse")
        index = int(event.get("contentBlockIndex", 0))
        if not isinstance(use, dict):
            return []
        if self._json_tool and use.get("name") == JSON_TOOL:
            self._json_blocks.add(index)
            return []
        self._saw_tool = True
        position = self._tools[index] = len(self._tools)
        return [self._chunk({"tool_calls": [{
            "index": position, "id": use.get("toolUseId"), "type": "function",
            "function": {"name": use.get("name"), "arguments": ""}}]})]

    def _on_contentBlockDelta(self, event: dict[str, Any]) -> list[Any]:
        delta = event.get("delta") or {}
        index = int(event.get("contentBlockIndex", 0))
        if isinstance(delta.get("text"), str):
            return [self._chunk({"content": delta["text"]})] if delta["text"] else []
        use = delta.get("toolUse")
        if isinstance(use, dict) and use.get("input"):
            if index in self._json_blocks:
                return [self._chunk({"content": use["input"]})]
            position = self._tools.get(index)
            if position is None:
                return []
            return [self._chunk({"tool_calls": [{"index": position,
                                                 "function": {"arguments": use["input"]}}]})]
        rc = delta.get("reasoningContent")
        if isinstance(rc, dict):
            state = self._reasoning.setdefault(index, {"text": [], "signature": None,
                                                       "redacted": None})
            if rc.get("signature"):
                state["signature"] = rc["signature"]
            if rc.get("redactedContent") is not None:
                state["redacted"] = rc["redactedContent"]
            if rc.get("text"):
                state["text"].append(rc["text"])
                return [self._chunk({"reasoning_content": rc["text"]})]
        return []

    def _on_contentBlockStop(self, event: dict[str, Any]) -> list[Any]:
        state = self._reasoning.pop(int(event.get("contentBlockIndex", 0)), None)
        if state is None:
            return []
        if state["redacted"] is not None:
            block = {"type": "redacted_thinking", "data": state["redacted"]}
        else:
            block = {"type": "thinking", "thinking": "".join(state["text"]),
                     "signature": state["signature"]}
        return [self._chunk({"thinking_blocks": [block]})]

    def _on_messageStop(self, event: dict[str, Any]) -> list[Any]:
        self._stopped = True
        json_answer = bool(self._json_blocks) and not self._saw_tool
        return [self._chunk({}, finish_reason(event.get("stopReason"), json_answer))]

    def _on_metadata(self, event: dict[str, Any]) -> list[Any]:
        if self._usage_sent or not isinstance(event.get("usage"), dict):
            return []
        self._usage_sent = True
        return [ModelResponseStream(id=self._id, created=self._created, model=self._call.model,
                                    choices=[], usage=usage_from(event["usage"]))]
