"""What every bridge shares: the provider contract in terms of the wrapped wire's chat
translation (:class:`ChatBridge`), and the stream decoder that turns the wire's chat
chunks into the call type's events (:class:`BridgedDecoder`)."""

from __future__ import annotations

from typing import Any, Protocol

from ...exceptions import LLMRelayError
from ..base import Call, HTTPRequest

__all__ = ["BridgedDecoder", "ChatBridge", "EventConverter"]


class EventConverter(Protocol):
    """Chat chunks in, the call type's stream events out."""

    def feed(self, chunk: Any) -> list[Any]: ...

    def finish(self) -> list[Any]: ...


class BridgedDecoder:
    """The wrapped wire's stream decoder, its chunks converted as they come."""

    def __init__(self, inner: Any, converter: EventConverter) -> None:
        self.inner = inner
        self.converter = converter
        self.raw_bytes = bool(getattr(inner, "raw_bytes", False))

    def feed(self, piece: bytes) -> list[Any]:
        out: list[Any] = []
        for chunk in self.inner.feed(piece):
            out += self.converter.feed(chunk)
        return out

    def finish(self) -> list[Any]:
        out: list[Any] = []
        for chunk in self.inner.finish():
            out += self.converter.feed(chunk)
        return out + self.converter.finish()


class ChatBridge:
    """A call type served through ``inner``'s chat completions. Subclasses say how a call
    becomes a chat call (:meth:`to_chat`), how a chat reply comes back (:meth:`from_chat`)
    and how a chat stream does (:meth:`converter`)."""

    params: frozenset[str] = frozenset()

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.spec = inner.spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        return self.params

    def to_chat(self, call: Call) -> Call:
        raise NotImplementedError

    def from_chat(self, call: Call, chat: Call, response: Any) -> Any:
        raise NotImplementedError

    def converter(self, call: Call, chat: Call) -> EventConverter:
        raise NotImplementedError

    def build_request(self, call: Call) -> HTTPRequest:
        req: HTTPRequest = self.inner.build_request(self.to_chat(call))
        return req

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        chat = self.to_chat(call)
        return self.from_chat(call, chat, self.inner.parse_response(chat, status, headers, body))

    def stream_decoder(self, call: Call) -> BridgedDecoder:
        chat = self.to_chat(call)
        return BridgedDecoder(self.inner.stream_decoder(chat), self.converter(call, chat))

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        err: LLMRelayError = self.inner.map_error(self.to_chat(call), status, headers, body)
        return err

    def __getattr__(self, name: str) -> Any:
        """The wire's optional ``authorize`` (SigV4, OAuth), applied to the chat call."""
        if name == "authorize" and hasattr(self.inner, "authorize"):
            inner = self.inner

            def authorize(call: Call, req: HTTPRequest, may_block: bool = True) -> bool:
                return bool(inner.authorize(self.to_chat(call), req, may_block=may_block))
            return authorize
        raise AttributeError(name)
