"""The key store: virtual keys and usage records in SQLite (default) or PostgreSQL.

:func:`open_store` picks the backend from ``database_url`` and applies the schema
migrations (see ``migrations.py``). :class:`KeyStore` holds every decision that needs no
I/O (field checks, key generation, budget windows, change notices); the backends
(``sqlite.py``, ``postgres.py``) only run SQL.

Budget windows: a key with ``budget_duration`` gets ``budget_reset_at`` (now + duration) when
the duration is set. The reset happens store-side on read: ``get``/``list`` of a key whose
``budget_reset_at`` has passed set its ``spend`` to 0 and move ``budget_reset_at`` to the
next boundary of the same schedule, with a conditional UPDATE so that several workers
reading at once reset once. (No periodic task is needed: the key cache refreshes a key as
soon as its window is over, so the first request after the boundary triggers the reset.)

Change notices: objects passed to :meth:`KeyStore.subscribe` (the key cache) hear of every
key created, updated or deleted through this store (``on_key_changed(token)``) and of the
spend each committed batch added (``on_spend_added({token: usd})``), so a cache in this
process stays exact. Other processes sharing the database see changes when their cache
entries expire.

Errors: a database that cannot be reached raises :class:`StoreUnavailable` (HTTP 503); bad
fields raise :class:`~.fields.KeyFieldError` (HTTP 400); an unknown key in ``update``
raises ``KeyError``.
"""

from __future__ import annotations

import abc
import builtins
import logging
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit, urlunsplit

from .fields import KeyFieldError, budget_window, clean_fields
from .models import (
    KeyRecord,
    SpendRecord,
    generate_key,
    hash_key,
    is_token,
    next_reset,
    utcnow,
)

__all__ = ["KeyStore", "StoreListener", "StoreUnavailable", "new_batch_id", "open_store"]

log = logging.getLogger("llmrelay.proxy.keys")

# Per key: total spend, requests and tokens from the usage records (same SQL for both).
SPEND_BY_KEY_SQL = """
SELECT s.key_hash, COALESCE(MAX(k.key_alias), MAX(s.key_alias)),
       COALESCE(MAX(k.user_id), MAX(s.user_id)), COALESCE(MAX(k.team_id), MAX(s.team_id)),
       SUM(s.cost), COUNT(*), SUM(s.prompt_tokens), SUM(s.completion_tokens),
       SUM(s.total_tokens), MAX(s.start_time)
FROM spend_logs s LEFT JOIN keys k ON k.token = s.key_hash
GROUP BY s.key_hash
ORDER BY 5 DESC
"""
SPEND_BY_KEY_FIELDS = ("key_hash", "key_alias", "user_id", "team_id", "spend", "requests",
                       "prompt_tokens", "completion_tokens", "total_tokens", "last_used")


class StoreUnavailable(Exception):
    """The database cannot be reached or failed (HTTP 503); the message names which."""

    status_code = 503

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = "store_unavailable"
        self.type = "service_unavailable"


class StoreListener(Protocol):
    def on_key_changed(self, token: str) -> None: ...

    def on_spend_added(self, deltas: Mapping[str, float]) -> None: ...


def _candidates(token_or_key: str) -> list[str]:
    """The tokens ``token_or_key`` may name: itself when it looks like a token, and its
    hash (it may be the plaintext key)."""
    if not isinstance(token_or_key, str) or not token_or_key:
        return []
    out = [token_or_key] if is_token(token_or_key) else []
    out.append(hash_key(token_or_key))
    return out


