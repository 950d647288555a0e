"""Sending one request over the running loop's pool: :func:`request` for a whole response,
:func:`open_stream` for one read as it arrives (:class:`Response`).

The request goes out as written by the caller: the URL's path and query exactly as given
(no re-encoding, which signed requests depend on), the caller's headers plus ``Host``,
``Content-Length``, and aiohttp's defaults when absent (``Accept: */*``,
``Accept-Encoding: gzip, deflate``, ``Content-Type: application/octet-stream`` for a
body); no ``User-Agent`` unless given. A request on a reused keep-alive connection that
the server had already closed, with not a byte of the response received, is sent once
more on a new connection.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import AsyncIterator, Callable, Mapping
from urllib.parse import unquote, urlsplit

from ..transport import asplit_lines
from .connection import Connection
from .errors import InvalidURL, ServerDisconnected
from .pool import Pool, loop_pool

__all__ = ["Response", "Target", "open_stream", "request", "target"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class Target:
    """What a URL gives a request, worked out once per distinct URL: the pool key, the
    request line's target and the ``Host`` header."""

    __slots__ = ("auth", "host_header", "key", "path")

    def __init__(self, key: tuple[str, str, int], path: str, host_header: str,
                 auth: str | None) -> None:
        self.key = key
        self.path = path
        self.host_header = host_header
        self.auth = auth


@functools.lru_cache(maxsize=1024)
def target(url: str) -> Target:
    """Split ``url`` (cached: providers call the same few URLs over and over)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidURL(f"unsupported URL scheme {parts.scheme!r} (http and https are)")
    host = parts.hostname
    if not host:
        raise InvalidURL("the URL has no host")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise InvalidURL(f"invalid port in the URL: {exc}") from exc
    netloc_host = f"[{host}]" if ":" in host else host
    host_header = netloc_host if port == _DEFAULT_PORTS[scheme] else f"{netloc_host}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    auth = None
    if parts.username is not None:
        creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(creds.encode("latin-1")).decode("ascii")
    return Target((scheme, host, port), path, host_header, auth)


def _head(method: str, tgt: Target, headers: Mapping[str, str], body: bytes | None) -> bytes:
    """The request line and headers, ready to write."""
    lines = [f"{method} {tgt.path} HTTP/1.1\r\n"]
    has_host = has_accept = has_encoding = has_type = False
    has_auth = tgt.auth is None
    for name, value in headers.items():
        low = name.lower()
        if low == "content-length" or low == "transfer-encoding":
            continue  # framing is this client's
        if low == "host":
            has_host = True
        elif low == "accept":
            has_accept = True
        elif low == "accept-encoding":
            has_encoding = True
        elif low == "content-type":
            has_type = True
        elif low == "authorization":
            has_auth = True
        lines.append(f"{name}: {value}\r\n")
    if not has_host:
        lines.append(f"Host: {tgt.host_header}\r\n")
    if not has_accept:
        lines.append("Accept: */*\r\n")
    if not has_encoding:
        lines.append("Accept-Encoding: gzip, deflate\r\n")
    if not has_auth:
        lines.append(f"Authorization: {tgt.auth}\r\n")
    if body is not None:
        if not has_type:
            lines.append("Content-Type: application/octet-stream\r\n")
        lines.append(f"Content-Length: {len(body)}\r\n")
    elif method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: 0\r\n")
    lines.append("\r\n")
    text = "".join(lines)
    if text.count("\n") != len(lines) or text.count("\r") != len(lines):
        raise ValueError("a header name or value holds a line break")
    return text.encode("utf-8")


async def _exchange(pool: Pool, method: str, url: str, headers: Mapping[str, str],
                    body: bytes | None, connect_timeout: float | None,
                    read_timeout: float | None, streaming: bool) -> Connection:
    """Send the request; returns the connection once the response's headers (or, when
    not ``streaming``, its whole body) arrived. The caller must ``finish()`` it."""
    tgt = target(url)
    data = _head(method, tgt, headers, body)
    if body:
        data += body
    head_only = method == "HEAD"
    for attempt in (0, 1):
        conn = pool.take_idle(tgt.key) if attempt == 0 else None
        if conn is None:
            conn = await pool.connect(tgt.key, connect_timeout, fresh=attempt == 1)
        reused = conn.reused
        conn.send(data, read_timeout, head_only, streaming)
        try:
            while not (conn.done if not streaming else conn.headers_done) \
                    and conn.error is None:
                await conn.wait()
        except BaseException:
            conn.abort()  # cancelled: the connection is mid-exchange
            raise
        error = conn.error
        if error is None:
            return conn
        conn.abort()
        if attempt == 0 and reused and isinstance(error, ServerDisconnected) \
                and error.nothing_received:
            continue  # a kept-alive connection the server had closed: once more, anew
        raise error
    raise AssertionError("unreachable")


async def request(method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                  connect_timeout: float | None, read_timeout: float | None,
                  limit: int) -> tuple[int, dict[str, str], bytes]:
    """Send a request and read the whole response: (status, lower-cased headers, body)."""
    conn = await _exchange(loop_pool(limit), method, url, headers, body, connect_timeout,
                           read_timeout, False)
    parts = conn.parts
    out = (conn.status, conn.headers,
           parts[0] if len(parts) == 1 else b"".join(parts))
    conn.finish()
    return out


async def open_stream(method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                      connect_timeout: float | None, read_timeout: float | None, limit: int,
                      error_map: Callable[[BaseException], BaseException] | None = None,
                      ) -> Response:
    """Send a request and return once the response's headers arrived (``error_map``: see
    :class:`Response`)."""
    conn = await _exchange(loop_pool(limit), method, url, headers, body, connect_timeout,
                           read_timeout, True)
    return Response(conn, error_map)


class Response:
    """A response read as it arrives: ``status``, lower-cased ``headers``, the body by
    :meth:`chunks`, :meth:`lines` or :meth:`read`. :meth:`close` returns the connection to
    the pool when the body was read to its end, and drops it otherwise. An error while
    reading is raised as ``error_map(error)`` (chained to it) when ``error_map`` is given.
    """

    __slots__ = ("_conn", "_error_map", "headers", "status")

    def __init__(self, conn: Connection,
                 error_map: Callable[[BaseException], BaseException] | None = None) -> None:
        self._conn: Connection | None = conn
        self._error_map = error_map
        self.status = conn.status
        self.headers = conn.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (decoded when gzip/deflate encoded)."""
        conn = self._conn
        if conn is None:
            return
        try:
            while True:
                if conn.parts:
                    parts = conn.take_body()
                    yield parts[0] if len(parts) == 1 else b"".join(parts)
                    continue
                if conn.error is not None:
                    self._raise(conn.error)
                if conn.done:
                    return
                if conn.closed:
                    self._raise(ServerDisconnected("the connection closed before the "
                                                   "response was complete"))
                await conn.wait()
        except BaseException:
            if not conn.done:
                self.close()
            raise

    def lines(self) -> AsyncIterator[bytes]:
        """The body's lines, without their ``\\n`` (SSE, NDJSON)."""
        return asplit_lines(self.chunks())

    def _raise(self, exc: BaseException) -> None:
        if self._error_map is None:
            raise exc
        raise self._error_map(exc) from exc

    async def read(self) -> bytes:
        """The rest of the body (then the response is closed)."""
        try:
            return b"".join([part async for part in self.chunks()])
        finally:
            self.close()

    def close(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            conn.finish()

    def __del__(self) -> None:
        conn = self._conn
        if conn is not None:  # left without close(): never pool a half-read connection
            try:
                conn.abort()
            except Exception:  # the loop may be gone already
                pass

