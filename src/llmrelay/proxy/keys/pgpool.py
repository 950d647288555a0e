"""A small pool of psycopg 3 async connections where no call waits without bound.

* Connecting: ``connect_timeout`` (libpq's, and a client-side deadline around it).
* Every connection: TCP keepalive (idle 5 s, then 3 probes 2 s apart) and a TCP user timeout
  (data unacknowledged that long closes the socket), so a peer that vanished is noticed by
  the kernel; a server-side ``statement_timeout`` and ``idle_in_transaction_session_timeout``.
* Every call (:meth:`Pool.run`): a client-side deadline (``call_timeout``). A call over it
  is cancelled and its connection closed, never returned to the pool; the next call opens a
  fresh one. This is what catches a connection that silently stopped answering (a
  partition, a "blackholed" route) before any TCP timer does.
* Idle connections unused for ``idle_timeout`` seconds are closed rather than reused.
* A call that fails on a kept connection (the server restarted, a middlebox killed it) is
  tried once more on a fresh connection.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

__all__ = ["CONNECTION_ERRORS", "Conn", "Pool", "PoolTimeout"]

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]
# Failures of the connection itself (and of the server's session), worth a retry elsewhere.
CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, OSError,
                     asyncio.TimeoutError)


class PoolTimeout(Exception):
    """A call did not finish within its deadline (its connection was closed)."""


class Pool:
    """At most ``size`` connections to ``conninfo``; see the module docstring."""

    def __init__(self, conninfo: str, *, size: int = 4, connect_timeout: float = 5.0,
                 statement_timeout: float = 5.0, call_timeout: float | None = None,
                 idle_timeout: float = 30.0,
                 setup: Callable[[Conn], Awaitable[None]] | None = None,
                 prepared_statements: bool = True) -> None:
        self.conninfo = conninfo
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.call_timeout = (call_timeout if call_timeout is not None
                             else statement_timeout + 2.0)
        self.idle_timeout = idle_timeout
        self.setup = setup
        # False: psycopg never prepares statements (needed behind PgBouncer in transaction
        # pooling mode, where a prepared statement may land on another server connection)
        self.prepared_statements = prepared_statements
        self.closed = False
        self.replaced = 0  # connections closed after a failure or a missed deadline
        self._idle: list[tuple[Conn, float]] = []
        self._slots = asyncio.Semaphore(size)
        self._kwargs = self._connect_kwargs()

    def _connect_kwargs(self) -> dict[str, Any]:
        given = conninfo_to_dict(self.conninfo)
        statement_ms = int(self.statement_timeout * 1000)
        options = " ".join(filter(None, [
            str(given.get("options") or ""),
            f"-c statement_timeout={statement_ms}",
            f"-c idle_in_transaction_session_timeout={max(statement_ms * 2, 1000)}",
        ]))
        kwargs: dict[str, Any] = {
            "autocommit": True, "connect_timeout": max(1, math.ceil(self.connect_timeout)),
            "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
            "keepalives_count": 3, "tcp_user_timeout": int(self.call_timeout * 1000),
            "options": options,
        }
        if not self.prepared_statements:
            kwargs["prepare_threshold"] = None
        # Settings in the URL win over our defaults (except the merged options).
        for name in ("connect_timeout", "keepalives", "keepalives_idle",
                     "keepalives_interval", "keepalives_count", "tcp_user_timeout"):
            if name in given:
                kwargs.pop(name)
        return kwargs

    async def _connect(self) -> Conn:
        conn = await asyncio.wait_for(
            psycopg.AsyncConnection.connect(self.conninfo, **self._kwargs),
            self.connect_timeout)
        try:
            if self.setup is not None:
                await self.setup(conn)
        except BaseException:
            await _close_quietly(conn)
            raise
        return conn

    async def _take_idle(self) -> Conn | None:
        now = time.monotonic()
        while self._idle:
            conn, since = self._idle.pop()
            if now - since <= self.idle_timeout and not conn.closed:
                return conn
            await _close_quietly(conn)
        return None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[tuple[Conn, bool]]:
        """``(connection, reused)``; the connection goes back to the pool if healthy."""
        async with self._slots:
            conn = await self._take_idle()
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            try:
                yield conn, reused
            finally:
                # A call cancelled at its deadline leaves its connection mid-query
                # (ACTIVE): closed, like a broken one. An error answer leaves it IDLE.
                if (not self.closed and not conn.broken and not conn.closed
                        and conn.info.transaction_status == TransactionStatus.IDLE):
                    self._idle.append((conn, time.monotonic()))
                else:
                    if not self.closed:
                        self.replaced += 1
                    await _close_quietly(conn)

    async def run(self, fn: Callable[[Conn], Awaitable[T]], *,
                  timeout: float | bool | None = True) -> T:
        """``fn(conn)`` on a pooled connection within the call deadline (``timeout``
        True: ``call_timeout``; None: none); once more on a fresh connection when a kept
        one fails. Raises :class:`PoolTimeout` for a missed deadline and what ``fn`` or
        connecting raised otherwise."""
        limit = self.call_timeout if timeout is True else timeout
        for attempt in (0, 1):
            used: list[Conn | bool] = []
            try:
                if limit is None:
                    return await self._once(fn, used)
                return await self._within(self._once(fn, used), float(limit), used)
            except CONNECTION_ERRORS:
                await self.drop_idle()
                if attempt == 0 and used and used[-1] is True:
                    continue
                raise
        raise AssertionError("unreachable")

    async def _within(self, call: Awaitable[T], limit: float, used: list[Conn | bool]) -> T:
        """``call`` within ``limit`` seconds. Past it the connection's socket is closed
        and the call abandoned, not awaited: cancelling a psycopg query waits for the
        server to confirm the cancellation, which a vanished server never does."""
        task = asyncio.ensure_future(call)
        done, _ = await asyncio.wait({task}, timeout=limit)
        if task in done:
            return task.result()
        for conn in used:
            if not isinstance(conn, bool):
                conn.pgconn.finish()  # no longer "ACTIVE": the cancellation does not wait
        task.cancel()
        task.add_done_callback(_consume)
        self.replaced += 1
        await self.drop_idle()  # the others may be as dead as this one
        raise PoolTimeout(f"no answer within {limit:.1f} s; the connection was closed")

    async def _once(self, fn: Callable[[Conn], Awaitable[T]], used: list[Conn | bool]) -> T:
        async with self.connection() as (conn, was_reused):
            used[:] = [conn, was_reused]
            return await fn(conn)

    async def drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await _close_quietly(conn)

    async def close(self) -> None:
        self.closed = True
        await self.drop_idle()


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: an abandoned call's error is not news


async def _close_quietly(conn: Conn) -> None:
    try:
        await conn.close()
    except Exception:
        pass
