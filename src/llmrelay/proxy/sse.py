"""Server-sent events exactly as OpenAI sends them, and the fast JSON response.

A stream is ``data: {json}\\n\\n`` per chunk, then ``data: [DONE]\\n\\n``.
:class:`SSEResponse` watches for the client going away while it streams: a disconnect
cancels the producing and closes the chunk generator, whose ``finally`` blocks then
close the upstream stream (which cancels the upstream request and emits its one
"abandoned" callback event). ``on_disconnect`` runs first when the client left (so the
upstream stream is closed as abandoned rather than torn by the cancellation), and
``on_close`` runs last, whatever happened, even when the generator never started.

Under ``llmrelay serve`` the events are produced in the request's own task and the
connection reports its loss (:meth:`~llmrelay.proxy.protocol.GuardedHttpToolsProtocol.
watch_disconnect`), which cancels that task; under another server two tasks run, one
producing and one waiting on ``receive()`` for ``http.disconnect``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
from typing import Any

from starlette.types import Receive, Scope, Send

from ..types import (
    ChatCompletionDeltaToolCall,
    Delta,
    Function,
    ModelResponseStream,
    OpenAIObject,
    Usage,
)
from ..types.lazy_chunks import LazyChunk, parsed
from .lean import LeanResponse
from .limits import CONNECTION

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
    kind = type(obj)
    if kind is LazyChunk:
        parsed(obj)  # a chunk still as bytes: its fields
        kind = ModelResponseStream
    fields = obj.__dict__
    if kind in _SPARSE:
        return {k: v for k, v in fields.items() if v is not None and k[0] != "_"}
    if kind is Usage and not (fields.get("total_tokens") or fields.get("prompt_tokens")):
        return None
    return {k: v for k, v in fields.items() if k[0] != "_"}


# The C encoder walks dicts and lists itself and calls _default once per response object.
# It is made once here: ``JSONEncoder.encode`` would build a new one on every call, which
# costs as much as encoding a stream chunk. No circular-reference check (``markers`` None):
# response objects are trees. NaN and Infinity are written as ``json.dumps`` writes them.
_encode: Callable[[Any, int], list[str]] | None = None
if c_make_encoder is not None and c_encode_basestring is not None:
    _encode = c_make_encoder(None, _default, c_encode_basestring, None, ":", ",", False, False,
                             True)
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default)


def _text(obj: Any) -> str:
    return "".join(_encode(obj, 0)) if _encode is not None else _encoder.encode(obj)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes of a response object, a chunk, or plain data."""
    return _text(obj).encode("utf-8")


def encode_event(chunk: Any) -> bytes:
    """One SSE event for a chunk: an OpenAI object, a dict, or a ready string."""
    if isinstance(chunk, (bytes, bytearray)):
        data = bytes(chunk)
        return data if data.endswith(b"\n\n") else data.rstrip(b"\n") + b"\n\n"
    if isinstance(chunk, str):
        if chunk.startswith("data:"):
            return chunk.rstrip("\n").encode("utf-8") + b"\n\n"
        return b"data: " + chunk.encode("utf-8") + b"\n\n"
    return b"data: " + _text(chunk).encode("utf-8") + b"\n\n"


