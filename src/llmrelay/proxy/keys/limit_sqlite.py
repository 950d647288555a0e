"""Limits shared by every worker on one machine, without Redis: the counters live in one
SQLite file (``limits.db`` in the spool folder) and each admission is one ``BEGIN
IMMEDIATE`` transaction, so workers take turns and the counts are exact on the machine.

The file holds counters only (nothing that must survive a power loss): ``synchronous =
OFF``, WAL journal. Leases carry an expiry that the owning worker's heartbeat moves
forward; a worker killed with ``kill -9`` stops heartbeating and its leases expire (its
requests in flight stop counting for ``max_parallel_requests``) within the lease TTL.
Each call runs on the backend's own thread, within a deadline (``BackendUnavailable``
past it).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .levels import Level
from .limit_backend import WINDOW, BackendUnavailable, Refusal

__all__ = ["MachineBackend"]

T = TypeVar("T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS leases (scope TEXT NOT NULL, lease TEXT NOT NULL, "
    "expires REAL NOT NULL, reserved REAL NOT NULL, win TEXT NOT NULL, "
    "PRIMARY KEY (scope, lease)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS events (scope TEXT NOT NULL, at REAL NOT NULL, "
    "tokens INTEGER)",
    "CREATE INDEX IF NOT EXISTS events_scope_at ON events (scope, at)",
    "CREATE TABLE IF NOT EXISTS spent (scope TEXT NOT NULL, win TEXT NOT NULL, "
    "usd REAL NOT NULL, touched REAL NOT NULL, PRIMARY KEY (scope, win)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS settled (lease TEXT PRIMARY KEY, at REAL NOT NULL) "
    "WITHOUT ROWID",
)
_SPENT_KEEP = 7 * 86400.0  # an idle window counter is forgotten after a week


class MachineBackend:
    """Limits in a SQLite file shared by this machine's workers (see the module
    docstring)."""

    name = "machine"
    shared = True

    def __init__(self, path: str, *, timeout: float = 2.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.timeout = timeout
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmrelay-limits")
        self._calls = 0

    def _connect(self) -> sqlite3.Connection:
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        for _ in range(100):  # switching to WAL does not wait on the busy handler
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError:
                time.sleep(0.01)
        conn.execute("PRAGMA synchronous = OFF")
        with _tx(conn):
            for sql in _SCHEMA:
                conn.execute(sql)
        return conn

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._executor, functools.partial(self._run, fn, *args))
        done, _ = await asyncio.wait({fut}, timeout=self.timeout + 1.0)
        if not done:
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise BackendUnavailable(f"limits file {self.path}: no answer within "
                                     f"{self.timeout + 1.0:.1f} s")
        try:
            return fut.result()
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"limits file {self.path}: {exc}") from exc

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._conn is None:
            self._conn = self._connect()
        return fn(self._conn, *args)

    async def admit(self, lease: str, levels: Sequence[Level], reserve: float,
                    ttl: float) -> Refusal | None:
        return await self._call(self._admit, lease, levels, reserve, ttl)

    def _admit(self, conn: sqlite3.Connection, lease: str, levels: Sequence[Level],
               reserve: float, ttl: float) -> Refusal | None:
        now = self._clock()
        with _tx(conn):
            for i, level in enumerate(levels):
                refused = _check(conn, level, i, now)
                if refused is not None:
                    return refused
            for level in levels:
                held = reserve if level.max_budget is not None else 0.0
                conn.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)",
                             (level.scope, lease, now + ttl, held, level.window))
                if level.rpm is not None:
                    conn.execute("INSERT INTO events VALUES (?, ?, NULL)", (level.scope, now))
            self._calls += 1
            if self._calls % 1024 == 0:
                conn.execute("DELETE FROM events WHERE at <= ?", (now - WINDOW,))
                conn.execute("DELETE FROM leases WHERE expires <= ?", (now,))
                conn.execute("DELETE FROM settled WHERE at <= ?", (now - 600,))
                conn.execute("DELETE FROM spent WHERE touched <= ?", (now - _SPENT_KEEP,))
        return None

    async def settle(self, items: Sequence[tuple[str, Sequence[Level], float, int]]
                     ) -> None:
        if items:
            await self._call(self._settle, items)

    def _settle(self, conn: sqlite3.Connection,
                items: Sequence[tuple[str, Sequence[Level], float, int]]) -> None:
        now = self._clock()
        with _tx(conn):
            for lease, levels, cost, tokens in items:
                if conn.execute("INSERT OR IGNORE INTO settled VALUES (?, ?)",
                                (lease, now)).rowcount == 0:
                    continue  # settled before
                for level in levels:
                    conn.execute("DELETE FROM leases WHERE scope = ? AND lease = ?",
                                 (level.scope, lease))
                    if cost and level.max_budget is not None:
                        conn.execute("UPDATE spent SET usd = usd + ?, touched = ? "
                                     "WHERE scope = ? AND win = ?",
                                     (cost, now, level.scope, level.window))
                    if tokens and level.tpm is not None:
                        conn.execute("INSERT INTO events VALUES (?, ?, ?)",
                                     (level.scope, now, int(tokens)))

    async def refresh(self, leases: Sequence[tuple[str, Sequence[Level]]],
                      ttl: float) -> None:
        if leases:
            await self._call(self._refresh, leases, ttl)

    def _refresh(self, conn: sqlite3.Connection,
                 leases: Sequence[tuple[str, Sequence[Level]]], ttl: float) -> None:
        expires = self._clock() + ttl
        with _tx(conn):
            conn.executemany("UPDATE leases SET expires = ? WHERE scope = ? AND lease = ?",
                             [(expires, level.scope, lease) for lease, levels in leases
                              for level in levels])

    async def ping(self) -> None:
        await self._call(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        def shut(conn: sqlite3.Connection) -> None:
            conn.close()
            self._conn = None
        try:
            if self._conn is not None:
                await self._call(shut)
        finally:
            self._executor.shutdown(wait=False)


def _check(conn: sqlite3.Connection, level: Level, index: int, now: float) -> Refusal | None:
    scope = level.scope
    if level.parallel is not None or level.max_budget is not None:
        conn.execute("DELETE FROM leases WHERE scope = ? AND expires <= ?", (scope, now))
    if level.parallel is not None:
        (count,) = conn.execute("SELECT COUNT(*) FROM leases WHERE scope = ?",
                                (scope,)).fetchone()
        if count >= level.parallel:
            return Refusal(index, "parallel", count, 1.0)
    if level.rpm is not None or level.tpm is not None:
        conn.execute("DELETE FROM events WHERE scope = ? AND at <= ?", (scope, now - WINDOW))
    if level.rpm is not None:
        count, oldest = conn.execute("SELECT COUNT(*), MIN(at) FROM events WHERE scope = ? "
                                     "AND tokens IS NULL", (scope,)).fetchone()
        if count >= level.rpm:
            return Refusal(index, "rpm", count, max((oldest or now) + WINDOW - now, 0.001))
    if level.tpm is not None:
        used, oldest = conn.execute("SELECT COALESCE(SUM(tokens), 0), MIN(at) FROM events "
                                    "WHERE scope = ? AND tokens IS NOT NULL",
                                    (scope,)).fetchone()
        if used >= level.tpm:
            return Refusal(index, "tpm", used, max((oldest or now) + WINDOW - now, 0.001))
    if level.max_budget is not None:
        conn.execute("INSERT OR IGNORE INTO spent VALUES (?, ?, ?, ?)",
                     (scope, level.window, level.spend, now))
        (spent,) = conn.execute("SELECT usd FROM spent WHERE scope = ? AND win = ?",
                                (scope, level.window)).fetchone()
        (held,) = conn.execute("SELECT COALESCE(SUM(reserved), 0) FROM leases WHERE "
                               "scope = ? AND win = ?", (scope, level.window)).fetchone()
        if spent + held >= level.max_budget:
            return Refusal(index, "budget", spent + held, 0.0)
    return None


class _tx:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

