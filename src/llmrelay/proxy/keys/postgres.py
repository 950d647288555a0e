"""The PostgreSQL key store: psycopg 3 async connections in a small pool of our own
(``pgpool.py``: connect, statement, call and idle timeouts, TCP keepalive; a connection
that misses a deadline or fails is closed and replaced, never waited on again).

A database that is unreachable or too slow raises :class:`StoreUnavailable`. A
``?schema=name`` parameter in the URL puts the tables in that schema (created if missing)
through ``search_path``.

Usage rows go in with one statement per batch: the columns as arrays through ``unnest``,
``ON CONFLICT (call_id) DO NOTHING``, and the cost of the rows actually inserted added to
each spend target in the same statement (data-modifying CTEs), so a batch is atomic and a
replayed row is neither stored nor counted twice, whichever instance replays it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.types.json import Jsonb

from .migrations import LATEST, SCHEMA_VERSION_SQL, pending
from .models import KEY_COLUMNS, SPEND_COLUMNS, KeyRecord, SpendRecord, as_utc
from .pgpool import CONNECTION_ERRORS, Conn, Pool, PoolTimeout
from .rollup import INS_COLUMNS, postgres_ctes
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
    redact_url,
    spend_deltas,
    spend_row,
)

__all__ = ["PostgresStore"]

log = logging.getLogger("llmrelay.proxy.keys")
T = TypeVar("T")

_MIGRATION_LOCK = 0x6C6C6D72656C6179  # "llmrelay": one advisory lock for migrations
_KEY_SELECT = f"SELECT {', '.join(KEY_COLUMNS)} FROM keys"
_SPEND_TYPES = {"prompt_tokens": "int4", "completion_tokens": "int4",
                "total_tokens": "int4", "cost": "float8", "latency_ms": "float8",
                "start_time": "timestamptz", "end_time": "timestamptz", "cache_hit": "bool"}
# Errors that mean "these rows cannot be stored" (bad text, a value out of range, a
# constraint), not "the database is away": SQLSTATE classes 22 and 23, and what psycopg
# refuses before sending (NUL characters, text that is not valid Unicode).
_ROW_ERRORS = (psycopg.DataError, psycopg.IntegrityError, UnicodeError, ValueError,
               OverflowError)


def _spend_insert_sql() -> str:
    """One statement: insert the unnested rows whose call id is new, add their cost to
    every spend target, return the inserted rows' target ids and cost."""
    arrays = ", ".join(f"%s::{_SPEND_TYPES.get(c, 'text')}[]" for c in SPEND_COLUMNS)
    values = ", ".join("r.request_tags::jsonb" if c == "request_tags" else f"r.{c}"
                       for c in SPEND_COLUMNS)
    fields = sorted({field for _, _, field in SPEND_TARGETS})
    returned = [*fields, *(c for c in INS_COLUMNS if c not in fields)]
    updates = "".join(
        f", t{i} AS (UPDATE {table} t SET spend = t.spend + d.usd FROM (SELECT {field} AS id, "
        f"SUM(cost) AS usd FROM ins WHERE {field} IS NOT NULL GROUP BY {field}) d "
        f"WHERE t.{id_column} = d.id RETURNING 1)"
        for i, (table, id_column, field) in enumerate(SPEND_TARGETS))
    return (f"WITH r AS (SELECT * FROM unnest({arrays}) AS r({', '.join(SPEND_COLUMNS)})), "
            f"ins AS (INSERT INTO spend_logs ({', '.join(SPEND_COLUMNS)}) SELECT {values} "
            f"FROM r ON CONFLICT (call_id) DO NOTHING RETURNING {', '.join(returned)})"
            f"{updates}{postgres_ctes()} SELECT {', '.join(fields)}, cost FROM ins")


_SPEND_INSERT = _spend_insert_sql()
_SPEND_RETURNED = sorted({field for _, _, field in SPEND_TARGETS})


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
    tags = data["request_tags"]
    data["request_tags"] = [storable_text(str(t), len(str(t))) for t in tags] if isinstance(
        tags, list) else []
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


