"""One pipelined connection to Redis per process, for the limits scripts.

Every command of the process goes down one connection and the replies come back in the
order the commands went (Redis answers a connection in order), so a command costs one
write and one parsed reply, with no connection pool, no lock and no task of its own.
Commands issued in the same turn of the event loop leave in one ``write()``; a ``lazy``
command (a settlement, a heartbeat) waits up to ``linger`` seconds for another command to
travel with, so under steady load settlements ride along with admissions. The wire format
is hiredis's (``hiredis.pack_command`` and ``hiredis.Reader``); the URL is read by
redis-py's ``parse_url`` (``redis://``, ``rediss://``, ``unix://``; user, password, db,
``ssl_cert_reqs``).

Deadlines: connecting (TCP, TLS and the hand-shake: AUTH, SELECT, SCRIPT LOAD) and every
reply have ``timeout`` seconds. When the oldest command has no reply by its deadline the
connection is dropped and every command waiting on it fails with :class:`PipeError`
(a partition is never waited on); the next command opens a new connection. TCP keepalive
is on. Lua scripts are loaded at every connect and called by SHA; a server that forgot
them (``SCRIPT FLUSH``, a fail-over) gets them again.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
from collections import deque
from typing import Any, cast

try:
    import hiredis
    from redis.asyncio.connection import parse_url
except ImportError as exc:  # pragma: no cover - the redis extra is missing
    raise ImportError(f"limits in Redis need redis-py and hiredis ({exc}): "
                      "pip install 'llmrelay[redis]'") from exc

__all__ = ["PipeError", "RedisPipe", "ReplyError"]


class PipeError(Exception):
    """The connection failed, or a reply did not come in time."""


class ReplyError(Exception):
    """Redis answered the command with an error."""


_KEEPALIVE = (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 3))


class _Conn(asyncio.Protocol):
    """One connection: the commands written and not yet answered, in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.out: list[bytes] = []
        self.flush_soon: asyncio.Handle | None = None
        self.flush_later: asyncio.TimerHandle | None = None
        self.watchdog: asyncio.TimerHandle | None = None
        self.closed: str | None = None  # why, once closed

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                for name, value in _KEEPALIVE:
                    if hasattr(socket, name):
                        sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiting = self.waiting
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.close(f"unreadable reply: {exc}")
                return
            if reply is False:
                return
            if not waiting:
                self.close("a reply nobody asked for")
                return
            fut = waiting.popleft()[0]
            if fut.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                fut.set_exception(ReplyError(str(reply)))
            else:
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(f"connection lost ({exc})" if exc else "connection closed by the server")

    # -- commands ------------------------------------------------------------------------
    def send(self, packed: bytes, lazy: bool, linger: float) -> asyncio.Future[Any]:
        fut = self.loop.create_future()
        if self.closed is not None:
            fut.set_exception(PipeError(self.closed))
            return fut
        deadline = self.loop.time() + self.timeout + (linger if lazy else 0.0)
        self.waiting.append((fut, deadline))
        self.out.append(packed)
        if not lazy:
            if self.flush_soon is None:
                self.flush_soon = self.loop.call_soon(self.flush)
        elif self.flush_later is None and self.flush_soon is None:
            self.flush_later = self.loop.call_later(linger, self.flush)
        if self.watchdog is None:
            self.watchdog = self.loop.call_at(deadline, self.check)
        return fut

    def flush(self) -> None:
        for handle in (self.flush_soon, self.flush_later):
            if handle is not None:
                handle.cancel()
        self.flush_soon = self.flush_later = None
        if self.out and self.transport is not None and self.closed is None:
            data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
            self.out.clear()
            self.transport.write(data)

    def check(self) -> None:
        """The oldest command's deadline passed: drop the connection unless answered."""
        self.watchdog = None
        if not self.waiting or self.closed is not None:
            return
        deadline = self.waiting[0][1]
        if self.loop.time() >= deadline:
            self.close(f"no reply within {self.timeout:g} s")
        else:
            self.watchdog = self.loop.call_at(deadline, self.check)

    def close(self, why: str) -> None:
        if self.closed is None:
            self.closed = why
        for handle in (self.flush_soon, self.flush_later, self.watchdog):
            if handle is not None:
                handle.cancel()
        self.flush_soon = self.flush_later = self.watchdog = None
        self.out.clear()
        while self.waiting:
            fut = self.waiting.popleft()[0]
            if not fut.done():
                fut.set_exception(PipeError(self.closed))
                fut.exception()  # retrieved: its caller may be gone
        if self.transport is not None:
            self.transport.abort()


