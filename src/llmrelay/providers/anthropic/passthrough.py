"""Anthropic's own Messages API as a call type (``anthropic_messages``): the request goes
to ``/v1/messages`` as the caller wrote it, and the reply comes back as it was sent.

Streams are relayed event by event: each :class:`~llmrelay.types.AnthropicEvent` holds
the upstream event's bytes unchanged (its ``data:`` line is not re-serialised), parsed
once for usage and the callbacks' assembled message; the ``message_delta`` event carries
the whole call's usage (the input counts of ``message_start`` with the output counts).
"""

from __future__ import annotations

from typing import Any

from ...exceptions import APIConnectionError, BadRequestError, LLMRelayError
from ...types.anthropic_messages import AnthropicEvent, AnthropicMessagesResponse, AnthropicUsage
from ..base import (
    ANTHROPIC_MESSAGES_PARAMS,
    Call,
    HTTPRequest,
    decode_json,
    stream_event_object,
)
from ..sse import SSEDecoder
from .response import anthropic_error
from .translate import messages_url

__all__ = ["MessagesDecoder", "MessagesPassthrough", "messages_body"]


def messages_body(call: Call) -> dict[str, Any]:
    """The request body: the caller's fields, in Anthropic's names."""
    body: dict[str, Any] = {"model": call.model, "messages": call.messages, **call.params}
    if "max_tokens" not in body:
        raise BadRequestError("`max_tokens` is required by the Messages API",
                              llm_provider=call.provider, model=call.model, param="max_tokens")
    if call.stream:
        body["stream"] = True
    if call.extra_body:
        body.update(call.extra_body)
    return body


class MessagesDecoder:
    """SSE lines of a Messages stream -> :class:`AnthropicEvent` (the same bytes)."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._sse = SSEDecoder()
        self._usage: dict[str, Any] = {}
        self._done = False

    def _event(self, name: str | None, raw: bytes) -> list[AnthropicEvent]:
        data = stream_event_object(self._call, raw, "Anthropic")
        if data is None:
            return []
        kind = str(data.get("type") or name)
        if kind == "error":
            raise anthropic_error(self._call, 0, {}, raw)
        ev = AnthropicEvent.of(name or kind, raw, data)
        if kind == "message_start":
            self._usage.update((data.get("message") or {}).get("usage") or {})
        elif kind == "message_delta":
            self._usage.update({k: v for k, v in (data.get("usage") or {}).items()
                                if v is not None})
            ev.usage = AnthropicUsage(**self._usage)
        elif kind == "message_stop":
            self._done = True
        return [ev]

    def feed(self, line: bytes) -> list[AnthropicEvent]:
        ev = self._sse.feed(line)
        return [] if ev is None else self._event(*ev)

    def finish(self) -> list[AnthropicEvent]:
        ev = self._sse.flush()
        out = self._event(*ev) if ev is not None else []
        if not self._done:
            raise APIConnectionError("Anthropic stream ended before message_stop: the reply "
                                     "was cut", llm_provider=self._call.provider,
                                     model=self._call.model)
        return out


class MessagesPassthrough:
    """The ``anthropic_messages`` call type on Anthropic's wire."""

    def __init__(self, wire: Any) -> None:
        self.wire = wire
        self.spec = wire.spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        return ANTHROPIC_MESSAGES_PARAMS

    def build_request(self, call: Call) -> HTTPRequest:
        base = self.wire._base(call)
        self.wire._check(call, base)
        return HTTPRequest("POST", messages_url(base), self.wire.headers(call),
                           messages_body(call))

    def count_tokens_request(self, call: Call) -> HTTPRequest:
        """``POST /v1/messages/count_tokens`` for the same model and prompt."""
        base = self.wire._base(call)
        self.wire._check(call, base)
        body = {"model": call.model, "messages": call.messages,
                **{k: v for k, v in call.params.items()
                   if k in ("system", "tools", "tool_choice", "thinking")}}
        return HTTPRequest("POST", messages_url(base) + "/count_tokens",
                           self.wire.headers(call), body)

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> AnthropicMessagesResponse:
        data = decode_json(call, status, headers, body)
        if not isinstance(data, dict) or data.get("type") == "error":
            raise anthropic_error(call, status if status >= 400 else 0, headers, body)
        return AnthropicMessagesResponse.from_dict(data)  # type: ignore[no-any-return]

    def stream_decoder(self, call: Call) -> MessagesDecoder:
        return MessagesDecoder(call)

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        return anthropic_error(call, status, headers, body)
