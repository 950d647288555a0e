"""What sends a provider's HTTP request: the :class:`Transport` interface, the pooled
default (:class:`HTTPTransport`: httpx for sync calls, :mod:`llmrelay.http1` for async
ones) and :class:`MockTransport` for tests.

``Client(transport=...)`` picks a client's transport. Every transport gets an
:class:`~llmrelay.providers.base.HTTPRequest` whose ``content`` holds the exact bytes to send
(already signed by the provider's auth step when it has one) and returns:

* :class:`Reply` (status, lower-cased headers, body bytes) for a whole reply;
* a stream (:class:`SyncStream` / :class:`AsyncStream`, or anything with ``status``,
  ``headers``, ``read()``, ``chunks()``, ``lines()`` and ``close()``) for a streamed one:
  ``chunks()`` yields the body's bytes as they arrive (binary framings such as AWS
  event-stream decode these), ``lines()`` the body's lines (SSE, NDJSON). A stream always
  releases its connection when closed or left early.

Network failures become :class:`~llmrelay.exceptions.APIConnectionError` or
:class:`~llmrelay.exceptions.Timeout`, with the original chained.

The pooled transport keeps one ``httpx.Client`` for every sync call in the process and one
:mod:`llmrelay.http1` connection pool per event loop (a lean HTTP/1.1 client on asyncio
protocols with httptools' parser; at most 100 connections, closed with the loop when
``asyncio.run`` shuts it down). Both are imported on first use, so ``import llmrelay``
stays light.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ._urls import mask_url, mask_urls_in
from .exceptions import APIConnectionError, Timeout

if TYPE_CHECKING:
    import httpx

    from .http1 import Response as AsyncStream
    from .providers.base import HTTPRequest

__all__ = ["DEFAULT_TIMEOUT", "AsyncStream", "AsyncStreamReply", "HTTPTransport",
           "MockTransport", "Reply", "StreamReply", "SyncStream", "Transport", "asend",
           "astream", "default_transport", "send", "stream"]

DEFAULT_TIMEOUT = 600.0
_POOL_SIZE = 100


class Reply:
    """A whole HTTP reply: status, lower-cased headers, body bytes."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        """A JSON reply (for :class:`MockTransport` handlers)."""
        import json

        return cls(status, {"content-type": "application/json", **(headers or {})},
                   json.dumps(data).encode())


class StreamReply(Protocol):
    """An open streamed reply (sync)."""

    status: int
    headers: dict[str, str]

    def read(self) -> bytes: ...

    def chunks(self) -> Iterator[bytes]: ...

    def lines(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class AsyncStreamReply(Protocol):
    """An open streamed reply (async); ``close`` is sync so a wrapper can always call it."""

    status: int
    headers: dict[str, str]

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def lines(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """Sends requests; the sync and async halves may share nothing but this interface."""

    def send(self, req: HTTPRequest, timeout: Any = None) -> Reply: ...

    def stream(self, req: HTTPRequest, timeout: Any = None) -> StreamReply: ...

    async def asend(self, req: HTTPRequest, timeout: Any = None) -> Reply: ...

    async def astream(self, req: HTTPRequest, timeout: Any = None) -> AsyncStreamReply: ...


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a chunked body (without their ``\\n``)."""
    buf = b""
    for chunk in chunks:
        if buf:
            chunk = buf + chunk
        parts = chunk.split(b"\n")
        buf = parts.pop()
        yield from parts
    if buf:
        yield buf


