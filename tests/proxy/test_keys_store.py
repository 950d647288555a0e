"""The key store (same suite on SQLite and PostgreSQL) and the key cache in front of it."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from keystore_support import (
    FlakyStore,
    backend_store,
    drop_schema,
    new_schema,
    pg_url,
    with_schema,
)

from llmrelay.proxy.keys import (
    KeyCache,
    KeyFieldError,
    KeyRecord,
    KeyStore,
    SpendRecord,
    StoreUnavailable,
    hash_key,
    open_store,
    parse_duration,
)
from llmrelay.proxy.keys.migrations import LATEST
from llmrelay.proxy.keys.models import next_reset

UTC = timezone.utc


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[KeyStore]:
    async with backend_store(request.param, tmp_path) as s:
        yield s


def spend(key: str | None, cost: float, **kw: Any) -> SpendRecord:
    kw.setdefault("call_id", uuid.uuid4().hex)
    return SpendRecord(key_hash=key, cost=cost, **kw)


async def raw_key_rows(store: KeyStore) -> str:
    """Everything in the keys table, as text (backend internals, for the "never in clear"
    check)."""
    if store.dialect == "sqlite":
        rows = await store._call(sqlite_query, "SELECT * FROM keys", ())  # type: ignore[attr-defined]
    else:
        rows = await store._rows("SELECT k::text FROM keys k")  # type: ignore[attr-defined]
    return repr(rows)


# -- keys ------------------------------------------------------------------------------

async def test_create_stores_only_the_hash(store: KeyStore, tmp_path: Any) -> None:
    plaintext, rec = await store.create(key_alias="alice")
    assert plaintext.startswith("sk-") and len(plaintext) >= 3 + 32
    assert rec.token == hashlib.sha256(plaintext.encode()).hexdigest() == hash_key(plaintext)
    dump = await raw_key_rows(store)
    assert rec.token in dump
    assert plaintext not in dump and plaintext[3:] not in dump
    if store.dialect == "sqlite":
        for path in tmp_path.glob("keys.db*"):
            assert plaintext.encode() not in path.read_bytes()
    other, _ = await store.create()
    assert other != plaintext


async def test_fields_round_trip(store: KeyStore) -> None:
    expires = datetime(2031, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
    _, rec = await store.create(
        key="sk-custom-key-0001", key_alias="svc", user_id="u1", team_id="t1",
        models=["gpt-4o", "openai/*"], max_budget=12.5, budget_duration="30d",
        rpm_limit=60, tpm_limit=1000, max_parallel_requests=3, expires=expires,
        metadata={"env": "prod", "nested": {"n": [1, 2]}}, blocked=False)
    got = await store.get(hash_key("sk-custom-key-0001"))
    assert got == rec
    assert got is not None
    assert got.models == ["gpt-4o", "openai/*"]
    assert got.metadata == {"env": "prod", "nested": {"n": [1, 2]}}
    assert got.expires == expires and got.expires.tzinfo is not None
    assert got.budget_reset_at is not None
    assert abs((got.budget_reset_at - got.created_at) - timedelta(days=30)) < timedelta(seconds=1)
    assert (got.rpm_limit, got.tpm_limit, got.max_parallel_requests) == (60, 1000, 3)
    assert got.spend == 0.0 and got.blocked is False
    assert await store.get("0" * 64) is None


async def test_naive_datetimes_are_local_time(store: KeyStore) -> None:
    local = datetime(2030, 1, 2, 3, 4, 5)
    _, rec = await store.create(expires=local, duration=None)
    got = await store.get(rec.token)
    assert got is not None and got.expires == local.astimezone(UTC)


async def test_duration_sets_expires(store: KeyStore) -> None:
    before = datetime.now(UTC)
    _, rec = await store.create(duration="2h")
    assert rec.expires is not None
    assert before + timedelta(hours=2) <= rec.expires <= datetime.now(UTC) + timedelta(hours=2)


async def test_duplicate_key_is_refused(store: KeyStore) -> None:
    await store.create(key="sk-same-key-123")
    with pytest.raises(KeyFieldError) as info:
        await store.create(key="sk-same-key-123")
    assert info.value.code == "key_exists" and info.value.status_code == 400


@pytest.mark.parametrize(("fields", "param"), [
    ({"rpm_limit": -1}, "rpm_limit"), ({"rpm_limit": True}, "rpm_limit"),
    ({"max_budget": "10"}, "max_budget"), ({"models": "gpt-4o"}, "models"),
    ({"budget_duration": "monthly"}, "budget_duration"), ({"metadata": [1]}, "metadata"),
    ({"expires": "not a date"}, "expires"), ({"colour": "red"}, "colour"),
    ({"token": "x"}, "token"), ({"blocked": "yes"}, "blocked"),
])
async def test_bad_fields_are_refused(store: KeyStore, fields: dict[str, Any],
                                      param: str) -> None:
    with pytest.raises(KeyFieldError) as info:
        await store.create(**fields)
    assert info.value.param == param
    assert await store.list() == []


async def test_update_by_key_or_token(store: KeyStore) -> None:
    plaintext, rec = await store.create(key_alias="a", rpm_limit=5)
    updated = await store.update(plaintext, rpm_limit=7, metadata={"x": 1})
    assert updated.rpm_limit == 7 and updated.metadata == {"x": 1}
    updated = await store.update(rec.token, blocked=True, rpm_limit=None)
    assert updated.blocked is True and updated.rpm_limit is None
    assert updated.key_alias == "a" and updated.created_at == rec.created_at
    assert await store.get(rec.token) == updated
    unchanged = await store.update(rec.token)
    assert unchanged == updated
    with pytest.raises(KeyError):
        await store.update("sk-no-such-key", rpm_limit=1)
    with pytest.raises(KeyFieldError):
        await store.update(rec.token, rpm_limit="many")


async def test_update_budget_duration_starts_a_window(store: KeyStore) -> None:
    _, rec = await store.create(max_budget=1.0)
    assert rec.budget_reset_at is None
    got = await store.update(rec.token, budget_duration="1h")
    assert got.budget_reset_at is not None
    assert got.budget_reset_at - datetime.now(UTC) <= timedelta(hours=1)
    assert got.budget_reset_at - datetime.now(UTC) > timedelta(minutes=59)
    got = await store.update(rec.token, budget_duration=None)
    assert got.budget_reset_at is None


async def test_delete(store: KeyStore) -> None:
    k1, r1 = await store.create()
    _, r2 = await store.create()
    _, r3 = await store.create()
    assert await store.delete([k1, r2.token, "sk-unknown-key"]) == 2
    assert await store.get(r1.token) is None and await store.get(r2.token) is None
    assert await store.get(r3.token) is not None
    assert await store.delete([]) == 0


async def test_list_filters(store: KeyStore) -> None:
    _, a = await store.create(user_id="u1", team_id="t1")
    _, b = await store.create(user_id="u1", team_id="t2")
    _, c = await store.create(user_id="u2", team_id="t1")
    assert [r.token for r in await store.list()] == [a.token, b.token, c.token]
    assert {r.token for r in await store.list(user_id="u1")} == {a.token, b.token}
    assert {r.token for r in await store.list(team_id="t1")} == {a.token, c.token}
    assert [r.token for r in await store.list(user_id="u1", team_id="t2")] == [b.token]
    assert await store.list(user_id="nobody") == []


# -- budget windows --------------------------------------------------------------------

def test_durations() -> None:
    assert parse_duration("30s") == timedelta(seconds=30)
    assert parse_duration("10m") == timedelta(minutes=10)
    assert parse_duration("1h") == timedelta(hours=1)
    assert parse_duration(" 30d ") == timedelta(days=30)
    assert parse_duration("2w") == timedelta(days=14)
    assert parse_duration("1mo") == timedelta(days=30)
    for bad in ("", "0d", "1y", "d", "1.5h", "-1h"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    assert next_reset(start, "1h", start + timedelta(minutes=150)) == start + timedelta(hours=3)
    assert next_reset(start, "1h", start) == start + timedelta(hours=1)
    assert next_reset(start, "1h", start - timedelta(hours=1)) == start


async def test_budget_window_resets_spend_on_read(store: KeyStore) -> None:
    _, rec = await store.create(max_budget=1.0, budget_duration="1h")
    await store.add_spend([spend(rec.token, 0.75)])
    got = await store.get(rec.token)
    assert got is not None and got.spend == pytest.approx(0.75)
    past = datetime.now(UTC) - timedelta(minutes=150)
    await store.update(rec.token, budget_reset_at=past)
    got = await store.get(rec.token)
    assert got is not None and got.spend == 0.0
    assert got.budget_reset_at == past + timedelta(hours=3)
    # Spend in the new window is kept by later reads (the reset happened once).
    await store.add_spend([spend(rec.token, 0.25)])
    got = await store.get(rec.token)
    assert got is not None and got.spend == pytest.approx(0.25)
    listed = await store.list()
    assert listed[0].spend == pytest.approx(0.25)
    # The usage records themselves are never reset.
    assert [r.cost for r in await store.spend_logs(key_hash=rec.token)] == [0.25, 0.75]


async def test_list_rolls_windows_too(store: KeyStore) -> None:
    await store.create(budget_duration="10m", spend=3.0,
                       budget_reset_at=datetime.now(UTC) - timedelta(seconds=1))
    (listed,) = await store.list()
    assert listed.spend == 0.0
    assert listed.budget_reset_at is not None and listed.budget_reset_at > datetime.now(UTC)


# -- spend -----------------------------------------------------------------------------

async def test_add_spend_appends_rows_and_increments_keys(store: KeyStore) -> None:
    _, a = await store.create(key_alias="a", user_id="u1")
    _, b = await store.create(key_alias="b", team_id="t9")
    t0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    records = [
        spend(a.token, 0.5, call_id="c1", model="gpt-4o", model_group="gpt", user_id="u1",
              prompt_tokens=10, completion_tokens=5, total_tokens=15, deployment="d1",
              api_base="http://127.0.0.1:1", latency_ms=12.5, start_time=t0,
              end_time=t0 + timedelta(seconds=1), cache_hit=True, request_tags=["x", "y"]),
        spend(a.token, 0.25, call_id="c2", start_time=t0 + timedelta(minutes=1)),
        spend(b.token, 1.0, call_id="c3", team_id="t9", status="failure",
              start_time=t0 + timedelta(minutes=2)),
        spend(None, 9.0, call_id="c4", start_time=t0 + timedelta(minutes=3)),
        spend("f" * 64, 2.0, call_id="c5", start_time=t0 + timedelta(minutes=4)),
    ]
    assert await store.add_spend(records) == 5
    got_a, got_b = await store.get(a.token), await store.get(b.token)
    assert got_a is not None and got_a.spend == pytest.approx(0.75)
    assert got_b is not None and got_b.spend == pytest.approx(1.0)
    logs = await store.spend_logs()
    assert [r.call_id for r in logs] == ["c5", "c4", "c3", "c2", "c1"]
    assert logs[-1] == records[0]
    # The same rows again (a retry after a lost answer, a replay) are not counted twice,
    # also when they come mixed with new ones in another batch ...
    assert await store.add_spend(records) == 0
    assert await store.add_spend([records[1], spend(a.token, 0.125)]) == 1
    # ... and the same call id twice in one batch counts once.
    again = spend(a.token, 0.125)
    assert await store.add_spend([again, again]) == 1
    got_a = await store.get(a.token)
    assert got_a is not None and got_a.spend == pytest.approx(1.0)
    assert len(await store.spend_logs()) == 7
    assert await store.add_spend([]) == 0


async def test_spend_logs_filters(store: KeyStore) -> None:
    _, a = await store.create()
    t0 = datetime(2030, 6, 1, tzinfo=UTC)
    await store.add_spend([
        spend(a.token, 1.0, call_id=f"c{i}", user_id=f"u{i % 2}", team_id=f"t{i % 3}",
              start_time=t0 + timedelta(hours=i)) for i in range(6)])
    await store.add_spend([spend(None, 1.0, call_id="other", start_time=t0)])
    assert len(await store.spend_logs()) == 7
    assert len(await store.spend_logs(key_hash=a.token)) == 6
    assert [r.call_id for r in await store.spend_logs(user_id="u1")] == ["c5", "c3", "c1"]
    assert [r.call_id for r in await store.spend_logs(team_id="t0")] == ["c3", "c0"]
    window = await store.spend_logs(start=t0 + timedelta(hours=2), end=t0 + timedelta(hours=4))
    assert [r.call_id for r in window] == ["c4", "c3", "c2"]
    assert [r.call_id for r in await store.spend_logs(key_hash=a.token, limit=2)] == ["c5", "c4"]
    assert await store.spend_logs(key_hash="0" * 64) == []


async def test_spend_by_key(store: KeyStore) -> None:
    _, a = await store.create(key_alias="alpha", user_id="u1")
    _, b = await store.create(key_alias="beta")
    await store.add_spend([
        spend(a.token, 0.5, prompt_tokens=10, completion_tokens=2, total_tokens=12),
        spend(a.token, 0.5, prompt_tokens=1, completion_tokens=1, total_tokens=2),
        spend(b.token, 3.0, total_tokens=7),
    ])
    rows = await store.spend_by_key()
    assert [r["key_hash"] for r in rows] == [b.token, a.token]
    alpha = rows[1]
    assert alpha["key_alias"] == "alpha" and alpha["user_id"] == "u1"
    assert alpha["spend"] == pytest.approx(1.0) and alpha["requests"] == 2
    assert (alpha["prompt_tokens"], alpha["completion_tokens"], alpha["total_tokens"]) == (
        11, 3, 14)
    assert isinstance(alpha["last_used"], datetime)


# -- lifecycle -------------------------------------------------------------------------

async def test_healthy_and_closed(store: KeyStore) -> None:
    assert await store.healthy() is True
    await store.close()
    assert await store.healthy() is False
    with pytest.raises(StoreUnavailable):
        await store.get("0" * 64)


def sqlite_query(conn: Any, sql: str, params: Any) -> Any:
    return conn.execute(sql, params).fetchall()


async def _versions(store: KeyStore) -> list[int]:
    if store.dialect == "sqlite":
        rows = await store._call(sqlite_query, "SELECT version FROM schema_version", ())  # type: ignore[attr-defined]
    else:
        rows = await store._rows("SELECT version FROM schema_version")  # type: ignore[attr-defined]
    return sorted(r[0] for r in rows)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_migrations_apply_once_with_concurrent_openers(kind: str, tmp_path: Any) -> None:
    if kind == "sqlite":
        url, cleanup = f"sqlite:///{tmp_path}/m.db", None
    else:
        schema = new_schema()
        url, cleanup = with_schema(pg_url(), schema), schema
    try:
        stores = await asyncio.gather(*(open_store(url, "unused.db") for _ in range(4)))
        try:
            for s in stores:
                assert await _versions(s) == list(range(1, LATEST + 1))
            _, rec = await stores[0].create()
            assert await stores[3].get(rec.token) == rec
        finally:
            for s in stores:
                await s.close()
        again = await open_store(url, "unused.db")
        assert await _versions(again) == list(range(1, LATEST + 1))
        assert len(await again.list()) == 1
        await again.close()
    finally:
        if cleanup:
            drop_schema(cleanup)


# -- SQLite specifics ------------------------------------------------------------------

async def test_sqlite_urls_and_wal(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite:///rel/keys.db", "default.db")
    await store.close()
    assert (tmp_path / "rel" / "keys.db").exists()
    store = await open_store(f"sqlite:///{tmp_path}/abs.db", "default.db")
    await store.close()
    store = await open_store(None, str(tmp_path / "default.db"))
    await store.close()
    for name in ("abs.db", "default.db"):
        conn = sqlite3.connect(tmp_path / name)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    store = await open_store("sqlite:///:memory:", "default.db")
    _, rec = await store.create()
    assert await store.get(rec.token) == rec
    await store.close()


async def test_unsupported_url_hides_password() -> None:
    with pytest.raises(ValueError) as info:
        await open_store("mysql://root:hunter2@db/keys", "x.db")
    assert "hunter2" not in str(info.value) and "mysql" in str(info.value)


async def test_sqlite_one_update_per_key_per_batch(tmp_path: Any) -> None:
    store = await open_store(None, str(tmp_path / "k.db"))
    statements: list[str] = []
    await store._call(lambda conn: conn.set_trace_callback(statements.append))  # type: ignore[attr-defined]
    _, a = await store.create()
    _, b = await store.create()
    statements.clear()
    await store.add_spend([spend(a.token if i % 3 else b.token, 0.01) for i in range(100)])
    await store.close()
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE KEYS")]
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO SPEND_LOGS")]
    assert len(updates) == 2 and len(inserts) == 100
    assert sum(1 for s in statements if s.startswith("BEGIN")) == 1


async def test_sqlite_two_stores_share_one_file(tmp_path: Any) -> None:
    """Two connections on one file (as two worker processes would have) write at once."""
    path = str(tmp_path / "shared.db")
    one, two = await open_store(None, path), await open_store(None, path)
    _, rec = await one.create()
    await asyncio.gather(*(s.add_spend([spend(rec.token, 0.01) for _ in range(20)])
                           for _ in range(10) for s in (one, two)))
    got = await two.get(rec.token)
    assert got is not None and got.spend == pytest.approx(4.0)
    assert len(await one.spend_logs(limit=10000)) == 400
    await one.close()
    await two.close()


def test_sqlite_failed_commit_is_rolled_back(tmp_path: Any) -> None:
    """A COMMIT that fails (here: a deferred foreign key) must not leave the transaction
    open, or every later write on the connection would fail."""
    from llmrelay.proxy.keys.sqlite import _write_tx

    conn = sqlite3.connect(tmp_path / "tx.db", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE child (pid INTEGER REFERENCES parent (id) "
                 "DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError), _write_tx(conn):
        conn.execute("INSERT INTO child VALUES (42)")
    assert not conn.in_transaction
    with _write_tx(conn):
        conn.execute("INSERT INTO parent VALUES (1)")
    assert conn.execute("SELECT COUNT(*) FROM parent").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM child").fetchone()[0] == 0
    conn.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_version_1_database_is_migrated(kind: str, tmp_path: Any) -> None:
    """A database made by schema version 1 opens at the latest version with its rows kept
    and call ids unique."""
    from llmrelay.proxy.keys.migrations import MIGRATIONS

    v1 = MIGRATIONS[0]
    row = "INSERT INTO spend_logs (call_id, status, start_time, end_time) VALUES ('c1', 'success', {t}, {t})"
    if kind == "sqlite":
        path = tmp_path / "v1.db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                     "name TEXT NOT NULL, applied_at REAL NOT NULL)")
        for sql in v1.statements("sqlite"):
            conn.execute(sql)
        conn.execute("INSERT INTO schema_version VALUES (1, 'v1', 0)")
        conn.execute(row.format(t="0"))
        conn.commit()
        conn.close()
        url, schema = f"sqlite:///{path}", None
    else:
        import psycopg
        from psycopg import sql as pg_sql

        schema = new_schema()
        with psycopg.connect(pg_url(), autocommit=True) as conn:
            conn.execute(pg_sql.SQL("CREATE SCHEMA {}").format(pg_sql.Identifier(schema)))
            conn.execute(pg_sql.SQL("SET search_path TO {}").format(pg_sql.Identifier(schema)))
            conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                         "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            for statement in v1.statements("postgres"):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version, name) VALUES (1, 'v1')")
            conn.execute(row.format(t="now()"))
        url = with_schema(pg_url(), schema)
    try:
        store = await open_store(url, "unused.db")
        try:
            assert await _versions(store) == list(range(1, LATEST + 1))
            assert [r.call_id for r in await store.spend_logs()] == ["c1"]
            assert await store.add_spend([spend(None, 1.0, call_id="c1")]) == 0
            assert await store.add_spend([spend(None, 1.0, call_id="c2")]) == 1
            assert sorted(r.call_id for r in await store.spend_logs()) == ["c1", "c2"]
        finally:
            await store.close()
    finally:
        if schema:
            drop_schema(schema)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_version_2_duplicates_are_removed_and_call_ids_made_unique(
        kind: str, tmp_path: Any) -> None:
    """Version 2 allowed a call id twice; version 3 keeps the oldest row of each and makes
    call ids unique (what makes spool replays count once)."""
    from llmrelay.proxy.keys.migrations import MIGRATIONS

    rows = ("INSERT INTO spend_logs (call_id, status, start_time, end_time, cost) VALUES "
            "('dup', 'success', {t}, {t}, 1), ('dup', 'success', {t}, {t}, 2), "
            "('one', 'success', {t}, {t}, 3)")
    schema = None
    if kind == "sqlite":
        path = tmp_path / "v2.db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                     "name TEXT NOT NULL, applied_at REAL NOT NULL)")
        for migration in MIGRATIONS[:2]:
            for statement in migration.statements("sqlite"):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, 'v', 0)",
                         (migration.version,))
        conn.execute(rows.format(t="0"))
        conn.commit()
        conn.close()
        url = f"sqlite:///{path}"
    else:
        import psycopg
        from psycopg import sql as pg_sql

        schema = new_schema()
        with psycopg.connect(pg_url(), autocommit=True) as pg:
            pg.execute(pg_sql.SQL("CREATE SCHEMA {}").format(pg_sql.Identifier(schema)))
            pg.execute(pg_sql.SQL("SET search_path TO {}").format(pg_sql.Identifier(schema)))
            pg.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                       "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            for migration in MIGRATIONS[:2]:
                for statement in migration.statements("postgres"):
                    pg.execute(statement)
                pg.execute("INSERT INTO schema_version (version, name) VALUES (%s, 'v')",
                           (migration.version,))
            pg.execute(rows.format(t="now()"))
        url = with_schema(pg_url(), schema)
    try:
        store = await open_store(url, "unused.db")
        try:
            assert await _versions(store) == list(range(1, LATEST + 1))
            kept = {r.call_id: r.cost for r in await store.spend_logs()}
            assert kept == {"dup": 1.0, "one": 3.0}
            assert await store.add_spend([spend(None, 1.0, call_id="dup")]) == 0
        finally:
            await store.close()
    finally:
        if schema:
            drop_schema(schema)


# -- PostgreSQL specifics --------------------------------------------------------------

async def test_postgres_reconnects_after_connections_are_killed(tmp_path: Any) -> None:
    import psycopg

    async with backend_store("postgres", tmp_path) as store:
        _, rec = await store.create()
        pool = store._pool  # type: ignore[attr-defined]
        pids = [c.info.backend_pid for c, _ in pool._idle]
        assert pids
        with psycopg.connect(pg_url(), autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert await store.get(rec.token) == rec
        await store.add_spend([spend(rec.token, 0.5)])
        got = await store.get(rec.token)
        assert got is not None and got.spend == pytest.approx(0.5)


async def test_postgres_unreachable_raises_store_unavailable() -> None:
    pg_url()  # the message names the URL; skip like the others without the driver
    import socket

    # A bound socket that does not listen refuses connections, and holding it keeps any
    # other process from starting a server on the port during the test.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(StoreUnavailable) as info:
            await open_store(f"postgresql://postgres:s3cret@127.0.0.1:{port}/test", "x.db")
    assert "s3cret" not in str(info.value) and str(port) in str(info.value)


# -- the key cache ---------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_cache_answers_from_memory(store: KeyStore) -> None:
    flaky = FlakyStore(store)
    clock = Clock()
    cache = KeyCache(flaky, ttl=60, negative_ttl=5, clock=clock)
    _, rec = await store.create()
    for _ in range(5):
        assert await cache.get(rec.token) == rec
    assert flaky.calls["get"] == 1
    clock.now += 61
    assert await cache.get(rec.token) == rec
    assert flaky.calls["get"] == 2
    cache.invalidate(rec.token)
    assert await cache.get(rec.token) == rec
    assert flaky.calls["get"] == 3


async def test_cache_negative_entries_and_store_notices(store: KeyStore) -> None:
    flaky = FlakyStore(store)
    clock = Clock()
    cache = KeyCache(flaky, ttl=60, negative_ttl=5, clock=clock)
    token = hash_key("sk-later-created-key")
    assert await cache.get(token) is None
    assert await cache.get(token) is None
    assert flaky.calls["get"] == 1
    clock.now += 6
    assert await cache.get(token) is None
    assert flaky.calls["get"] == 2
    # Creating, updating and deleting through the store invalidate this process's cache.
    await store.create(key="sk-later-created-key")
    got = await cache.get(token)
    assert got is not None and got.token == token
    await store.update(token, rpm_limit=3)
    got = await cache.get(token)
    assert got is not None and got.rpm_limit == 3
    await store.delete([token])
    assert await cache.get(token) is None


async def test_cache_adds_committed_spend(store: KeyStore) -> None:
    flaky = FlakyStore(store)
    cache = KeyCache(flaky, clock=Clock())
    _, rec = await store.create(max_budget=1.0)
    first = await cache.get(rec.token)
    await store.add_spend([spend(rec.token, 0.25), spend(rec.token, 0.5)])
    got = await cache.get(rec.token)
    assert got is not None and got.spend == pytest.approx(0.75)
    assert first is not None and first.spend == 0.0  # holders keep their snapshot
    assert flaky.calls["get"] == 1


async def test_cache_serves_cached_keys_while_store_is_down(store: KeyStore) -> None:
    flaky = FlakyStore(store)
    clock = Clock()
    cache = KeyCache(flaky, ttl=60, retry_after_error=1.0, clock=clock)
    _, rec = await store.create(key_alias="cached")
    assert await cache.get(rec.token) == rec
    flaky.down = True
    clock.now += 120
    assert await cache.get(rec.token) == rec
    assert await cache.get(rec.token) == rec  # no new attempt within retry_after_error
    assert flaky.calls["get"] == 2
    with pytest.raises(StoreUnavailable):
        await cache.get(hash_key("sk-never-seen"))
    assert cache.stats()["store_down"] is True
    flaky.down = False
    await store.update(rec.token, key_alias="renamed")
    clock.now += 2
    got = await cache.get(rec.token)
    assert got is not None and got.key_alias == "renamed"
    assert cache.stats()["store_down"] is False


async def test_cache_survives_a_closed_store(store: KeyStore) -> None:
    cache = KeyCache(store, ttl=0.0, retry_after_error=0.0)
    _, rec = await store.create()
    assert await cache.get(rec.token) == rec
    await store.close()  # every store call raises StoreUnavailable from now on
    assert await cache.get(rec.token) == rec
    with pytest.raises(StoreUnavailable):
        await cache.get("0" * 64)


async def test_cache_refreshes_when_budget_window_ends(store: KeyStore) -> None:
    flaky = FlakyStore(store)
    cache = KeyCache(flaky, clock=Clock())
    _, rec = await store.create(budget_duration="1h", spend=5.0,
                                budget_reset_at=datetime.now(UTC) + timedelta(hours=1))
    got = await cache.get(rec.token)
    assert got is not None and got.spend == 5.0
    await store.update(rec.token, budget_reset_at=datetime.now(UTC) - timedelta(seconds=1))
    got = await cache.get(rec.token)
    assert got is not None and got.spend == 0.0


async def test_cache_concurrent_misses_share_one_read(store: KeyStore) -> None:
    flaky = FlakyStore(store)
    cache = KeyCache(flaky)
    _, rec = await store.create()
    results = await asyncio.gather(*(cache.get(rec.token) for _ in range(20)))
    assert all(r == rec for r in results)
    assert flaky.calls["get"] == 1


async def _second_store(store: KeyStore) -> KeyStore:
    """Another store on the same database, as another worker process would have."""
    if store.dialect == "sqlite":
        return await open_store(None, store.path)  # type: ignore[attr-defined]
    return await open_store(with_schema(pg_url(), store.schema), "")  # type: ignore[attr-defined]


async def test_cache_sees_changes_made_by_other_processes(store: KeyStore) -> None:
    other = await _second_store(store)
    try:
        cache = KeyCache(store, clock=Clock())  # entries never expire: only watching helps
        assert await cache.poll_changes() == 0
        _, a = await other.create(key_alias="a")
        _, b = await other.create(key_alias="b")
        assert await cache.poll_changes() == 0  # new keys: nothing cached to drop
        assert (await cache.get(a.token)).key_alias == "a"  # type: ignore[union-attr]
        assert await cache.get(b.token) is not None
        await other.update(a.token, key_alias="renamed")
        await other.delete([b.token])
        assert (await cache.get(a.token)).key_alias == "a"  # type: ignore[union-attr]
        assert await cache.poll_changes() == 2
        assert (await cache.get(a.token)).key_alias == "renamed"  # type: ignore[union-attr]
        assert await cache.get(b.token) is None
        assert await cache.poll_changes() == 0  # each change is acted on once
    finally:
        await other.close()


async def test_cache_watch_gap_drops_everything(store: KeyStore) -> None:
    clock = Clock()
    cache = KeyCache(store, clock=clock)
    _, rec = await store.create()
    await cache.poll_changes()
    assert await cache.get(rec.token) == rec
    clock.now += 60  # no look for longer than the window: changes may have been missed
    assert await cache.poll_changes() == 1
    assert len(cache) == 0


async def test_cache_watches_in_the_background(store: KeyStore) -> None:
    other = await _second_store(store)
    cache = KeyCache(store, clock=Clock())
    try:
        _, rec = await other.create()
        await cache.poll_changes()  # the first look: the watcher's looks compare with it
        assert await cache.get(rec.token) is not None
        cache.start_watching(interval=0.01)
        await asyncio.sleep(0.05)
        assert rec.token in cache._entries  # the watcher alone drops nothing
        await other.delete([rec.token])
        for _ in range(2000):
            if rec.token not in cache._entries:
                break
            await asyncio.sleep(0.01)
        assert await cache.get(rec.token) is None
    finally:
        await cache.stop_watching()
        await other.close()


async def test_cache_is_bounded() -> None:
    class Fake:
        async def get(self, token: str) -> KeyRecord:
            return KeyRecord(token=token)

    cache = KeyCache(Fake(), max_entries=10)
    for i in range(50):
        await cache.get(f"t{i}")
    assert len(cache) <= 10
    assert (await cache.get("t49")).token == "t49"  # type: ignore[union-attr]


# -- SQLite deadlines ------------------------------------------------------------------------

async def test_sqlite_statement_over_its_deadline_is_interrupted(tmp_path: Any) -> None:
    store = await open_store(None, str(tmp_path / "slow.db"), statement_timeout=0.2)
    endless = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
               "SELECT COUNT(*) FROM n")
    with pytest.raises(StoreUnavailable) as info:
        await store._call(sqlite_query, endless, ())  # type: ignore[attr-defined]
    assert "interrupted" in str(info.value)
    assert await store.healthy() is True  # the same connection goes on
    await store.close()


async def test_sqlite_call_over_its_deadline_gets_a_new_connection(tmp_path: Any) -> None:
    """A call that does not come back (a hung disk) fails at its deadline; the next call
    runs on a new thread and connection instead of queueing behind it."""
    import threading

    store = await open_store(None, str(tmp_path / "hung.db"), call_timeout=0.2)
    release = threading.Event()
    with pytest.raises(StoreUnavailable) as info:
        await store._call(lambda conn: release.wait(10))  # type: ignore[attr-defined]
    assert "no answer within" in str(info.value)
    _, rec = await store.create()
    assert await store.get(rec.token) == rec
    assert store.abandoned == 1  # type: ignore[attr-defined]
    release.set()
    await store.close()
