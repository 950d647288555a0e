"""The request contract of Anthropic's Messages API on the proxy: ``POST /v1/messages``
(any model: Anthropic's natively, the others through their chat API) and
``POST /v1/messages/count_tokens``. Ranges follow Anthropic's API reference
(``temperature`` 0-1, ``max_tokens`` >= 1, ``tool_choice.type`` one of ``auto``, ``any``,
``tool``, ``none``); block types Anthropic keeps adding are checked as objects with a
``type``. Errors go out in Anthropic's shape, streams as its named events."""

from __future__ import annotations

from typing import Any

from ..limits import Limits
from .checks import (
    INT64,
    Any_,
    AnyOf,
    Array,
    Boolean,
    Check,
    Integer,
    Number,
    Object,
    String,
    invalid,
)
from .endpoints import Endpoint, add_endpoint

__all__ = ["COUNT_TOKENS", "MESSAGES", "AnthropicMessages"]

_BLOCK = Object({"type": String(nullable=False)}, required=("type",))
_BLOCKS = Array(_BLOCK, min_items=1)


_ROLES = ("user", "assistant", "system")


class AnthropicMessages(Check):
    """``messages``: a non-empty array of ``user`` / ``assistant`` turns (and ``system``
    ones, which Claude Code sends mid-conversation under Anthropic's
    ``mid-conversation-system`` beta) whose content is a string or a non-empty array of
    typed blocks."""

    expected = "an array of message objects"
    nullable = False
    _CONTENT = AnyOf(String(), _BLOCKS, expected="a string or an array of content blocks")

    def check(self, value: Any, path: str, limits: Limits) -> None:
        Array(min_items=1, limit="max_messages")(value, path, limits)
        for i, m in enumerate(value):
            where = f"{path}[{i}]"
            Object()(m, where, limits)
            if not isinstance(m, dict):
                continue
            String(_ROLES, nullable=False)(m.get("role"), f"{where}.role", limits)
            if m.get("content") is None:
                raise invalid(f"{where}.content", f"{where}.content: Field required",
                              "missing_required_parameter")
            self._CONTENT(m["content"], f"{where}.content", limits)

    def schema(self, limits: Limits) -> dict[str, Any]:
        message = {"type": "object", "required": ["role", "content"], "properties": {
            "role": {"type": "string", "enum": list(_ROLES)},
            "content": self._CONTENT.schema(limits)}}
        return {"type": "array", "items": message, "minItems": 1,
                "maxItems": limits.max_messages}


_MODEL = String(min_len=1, nullable=False)
_SYSTEM = AnyOf(String(), Array(_BLOCK), expected="a string or an array of text blocks")
_TOOLS = Array(Object({"name": String(min_len=1, nullable=False)}, required=("name",)),
               max_items=128)
_TOOL_CHOICE = Object({"type": String(("auto", "any", "tool", "none"), nullable=False),
                       "name": String(), "disable_parallel_tool_use": Boolean()},
                      required=("type",))
_THINKING = Object({"type": String(nullable=False), "budget_tokens": Integer(1, INT64)},
                   required=("type",))

MESSAGES = add_endpoint(Endpoint(
    call_type="anthropic_messages", paths=("/v1/messages",),
    summary="Create a message (Anthropic's Messages API) with any model",
    required={"model": _MODEL, "messages": AnthropicMessages(),
              "max_tokens": Integer(1, INT64)},
    params={"system": _SYSTEM, "stop_sequences": Array(String(), max_items=256),
            "temperature": Number(0, 1), "top_p": Number(0, 1), "top_k": Integer(0, INT64),
            "tools": _TOOLS, "tool_choice": _TOOL_CHOICE, "thinking": _THINKING,
            "service_tier": String(), "container": AnyOf(String(), Object(),
                                                           expected="a string or an object"),
            "mcp_servers": Array(Object()), "context_management": Object(),
            "cache_control": Object(), "output_config": Object(), "output_format": Object(),
            "speed": String(), "inference_geo": String(), "diagnostics": Any_(),
            "user_profile_id": String(), "workspace_id": String(), "stream": Boolean()},
    response="AnthropicMessage", stream_style="events", errors="anthropic",
    forward_headers=("anthropic-beta",)))

COUNT_TOKENS = add_endpoint(Endpoint(
    call_type="count_tokens", paths=("/v1/messages/count_tokens",),
    summary="Count the input tokens of a Messages API request (Anthropic's own count for "
            "Anthropic models, an estimate for the others)",
    required={"model": _MODEL, "messages": AnthropicMessages()},
    params={"system": _SYSTEM, "tools": _TOOLS, "tool_choice": _TOOL_CHOICE,
            "thinking": _THINKING, "cache_control": Object(), "output_config": Object(),
            "output_format": Object(), "speed": String(), "user_profile_id": String(),
            "workspace_id": String()},
    streams=False, response="AnthropicTokenCount", errors="anthropic",
    forward_headers=("anthropic-beta",), accounted=False))
