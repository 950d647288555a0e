"""A chat completion (or a chat stream) as Anthropic's Messages API answers it.

Content: ``reasoning_content`` (or the reply's ``thinking_blocks``) as ``thinking`` blocks,
the text as a ``text`` block, tool calls as ``tool_use`` blocks (``arguments`` parsed as
the ``input`` object). ``finish_reason`` -> ``stop_reason``: ``stop`` -> ``end_turn``,
``length`` -> ``max_tokens``, ``tool_calls`` -> ``tool_use``, ``content_filter`` ->
``refusal``. Usage: ``input_tokens`` counts the prompt without its cached part, which is
``cache_read_input_tokens`` (and ``cache_creation_input_tokens`` where the wire reports
writes), as Anthropic counts them.

A stream becomes Anthropic's event sequence: ``message_start``, per block
``content_block_start`` / ``content_block_delta``... / ``content_block_stop``, then
``message_delta`` (stop reason and the whole usage) and ``message_stop``, emitted once the
chat stream ends (its usage chunk comes after the finish reason).
"""

from __future__ import annotations

import json
from typing import Any

from ...types.anthropic_messages import AnthropicEvent, AnthropicMessagesResponse, AnthropicUsage
from ...types.responses import new_id
from ..base import Call

__all__ = ["MessagesStream", "anthropic_usage", "chat_to_message", "stop_reason"]

_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
         "function_call": "tool_use", "content_filter": "refusal"}


def stop_reason(finish: Any) -> str:
    return _STOP.get(str(finish), "end_turn") if finish else "end_turn"


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def anthropic_usage(usage: Any) -> dict[str, int]:
    """Anthropic's usage fields for an OpenAI-style usage."""
    prompt = int(_get(usage, "prompt_tokens") or 0)
    read = _get(usage, "cache_read_input_tokens")
    if read is None:
        read = _get(_get(usage, "prompt_tokens_details"), "cached_tokens")
    read = int(read or 0)
    write = int(_get(usage, "cache_creation_input_tokens") or 0)
    return {"input_tokens": max(prompt - read - write, 0),
            "output_tokens": int(_get(usage, "completion_tokens") or 0),
            "cache_creation_input_tokens": write, "cache_read_input_tokens": read}


def _input(arguments: Any) -> Any:
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        return {"_raw_arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def chat_to_message(call: Call, chat: Call, response: Any) -> AnthropicMessagesResponse:
    """The Messages API reply for a chat ``response``."""
    choice = (response.choices or [None])[0]
    msg = getattr(choice, "message", None)
    content: list[dict[str, Any]] = []
    blocks = getattr(msg, "thinking_blocks", None)
    thought = getattr(msg, "reasoning_content", None)
    if blocks:
        content += [dict(b) for b in blocks if isinstance(b, dict)]
    elif thought:
        content.append({"type": "thinking", "thinking": thought, "signature": ""})
    text = getattr(msg, "content", None)
    if text:
        content.append({"type": "text", "text": text})
    for tc in getattr(msg, "tool_calls", None) or []:
        content.append({"type": "tool_use", "id": tc.id or new_id("toolu_"),
                        "name": tc.function.name, "input": _input(tc.function.arguments)})
    return AnthropicMessagesResponse(
        id=response.id, model=response.model or call.model, content=content,
        stop_reason=stop_reason(getattr(choice, "finish_reason", None)), stop_sequence=None,
        usage=anthropic_usage(response.usage))


class MessagesStream:
    """Chat chunks in, :class:`AnthropicEvent` out (see the module docstring)."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.started = False
        self.index = -1
        self.open: str | None = None  # "text" | "thinking" | "tool"
        self.tools: dict[int, int] = {}  # chat tool-call index -> block index
        self.finish_reason: Any = None
        self.usage: Any = None
        self.done = False

    def _start(self, chunk: Any) -> list[AnthropicEvent]:
        self.started = True
        message: dict[str, Any] = {
                   "id": getattr(chunk, "id", None) or new_id("msg_"), "type": "message",
                   "role": "assistant", "model": getattr(chunk, "model", None) or self.call.model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 0, "output_tokens": 0}}
        return [AnthropicEvent.build({"type": "message_start", "message": message})]

    def _close(self) -> list[AnthropicEvent]:
        if self.open is None:
            return []
        self.open = None
        return [AnthropicEvent.build({"type": "content_block_stop", "index": self.index})]

    def _open(self, kind: str, block: dict[str, Any]) -> list[AnthropicEvent]:
        out = self._close()
        self.index += 1
        self.open = kind
        out.append(AnthropicEvent.build({"type": "content_block_start", "index": self.index,
                                         "content_block": block}))
        return out

    def _delta(self, delta: dict[str, Any]) -> AnthropicEvent:
        return AnthropicEvent.build({"type": "content_block_delta", "index": self.index,
                                     "delta": delta})

    def _tool(self, tc: Any) -> list[AnthropicEvent]:
        out: list[AnthropicEvent] = []
        pos = int(getattr(tc, "index", 0) or 0)
        fn = getattr(tc, "function", None)
        if pos not in self.tools:
            out += self._open("tool", {"type": "tool_use", "id": tc.id or new_id("toolu_"),
                                       "name": getattr(fn, "name", None) or "", "input": {}})
            self.tools[pos] = self.index
        args = getattr(fn, "arguments", None)
        if args and self.tools[pos] == self.index:
            out.append(self._delta({"type": "input_json_delta", "partial_json": args}))
        return out

    def feed(self, chunk: Any) -> list[AnthropicEvent]:
        out = [] if self.started else self._start(chunk)
        if getattr(chunk, "usage", None) is not None and _get(chunk.usage, "total_tokens"):
            self.usage = chunk.usage
        for choice in getattr(chunk, "choices", None) or []:
            if (choice.index or 0) != 0:
                continue
            d = choice.delta
            thought = getattr(d, "reasoning_content", None)
            if thought:
                if self.open != "thinking":
                    out += self._open("thinking", {"type": "thinking", "thinking": "",
                                                   "signature": ""})
                out.append(self._delta({"type": "thinking_delta", "thinking": thought}))
            if d.content:
                if self.open != "text":
                    out += self._open("text", {"type": "text", "text": ""})
                out.append(self._delta({"type": "text_delta", "text": d.content}))
            for tc in d.tool_calls or []:
                out += self._tool(tc)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        return out

    def finish(self) -> list[AnthropicEvent]:
        if self.done:
            return []
        self.done = True
        out = [] if self.started else self._start(None)
        out += self._close()
        usage = anthropic_usage(self.usage)
        delta = AnthropicEvent.build({"type": "message_delta", "delta": {
            "stop_reason": stop_reason(self.finish_reason), "stop_sequence": None},
            "usage": usage})
        delta.usage = AnthropicUsage(**usage)
        return [*out, delta, AnthropicEvent.build({"type": "message_stop"})]