def json_response(obj: Any, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> LeanResponse:
    return LeanResponse(dumps(obj), headers, status, "application/json")


class SSEResponse(LeanResponse):
    """A ``text/event-stream`` response fed by an async generator of bytes."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[bytes, None],
                 headers: Mapping[str, str] | None = None,
                 on_close: Callable[[], Awaitable[None]] | None = None,
                 on_disconnect: Callable[[], None] | None = None) -> None:
        self.events = events
        self.on_close = on_close
        self.on_disconnect = on_disconnect
        hdrs = {"cache-control": "no-cache", "x-accel-buffering": "no"}
        if headers:
            hdrs.update(headers)
        super().__init__(None, hdrs)

    async def _produce(self, send: Send, started: bool = False) -> None:
        """Send the events as they come, several in one write when the generator has more
        ready: after each event the next one is started, and when it is there without
        waiting (the upstream's read held several events) it joins the same write. An event
        that has to wait for the upstream never holds back the ones before it.
        ``started``: the status line and headers were written already (see
        :meth:`~.lean.LeanResponse.write_head`)."""
        if not started:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
        anext = self.events.__anext__
        pending: _Resume | None = None
        try:
            data = await anext()
            while True:
                parts: list[bytes] | None = None
                ended = False
                while True:
                    step = anext()
                    try:
                        done, value = _start(step)
                    except StopAsyncIteration:
                        ended = True
                        break
                    except BaseException:
                        await send({"type": "http.response.body", "more_body": True,
                                    "body": data if parts is None else b"".join(parts)})
                        raise
                    if not done:
                        pending = _Resume(step, value)
                        break
                    if parts is None:
                        parts = [data]
                    parts.append(value)
                body = data if parts is None else b"".join(parts)
                if ended:
                    break
                await send({"type": "http.response.body", "body": body, "more_body": True})
                resume, pending = pending, None
                assert resume is not None
                data = await resume
        except StopAsyncIteration:
            pass
        except BaseException as exc:
            # failing (or cancelled) while the next event is half-read: the generator gets
            # the exception where it waits, as it would have without the look-ahead
            if pending is not None:
                with contextlib.suppress(BaseException):
                    await pending.throwing(exc)
            raise
        else:
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _watch(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send,
                       started: bool = False) -> None:
        conn = scope.get(CONNECTION)
        task = asyncio.current_task()
        if conn is None or task is None:
            await self._watching(receive, send, started)
            return
        gone: list[BaseException | None] = []  # one entry once the client left

        def lost() -> None:
            try:
                if self.on_disconnect is not None:
                    self.on_disconnect()  # before the producing is cancelled mid-read
                gone.append(None)
            except BaseException as exc:  # raised in the request's task, not the server's
                gone.append(exc)
            task.cancel()

        if not conn.watch_disconnect(lost):  # the client left already
            await self._watching(receive, send, started)
            return
        failure: BaseException | None = None
        try:
            await self._produce(send, started)
        except asyncio.CancelledError:
            if not gone:
                raise  # not the client's leaving: the server's (shutdown)
            _uncancel(task)
            failure = gone[0]
        except OSError:
            pass
        except BaseException as exc:
            failure = exc
        finally:
            conn.watch_disconnect(None)
            try:
                await self.events.aclose()
            finally:
                if self.on_close is not None:
                    await self.on_close()
        if failure is not None:
            raise failure

    async def _watching(self, receive: Receive, send: Send, started: bool = False) -> None:
        """The events sent by one task while another waits for ``http.disconnect``."""
        producer = asyncio.ensure_future(self._produce(send, started))
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


def _uncancel(task: asyncio.Task[Any]) -> None:
    """Take back a cancellation that was handled (Python 3.11+ counts them)."""
    uncancel = getattr(task, "uncancel", None)
    if uncancel is not None:
        uncancel()


def _start(step: Any) -> tuple[bool, Any]:
    """Run an awaitable until it first suspends: ``(True, result)`` when it finished
    without waiting, else ``(False, what it yielded to the event loop)``, to be passed on by
    awaiting :class:`_Resume`. Its exceptions propagate."""
    try:
        value = step.send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, value


class _Resume:
    """Awaiting this finishes an awaitable that :func:`_start` began: its first yield goes
    to the event loop, then it is driven as ``await`` would (values, exceptions and
    cancellation passed through)."""

    __slots__ = ("exc", "first", "step")

    def __init__(self, step: Any, first: Any) -> None:
        self.step = step
        self.first = first
        self.exc: BaseException | None = None

    def throwing(self, exc: BaseException) -> _Resume:
        """Instead of waiting, raise ``exc`` where the awaitable waits."""
        self.exc = exc
        return self

    def __await__(self) -> Generator[Any, Any, Any]:
        step = self.step
        try:
            yielded = step.throw(self.exc) if self.exc is not None else self.first
            while True:
                try:
                    sent = yield yielded
                except GeneratorExit:
                    step.close()
                    raise
                except BaseException as exc:
                    yielded = step.throw(exc)
                else:
                    yielded = step.send(sent)
        except StopIteration as stop:
            return stop.value
