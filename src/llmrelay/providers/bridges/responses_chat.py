"""OpenAI's Responses API (``responses``) on wires that do not offer it: the request
through the wire's chat completions (:mod:`.responses_in`), the reply and the stream back
as Responses objects and typed events (:mod:`.responses_out`). The turns a
``previous_response_id`` stands for arrive in ``call.state``, resolved by the Responses
layer (:mod:`llmrelay._responses_state`), which also keeps each new turn."""

from __future__ import annotations

from typing import Any

from ..base import RESPONSES_PARAMS, Call
from .base import ChatBridge
from .responses_in import to_chat_call
from .responses_out import ResponsesStream, chat_to_response

__all__ = ["ResponsesOverChat", "create"]


class ResponsesOverChat(ChatBridge):
    """``responses`` through ``inner``'s chat translation."""

    params = RESPONSES_PARAMS

    def to_chat(self, call: Call) -> Call:
        return to_chat_call(call)

    def from_chat(self, call: Call, chat: Call, response: Any) -> Any:
        return chat_to_response(call, chat, response)

    def converter(self, call: Call, chat: Call) -> ResponsesStream:
        return ResponsesStream(call)


def create(inner: Any) -> ResponsesOverChat:
    return ResponsesOverChat(inner)
