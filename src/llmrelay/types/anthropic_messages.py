"""Anthropic's Messages API shapes: the message a ``/v1/messages`` call answers with, its
usage, and the streamed events.

A stream yields :class:`AnthropicEvent` objects: ``bytes`` holding the server-sent event
exactly as it goes on the wire (``event: <type>\\ndata: <json>\\n\\n``, as LiteLLM's
``anthropic_messages`` yields them), with the parsed event in ``.data`` and, on the event
that completes it, the call's whole ``.usage``. :func:`assemble_message` rebuilds the
message from a stream's events.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .media import REDACTED, _clone
from .responses import OpenAIObject, new_id

__all__ = ["AnthropicEvent", "AnthropicMessagesResponse", "AnthropicUsage",
           "assemble_message", "redact_blocks"]


class AnthropicUsage(OpenAIObject):
    """``input_tokens`` (not counting the cache), ``output_tokens``,
    ``cache_creation_input_tokens``, ``cache_read_input_tokens``. ``prompt_tokens`` /
    ``completion_tokens`` / ``total_tokens`` give OpenAI's counts (the prompt counts the
    cache reads and writes), so pricing, limits and spend records read every call alike."""

    _fields = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
               "cache_read_input_tokens": 0}

    def _post(self) -> None:
        d = self.__dict__
        for name in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                     "cache_read_input_tokens"):
            d[name] = int(d.get(name) or 0)

    @property
    def prompt_tokens(self) -> int:
        d = self.__dict__
        return int(d["input_tokens"] + d["cache_read_input_tokens"]
                   + d["cache_creation_input_tokens"])

    @property
    def completion_tokens(self) -> int:
        return int(self.__dict__["output_tokens"])

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def prompt_tokens_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {"cached_tokens": self.__dict__["cache_read_input_tokens"]}
        split = self.__dict__.get("cache_creation")
        if isinstance(split, dict) and split:
            details["cache_creation_token_details"] = split
        return details


def redact_blocks(content: Any) -> Any:
    """Content blocks with their text, tool input, thinking and tool results replaced."""
    if isinstance(content, str):
        return REDACTED
    if not isinstance(content, list):
        return content
    out: list[Any] = []
    for block in content:
        if not isinstance(block, dict):
            out.append(REDACTED)
            continue
        b = dict(block)
        for key in ("text", "thinking", "data", "partial_json"):
            if key in b:
                b[key] = REDACTED
        if "input" in b:
            b["input"] = {}
        if "content" in b:
            b["content"] = redact_blocks(b["content"])
        if "source" in b:
            b["source"] = {"type": "redacted"}
        out.append(b)
    return out


class AnthropicMessagesResponse(OpenAIObject):
    """A Messages API reply: ``id``, ``type`` ("message"), ``role``, ``model``, ``content``
    (a list of block dicts: ``text``, ``tool_use``, ``thinking`` ...), ``stop_reason``,
    ``stop_sequence``, ``usage``."""

    _fields = {"id": None, "type": "message", "role": "assistant", "model": None,
               "content": None, "stop_reason": None, "stop_sequence": None, "usage": None}
    _children = {"usage": AnthropicUsage}
    id: str
    model: str | None
    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: AnthropicUsage

    def _post(self) -> None:
        d = self.__dict__
        if d["id"] is None:
            d["id"] = new_id("msg_")
        if d["content"] is None:
            d["content"] = []
        if d["usage"] is None:
            d["usage"] = AnthropicUsage()
        d.setdefault("_hidden_params", {})

    def _redacted(self) -> AnthropicMessagesResponse:
        out: AnthropicMessagesResponse = _clone(self)
        out.__dict__["content"] = redact_blocks(self.content)
        return out


class AnthropicEvent(bytes):
    """One streamed event as sent: its bytes, ``type``, the parsed ``data``, and ``usage``
    (an :class:`AnthropicUsage`) on the event that ends the message's usage
    (``message_delta``; None on the others)."""

    data: dict[str, Any]
    usage: AnthropicUsage | None

    @classmethod
    def of(cls, name: str, raw: bytes, data: dict[str, Any]) -> AnthropicEvent:
        """The event named ``name`` whose ``data:`` line is ``raw`` (sent unchanged)."""
        ev = cls(b"event: " + name.encode() + b"\ndata: " + raw + b"\n\n")
        ev.data = data
        ev.usage = None
        return ev

    @classmethod
    def build(cls, data: dict[str, Any]) -> AnthropicEvent:
        """An event from its parsed form (``data["type"]`` names it)."""
        raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls.of(str(data["type"]), raw, data)

    @property
    def type(self) -> str:
        return str(self.data.get("type"))

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return self.data

    def _redacted(self) -> str:
        return REDACTED


def _delta_into(block: dict[str, Any], delta: dict[str, Any], partial: dict[int, list[str]],
                index: int) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + str(delta.get("text") or "")
    elif kind == "input_json_delta":
        partial.setdefault(index, []).append(str(delta.get("partial_json") or ""))
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + str(delta.get("thinking") or "")
    elif kind == "signature_delta":
        block["signature"] = delta.get("signature")
    elif kind == "citations_delta":
        block.setdefault("citations", []).append(delta.get("citation"))


def assemble_message(events: list[Any], messages: Any = None) -> AnthropicMessagesResponse | None:
    """The message a stream of :class:`AnthropicEvent` (or event dicts) carried; None
    when it never started."""
    message: dict[str, Any] | None = None
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, list[str]] = {}
    usage: dict[str, Any] = {}
    for ev in events:
        data = getattr(ev, "data", ev)
        if not isinstance(data, dict):
            continue
        kind = data.get("type")
        if kind == "message_start":
            message = copy.deepcopy(data.get("message") or {})
            usage.update(message.get("usage") or {})
        elif kind == "content_block_start":
            blocks[int(data.get("index", len(blocks)))] = dict(data.get("content_block") or {})
        elif kind == "content_block_delta":
            index = int(data.get("index", -1))
            if index in blocks:
                _delta_into(blocks[index], data.get("delta") or {}, partial, index)
        elif kind == "message_delta" and message is not None:
            message.update({k: v for k, v in (data.get("delta") or {}).items()})
            usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
    if message is None:
        return None
    for index, parts in partial.items():
        text = "".join(parts)
        try:
            blocks[index]["input"] = json.loads(text) if text else {}
        except ValueError:
            blocks[index]["input"] = {"_partial_json": text}
    message["content"] = [blocks[i] for i in sorted(blocks)]
    message["usage"] = usage
    return AnthropicMessagesResponse(**message)
