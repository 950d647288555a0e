"""One pooled HTTP/1.1 client connection: an asyncio protocol whose response framing is
done by ``httptools.HttpResponseParser`` (llhttp); this module only writes the request and
hands the response's parts to whoever waits for them.

A connection carries one request at a time. :meth:`Connection.send` writes it and resets
the response state; the parser's callbacks fill ``status``/``headers`` and the body's
pieces (decoded when the reply is gzip/deflate encoded), and the single waiter is woken
once per arrival that brought news for it.
The read timeout (the longest gap between two arrivals, aiohttp's ``sock_read``) is one
timer per connection that re-arms itself from the time of the last arrival when it fires:
receiving data or starting a request costs a clock read, not a timer; the timer lapses
when it fires on an idle connection, and is moved earlier only when a request's timeout
is shorter than what is left of it.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import TYPE_CHECKING, Any

import httptools

from .errors import ProtocolError, ReadTimeout, ServerDisconnected

if TYPE_CHECKING:
    from .pool import Pool

__all__ = ["Connection"]

# a streamed reply stops reading from the socket while this much is unread by its consumer
_HIGH_WATER = 256 * 1024


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection of a :class:`~llmrelay.http1.pool.Pool`."""

    def __init__(self, pool: Pool, key: tuple[str, str, int]) -> None:
        self.pool = pool
        self.key = key
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False  # the socket is gone (or going): never reuse
        self.counted = False  # counted in the pool's open connections
        self.busy = False  # a request is in flight on it (not in the idle list)
        self.reused = False  # it has carried a whole exchange before
        self.idle_since = 0.0
        # the response in progress
        self.status = 0
        self.headers: dict[str, str] = {}
        self.parts: list[bytes] = []
        self.buffered = 0
        self.headers_done = False
        self.done = False
        self.received = False  # any byte of this response arrived
        self.keep_alive = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.streaming = False
        self.paused = False
        self.interim = False  # a 1xx reply is being skipped
        self.head_only = False
        self.until_eof = False  # a body delimited by the server closing the connection
        self.decoder: Any = None
        self.read_timeout: float | None = None
        self.last_data = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # ---- requests -------------------------------------------------------------------
    def send(self, data: bytes, read_timeout: float | None, head_only: bool,
             streaming: bool) -> None:
        """Write one request (head and body together) and expect its response."""
        self.busy = True
        self.status = 0
        self.headers = {}
        self.parts = []
        self.buffered = 0
        self.headers_done = self.done = self.received = self.interim = False
        self.until_eof = False
        self.error = None
        self.decoder = None
        self.head_only = head_only
        self.streaming = streaming
        self.read_timeout = read_timeout
        transport = self.transport
        if transport is None or self.closed:
            self.error = ServerDisconnected("the connection was closed before the request "
                                            "was sent")
            return
        transport.write(data)
        if read_timeout is not None:
            now = self.last_data = self.loop.time()
            due = now + read_timeout
            timer = self.timer
            if timer is None or timer.when() > due:
                if timer is not None:
                    timer.cancel()
                self.timer = self.loop.call_at(due, self._on_timer)

    async def wait(self) -> None:
        """Until something changes (headers, body data, the end or an error)."""
        waiter = self.waiter = self.loop.create_future()
        try:
            await waiter
        finally:
            self.waiter = None

    def take_body(self) -> list[bytes]:
        """The body pieces received and not yet taken (resumes reading if paused)."""
        parts = self.parts
        self.parts = []
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return parts

    def finish(self) -> None:
        """The exchange is over: the connection goes back to the pool when it can carry
        another one, otherwise it is closed (the read timer stays: it lapses when it fires
        on an idle connection, or serves the next request)."""
        if self.done and self.keep_alive and not self.closed and self.error is None:
            self.busy = False
            self.reused = True
            self.pool.release(self)
        else:
            self.abort()

    def abort(self) -> None:
        """Drop the connection (a response left unread, a cancelled call, an error)."""
        self._stop_timer()
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # ---- asyncio protocol -----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.busy or self.done:
            # bytes nobody asked for: the connection's framing can no longer be trusted
            self.abort()
            return
        self.received = True
        if self.read_timeout is not None:
            self.last_data = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._fail(ProtocolError(f"unexpected protocol upgrade: {exc}"))
        except httptools.HttpParserError as exc:
            # a callback's own error (a body that cannot be decoded) is the one to tell
            cause = exc.__cause__ or exc.__context__
            self._fail(cause if isinstance(cause, ProtocolError)
                       else ProtocolError(f"invalid HTTP response: {exc}"))
            return
        # one wake-up per arrival, not per parsed piece: a stream's waiter on any news, a
        # whole answer's only at its end
        if self.streaming:
            if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()
        elif not self.done:
            return
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_timer()
        self.pool.forget(self)
        if self.busy and not self.done and self.error is None:
            if self.until_eof and self.headers_done and exc is None:
                self._flush_decoder()
                self.done = True
                self.keep_alive = False
                self._wake()
            else:
                lost = ServerDisconnected(
                    "the server closed the connection before the response was complete"
                    if self.received else
                    "the server closed the connection without a response")
                lost.nothing_received = not self.received
                if exc is not None:
                    lost.__cause__ = exc
                self._fail(lost)

    def pause_writing(self) -> None:  # the request is written whole; nothing to pause
        pass

    def resume_writing(self) -> None:
        pass

    # ---- parser callbacks -----------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("utf-8", "surrogateescape").lower()] = \
            value.decode("utf-8", "surrogateescape")

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.interim = True  # 100 Continue and the like: the real reply follows
            self.headers = {}
            return
        self.status = status
        self.headers_done = True
        headers = self.headers
        if "content-length" not in headers and "transfer-encoding" not in headers \
                and status not in (204, 304):
            self.until_eof = True
        encoding = headers.get("content-encoding")
        if encoding is not None:
            encoding = encoding.strip().lower()
            if encoding == "gzip" or encoding == "x-gzip":
                self.decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            elif encoding == "deflate":
                self.decoder = "deflate"  # zlib-wrapped or raw: told by the first byte
        if self.head_only:  # a HEAD reply has no body whatever its headers say
            self.done = True
            self.keep_alive = False

    def on_body(self, body: bytes) -> None:
        if self.head_only:
            return
        decoder = self.decoder
        if decoder is not None:
            body = self._decode(body)
            if not body:
                return
        self.parts.append(body)
        if self.streaming:
            self.buffered += len(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        if self.head_only:
            return
        self._flush_decoder()
        self.keep_alive = self.parser.should_keep_alive()
        self.done = True

    # ---- internals ------------------------------------------------------------------
    def _decode(self, body: bytes) -> bytes:
        decoder = self.decoder
        if decoder == "deflate":
            # RFC 9110's deflate is zlib-wrapped; some servers send raw deflate
            wbits = zlib.MAX_WBITS if body[:1] and body[0] & 0x0F == 8 else -zlib.MAX_WBITS
            decoder = self.decoder = zlib.decompressobj(wbits)
        try:
            return decoder.decompress(body)  # type: ignore[no-any-return]
        except zlib.error as exc:
            raise ProtocolError(f"cannot decode the response body: {exc}") from exc

    def _flush_decoder(self) -> None:
        decoder = self.decoder
        if decoder is not None and decoder != "deflate":
            try:
                tail = decoder.flush()
            except zlib.error as exc:
                raise ProtocolError(f"cannot decode the response body: {exc}") from exc
            if tail:
                self.parts.append(tail)
            self.decoder = None

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self.abort()
        self._wake()

    def _stop_timer(self) -> None:
        timer = self.timer
        if timer is not None:
            self.timer = None
            timer.cancel()

    def _on_timer(self) -> None:
        self.timer = None
        timeout = self.read_timeout
        if timeout is None or self.done or not self.busy or self.closed:
            return  # lapses; the next request arms one
        due = self.last_data + timeout
        now = self.loop.time()
        if self.paused or (self.streaming and self.parts) or now < due:
            # the consumer is behind (not the server), or data came since: wait again
            self.timer = self.loop.call_at(max(due, now + timeout / 10), self._on_timer)
            return
        self._fail(ReadTimeout(f"no data from the server for {timeout:g} s"))
