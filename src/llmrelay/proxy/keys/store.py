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
process stays exact. Other processes sharing the database read the ``key_changes`` log
(:meth:`KeyStore.recent_key_changes`) and drop changed keys within a second.

Timeouts: no database call waits without bound. PostgreSQL connections have a connect
timeout, a server-side statement and idle-in-transaction timeout, TCP keepalive and a TCP
user timeout, and every call a client-side deadline after which its connection is closed
and replaced; SQLite calls have a busy (lock) timeout, a statement deadline (the statement
is interrupted) and a call deadline after which the connection and its thread are
abandoned and a new one is opened.

Errors: a database that cannot be reached, or a call over its deadline, raises
:class:`StoreUnavailable` (HTTP 503); usage rows the database refuses raise
:class:`RowsRejected`; bad fields raise :class:`~.fields.KeyFieldError` (HTTP 400); an
unknown key in ``update`` raises ``KeyError``.
"""

from __future__ import annotations

import abc
import builtins
import logging
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar
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

__all__ = ["SPEND_TARGETS", "KeyStore", "Program", "RowsRejected", "StoreListener",
           "StoreUnavailable", "open_store"]

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


T = TypeVar("T")
# A database program: a generator that yields ``(sql, params)`` and is sent each
# statement's rows (a list of tuples; empty for statements that return none); what it
# returns is the result. One program's logic serves both backends.
Program = Generator[tuple[str, Sequence[Any]], list[tuple[Any, ...]], T]


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
        record. Setting ``budget_duration`` starts a new window now; setting ``spend``
        starts a new budget epoch (``spend_epoch``). Raises KeyError for
        an unknown key, KeyFieldError for bad fields."""
        now = utcnow()
        values = clean_fields(fields, now)
        budget_window(values, now)
        if "spend" in values:  # budget counters keyed by the old epoch are left behind
            values["spend_epoch"] = time.time_ns() // 1000
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
    async def add_spend(self, records: Sequence[SpendRecord]) -> int:
        """Append usage rows and add their cost to each key's spend, in one transaction.

        Idempotent by ``call_id``: a row whose call id is stored already is skipped and
        its cost not added again, so a batch retried after an unclear failure, or records
        replayed from a spool by another process, are never counted twice. Returns how
        many rows were new. Raises :class:`StoreUnavailable` when the database cannot be
        reached or timed out (nothing was written, or all of it: retry the same rows), and
        :class:`RowsRejected` when the database refused the rows' contents (retrying the
        same rows fails the same way: split them)."""
        if not records:
            return 0
        deltas, inserted = await self._write_spend(list(records))
        if deltas:
            self._notify("on_spend_added", deltas)
        return inserted

    # -- changes made by other processes ----------------------------------------------
    async def recent_key_changes(self, window: float) -> builtins.list[tuple[int, str]]:
        """``(seq, token)`` of every key created, updated or deleted through any store on
        this database in the last ``window`` seconds (by the database's clock), oldest
        first. Every ``PRUNE_EVERY``-th call also forgets changes older than a day."""
        self._change_polls += 1
        if self._change_polls % PRUNE_EVERY == 1:
            await self._prune_key_changes(CHANGE_MEMORY_SECONDS)
        return await self._recent_key_changes(window)

    @abc.abstractmethod
    async def spend_logs(self, *, key_hash: str | None = None, user_id: str | None = None,
                         team_id: str | None = None, start: datetime | None = None,
                         end: datetime | None = None, limit: int = 1000,
                         **more: Any) -> builtins.list[SpendRecord]:
        """Usage records, newest first; ``start``/``end`` bound ``start_time`` (inclusive).
        ``more``: ``model`` (the model group), ``status``, ``call_id`` filters and
        ``offset`` (rows skipped)."""

    @abc.abstractmethod
    async def spend_by_key(self) -> builtins.list[dict[str, Any]]:
        """Per key_hash: ``key_alias``, ``user_id``, ``team_id``, ``spend`` (USD, all
        time), ``requests``, ``prompt_tokens``, ``completion_tokens``, ``total_tokens``,
        ``last_used``; biggest spender first."""

    @abc.abstractmethod
    async def run_program(self, program: Callable[[], Program[T]], *, write: bool = True,
                          timeout: float | None = None) -> T:
        """Run a program (see :data:`Program`) made by ``program()`` in one transaction
        (``write``: a write transaction, rolled back when the program raises), within
        ``timeout`` seconds per statement (None: the store's statement timeout). The
        factory may be called again when the first connection failed before anything was
        committed. SQL uses ``?`` placeholders (no literal ``?`` or ``%``)."""

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
    async def _write_spend(self, records: builtins.list[SpendRecord]
                           ) -> tuple[dict[str, float], int]:
        """In one transaction: insert the rows whose ``call_id`` is not stored yet and add
        their cost to each spend target (``SPEND_TARGETS``). Returns ``({token: usd
        added}, rows inserted)``."""


# Key changes are remembered a day, and forgotten every PRUNE_EVERY polls.
CHANGE_MEMORY_SECONDS = 86400
PRUNE_EVERY = 256

# Where a usage row's cost is added: (table, id column, SpendRecord field). Tags (a list
# per row) are added by ``rollup.py``.
SPEND_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("keys", "token", "key_hash"), ("teams", "team_id", "team_id"),
    ("users", "user_id", "user_id"), ("organizations", "organization_id", "organization_id"),
    ("end_users", "user_id", "end_user"))


class RowsRejected(Exception):
    """The database refused the contents of usage rows (bad text, a constraint): sending
    the same rows again fails again, so the writer splits the batch to find them."""


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
            [str(t) for t in rec.request_tags or ()], rec.end_user, rec.provider,
            rec.organization_id, rec.messages, rec.response)


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