async def asplit_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Async :func:`split_lines`."""
    buf = b""
    async for chunk in chunks:
        if buf:
            chunk = buf + chunk
        parts = chunk.split(b"\n")
        buf = parts.pop()
        for line in parts:
            yield line
    if buf:
        yield buf


def _encode(req: HTTPRequest) -> bytes | None:
    return req.payload()


# ---- sync (httpx) ----------------------------------------------------------------------------
_sync_client: httpx.Client | None = None
_sync_lock = threading.Lock()


def sync_client() -> httpx.Client:
    global _sync_client
    client = _sync_client
    if client is None:
        with _sync_lock:
            if _sync_client is None:
                import httpx

                limits = httpx.Limits(max_connections=_POOL_SIZE,
                                      max_keepalive_connections=_POOL_SIZE)
                _sync_client = httpx.Client(limits=limits, timeout=DEFAULT_TIMEOUT)
                atexit.register(_sync_client.close)
            client = _sync_client
    return client


def _httpx_timeout(timeout: Any) -> Any:
    if timeout is None:
        return DEFAULT_TIMEOUT
    return timeout  # a number or an httpx.Timeout, both accepted by httpx


def _sync_error(exc: Exception, req: HTTPRequest) -> Exception:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return Timeout(f"request to {mask_url(req.url)} timed out ({type(exc).__name__})")
    return APIConnectionError(mask_urls_in(f"connection to {mask_url(req.url)} failed: "
                                           f"{type(exc).__name__}: {exc}"))


def send(req: HTTPRequest, timeout: Any = None) -> Reply:
    """Send a request and read the whole reply."""
    import httpx

    try:
        r = sync_client().request(req.method, req.url, content=_encode(req), headers=req.headers,
                                  timeout=_httpx_timeout(timeout))
    except httpx.HTTPError as exc:
        raise _sync_error(exc, req) from exc
    return Reply(r.status_code, dict(r.headers), r.content)


class SyncStream:
    """An open streamed reply. Iterate :meth:`chunks` or :meth:`lines`; :meth:`close`
    releases the connection."""

    def __init__(self, req: HTTPRequest, response: httpx.Response) -> None:
        self._req = req
        self._response = response
        self.status = response.status_code
        self.headers = dict(response.headers)

    def read(self) -> bytes:
        try:
            return self._response.read()
        finally:
            self.close()

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes as they arrive (for binary framings)."""
        import httpx

        try:
            yield from self._response.iter_bytes()
        except httpx.HTTPError as exc:
            raise _sync_error(exc, self._req) from exc

    def lines(self) -> Iterator[bytes]:
        return split_lines(self.chunks())

    def close(self) -> None:
        self._response.close()


def stream(req: HTTPRequest, timeout: Any = None) -> SyncStream:
    """Open a streamed request; the caller must close the returned stream."""
    import httpx

    client = sync_client()
    try:
        request = client.build_request(req.method, req.url, content=_encode(req),
                                       headers=req.headers, timeout=_httpx_timeout(timeout))
        response = client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise _sync_error(exc, req) from exc
    return SyncStream(req, response)


# ---- async (llmrelay.http1) ------------------------------------------------------------------
def _http1() -> Any:
    """The lean HTTP/1.1 client package, imported on the first async call."""
    from . import http1

    return http1


def _timeouts(timeout: Any) -> tuple[float | None, float | None]:
    """(connect, read) seconds: a number is both; an ``httpx.Timeout`` gives its parts."""
    if timeout is None:
        return DEFAULT_TIMEOUT, DEFAULT_TIMEOUT
    if isinstance(timeout, (int, float)):
        return timeout, timeout
    return getattr(timeout, "connect", None), getattr(timeout, "read", None)


def _async_error(exc: BaseException, req: HTTPRequest) -> Exception:
    from .http1 import TimeoutHTTPError

    if isinstance(exc, (TimeoutHTTPError, asyncio.TimeoutError)):
        return Timeout(f"request to {mask_url(req.url)} timed out ({type(exc).__name__})")
    return APIConnectionError(mask_urls_in(f"connection to {mask_url(req.url)} failed: "
                                           f"{type(exc).__name__}: {exc}"))


_net_errors: tuple[type[BaseException], ...] = ()


def _async_net_errors() -> tuple[type[BaseException], ...]:
    """What a network failure of the async client raises (OSError covers refused and
    reset connections, DNS and TLS failures)."""
    global _net_errors
    if not _net_errors:
        from .http1 import HTTPClientError

        _net_errors = (OSError, HTTPClientError, asyncio.TimeoutError)
    return _net_errors


async def asend(req: HTTPRequest, timeout: Any = None) -> Reply:
    """Send a request and read the whole reply (on the running loop's pool)."""
    request = _http1().request
    body = _encode(req)
    connect, read = _timeouts(timeout)
    try:
        status, headers, data = await request(req.method, req.url, req.headers, body,
                                              connect, read, _POOL_SIZE)
    except _async_net_errors() as exc:
        raise _async_error(exc, req) from exc
    return Reply(status, headers, data)


async def astream(req: HTTPRequest, timeout: Any = None) -> AsyncStreamReply:
    """Open a streamed request; the caller must close the returned stream (an
    :class:`llmrelay.http1.Response`, this module's ``AsyncStream``)."""
    body = _encode(req)
    connect, read = _timeouts(timeout)
    try:
        return await _http1().open_stream(  # type: ignore[no-any-return]
            req.method, req.url, req.headers, body, connect, read, _POOL_SIZE,
            functools.partial(_stream_error, req))
    except _async_net_errors() as exc:
        raise _async_error(exc, req) from exc


