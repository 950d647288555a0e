"""Anthropic's Messages API (``anthropic_messages``) on wires that do not speak it: the
request through the wire's chat completions (:mod:`.messages_in`), the reply and the
stream back in Anthropic's shapes (:mod:`.messages_out`)."""

from __future__ import annotations

from typing import Any

from ..base import ANTHROPIC_MESSAGES_PARAMS, Call
from .base import ChatBridge
from .messages_in import to_chat_call
from .messages_out import MessagesStream, chat_to_message

__all__ = ["MessagesOverChat", "create"]


class MessagesOverChat(ChatBridge):
    """``anthropic_messages`` through ``inner``'s chat translation."""

    params = ANTHROPIC_MESSAGES_PARAMS

    def to_chat(self, call: Call) -> Call:
        return to_chat_call(call)

    def from_chat(self, call: Call, chat: Call, response: Any) -> Any:
        return chat_to_message(call, chat, response)

    def converter(self, call: Call, chat: Call) -> MessagesStream:
        return MessagesStream(call)


def create(inner: Any) -> MessagesOverChat:
    return MessagesOverChat(inner)
