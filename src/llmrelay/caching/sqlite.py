"""On-disk cache in one SQLite file, shared safely by threads and processes.

The file is opened in WAL mode (readers never wait for a writer) with a busy timeout, so
several processes can use one file at once. Each process opens its own connection (a
forked child never touches its parent's), and one lock per process serialises the
connection between threads. Async calls run the same code on a worker thread so the event
loop never waits for the disk. Expired rows are ignored when read and deleted from time to
time by writers.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["DEFAULT_DIR", "FILENAME", "SQLiteBackend"]

DEFAULT_DIR = ".llmrelay_cache"
FILENAME = "llmrelay-cache.sqlite3"
_TABLE = "llmrelay_cache"
_SCHEMA = (f"CREATE TABLE IF NOT EXISTS {_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
           "expires_at REAL) WITHOUT ROWID")
_BATCH = 500  # stay far below SQLite's limit on bound parameters
_PURGE_EVERY = 256  # writes between sweeps of expired rows


def resolve_path(path: str | os.PathLike[str] | None,
                 directory: str | os.PathLike[str] | None) -> Path:
    """``path`` names the file; otherwise ``directory`` (default ``.llmrelay_cache``)
    holds ``llmrelay-cache.sqlite3``."""
    if path is not None:
        return Path(path)
    return Path(directory if directory is not None else DEFAULT_DIR) / FILENAME


class SQLiteBackend:
    """Key/value rows with an absolute expiry time. ``timeout`` is the busy timeout in
    seconds: how long a call waits for another process's write lock before the operation
    fails (the cache layer then treats it as a miss)."""

    def __init__(self, path: Path, timeout: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._conn: sqlite3.Connection | None = None
        self._writes = 0
        path.parent.mkdir(parents=True, exist_ok=True)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=self._timeout, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connection(self) -> sqlite3.Connection:
        """This process's connection; call with ``self._lock`` held."""
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _guard(self) -> threading.Lock:
        if os.getpid() != self._pid:
            # A forked child: the parent's connection and lock state are not ours to use.
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._conn = None
        return self._lock

    def get_many(self, keys: list[str]) -> list[str | None]:
        now = self._clock()
        found: dict[str, str] = {}
        with self._guard():
            conn = self._connection()
            for start in range(0, len(keys), _BATCH):
                part = keys[start:start + _BATCH]
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    f"SELECT key, value, expires_at FROM {_TABLE} WHERE key IN ({marks})", part)
                for key, value, expires in rows:
                    if expires is None or expires > now:
                        found[key] = value
        return [found.get(k) for k in keys]

    def set_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        now = self._clock()
        expires = None if ttl is None else now + ttl
        rows = [(key, value, expires) for key, value in items]
        with self._guard():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    f"INSERT OR REPLACE INTO {_TABLE} (key, value, expires_at) VALUES (?, ?, ?)",
                    rows)
                self._writes += 1
                if self._writes % _PURGE_EVERY == 0:
                    conn.execute(f"DELETE FROM {_TABLE} WHERE expires_at <= ?", (now,))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def delete(self, keys: list[str]) -> None:
        with self._guard():
            conn = self._connection()
            conn.executemany(f"DELETE FROM {_TABLE} WHERE key = ?", [(k,) for k in keys])

    def clear(self) -> None:
        with self._guard():
            self._connection().execute(f"DELETE FROM {_TABLE}")

    def close(self) -> None:
        with self._guard():
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def aget_many(self, keys: list[str]) -> list[str | None]:
        return await asyncio.to_thread(self.get_many, keys)

    async def aset_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        await asyncio.to_thread(self.set_many, items, ttl)

    async def adelete(self, keys: list[str]) -> None:
        await asyncio.to_thread(self.delete, keys)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