def _stream_error(req: HTTPRequest, exc: BaseException) -> BaseException:
    """What a stream raises for ``exc`` while its body is read."""
    return _async_error(exc, req) if isinstance(exc, _async_net_errors()) else exc


def __getattr__(name: str) -> Any:
    if name == "AsyncStream":  # the async stream's class, from the client it belongs to
        return _http1().Response
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pool_stats() -> dict[str, int]:
    """Open connections in the pools, for leak tests and diagnostics."""
    out = {"sync": 0, "async": 0}
    if _sync_client is not None:
        pool = getattr(_sync_client._transport, "_pool", None)
        out["sync"] = len(getattr(pool, "connections", []) or [])
    import sys

    http1 = sys.modules.get(f"{__package__}.http1")
    if http1 is not None:
        out["async"] = sum(pool.stats() for pool in list(http1.pools.values()))
    return out


class HTTPTransport:
    """The pooled default transport (the module functions above, shared process-wide)."""

    def send(self, req: HTTPRequest, timeout: Any = None) -> Reply:
        return send(req, timeout)

    def stream(self, req: HTTPRequest, timeout: Any = None) -> SyncStream:
        return stream(req, timeout)

    async def asend(self, req: HTTPRequest, timeout: Any = None) -> Reply:
        return await asend(req, timeout)

    async def astream(self, req: HTTPRequest, timeout: Any = None) -> AsyncStreamReply:
        return await astream(req, timeout)


_DEFAULT = HTTPTransport()


def default_transport() -> HTTPTransport:
    """The process's pooled transport (what a client without ``transport=`` uses)."""
    return _DEFAULT


Handler = Callable[["HTTPRequest"], "Reply | Awaitable[Reply]"]


class MockTransport:
    """A transport that answers from a function, with no network (as ``httpx.MockTransport``).

    ``handler(request)`` gets the :class:`~llmrelay.providers.base.HTTPRequest` (``content``
    holds the bytes that would be sent) and returns a :class:`Reply` (or an awaitable of
    one, for async calls), or raises (e.g. :class:`~llmrelay.exceptions.APIConnectionError`
    to simulate a network failure). A streamed call receives the reply body in pieces of
    ``chunk_size`` bytes (None: one piece per line). Requests are kept in ``requests``.
    """

    def __init__(self, handler: Handler, chunk_size: int | None = None) -> None:
        self.handler = handler
        self.chunk_size = chunk_size
        self.requests: list[HTTPRequest] = []

    def _answer(self, req: HTTPRequest) -> Any:
        req.payload()
        self.requests.append(req)
        return self.handler(req)

    def _pieces(self, body: bytes) -> list[bytes]:
        size = self.chunk_size
        if size is None:
            return body.splitlines(keepends=True)
        return [body[i:i + size] for i in range(0, len(body), size)]

    def send(self, req: HTTPRequest, timeout: Any = None) -> Reply:
        reply = self._answer(req)
        if inspect.isawaitable(reply):
            raise TypeError("MockTransport: an async handler cannot answer a sync call")
        return reply  # type: ignore[no-any-return]

    def stream(self, req: HTTPRequest, timeout: Any = None) -> _MockStream:
        reply = self.send(req, timeout)
        return _MockStream(reply, self._pieces(reply.body))

    async def asend(self, req: HTTPRequest, timeout: Any = None) -> Reply:
        reply = self._answer(req)
        if inspect.isawaitable(reply):
            reply = await reply
        return reply  # type: ignore[no-any-return]

    async def astream(self, req: HTTPRequest, timeout: Any = None) -> _AsyncMockStream:
        reply = await self.asend(req, timeout)
        return _AsyncMockStream(reply, self._pieces(reply.body))


class _MockStream:
    def __init__(self, reply: Reply, pieces: list[bytes]) -> None:
        self.status = reply.status
        self.headers = reply.headers
        self._body = reply.body
        self._pieces = pieces
        self.closed = False

    def read(self) -> bytes:
        self.close()
        return self._body

    def chunks(self) -> Iterator[bytes]:
        for piece in self._pieces:
            if self.closed:
                return
            yield piece

    def lines(self) -> Iterator[bytes]:
        return split_lines(self.chunks())

    def close(self) -> None:
        self.closed = True


class _AsyncMockStream(_MockStream):
    async def read(self) -> bytes:  # type: ignore[override]
        self.close()
        return self._body

    async def chunks(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        for piece in self._pieces:
            if self.closed:
                return
            yield piece

    def lines(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        return asplit_lines(self.chunks())
