"""The SQLite key store: the standard library's ``sqlite3`` on one dedicated thread.

One connection, used only by one worker thread, so the event loop never blocks on disk.
WAL journal mode (readers never wait for the writer) and a busy timeout make one file safe
to share between several proxy worker processes; every write transaction starts with
``BEGIN IMMEDIATE`` so two processes never deadlock upgrading a read lock.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

from .migrations import LATEST, SCHEMA_VERSION_SQL, pending
from .models import KEY_COLUMNS, SPEND_COLUMNS, KeyRecord, SpendRecord, as_utc
from .store import (
    SPEND_BY_KEY_FIELDS,
    SPEND_BY_KEY_SQL,
    KeyStore,
    StoreUnavailable,
    key_exists_error,
    log,
    spend_deltas,
    spend_row,
)

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_KEY_SELECT = f"SELECT {', '.join(KEY_COLUMNS)} FROM keys"
_SPEND_INSERT = (f"INSERT INTO spend_logs ({', '.join(SPEND_COLUMNS)}) "
                 f"VALUES ({', '.join('?' * len(SPEND_COLUMNS))})")
_BATCH_INSERT = ("INSERT INTO spend_batches (batch_id, written_at) VALUES (?, ?) "
                 "ON CONFLICT (batch_id) DO NOTHING")
_TIMES = ("budget_reset_at", "expires", "created_at", "start_time", "end_time")
_JSON = ("models", "metadata", "request_tags")


def _encode(name: str, value: Any) -> Any:
    """A field value as SQLite stores it (unix seconds, JSON text, 0/1)."""
    if value is None:
        return None
    if name in _TIMES:
        return as_utc(value).timestamp()
    if name in _JSON:
        return json.dumps(value, separators=(",", ":"), default=str)
    if isinstance(value, bool):
        return int(value)
    return value


_START_AT, _END_AT = SPEND_COLUMNS.index("start_time"), SPEND_COLUMNS.index("end_time")
_CACHE_HIT_AT, _TAGS_AT = SPEND_COLUMNS.index("cache_hit"), SPEND_COLUMNS.index("request_tags")


def _spend_row(rec: SpendRecord) -> tuple[Any, ...]:
    """A usage row as SQLite stores it (what ``_encode`` does, for the known columns only:
    this runs for every row the spend writer writes)."""
    row = list(spend_row(rec))
    row[_START_AT] = as_utc(row[_START_AT]).timestamp()
    row[_END_AT] = as_utc(row[_END_AT]).timestamp()
    row[_CACHE_HIT_AT] = int(row[_CACHE_HIT_AT])
    tags = row[_TAGS_AT]
    row[_TAGS_AT] = json.dumps(tags, separators=(",", ":")) if tags else "[]"
    return tuple(row)


def _decode_time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _key(row: Sequence[Any]) -> KeyRecord:
    data = dict(zip(KEY_COLUMNS, row, strict=True))
    for name in ("budget_reset_at", "expires", "created_at"):
        data[name] = _decode_time(data[name])
    data["models"] = json.loads(data["models"] or "[]")
    data["metadata"] = json.loads(data["metadata"] or "{}")
    data["blocked"] = bool(data["blocked"])
    return KeyRecord(**data)


def _spend(row: Sequence[Any]) -> SpendRecord:
    data = dict(zip(SPEND_COLUMNS, row, strict=True))
    data["start_time"] = _decode_time(data["start_time"])
    data["end_time"] = _decode_time(data["end_time"])
    data["request_tags"] = json.loads(data["request_tags"] or "[]")
    data["cache_hit"] = bool(data["cache_hit"])
    return SpendRecord(**data)


@contextmanager
def _write_tx(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction; rolled back when the body or the COMMIT itself fails (a
    failed COMMIT would otherwise leave the transaction open on the connection)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise


class SQLiteStore(KeyStore):
    """Key store in one SQLite file (``":memory:"`` works too, for one process)."""

    dialect = "sqlite"

    def __init__(self, path: str, *, busy_timeout_ms: int = 5000) -> None:
        super().__init__()
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmrelay-sqlite")

    @classmethod
    async def open(cls, path: str, **options: Any) -> SQLiteStore:
        """Open the file (creating its folder), set WAL mode, apply migrations."""
        store = cls(path, **options)
        try:
            await store._call(store._open_sync)
        except BaseException:
            store._executor.shutdown(wait=False)
            raise
        return store

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self.closed:
            raise StoreUnavailable("the key store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except sqlite3.DatabaseError as exc:
            # Locked/unreadable/not-a-database files; constraint and programming errors
            # are the caller's to see.
            if type(exc) not in (sqlite3.OperationalError, sqlite3.DatabaseError):
                raise
            raise StoreUnavailable(f"SQLite database {self.path!r}: {exc}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable("the key store is not open")
        return self._conn

    def _open_sync(self) -> None:
        folder = os.path.dirname(self.path)
        if folder and self.path != ":memory:":
            os.makedirs(folder, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000.0,
                               isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self._with_lock_retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
            self._with_lock_retry(lambda: self._migrate(conn))
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _with_lock_retry(self, fn: Callable[[], Any]) -> None:
        """Run ``fn``, retrying while another process holds the file: switching to WAL does
        not wait on the busy handler, so several workers opening one file at once retry."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000.0
        while True:
            try:
                fn()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with _write_tx(conn):
            conn.execute(SCHEMA_VERSION_SQL["sqlite"])
            current = conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            if current > LATEST:
                log.warning("llmrelay key store: %s has schema version %s; this llmrelay "
                            "knows up to %s", self.path, current, LATEST)
            for migration in pending(int(current)):
                for sql in migration.statements("sqlite"):
                    conn.execute(sql)
                conn.execute("INSERT INTO schema_version (version, name, applied_at) "
                             "VALUES (?, ?, ?)", (migration.version, migration.name,
                                                  time.time()))

    # -- keys --------------------------------------------------------------------------
    async def _insert(self, rec: KeyRecord) -> None:
        row = tuple(_encode(name, getattr(rec, name)) for name in KEY_COLUMNS)
        sql = (f"INSERT INTO keys ({', '.join(KEY_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(KEY_COLUMNS))})")
        try:
            await self._call(self._execute_write, sql, row, (rec.token,))
        except sqlite3.IntegrityError:
            raise key_exists_error() from None

    def _execute_write(self, sql: str, params: Sequence[Any],
                       changed: Sequence[str] = ()) -> int:
        """Run one write; when it changed rows, log ``changed`` tokens in ``key_changes``
        in the same transaction."""
        db = self._db
        with _write_tx(db):
            count: int = db.execute(sql, params).rowcount
            if count and changed:
                now = time.time()
                db.executemany("INSERT INTO key_changes (token, changed_at) VALUES (?, ?)",
                               [(token, now) for token in changed])
            return count

    async def _update(self, token: str, values: dict[str, Any]) -> KeyRecord | None:
        names = sorted(values)
        sql = f"UPDATE keys SET {', '.join(f'{n} = ?' for n in names)} WHERE token = ?"
        params = [_encode(n, values[n]) for n in names] + [token]
        if await self._call(self._execute_write, sql, params, (token,)) == 0:
            return None
        return await self._fetch(token)

    async def _delete(self, tokens: list[str]) -> int:
        sql = f"DELETE FROM keys WHERE token IN ({', '.join('?' * len(tokens))})"
        return await self._call(self._execute_write, sql, tokens, tokens)

    async def _recent_key_changes(self, window: float) -> list[tuple[int, str]]:
        rows = await self._call(self._query, "SELECT seq, token FROM key_changes WHERE "
                                "changed_at >= ? ORDER BY seq", (time.time() - window,))
        return [(int(seq), str(token)) for seq, token in rows]

    async def _prune_key_changes(self, older_than: float) -> None:
        await self._call(self._execute_write, "DELETE FROM key_changes WHERE changed_at < ?",
                         (time.time() - older_than,))

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self._db.execute(sql, params).fetchall()

    async def _fetch(self, token: str) -> KeyRecord | None:
        rows = await self._call(self._query, _KEY_SELECT + " WHERE token = ?", (token,))
        return _key(rows[0]) if rows else None

    async def _list(self, user_id: str | None, team_id: str | None) -> list[KeyRecord]:
        where, params = [], []
        for name, value in (("user_id", user_id), ("team_id", team_id)):
            if value is not None:
                where.append(f"{name} = ?")
                params.append(value)
        sql = _KEY_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self._call(self._query, sql + " ORDER BY created_at, token", params)
        return [_key(r) for r in rows]

    async def _reset_budget(self, token: str, old: datetime, new: datetime) -> None:
        await self._call(self._execute_write,
                         "UPDATE keys SET spend = 0, budget_reset_at = ? "
                         "WHERE token = ? AND budget_reset_at = ?",
                         (_encode("budget_reset_at", new), token,
                          _encode("budget_reset_at", old)))

    # -- spend -------------------------------------------------------------------------
    async def _write_spend(self, batch_id: str, records: list[SpendRecord],
                           prune_before: str | None) -> dict[str, float] | None:
        rows = [_spend_row(r) for r in records]
        return await self._call(self._write_spend_sync, batch_id, rows, prune_before)

    def _write_spend_sync(self, batch_id: str, rows: list[tuple[Any, ...]],
                          prune_before: str | None) -> dict[str, float] | None:
        db = self._db
        key_at, cost_at = SPEND_COLUMNS.index("key_hash"), SPEND_COLUMNS.index("cost")
        with _write_tx(db):
            if db.execute(_BATCH_INSERT, (batch_id, time.time())).rowcount != 1:
                return None  # this batch was committed before (a retry)
            db.executemany(_SPEND_INSERT, rows)
            deltas = spend_deltas((row[key_at], row[cost_at]) for row in rows)
            db.executemany("UPDATE keys SET spend = spend + ? WHERE token = ?",
                           [(deltas[t], t) for t in sorted(deltas)])
            if prune_before is not None:
                db.execute("DELETE FROM spend_batches WHERE batch_id < ?", (prune_before,))
        return deltas

    async def spend_logs(self, *, key_hash: str | None = None, user_id: str | None = None,
                         team_id: str | None = None, start: datetime | None = None,
                         end: datetime | None = None, limit: int = 1000) -> list[SpendRecord]:
        where, params = [], []
        for clause, value in (("key_hash = ?", key_hash), ("user_id = ?", user_id),
                              ("team_id = ?", team_id),
                              ("start_time >= ?", _encode("start_time", start)),
                              ("start_time <= ?", _encode("start_time", end))):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = (f"SELECT {', '.join(SPEND_COLUMNS)} FROM spend_logs"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY start_time DESC, id DESC LIMIT ?")
        rows = await self._call(self._query, sql, [*params, int(limit)])
        return [_spend(r) for r in rows]

    async def spend_by_key(self) -> list[dict[str, Any]]:
        rows = await self._call(self._query, SPEND_BY_KEY_SQL, ())
        out = []
        for row in rows:
            item = dict(zip(SPEND_BY_KEY_FIELDS, row, strict=True))
            item["spend"] = float(item["spend"] or 0.0)
            item["last_used"] = _decode_time(item["last_used"])
            out.append(item)
        return out

    async def healthy(self) -> bool:
        try:
            await self._call(self._query, "SELECT 1", ())
        except Exception:
            return False
        return True

    async def close(self) -> None:
        if self.closed:
            return
        try:
            await self._call(self._close_sync)
        finally:
            self.closed = True
            self._executor.shutdown(wait=False)

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
