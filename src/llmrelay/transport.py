"""What sends a provider's HTTP request: the :class:`Transport` interface, the pooled
default (:class:`HTTPTransport`: httpx for sync calls, aiohttp for async ones) and
:class:`MockTransport` for tests.

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
``aiohttp.ClientSession`` per event loop (closed with the loop when ``asyncio.run`` shuts it
down). Both libraries are imported on first use, so ``import llmrelay`` stays light.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ._urls import mask_url, mask_urls_in
from .exceptions import APIConnectionError, Timeout

if TYPE_CHECKING:
    import aiohttp
    import httpx

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


# ---- async (aiohttp) -------------------------------------------------------------------------
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)


_keepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


async def _close_with_loop(session: aiohttp.ClientSession) -> AsyncIterator[None]:
    """An async generator the loop finalises at shutdown (``asyncio.run`` calls
    ``shutdown_asyncgens``), which closes the loop's session at the right moment."""
    try:
        yield
    finally:
        await session.close()


def async_session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=_POOL_SIZE, ttl_dns_cache=300)
        session = aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                        skip_auto_headers=("User-Agent",))
        _sessions[loop] = session
        keeper = _close_with_loop(session)
        # starting it makes the loop track the generator; keep both alive with the loop
        _keepers[loop] = (keeper, asyncio.ensure_future(keeper.__anext__()))
    return session


def _aiohttp_timeout(timeout: Any) -> Any:
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    if isinstance(timeout, (int, float)):
        return _client_timeout(timeout, timeout)
    # an httpx.Timeout: map its parts
    return _client_timeout(getattr(timeout, "connect", None), getattr(timeout, "read", None))


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float | None, read: float | None) -> Any:
    """aiohttp's timeout settings (immutable), made once per pair of values."""
    import aiohttp

    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)


def _url(req: HTTPRequest) -> Any:
    """The URL exactly as the provider built it: aiohttp would otherwise re-normalise its
    percent-encoding (``%3A`` -> ``:``), which breaks signatures computed over the path."""
    return _encoded_url(req.url)


@functools.lru_cache(maxsize=512)
def _encoded_url(url: str) -> Any:
    """yarl's URL for ``url`` (immutable, so shared), parsed once per distinct URL."""
    from yarl import URL

    return URL(url, encoded=True)


def _async_error(exc: BaseException, req: HTTPRequest) -> Exception:
    import aiohttp

    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return Timeout(f"request to {mask_url(req.url)} timed out")
    return APIConnectionError(mask_urls_in(f"connection to {mask_url(req.url)} failed: "
                                           f"{type(exc).__name__}: {exc}"))


async def asend(req: HTTPRequest, timeout: Any = None) -> Reply:
    import aiohttp

    session = async_session()
    try:
        async with session.request(req.method, _url(req), data=_encode(req), headers=req.headers,
                                   timeout=_aiohttp_timeout(timeout)) as r:
            body = await r.read()
            return Reply(r.status, {k.lower(): v for k, v in r.headers.items()}, body)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise _async_error(exc, req) from exc


class AsyncStream:
    """Async twin of :class:`SyncStream`."""

    def __init__(self, req: HTTPRequest, response: aiohttp.ClientResponse) -> None:
        self._req = req
        self._response = response
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        finally:
            self.close()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (for binary framings)."""
        import aiohttp

        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _async_error(exc, self._req) from exc

    def lines(self) -> AsyncIterator[bytes]:
        return asplit_lines(self.chunks())

    def close(self) -> None:
        # release() returns the connection to the pool when the body was fully read;
        # otherwise close() drops it, which is what a stream left early needs.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


async def astream(req: HTTPRequest, timeout: Any = None) -> AsyncStream:
    import aiohttp

    session = async_session()
    try:
        response = await session.request(req.method, _url(req), data=_encode(req),
                                         headers=req.headers, timeout=_aiohttp_timeout(timeout))
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise _async_error(exc, req) from exc
    return AsyncStream(req, response)


def pool_stats() -> dict[str, int]:
    """Open connections in the pools, for leak tests and diagnostics."""
    out = {"sync": 0, "async": 0}
    if _sync_client is not None:
        pool = getattr(_sync_client._transport, "_pool", None)
        out["sync"] = len(getattr(pool, "connections", []) or [])
    for session in list(_sessions.values()):
        conns = getattr(session.connector, "_conns", {}) or {}
        acquired: set[Any] = getattr(session.connector, "_acquired", set()) or set()
        out["async"] += sum(len(v) for v in conns.values()) + len(acquired)
    return out


class HTTPTransport:
    """The pooled default transport (the module functions above, shared process-wide)."""

    def send(self, req: HTTPRequest, timeout: Any = None) -> Reply:
        return send(req, timeout)

    def stream(self, req: HTTPRequest, timeout: Any = None) -> SyncStream:
        return stream(req, timeout)

    async def asend(self, req: HTTPRequest, timeout: Any = None) -> Reply:
        return await asend(req, timeout)

    async def astream(self, req: HTTPRequest, timeout: Any = None) -> AsyncStream:
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
