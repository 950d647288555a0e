"""Helpers shared by the key store tests: the PostgreSQL test server (skip or fail when it is
missing), a schema per test, and stores that fail on demand (``tcp_relay.Relay`` takes a
real database away and brings it back)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmrelay.proxy.keys import KeyStore, StoreUnavailable, open_store

PG_URL = os.environ.get("LLMRELAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
RUN_ID = f"llmrelay_t{os.getpid()}_{uuid.uuid4().hex[:6]}"
_pg_problem: list[str | None] = []


def with_schema(url: str, schema: str) -> str:
    return url + ("&" if "?" in url else "?") + "schema=" + schema


def pg_url() -> str:
    """The test server's URL; skips (or fails with LLMRELAY_REQUIRE_SERVICES=1) when it
    cannot be reached or psycopg is missing."""
    if not _pg_problem:
        _pg_problem.append(_probe())
    problem = _pg_problem[0]
    if problem is not None:
        reason = f"PostgreSQL at {PG_URL} unusable ({problem}); set LLMRELAY_TEST_POSTGRES_URL"
        if os.environ.get("LLMRELAY_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " (LLMRELAY_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return PG_URL


def _probe() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def drop_schema(schema: str, attempts: int = 3) -> None:
    """Drop a test's schema. A session the test left behind (e.g. one cut off by a
    blackholed relay) may hold a lock on it until the server notices; each attempt waits
    at most 5 s for locks, and after the last one the schema is left (with a warning)
    rather than the suite hanging: its name is unique to the run."""
    import time
    import warnings

    import psycopg
    from psycopg import sql

    drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
    for attempt in range(attempts):
        try:
            with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3,
                                 options="-c lock_timeout=5000") as conn:
                conn.execute(drop)
            return
        except psycopg.errors.LockNotAvailable:
            if attempt + 1 < attempts:
                time.sleep(1.0)
    warnings.warn(f"schema {schema} left behind: still locked after {attempts} attempts",
                  stacklevel=2)


def new_schema() -> str:
    return f"{RUN_ID}_{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def backend_store(kind: str, tmp_path: Any, **options: Any) -> AsyncIterator[KeyStore]:
    """A fresh store of ``kind`` ("sqlite" or "postgres"), closed (and its schema dropped)
    afterwards."""
    if kind == "sqlite":
        store = await open_store(None, str(tmp_path / "keys.db"), **options)
        try:
            yield store
        finally:
            await store.close()
        return
    schema = new_schema()
    url = with_schema(pg_url(), schema)
    try:
        store = await open_store(url, "", **options)
        try:
            yield store
        finally:
            await store.close()
    finally:
        drop_schema(schema)


class FlakyStore:
    """Wraps a store; while ``down`` every method raises StoreUnavailable. With
    ``lose_answer`` set, ``add_spend`` writes and then raises (the commit happened but the
    answer was lost)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = False
        self.lose_answer = False
        self.calls: dict[str, int] = {}
        self.batches: list[int] = []

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.down:
            raise StoreUnavailable("database is down (test)")

    def subscribe(self, listener: Any) -> None:
        self.inner.subscribe(listener)

    async def get(self, token: str) -> Any:
        self._count("get")
        return await self.inner.get(token)

    async def add_spend(self, records: list[Any]) -> int:
        self._count("add_spend")
        self.batches.append(len(records))
        written = int(await self.inner.add_spend(records))
        if self.lose_answer:
            self.lose_answer = False
            raise StoreUnavailable("connection lost after commit (test)")
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def eventually(predicate: Any, timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` (sync or async) is true; fail after ``timeout`` s (a
    safety net, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


REDIS_URL = os.environ.get("LLMRELAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_redis_problem: list[str | None] = []


def redis_url() -> str:
    """The test Redis server's URL; skips (or fails with LLMRELAY_REQUIRE_SERVICES=1) when
    it cannot be reached."""
    if not _redis_problem:
        try:
            import redis

            client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2,
                                          socket_timeout=2)
            client.ping()
            client.close()
            _redis_problem.append(None)
        except Exception as exc:
            _redis_problem.append(f"{type(exc).__name__}: {exc}")
    problem = _redis_problem[0]
    if problem is not None:
        reason = f"Redis at {REDIS_URL} unusable ({problem}); set LLMRELAY_TEST_REDIS_URL"
        if os.environ.get("LLMRELAY_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " (LLMRELAY_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return REDIS_URL


def drop_redis_prefix(prefix: str) -> None:
    """Delete every key under ``prefix`` (a test's own)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
    finally:
        client.close()
