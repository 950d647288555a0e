"""The PostgreSQL key store: psycopg 3 async connections in a small pool of our own.

Connections are opened on demand (at most ``pool_size``), kept while healthy and dropped
when broken; an operation that fails on a kept connection (the server restarted, an idle
connection was killed) is retried once on a fresh one. A database that stays unreachable
raises :class:`StoreUnavailable`. A ``?schema=name`` parameter in the URL puts the tables in
that schema (created if missing) through ``search_path``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from .migrations import LATEST, SCHEMA_VERSION_SQL, pending
from .models import KEY_COLUMNS, SPEND_COLUMNS, KeyRecord, SpendRecord, as_utc
from .store import (
    SPEND_BY_KEY_FIELDS,
    SPEND_BY_KEY_SQL,
    KeyStore,
    StoreUnavailable,
    key_exists_error,
    redact_url,
    spend_deltas,
    spend_row,
)

__all__ = ["PostgresStore"]

log = logging.getLogger("llmrelay.proxy.keys")
T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]

_MIGRATION_LOCK = 0x6C6C6D72656C6179  # "llmrelay": one advisory lock for migrations
_KEY_SELECT = f"SELECT {', '.join(KEY_COLUMNS)} FROM keys"
# Rows go in with COPY (one stream per batch, several times faster than INSERT of the same
# rows); the batch id goes in first, and a known id means the batch was committed before.
_SPEND_COPY = f"COPY spend_logs ({', '.join(SPEND_COLUMNS)}) FROM STDIN"
_BATCH_INSERT = ("INSERT INTO spend_batches (batch_id) VALUES (%s) "
                 "ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id")
_CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(timezone.utc)


def _key(row: Sequence[Any]) -> KeyRecord:
    data = dict(zip(KEY_COLUMNS, row, strict=True))
    for name in ("budget_reset_at", "expires", "created_at"):
        data[name] = _utc(data[name])
    data["models"] = list(data["models"] or [])
    data["metadata"] = dict(data["metadata"] or {})
    return KeyRecord(**data)


def _spend(row: Sequence[Any]) -> SpendRecord:
    data = dict(zip(SPEND_COLUMNS, row, strict=True))
    data["start_time"] = _utc(data["start_time"])
    data["end_time"] = _utc(data["end_time"])
    data["request_tags"] = list(data["request_tags"] or [])
    return SpendRecord(**data)


def _encode(name: str, value: Any) -> Any:
    if name in ("models", "metadata"):
        return Jsonb(value)
    if isinstance(value, datetime):
        return as_utc(value)
    return value


def _logged(change: str, columns: str) -> str:
    """``change`` (an INSERT/UPDATE/DELETE ... RETURNING ``token`` among ``columns``) that
    also logs the changed tokens in ``key_changes``, in the same statement."""
    return (f"WITH changed AS ({change}), logged AS (INSERT INTO key_changes (token) "
            f"SELECT token FROM changed) SELECT {columns} FROM changed")


def split_schema(url: str) -> tuple[str, str | None]:
    """``url`` without its ``schema`` query parameter, and that schema (or None)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema or None


class _Pool:
    """At most ``size`` connections; idle ones are reused, broken ones closed."""

    def __init__(self, conninfo: str, size: int, timeout: float,
                 setup: Callable[[Conn], Awaitable[None]]) -> None:
        self.conninfo = conninfo
        self.timeout = timeout
        self.setup = setup
        self.closed = False
        self._idle: list[Conn] = []
        self._slots = asyncio.Semaphore(size)

    async def _connect(self) -> Conn:
        conn = await asyncio.wait_for(
            psycopg.AsyncConnection.connect(self.conninfo, autocommit=True,
                                            connect_timeout=max(1, int(self.timeout))),
            self.timeout + 1.0)
        try:
            await self.setup(conn)
        except BaseException:
            await conn.close()
            raise
        return conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[tuple[Conn, bool]]:
        """``(connection, reused)``; the connection goes back to the pool if healthy."""
        async with self._slots:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect()
            try:
                yield conn, reused
            finally:
                if (self.closed or conn.broken or conn.closed
                        or conn.info.transaction_status != TransactionStatus.IDLE):
                    await _close_quietly(conn)
                else:
                    self._idle.append(conn)

    async def drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await _close_quietly(conn)