class PostgresStore(KeyStore):
    """Key store in PostgreSQL (tables in ``schema`` when given, else ``search_path``)."""

    dialect = "postgres"

    def __init__(self, url: str, *, pool_size: int = 4, connect_timeout: float = 5.0,
                 statement_timeout: float = 5.0, call_timeout: float | None = None,
                 idle_timeout: float = 30.0, schema: str | None = None,
                 prepared_statements: bool = True) -> None:
        super().__init__()
        conninfo, url_schema = split_schema(url)
        self.url = redact_url(url)
        self.schema = schema or url_schema
        self._pool = Pool(conninfo, size=pool_size, connect_timeout=connect_timeout,
                          statement_timeout=statement_timeout, call_timeout=call_timeout,
                          idle_timeout=idle_timeout, setup=self._setup,
                          prepared_statements=prepared_statements)

    @property
    def replaced_connections(self) -> int:
        """Connections closed after a failure or a missed deadline."""
        return self._pool.replaced

    @classmethod
    async def open(cls, url: str, **options: Any) -> PostgresStore:
        """Connect and apply migrations; StoreUnavailable when the server cannot be
        reached."""
        store = cls(url, **options)
        await store._run(store._migrate, timeout=None)
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

    async def _run(self, fn: Callable[[Conn], Awaitable[T]], *,
                   timeout: float | bool | None = True) -> T:
        """``fn(conn)`` through the pool (see ``pgpool.py``); connection failures and
        missed deadlines become StoreUnavailable."""
        if self.closed:
            raise StoreUnavailable("the key store is closed")
        try:
            return await self._pool.run(fn, timeout=timeout)
        except (*CONNECTION_ERRORS, PoolTimeout) as exc:
            raise StoreUnavailable(f"PostgreSQL {self.url}: {exc}") from exc

    async def _migrate(self, conn: Conn) -> None:
        async with conn.transaction():
            await conn.execute("SET LOCAL statement_timeout = 0")  # big tables take long
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
    async def _write_spend(self, records: list[SpendRecord]) -> tuple[dict[str, float], int]:
        columns: list[list[Any]] = [[] for _ in SPEND_COLUMNS]
        tags_at = SPEND_COLUMNS.index("request_tags")
        for rec in records:
            for i, value in enumerate(spend_row(rec)):
                columns[i].append(json.dumps(value) if i == tags_at else value)

        async def write(conn: Conn) -> list[tuple[Any, ...]]:
            cur = await conn.execute(_SPEND_INSERT, columns)
            return await cur.fetchall()

        try:
            rows = await self._run(write)
        except _ROW_ERRORS as exc:
            raise RowsRejected(f"{type(exc).__name__}: {exc}") from exc
        key_at = _SPEND_RETURNED.index("key_hash")
        deltas = spend_deltas((row[key_at], row[-1]) for row in rows)
        return deltas, len(rows)

    async def spend_logs(self, *, key_hash: str | None = None, user_id: str | None = None,
                         team_id: str | None = None, start: datetime | None = None,
                         end: datetime | None = None, limit: int = 1000,
                         **more: Any) -> list[SpendRecord]:
        where, params = [], []
        for clause, value in (("key_hash = %s", key_hash), ("user_id = %s", user_id),
                              ("team_id = %s", team_id),
                              ("model_group = %s", more.get("model")),
                              ("status = %s", more.get("status")),
                              ("call_id = %s", more.get("call_id")),
                              ("start_time >= %s", _encode("start_time", start)),
                              ("start_time <= %s", _encode("start_time", end))):
            if value is not None:
                where.append(clause)
                params.append(value)
        query = (f"SELECT {', '.join(SPEND_COLUMNS)} FROM spend_logs"
                 + (" WHERE " + " AND ".join(where) if where else "")
                 + " ORDER BY start_time DESC, id DESC LIMIT %s OFFSET %s")
        offset = int(more.get("offset") or 0)
        return [_spend(r) for r in await self._rows(query, [*params, int(limit), offset])]

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

    async def run_program(self, program: Callable[[], Program[T]], *, write: bool = True,
                          timeout: float | None = None) -> T:
        async def run(conn: Conn) -> T:
            prog = program()
            async with conn.transaction():
                if not write:
                    await conn.execute("SET TRANSACTION READ ONLY")
                if timeout is not None:
                    await conn.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
                try:
                    query, params = next(prog)
                    while True:
                        cur = await conn.execute(query.replace("?", "%s"), params)
                        rows = await cur.fetchall() if cur.description is not None else []
                        query, params = prog.send(rows)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]

        return await self._run(run, timeout=True if timeout is None else timeout + 2.0)

    async def healthy(self) -> bool:
        try:
            await self._rows("SELECT 1")
        except Exception:
            return False
        return True

    async def close(self) -> None:
        self.closed = True
        await self._pool.close()