class KeyStore(abc.ABC):
    """Virtual keys and usage records; see the module docstring for windows and errors."""

    dialect: ClassVar[str] = ""

    def __init__(self) -> None:
        self._listeners: list[StoreListener] = []
        self.closed = False
        self._writes = 0
        self._change_polls = 0

    # -- change notices ----------------------------------------------------------------
    def subscribe(self, listener: StoreListener) -> None:
        """Tell ``listener`` of key changes and committed spend (see module docstring)."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def unsubscribe(self, listener: StoreListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, method: str, arg: Any) -> None:
        for listener in list(self._listeners):
            try:
                getattr(listener, method)(arg)
            except Exception:
                log.exception("llmrelay key store: listener %r failed in %s", listener, method)

    # -- keys --------------------------------------------------------------------------
    async def create(self, *, key: str | None = None, **fields: Any) -> tuple[str, KeyRecord]:
        """Store a new key; returns ``(plaintext, record)`` (the only time the plaintext is
        seen). ``key`` None generates one. Raises KeyFieldError for bad fields or a key that
        already exists, StoreUnavailable when the database is down."""
        if key is not None and (not isinstance(key, str) or not key.strip()):
            raise KeyFieldError("`key` must be a non-empty string", param="key")
        now = utcnow()
        values = clean_fields(fields, now)
        budget_window(values, now)
        plaintext = key if key is not None else generate_key()
        rec = KeyRecord(token=hash_key(plaintext), created_at=now, **values)
        await self._insert(rec)
        self._notify("on_key_changed", rec.token)
        return plaintext, rec

    async def update(self, token_or_key: str, **fields: Any) -> KeyRecord:
        """Change fields of a key named by its token or its plaintext; returns the updated
        record. Setting ``budget_duration`` starts a new window now. Raises KeyError for
        an unknown key, KeyFieldError for bad fields."""
        now = utcnow()
        values = clean_fields(fields, now)
        budget_window(values, now)
        for token in _candidates(token_or_key):
            rec = await (self._update(token, values) if values else self._fetch(token))
            if rec is not None:
                self._notify("on_key_changed", token)
                return rec
        raise KeyError(token_or_key)

    async def delete(self, tokens_or_keys: Iterable[str]) -> int:
        """Delete keys named by token or plaintext; returns how many existed."""
        tokens = sorted({t for item in tokens_or_keys for t in _candidates(item)})
        if not tokens:
            return 0
        count = await self._delete(tokens)
        for token in tokens:
            self._notify("on_key_changed", token)
        return count

    async def get(self, token: str) -> KeyRecord | None:
        """The key with this token (hash), its budget window rolled if over; None if
        unknown."""
        rec = await self._fetch(token)
        if rec is not None and rec.budget_duration and rec.window_over():
            rec = await self._roll(rec)
        return rec

    async def list(self, *, user_id: str | None = None,
                   team_id: str | None = None) -> builtins.list[KeyRecord]:
        """All keys (optionally of one user and/or team), oldest first."""
        out = []
        for rec in await self._list(user_id, team_id):
            if rec.budget_duration and rec.window_over():
                rec = await self._roll(rec)
            out.append(rec)
        return out

    async def _roll(self, rec: KeyRecord) -> KeyRecord:
        """Reset the spend of a key whose budget window is over (once, across workers)."""
        old = rec.budget_reset_at
        assert old is not None and rec.budget_duration is not None
        try:
            new = next_reset(old, rec.budget_duration, utcnow())
        except ValueError:
            log.warning("llmrelay key store: key %s... has a bad budget_duration %r",
                        rec.token[:8], rec.budget_duration)
            return rec
        await self._reset_budget(rec.token, old, new)
        fresh = await self._fetch(rec.token)
        return fresh if fresh is not None else rec

    # -- spend -------------------------------------------------------------------------
    async def add_spend(self, records: Sequence[SpendRecord],
                        batch_id: str | None = None) -> bool:
        """Append usage rows and add their cost to each key's spend, in one transaction
        (the rows in one pass, ``executemany`` in SQLite and COPY in PostgreSQL, then one
        UPDATE per key). ``batch_id`` (default: a new one) names the batch: a batch whose
        id is already stored is skipped as a whole, so retrying a batch with its id after
        an unclear failure never counts it twice. Returns False for such a skipped batch.
        Raises StoreUnavailable when the database is down (nothing is written then)."""
        if not records:
            return True
        prune = self._writes % PRUNE_EVERY == 0
        self._writes += 1
        deltas = await self._write_spend(batch_id or new_batch_id(), list(records),
                                         batch_cutoff() if prune else None)
        if deltas is None:
            return False
        if deltas:
            self._notify("on_spend_added", deltas)
        return True

    # -- changes made by other processes ----------------------------------------------
    async def recent_key_changes(self, window: float) -> builtins.list[tuple[int, str]]:
        """``(seq, token)`` of every key created, updated or deleted through any store on
        this database in the last ``window`` seconds (by the database's clock), oldest
        first. Every ``PRUNE_EVERY``-th call also forgets changes older than a day."""
        self._change_polls += 1
        if self._change_polls % PRUNE_EVERY == 1:
            await self._prune_key_changes(BATCH_MEMORY_SECONDS)
        return await self._recent_key_changes(window)

    @abc.abstractmethod
    async def spend_logs(self, *, key_hash: str | None = None, user_id: str | None = None,
                         team_id: str | None = None, start: datetime | None = None,
                         end: datetime | None = None, limit: int = 1000) -> builtins.list[SpendRecord]:
        """Usage records, newest first; ``start``/``end`` bound ``start_time`` (inclusive)."""

    @abc.abstractmethod
    async def spend_by_key(self) -> builtins.list[dict[str, Any]]:
        """Per key_hash: ``key_alias``, ``user_id``, ``team_id``, ``spend`` (USD, all
        time), ``requests``, ``prompt_tokens``, ``completion_tokens``, ``total_tokens``,
        ``last_used``; biggest spender first."""

    @abc.abstractmethod
    async def healthy(self) -> bool:
        """True when the database answers a trivial query."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections; later calls raise StoreUnavailable."""

    # -- backend primitives ------------------------------------------------------------
    # ``_insert``, ``_update`` and ``_delete`` also append the tokens they changed to
    # ``key_changes``, atomically with the change (see ``recent_key_changes``).
    @abc.abstractmethod
    async def _insert(self, rec: KeyRecord) -> None:
        """Insert; KeyFieldError(code="key_exists") when the token exists."""

    @abc.abstractmethod
    async def _update(self, token: str, values: dict[str, Any]) -> KeyRecord | None: ...

    @abc.abstractmethod
    async def _delete(self, tokens: builtins.list[str]) -> int: ...

    @abc.abstractmethod
    async def _recent_key_changes(self, window: float) -> builtins.list[tuple[int, str]]: ...

    @abc.abstractmethod
    async def _prune_key_changes(self, older_than: float) -> None:
        """Forget key changes made more than ``older_than`` seconds ago."""

    @abc.abstractmethod
    async def _fetch(self, token: str) -> KeyRecord | None: ...

    @abc.abstractmethod
    async def _list(self, user_id: str | None, team_id: str | None) -> builtins.list[KeyRecord]: ...

    @abc.abstractmethod
    async def _reset_budget(self, token: str, old: datetime, new: datetime) -> None:
        """``spend = 0, budget_reset_at = new`` where ``budget_reset_at`` is still ``old``."""

    @abc.abstractmethod
    async def _write_spend(self, batch_id: str, records: builtins.list[SpendRecord],
                           prune_before: str | None) -> dict[str, float] | None:
        """In one transaction: record ``batch_id`` (None, nothing written, when it is
        already recorded), insert the rows, add their cost per key, and when
        ``prune_before`` is set forget batch ids below it. Returns ``{token: usd added}``."""


# Batch ids are remembered a day (a retry comes within the writer's retry_max, 30 s), and
# forgotten every PRUNE_EVERY batches by a primary key range delete.
BATCH_MEMORY_SECONDS = 86400
PRUNE_EVERY = 256


def new_batch_id() -> str:
    """A unique spend batch id that sorts by creation time (nanoseconds first)."""
    return f"{time.time_ns():020d}-{secrets.token_hex(8)}"


def batch_cutoff(now_ns: int | None = None) -> str:
    """Batch ids below this were made more than ``BATCH_MEMORY_SECONDS`` ago."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    return f"{now_ns - BATCH_MEMORY_SECONDS * 1_000_000_000:020d}"


def key_exists_error() -> KeyFieldError:
    return KeyFieldError("a key with this value already exists", param="key",
                         code="key_exists")


def spend_deltas(inserted: Iterable[tuple[str | None, float]]) -> dict[str, float]:
    """``{key_hash: total cost}`` over inserted rows (rows without a key are not keys')."""
    deltas: dict[str, float] = {}
    for key_hash, cost in inserted:
        if key_hash and cost:
            deltas[key_hash] = deltas.get(key_hash, 0.0) + float(cost)
    return deltas


def spend_row(rec: SpendRecord) -> tuple[Any, ...]:
    """The column values of ``rec`` in ``SPEND_COLUMNS`` order, NOT NULL columns filled."""
    return (rec.call_id or None, rec.key_hash, rec.key_alias, rec.user_id, rec.team_id,
            rec.model or "", rec.model_group, rec.deployment, rec.api_base,
            int(rec.prompt_tokens or 0), int(rec.completion_tokens or 0),
            int(rec.total_tokens or 0), float(rec.cost or 0.0), float(rec.latency_ms or 0.0),
            rec.status or "success", rec.start_time, rec.end_time, bool(rec.cache_hit),
            [str(t) for t in rec.request_tags or ()])


def redact_url(url: str) -> str:
    """``url`` without its password, for messages."""
    try:
        parts = urlsplit(url)
        if parts.password:
            netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
            return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable url>"
    return url


def sqlite_path_of(url: str, default: str) -> str:
    """The file of a ``sqlite:///relative`` / ``sqlite:////absolute`` /
    ``sqlite:///:memory:`` URL (``default`` when it names none)."""
    rest = url[len("sqlite:"):].split("?", 1)[0]
    if rest.startswith("///"):
        rest = rest[3:]
    elif rest.startswith("//"):
        rest = rest[2:]
    return rest or default


async def open_store(database_url: str | None, sqlite_path: str, **options: Any) -> KeyStore:
    """Open (and migrate) the key store.

    ``database_url`` None/empty or ``sqlite:///path`` -> SQLite (file ``sqlite_path`` when
    the URL names none); ``postgresql://`` or ``postgres://`` -> PostgreSQL (psycopg 3; a
    ``?schema=name`` query parameter selects, and creates, a schema). ``options`` go to
    the backend's ``open`` (e.g. ``busy_timeout_ms`` for SQLite, ``pool_size`` for
    PostgreSQL). Raises ValueError for another scheme, StoreUnavailable when the database
    cannot be opened, ImportError when psycopg is missing for a PostgreSQL URL.
    """
    url = (database_url or "").strip()
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("postgresql", "postgres"):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise ImportError("a postgresql:// database_url needs psycopg 3: "
                              "pip install 'llmrelay[postgres]'") from exc
        return await PostgresStore.open(url, **options)
    if url and scheme != "sqlite":
        raise ValueError(f"database_url {redact_url(url)!r} is not supported: use "
                         "sqlite:///path/to/file.db or postgresql://user@host/db")
    from .sqlite import SQLiteStore

    path = sqlite_path_of(url, sqlite_path) if url else sqlite_path
    return await SQLiteStore.open(path, **options)
