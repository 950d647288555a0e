"""The SQLite key store: the standard library's ``sqlite3`` on one dedicated thread.

One connection, used only by one worker thread, so the event loop never blocks on disk.
WAL journal mode (readers never wait for the writer) and a busy timeout make one file safe
to share between several proxy worker processes; every write transaction starts with
``BEGIN IMMEDIATE`` so two processes never deadlock upgrading a read lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

from .migrations import LATEST, SCHEMA_VERSION_SQL, pending
from .models import KEY_COLUMNS, SPEND_COLUMNS, KeyRecord, SpendRecord, as_utc
from .rollup import sqlite_rollup
from .storable import storable_text
from .store import (
    SPEND_BY_KEY_FIELDS,
    SPEND_BY_KEY_SQL,
    SPEND_TARGETS,
    KeyStore,
    Program,
    RowsRejected,
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
_KNOWN_IDS = "SELECT call_id FROM spend_logs WHERE call_id IN ({})"
_ID_CHUNK = 512  # bound parameters per lookup (old SQLite builds allow 999)
# Errors that mean "these rows cannot be stored", not "the database is away".
_ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError,
               sqlite3.ProgrammingError, UnicodeError, OverflowError, TypeError, ValueError)
_NEVER = float("inf")
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
    for name, value in data.items():  # rows stored by older versions may hold anything
        if isinstance(value, str):
            data[name] = storable_text(value, len(value))
    data["start_time"] = _decode_time(data["start_time"])
    data["end_time"] = _decode_time(data["end_time"])
    try:
        tags = json.loads(data["request_tags"] or "[]")
    except ValueError:
        tags = None
    data["request_tags"] = ([storable_text(str(t), len(str(t))) for t in tags]
                            if isinstance(tags, list) else [])
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

    def __init__(self, path: str, *, busy_timeout_ms: int = 5000,
                 statement_timeout: float = 5.0, call_timeout: float | None = None) -> None:
        super().__init__()
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.statement_timeout = statement_timeout
        self.call_timeout = (call_timeout if call_timeout is not None
                             else busy_timeout_ms / 1000.0 + statement_timeout + 1.0)
        self._conn: sqlite3.Connection | None = None
        self._executor = _new_executor()
        self._local = threading.local()  # .deadline: the running statement's (per thread)
        self.abandoned = 0  # connections given up on after a call deadline

    @classmethod
    async def open(cls, path: str, **options: Any) -> SQLiteStore:
        """Open the file (creating its folder), set WAL mode, apply migrations."""
        store = cls(path, **options)
        try:
            await store._call(store._migrate_sync, timeout=None)
        except BaseException:
            store._executor.shutdown(wait=False)
            raise
        return store

    async def _call(self, fn: Callable[..., T], *args: Any,
                    timeout: float | bool | None = True) -> T:
        """``fn(connection, *args)`` on the store's thread within the call deadline
        (``timeout`` True: ``call_timeout``; None: no deadline)."""
        if self.closed:
            raise StoreUnavailable("the key store is closed")
        loop = asyncio.get_running_loop()
        limit = self.call_timeout if timeout is True else timeout
        executor = self._executor
        fut = loop.run_in_executor(executor, functools.partial(self._on_thread, fn, *args))
        try:
            if limit is not None:
                # asyncio.wait, not wait_for: a call given up on is left to its thread.
                done, _ = await asyncio.wait({fut}, timeout=float(limit))
                if not done:
                    fut.add_done_callback(_consume)
                    self._abandon(executor)
                    raise StoreUnavailable(f"SQLite database {self.path!r}: no answer "
                                           f"within {float(limit):.1f} s; the connection "
                                           "was replaced")
            return await fut
        except sqlite3.DatabaseError as exc:
            # Locked/unreadable/not-a-database files and interrupted statements; constraint
            # and programming errors are the caller's to see.
            if type(exc) not in (sqlite3.OperationalError, sqlite3.DatabaseError):
                raise
            raise StoreUnavailable(f"SQLite database {self.path!r}: {exc}") from exc

    def _on_thread(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._conn
        if conn is None:
            conn = self._conn = self._connect_sync()
        self._local.deadline = time.monotonic() + self.statement_timeout
        try:
            return fn(conn, *args)
        finally:
            self._local.deadline = _NEVER

    def _abandon(self, executor: ThreadPoolExecutor) -> None:
        """A call missed its deadline: its thread and connection are left to finish (or
        hang) on their own; the next call gets a new thread and a new connection."""
        if executor is not self._executor:
            return  # replaced already
        self.abandoned += 1
        log.warning("llmrelay key store: SQLite %s did not answer within %.1f s; opening a "
                    "new connection", self.path, self.call_timeout)
        self._executor = _new_executor()
        self._conn = None
        executor.shutdown(wait=False)

    def _connect_sync(self) -> sqlite3.Connection:
        folder = os.path.dirname(self.path)
        if folder and self.path != ":memory:":
            os.makedirs(folder, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000.0,
                               isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self._with_lock_retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
            # SQLite's default page cache (2 MB per connection) held ~4 MB of the proxy's
            # resident memory under load; the operating system's file cache serves the rest
            conn.execute(f"PRAGMA cache_size = -{_PAGE_CACHE_KIB}")
            # Interrupts a statement running past its deadline (checked every 1000 steps).
            local = self._local
            conn.set_progress_handler(
                lambda: int(time.monotonic() > getattr(local, "deadline", _NEVER)), 1000)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate_sync(self, conn: sqlite3.Connection) -> None:
        self._local.deadline = _NEVER  # a migration may take long on a big table
        self._with_lock_retry(lambda: self._migrate(conn))

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
            await self._call(_execute_write, sql, row, (rec.token,))
        except sqlite3.IntegrityError:
            raise key_exists_error() from None

    async def _update(self, token: str, values: dict[str, Any]) -> KeyRecord | None:
        names = sorted(values)
        sql = f"UPDATE keys SET {', '.join(f'{n} = ?' for n in names)} WHERE token = ?"
        params = [_encode(n, values[n]) for n in names] + [token]
        if await self._call(_execute_write, sql, params, (token,)) == 0:
            return None
        return await self._fetch(token)

    async def _delete(self, tokens: list[str]) -> int:
        sql = f"DELETE FROM keys WHERE token IN ({', '.join('?' * len(tokens))})"
        return await self._call(_execute_write, sql, tokens, tokens)

    async def _recent_key_changes(self, window: float) -> list[tuple[int, str]]:
        rows = await self._call(_query, "SELECT seq, token FROM key_changes WHERE "
                                "changed_at >= ? ORDER BY seq", (time.time() - window,))
        return [(int(seq), str(token)) for seq, token in rows]

    async def _prune_key_changes(self, older_than: float) -> None:
        await self._call(_execute_write, "DELETE FROM key_changes WHERE changed_at < ?",
                         (time.time() - older_than,))

    async def _fetch(self, token: str) -> KeyRecord | None:
        rows = await self._call(_query, _KEY_SELECT + " WHERE token = ?", (token,))
        return _key(rows[0]) if rows else None

    async def _list(self, user_id: str | None, team_id: str | None) -> list[KeyRecord]:
        where, params = [], []
        for name, value in (("user_id", user_id), ("team_id", team_id)):
            if value is not None:
                where.append(f"{name} = ?")
                params.append(value)
        sql = _KEY_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self._call(_query, sql + " ORDER BY created_at, token", params)
        return [_key(r) for r in rows]

    async def _reset_budget(self, token: str, old: datetime, new: datetime) -> None:
        await self._call(_execute_write,
                         "UPDATE keys SET spend = 0, budget_reset_at = ? "
                         "WHERE token = ? AND budget_reset_at = ?",
                         (_encode("budget_reset_at", new), token,
                          _encode("budget_reset_at", old)))

    # -- spend -------------------------------------------------------------------------
    async def _write_spend(self, records: list[SpendRecord]) -> tuple[dict[str, float], int]:
        try:
            rows = [_spend_row(r) for r in records]
            return await self._call(_write_spend_sync, rows)
        except _ROW_ERRORS as exc:
            raise RowsRejected(f"{type(exc).__name__}: {exc}") from exc

    async def spend_logs(self, *, key_hash: str | None = None, user_id: str | None = None,
                         team_id: str | None = None, start: datetime | None = None,
                         end: datetime | None = None, limit: int = 1000,
                         **more: Any) -> list[SpendRecord]:
        where, params = [], []
        for clause, value in (("key_hash = ?", key_hash), ("user_id = ?", user_id),
                              ("team_id = ?", team_id),
                              ("model_group = ?", more.get("model")),
                              ("status = ?", more.get("status")),
                              ("call_id = ?", more.get("call_id")),
                              ("start_time >= ?", _encode("start_time", start)),
                              ("start_time <= ?", _encode("start_time", end))):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = (f"SELECT {', '.join(SPEND_COLUMNS)} FROM spend_logs"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY start_time DESC, id DESC LIMIT ? OFFSET ?")
        offset = int(more.get("offset") or 0)
        rows = await self._call(_query, sql, [*params, int(limit), offset])
        return [_spend(r) for r in rows]

    async def spend_by_key(self) -> list[dict[str, Any]]:
        rows = await self._call(_query, SPEND_BY_KEY_SQL, ())
        out = []
        for row in rows:
            item = dict(zip(SPEND_BY_KEY_FIELDS, row, strict=True))
            item["spend"] = float(item["spend"] or 0.0)
            item["last_used"] = _decode_time(item["last_used"])
            out.append(item)
        return out

    async def run_program(self, program: Callable[[], Program[T]], *, write: bool = True,
                          timeout: float | None = None) -> T:
        limit = True if timeout is None else timeout + self.busy_timeout_ms / 1000.0 + 1.0
        return await self._call(self._drive, program(), write, timeout, timeout=limit)

    def _drive(self, conn: sqlite3.Connection, program: Program[T], write: bool,
               timeout: float | None) -> T:
        if timeout is not None:
            self._local.deadline = time.monotonic() + timeout
        with _write_tx(conn) if write else contextlib.nullcontext():
            try:
                sql, params = next(program)
                while True:
                    sql, params = program.send(conn.execute(sql, params).fetchall())
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    async def healthy(self) -> bool:
        try:
            await self._call(_query, "SELECT 1", ())
        except Exception:
            return False
        return True

    async def close(self) -> None:
        if self.closed:
            return
        try:
            await self._call(_close_sync)
        finally:
            self.closed = True
            self._conn = None
            self._executor.shutdown(wait=False)


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: an abandoned call's error is not news


_PAGE_CACHE_KIB = 256  # the connection's page cache, KiB


def _new_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmrelay-sqlite")


def _close_sync(conn: sqlite3.Connection) -> None:
    conn.close()


def _query(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _execute_write(conn: sqlite3.Connection, sql: str, params: Sequence[Any],
                   changed: Sequence[str] = ()) -> int:
    """Run one write; when it changed rows, log ``changed`` tokens in ``key_changes`` in
    the same transaction."""
    with _write_tx(conn):
        count: int = conn.execute(sql, params).rowcount
        if count and changed:
            now = time.time()
            conn.executemany("INSERT INTO key_changes (token, changed_at) VALUES (?, ?)",
                             [(token, now) for token in changed])
        return count


def _padded(ids: list[Any]) -> list[Any]:
    """``ids`` padded with NULLs (which match no row) to a power of two: the lookup has a
    handful of statement shapes instead of one per batch size, each of which the
    connection's statement cache would keep (up to 128 of them, megabytes for the larger
    ones)."""
    size = 1 << max(len(ids) - 1, 0).bit_length()
    return ids + [None] * (size - len(ids))


def _write_spend_sync(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]
                      ) -> tuple[dict[str, float], int]:
    """Insert the rows whose call id is new and add their cost to the spend targets, in one
    ``BEGIN IMMEDIATE`` transaction (no other writer can insert the same ids between the
    lookup and the insert)."""
    cost_at = SPEND_COLUMNS.index("cost")
    with _write_tx(conn):
        ids = [row[0] for row in rows if row[0] is not None]
        known: set[str] = set()
        for i in range(0, len(ids), _ID_CHUNK):
            chunk = _padded(ids[i:i + _ID_CHUNK])
            known.update(cid for (cid,) in conn.execute(
                _KNOWN_IDS.format(", ".join("?" * len(chunk))), chunk))
        new = []
        for row in rows:
            if row[0] is None or row[0] not in known:
                new.append(row)
                if row[0] is not None:
                    known.add(row[0])  # the same id twice in one batch counts once
        conn.executemany(_SPEND_INSERT, new)
        key_deltas: dict[str, float] = {}
        for table, id_column, field in SPEND_TARGETS:
            at = SPEND_COLUMNS.index(field)
            deltas = spend_deltas((row[at], row[cost_at]) for row in new)
            conn.executemany(f"UPDATE {table} SET spend = spend + ? WHERE {id_column} = ?",
                             [(deltas[t], t) for t in sorted(deltas)])
            if table == "keys":
                key_deltas = deltas
        sqlite_rollup(conn, new)
    return key_deltas, len(new)