async def _close_quietly(conn: Conn) -> None:
    try:
        await conn.close()
    except Exception:
        pass


class PostgresStore(KeyStore):
    """Key store in PostgreSQL (tables in ``schema`` when given, else ``search_path``)."""

    dialect = "postgres"

    def __init__(self, url: str, *, pool_size: int = 4, connect_timeout: float = 5.0,
                 schema: str | None = None) -> None:
        super().__init__()
        conninfo, url_schema = split_schema(url)
        self.url = redact_url(url)
        self.schema = schema or url_schema
        self._pool = _Pool(conninfo, pool_size, connect_timeout, self._setup)

    @classmethod
    async def open(cls, url: str, **options: Any) -> PostgresStore:
        """Connect and apply migrations; StoreUnavailable when the server cannot be
        reached."""
        store = cls(url, **options)
        await store._run(store._migrate)
        return store

    async def _setup(self, conn: Conn) -> None:
        if self.schema:
            # IF NOT EXISTS still races between concurrent openers; serialise them.
            await conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            try:
                await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(self.schema)))
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(sql.SQL("SET search_path TO {}").format(
                sql.Identifier(self.schema)))

    async def _run(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """``fn(conn)`` on a pooled connection; once more on a fresh one when a kept
        connection turns out dead. Connection failures become StoreUnavailable."""
        if self.closed:
            raise StoreUnavailable("the key store is closed")
        for attempt in (0, 1):
            reused = False
            try:
                async with self._pool.connection() as (conn, reused):
                    return await fn(conn)
            except (*_CONNECTION_ERRORS, OSError, asyncio.TimeoutError) as exc:
                await self._pool.drop_idle()
                if attempt == 0 and reused:
                    continue
                raise StoreUnavailable(f"PostgreSQL {self.url}: {exc}") from exc
        raise AssertionError("unreachable")

    async def _migrate(self, conn: Conn) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(SCHEMA_VERSION_SQL["postgres"])
            cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            row = await cur.fetchone()
            current = int(row[0]) if row else 0
            if current > LATEST:
                log.warning("llmrelay key store: %s has schema version %s; this llmrelay "
                            "knows up to %s", self.url, current, LATEST)
            for migration in pending(current):
                for statement in migration.statements("postgres"):
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                                   (migration.version, migration.name))

    async def _rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async def run(conn: Conn) -> list[tuple[Any, ...]]:
            cur = await conn.execute(query, params)
            return await cur.fetchall()

        return await self._run(run)

    # -- keys --------------------------------------------------------------------------
    async def _insert(self, rec: KeyRecord) -> None:
        query = _logged(f"INSERT INTO keys ({', '.join(KEY_COLUMNS)}) "
                        f"VALUES ({', '.join(['%s'] * len(KEY_COLUMNS))}) RETURNING token",
                        "token")
        try:
            await self._rows(query, [_encode(n, getattr(rec, n)) for n in KEY_COLUMNS])
        except pg_errors.UniqueViolation:
            raise key_exists_error() from None

    async def _update(self, token: str, values: dict[str, Any]) -> KeyRecord | None:
        names = sorted(values)
        columns = ", ".join(KEY_COLUMNS)
        query = _logged(f"UPDATE keys SET {', '.join(f'{n} = %s' for n in names)} "
                        f"WHERE token = %s RETURNING {columns}", columns)
        rows = await self._rows(query, [*(_encode(n, values[n]) for n in names), token])
        return _key(rows[0]) if rows else None

    async def _delete(self, tokens: list[str]) -> int:
        rows = await self._rows(_logged("DELETE FROM keys WHERE token = ANY(%s) "
                                        "RETURNING token", "token"), (tokens,))
        return len(rows)

    async def _recent_key_changes(self, window: float) -> list[tuple[int, str]]:
        rows = await self._rows("SELECT seq, token FROM key_changes WHERE changed_at >= "
                                "clock_timestamp() - make_interval(secs => %s) ORDER BY seq",
                                (float(window),))
        return [(int(seq), str(token)) for seq, token in rows]

    async def _prune_key_changes(self, older_than: float) -> None:
        await self._rows("DELETE FROM key_changes WHERE changed_at < "
                         "clock_timestamp() - make_interval(secs => %s) RETURNING seq",
                         (float(older_than),))

    async def _fetch(self, token: str) -> KeyRecord | None:
        rows = await self._rows(_KEY_SELECT + " WHERE token = %s", (token,))
        return _key(rows[0]) if rows else None

    async def _list(self, user_id: str | None, team_id: str | None) -> list[KeyRecord]:
        where, params = [], []
        for name, value in (("user_id", user_id), ("team_id", team_id)):
            if value is not None:
                where.append(f"{name} = %s")
                params.append(value)
        query = _KEY_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        return [_key(r) for r in await self._rows(query + " ORDER BY created_at, token",
                                                  params)]

    async def _reset_budget(self, token: str, old: datetime, new: datetime) -> None:
        await self._rows("UPDATE keys SET spend = 0, budget_reset_at = %s "
                         "WHERE token = %s AND budget_reset_at = %s RETURNING token",
                         (as_utc(new), token, as_utc(old)))

    # -- spend -------------------------------------------------------------------------
    async def _write_spend(self, batch_id: str, records: list[SpendRecord],
                           prune_before: str | None) -> dict[str, float] | None:
        tags_at = SPEND_COLUMNS.index("request_tags")
        times_at = (SPEND_COLUMNS.index("start_time"), SPEND_COLUMNS.index("end_time"))
        rows = []
        for rec in records:
            row = list(spend_row(rec))
            row[tags_at] = json.dumps(row[tags_at])
            for at in times_at:
                row[at] = as_utc(row[at])
            rows.append(row)
        deltas = spend_deltas((r.key_hash, r.cost) for r in records)

        async def write(conn: Conn) -> dict[str, float] | None:
            async with conn.transaction():
                cur = await conn.execute(_BATCH_INSERT, (batch_id,))
                if await cur.fetchone() is None:
                    return None  # this batch was committed before (a retry)
                async with conn.cursor() as copy_cur, copy_cur.copy(_SPEND_COPY) as copy:
                    for row in rows:
                        await copy.write_row(row)
                if deltas:
                    async with conn.cursor() as upd:
                        await upd.executemany(
                            "UPDATE keys SET spend = spend + %s WHERE token = %s",
                            [(deltas[t], t) for t in sorted(deltas)])
                if prune_before is not None:
                    await conn.execute("DELETE FROM spend_batches WHERE batch_id < %s",
                                       (prune_before,))
            return deltas

        return await self._run(write)

    async def spend_logs(self, *, key_hash: str | None = None, user_id: str | None = None,
                         team_id: str | None = None, start: datetime | None = None,
                         end: datetime | None = None, limit: int = 1000) -> list[SpendRecord]:
        where, params = [], []
        for clause, value in (("key_hash = %s", key_hash), ("user_id = %s", user_id),
                              ("team_id = %s", team_id),
                              ("start_time >= %s", _encode("start_time", start)),
                              ("start_time <= %s", _encode("start_time", end))):
            if value is not None:
                where.append(clause)
                params.append(value)
        query = (f"SELECT {', '.join(SPEND_COLUMNS)} FROM spend_logs"
                 + (" WHERE " + " AND ".join(where) if where else "")
                 + " ORDER BY start_time DESC, id DESC LIMIT %s")
        return [_spend(r) for r in await self._rows(query, [*params, int(limit)])]

    async def spend_by_key(self) -> list[dict[str, Any]]:
        out = []
        for row in await self._rows(SPEND_BY_KEY_SQL):
            item = dict(zip(SPEND_BY_KEY_FIELDS, row, strict=True))
            for name in ("requests", "prompt_tokens", "completion_tokens", "total_tokens"):
                item[name] = int(item[name] or 0)
            item["spend"] = float(item["spend"] or 0.0)
            item["last_used"] = _utc(item["last_used"])
            out.append(item)
        return out

    async def healthy(self) -> bool:
        try:
            await self._rows("SELECT 1")
        except Exception:
            return False
        return True

    async def close(self) -> None:
        self.closed = True
        self._pool.closed = True
        await self._pool.drop_idle()
