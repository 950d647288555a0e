"""Server-sent events exactly as OpenAI sends them, and the fast JSON response.

A stream is ``data: {json}\\n\\n`` per chunk, then ``data: [DONE]\\n\\n``.
:class:`SSEResponse` watches for the client going away while it streams: a disconnect
cancels the producing task and closes the chunk generator, whose ``finally`` blocks then
close the upstream stream (which cancels the upstream request and emits its one
"abandoned" callback event). ``on_disconnect`` runs first when the client left (so the
upstream stream is closed as abandoned rather than torn by the cancellation), and
``on_close`` runs last, whatever happened, even when the generator never started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..types import ChatCompletionDeltaToolCall, Delta, Function, OpenAIObject, Usage

__all__ = ["DONE", "SSEResponse", "dumps", "encode_event", "json_response"]

DONE = b"data: [DONE]\n\n"


_SPARSE = (Delta, ChatCompletionDeltaToolCall, Function)


def _default(obj: Any) -> Any:
    """How the JSON encoder writes response objects: their public fields. Deltas (and their
    tool calls) leave out null fields, as OpenAI writes them; a usage without tokens (what
    text-completion chunks carry) is written as null. Other objects: ``model_dump()`` when
    they have it (pydantic), ISO 8601 for datetimes, else ``str()``."""
    if not isinstance(obj, OpenAIObject):
        dump = getattr(obj, "model_dump", None)
        if callable(dump):
            return dump()
        iso = getattr(obj, "isoformat", None)
        return iso() if callable(iso) else str(obj)
    fields = obj.__dict__
    kind = type(obj)
    if kind in _SPARSE:
        return {k: v for k, v in fields.items() if v is not None and k[0] != "_"}
    if kind is Usage and not (fields.get("total_tokens") or fields.get("prompt_tokens")):
        return None
    return {k: v for k, v in fields.items() if k[0] != "_"}


# The C encoder walks dicts and lists itself and calls _default once per response object.
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes of a response object, a chunk, or plain data."""
    return _encoder.encode(obj).encode("utf-8")


def encode_event(chunk: Any) -> bytes:
    """One SSE event for a chunk: an OpenAI object, a dict, or a ready string."""
    if isinstance(chunk, (bytes, bytearray)):
        data = bytes(chunk)
        return data if data.endswith(b"\n\n") else data.rstrip(b"\n") + b"\n\n"
    if isinstance(chunk, str):
        if chunk.startswith("data:"):
            return chunk.rstrip("\n").encode("utf-8") + b"\n\n"
        return b"data: " + chunk.encode("utf-8") + b"\n\n"
    return b"data: " + _encoder.encode(chunk).encode("utf-8") + b"\n\n"


def json_response(obj: Any, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(obj), status_code=status, headers=headers,
                    media_type="application/json")


class SSEResponse(Response):
    """A ``text/event-stream`` response fed by an async generator of bytes."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[bytes, None],
                 headers: Mapping[str, str] | None = None,
                 on_close: Callable[[], Awaitable[None]] | None = None,
                 on_disconnect: Callable[[], None] | None = None) -> None:
        self.events = events
        self.on_close = on_close
        self.on_disconnect = on_disconnect
        self.status_code = 200
        self.background = None
        hdrs = {"cache-control": "no-cache", "x-accel-buffering": "no"}
        hdrs.update(headers or {})
        self.init_headers(hdrs)

    async def _produce(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        async for data in self.events:
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _watch(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        producer = asyncio.ensure_future(self._produce(send))
        watcher = asyncio.ensure_future(self._watch(receive))
        try:
            await asyncio.wait((producer, watcher), return_when=asyncio.FIRST_COMPLETED)
            if watcher.done() and not producer.done() and self.on_disconnect is not None:
                self.on_disconnect()  # before the producer is cancelled mid-read
        finally:
            for task in (producer, watcher):
                if not task.done():
                    task.cancel()
            for task in (producer, watcher):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            try:
                await self.events.aclose()
            finally:
                if self.on_close is not None:
                    await self.on_close()
        if producer.done() and not producer.cancelled():
            exc = producer.exception()
            if exc is not None and not isinstance(exc, OSError):
                raise exc
