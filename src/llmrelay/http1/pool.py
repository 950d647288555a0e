"""The connections of one event loop: keep-alive reuse per (scheme, host, port), at most
``limit`` open at once, idle ones closed after :data:`KEEPALIVE` seconds, all closed with
the loop.

:func:`loop_pool` gives the running loop's pool, made on first use; ``asyncio.run`` closes
it when it shuts the loop down (an async generator the loop finalises, as the aiohttp
session was). A call takes an idle connection without suspending when one is there
(:meth:`Pool.take_idle`); otherwise :meth:`Pool.connect` opens one, or waits for one to be
released or closed when ``limit`` are open and none is idle (an idle connection to another
host is closed to make room first).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from .connection import Connection
from .errors import ConnectTimeout

__all__ = ["KEEPALIVE", "Pool", "loop_pool", "pools"]

KEEPALIVE = 15.0  # seconds an idle connection is kept (aiohttp's keepalive_timeout)

_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def default_ssl_context() -> ssl.SSLContext:
    """The verifying TLS context every https connection uses (the system's certificates,
    as ``ssl.create_default_context()``; HTTP/1.1 offered by ALPN), made once."""
    global _ssl_context
    ctx = _ssl_context
    if ctx is None:
        with _ssl_lock:
            if _ssl_context is None:
                made = ssl.create_default_context()
                made.set_alpn_protocols(["http/1.1"])
                _ssl_context = made
            ctx = _ssl_context
    return ctx


class Pool:
    """The HTTP/1.1 connections of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.loop = loop
        self.limit = limit
        self.count = 0  # open or opening connections, idle or busy
        self.idle: dict[tuple[str, str, int], list[Connection]] = {}
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.closed = False
        self._sweeper: asyncio.TimerHandle | None = None

    def take_idle(self, key: tuple[str, str, int]) -> Connection | None:
        """A kept-alive connection to ``key``, newest first, or None."""
        idle = self.idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                if self.loop.time() - conn.idle_since < KEEPALIVE:
                    conn.busy = True
                    return conn
                conn.close()
        return None

    async def connect(self, key: tuple[str, str, int], connect_timeout: float | None,
                      fresh: bool = False) -> Connection:
        """A connection to ``key``: an idle one (unless ``fresh``), or a new one once fewer
        than ``limit`` are open."""
        while True:
            conn = None if fresh else self.take_idle(key)
            if conn is not None:
                return conn
            if self.closed:
                raise RuntimeError("the event loop's HTTP connection pool is closed")
            if self.count < self.limit or self._close_an_idle_one():
                break
            waiter = self.loop.create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # pass the turn this waiter was given on
                raise
        self.count += 1
        try:
            conn = await self._open(key, connect_timeout)
        except BaseException:
            self.count -= 1
            self._wake_one()
            raise
        conn.busy = True
        conn.counted = True
        return conn

    async def _open(self, key: tuple[str, str, int],
                    connect_timeout: float | None) -> Connection:
        scheme, host, port = key
        tls = default_ssl_context() if scheme == "https" else None
        opening = self.loop.create_connection(
            lambda: Connection(self, key), host, port, ssl=tls,
            server_hostname=host if tls is not None else None)
        if connect_timeout is None:
            _, conn = await opening
        else:
            try:
                _, conn = await asyncio.wait_for(opening, connect_timeout)
            except asyncio.TimeoutError as exc:
                raise ConnectTimeout(f"could not connect within {connect_timeout:g} s") \
                    from exc
        return conn

    def release(self, conn: Connection) -> None:
        """Keep ``conn`` for the next request to its host."""
        if self.closed:
            conn.close()
            return
        conn.idle_since = self.loop.time()
        idle = self.idle.get(conn.key)
        if idle is None:
            idle = self.idle[conn.key] = []
        idle.append(conn)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(KEEPALIVE, self._sweep)
        if self.waiters:
            self._wake_one()

    def forget(self, conn: Connection) -> None:
        """``conn``'s socket is gone (called from its ``connection_lost``)."""
        if conn.counted:
            conn.counted = False
            self.count -= 1
        idle = self.idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)
        if self.waiters:
            self._wake_one()

    def _wake_one(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _close_an_idle_one(self) -> bool:
        """Close the longest-idle connection (to any host) to make room for a new one."""
        oldest: Connection | None = None
        for idle in self.idle.values():
            for conn in idle:
                if not conn.closed and (oldest is None or conn.idle_since < oldest.idle_since):
                    oldest = conn
        if oldest is None:
            return False
        self.idle[oldest.key].remove(oldest)
        oldest.counted = False  # room is made now, not when its socket is gone
        self.count -= 1
        oldest.close()
        return True

    def _sweep(self) -> None:
        self._sweeper = None
        now = self.loop.time()
        left = 0
        for idle in self.idle.values():
            for conn in list(idle):
                if now - conn.idle_since >= KEEPALIVE:
                    idle.remove(conn)
                    conn.close()
                else:
                    left += 1
        if left and not self.closed:
            self._sweeper = self.loop.call_later(KEEPALIVE, self._sweep)

    def close(self) -> None:
        """Close every idle connection; busy ones close when their exchange ends."""
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self.idle.values():
            for conn in idle:
                conn.close()
        self.idle.clear()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RuntimeError("the event loop's HTTP connection pool "
                                                  "is closed"))

    def stats(self) -> int:
        """Open connections (idle and busy)."""
        return self.count


pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()
_keepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


async def _close_with_loop(pool: Pool) -> AsyncIterator[None]:
    """An async generator the loop finalises at shutdown (``asyncio.run`` calls
    ``shutdown_asyncgens``), which closes the loop's pool at the right moment."""
    try:
        yield
    finally:
        pool.close()


_last: Pool | None = None  # the pool found last: most processes run one loop


def loop_pool(limit: int) -> Pool:
    """The running loop's pool (made on first use, closed with the loop)."""
    global _last
    loop = asyncio.get_running_loop()
    pool = _last
    if pool is not None and pool.loop is loop and not pool.closed:
        return pool
    pool = pools.get(loop)
    if pool is None or pool.closed:
        pool = pools[loop] = Pool(loop, limit)
        keeper = _close_with_loop(pool)
        # starting it makes the loop track the generator; keep both alive with the loop
        _keepers[loop] = (keeper, asyncio.ensure_future(keeper.__anext__()))
    _last = pool
    return pool