class RedisPipe:
    """A pipelined Redis connection (see the module docstring). ``scripts``: name -> Lua
    source, called with :meth:`script`."""

    def __init__(self, url: str, scripts: dict[str, str], *, timeout: float = 0.5,
                 linger: float = 0.002) -> None:
        params = parse_url(url)
        self.host = str(params.get("host") or "localhost")
        self.port = int(params.get("port") or 6379)
        self.path: str | None = params.get("path")
        self.db = int(params.get("db") or 0)
        self.username: str | None = params.get("username")
        self.password: str | None = params.get("password")
        self.tls = url.lower().startswith("rediss:")
        self.verify = str(params.get("ssl_cert_reqs", "required")).lower() not in (
            "none", "cert_none")
        self.timeout = timeout
        self.linger = linger
        self.scripts = dict(scripts)
        self.shas = {name: hashlib.sha1(src.encode()).hexdigest()
                     for name, src in scripts.items()}
        self._conn: _Conn | None = None
        self._connecting: asyncio.Task[_Conn] | None = None

    async def call(self, *args: Any, lazy: bool = False) -> Any:
        """One command; its reply (raises :class:`ReplyError` or :class:`PipeError`)."""
        conn = self._conn
        if conn is None or conn.closed is not None or conn.loop is not (
                asyncio.get_running_loop()):
            conn = await self._connected()
        return await conn.send(hiredis.pack_command(args), lazy, self.linger)

    async def script(self, name: str, args: list[Any], lazy: bool = False) -> Any:
        """Run script ``name`` with no keys and ``args``."""
        try:
            return await self.call("EVALSHA", self.shas[name], 0, *args, lazy=lazy)
        except ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.call("SCRIPT", "LOAD", self.scripts[name])
        return await self.call("EVALSHA", self.shas[name], 0, *args, lazy=lazy)

    async def _connected(self) -> _Conn:
        task = self._connecting
        if task is None or task.done():
            task = self._connecting = asyncio.ensure_future(self._connect())
        return await asyncio.shield(task)

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        old, self._conn = self._conn, None
        if old is not None:
            old.close("replaced")
        try:
            if self.path:
                _, conn = await asyncio.wait_for(loop.create_unix_connection(
                    lambda: _Conn(loop, self.timeout), self.path), self.timeout)
            else:
                context = None
                if self.tls:
                    context = ssl.create_default_context()
                    if not self.verify:
                        context.check_hostname = False
                        context.verify_mode = ssl.CERT_NONE
                _, conn = await asyncio.wait_for(loop.create_connection(
                    lambda: _Conn(loop, self.timeout), self.host, self.port, ssl=context),
                    self.timeout)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            raise PipeError(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        hello: list[tuple[Any, ...]] = []
        if self.password is not None:
            hello.append(("AUTH", self.username, self.password) if self.username
                         else ("AUTH", self.password))
        if self.db:
            hello.append(("SELECT", self.db))
        hello += [("SCRIPT", "LOAD", src) for src in self.scripts.values()]
        replies = [conn.send(hiredis.pack_command(cmd), False, 0.0) for cmd in hello]
        try:
            for fut in replies:
                await fut
        except ReplyError as exc:
            conn.close(str(exc))
            raise PipeError(f"the server refused the hand-shake: {exc}") from exc
        except BaseException:
            conn.close("hand-shake abandoned")
            raise
        self._conn = conn
        return conn

    async def close(self) -> None:
        task, self._connecting = self._connecting, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close("closed")
