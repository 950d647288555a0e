"""The mock's answers for the call types served over chat elsewhere (Anthropic's Messages
API, OpenAI's Responses API): the mock's chat reply to the same request, translated by the
call type's bridge exactly as a real chat wire's would be, so tools, structured output and
streams follow the request here too."""

from __future__ import annotations

import importlib
from typing import Any

from ..base import Call

__all__ = ["BRIDGES", "bridged_chunks", "bridged_result"]

BRIDGES = {"anthropic_messages": "llmrelay.providers.bridges.messages_chat",
           "responses": "llmrelay.providers.bridges.responses_chat"}


def _bridge(call: Call) -> Any:
    from . import MockProvider

    return importlib.import_module(BRIDGES[call.call_type]).create(MockProvider(call.spec))


def _given(call: Call, mock: Any) -> Any:
    """A ``mock_response`` that is already a whole reply of the call type, or None."""
    if not isinstance(mock, dict):
        return None
    if call.call_type == "anthropic_messages" and mock.get("type") == "message":
        from ...types.anthropic_messages import AnthropicMessagesResponse

        return AnthropicMessagesResponse(**{"model": call.model, **mock})
    return None


def bridged_result(call: Call, mock: Any, tool_calls: list[Any] | None) -> Any:
    from . import mock_result

    given = _given(call, mock)
    if given is not None:
        return given
    bridge = _bridge(call)
    chat = bridge.to_chat(call)
    return bridge.from_chat(call, chat, mock_result(chat, mock, tool_calls))


def bridged_chunks(call: Call, mock: Any, tool_calls: list[Any] | None) -> list[Any]:
    from . import mock_chunks

    bridge = _bridge(call)
    chat = bridge.to_chat(call)
    converter = bridge.converter(call, chat)
    out: list[Any] = []
    for chunk in mock_chunks(chat, mock, tool_calls):
        out += converter.feed(chunk)
    out += converter.finish()
    return out
