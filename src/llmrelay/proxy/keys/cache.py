"""The in-process key cache in front of the key store: request auth without a database
round trip once warm.

* Known keys stay ``ttl`` seconds (60 by default), unknown tokens ``negative_ttl`` (5 s), so
  a flood of bad keys cannot hammer the database either.
* Changes made through the store in this process (create/update/delete) invalidate the
  entry at once, and committed spend is added to the cached record, because the cache
  subscribes to the store's change notices.
* Changes made by other processes sharing the database (``--workers N``, or another
  proxy) are seen through :meth:`start_watching`: every ``watch_interval`` seconds (0.5 s)
  one query reads the store's key changes of the last ``watch_window`` seconds (10 s) and
  drops the keys changed since the last look, so a revoked, blocked or updated key (a
  budget edit) is seen by every worker and instance within a second. The same poll tells
  whether the database answers (``stats()["store_down"]``). After a gap in watching longer than the window (the
  database was away) the whole cache is dropped once the database answers again.
* A key whose budget window has ended is re-read at once (the store resets its spend).
* When the store raises (database down) an expired entry is served as is and the store is
  asked again only every ``retry_after_error`` seconds; a token never seen before raises
  :class:`StoreUnavailable` (HTTP 503) then.
* Concurrent misses for one token share one store read. Safe to use from several threads
  (the table is guarded by a lock); the shared read works per event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .models import KeyRecord
from .store import StoreUnavailable

__all__ = ["KeyCache"]

log = logging.getLogger("llmrelay.proxy.keys")


class _Entry:
    __slots__ = ("fresh_until", "record")

    def __init__(self, record: KeyRecord | None, fresh_until: float) -> None:
        self.record = record
        self.fresh_until = fresh_until


class KeyCache:
    """TTL cache of :class:`KeyRecord` by token; see the module docstring."""

    def __init__(self, store: Any, *, ttl: float = 60.0, negative_ttl: float = 5.0,
                 retry_after_error: float = 1.0, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.retry_after_error = retry_after_error
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._loads: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self._store_down = False
        self.hits = 0
        self.misses = 0
        self.stale_served = 0
        self.errors = 0
        self.watch_interval = 0.5
        self.watch_window = 10.0
        self._seen_changes: set[int] | None = None  # None: not watched yet
        self._watched_at = 0.0
        self._watcher: asyncio.Task[None] | None = None
        self.watch_error: str | None = None  # the last poll's failure, None when it answered
        # Other caches told of the changes this one's poll sees (``on_key_changed(token)``,
        # ``clear()``): the hierarchy's (``entity_cache.py``) shares the poll.
        self.followers: list[Any] = []
        subscribe = getattr(store, "subscribe", None)
        if callable(subscribe):
            subscribe(self)

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, token: str) -> KeyRecord | None:
        """The key with this token, or None if the store does not know it.

        Raises :class:`StoreUnavailable` only when the store fails and nothing about this
        token is cached.
        """
        entry = self._entries.get(token)
        if entry is not None and self._clock() < entry.fresh_until and not (
                entry.record is not None and entry.record.window_over()):
            self.hits += 1
            return entry.record
        self.misses += 1
        return await self._load_shared(token)

    async def _load_shared(self, token: str) -> KeyRecord | None:
        loop = asyncio.get_running_loop()
        pending = self._loads.get(token)
        if pending is not None and pending[0] is loop:
            return await asyncio.shield(pending[1])  # type: ignore[no-any-return]
        task = loop.create_task(self._load(token))
        self._loads[token] = (loop, task)
        task.add_done_callback(lambda _t: self._forget_load(token, task))
        return await asyncio.shield(task)

    def _forget_load(self, token: str, task: asyncio.Future[Any]) -> None:
        if not task.cancelled():
            task.exception()  # seen: waiters that were cancelled must not leave it unseen
        current = self._loads.get(token)
        if current is not None and current[1] is task:
            del self._loads[token]

    async def _load(self, token: str) -> KeyRecord | None:
        try:
            record = await self.store.get(token)
        except Exception as exc:
            return self._on_error(token, exc)
        if self._store_down:
            self._store_down = False
            log.info("llmrelay key cache: the key store answers again")
        self._put(token, record)
        return record  # type: ignore[no-any-return]

    def _on_error(self, token: str, exc: Exception) -> KeyRecord | None:
        self.errors += 1
        if not self._store_down:
            self._store_down = True
            log.warning("llmrelay key cache: the key store failed (%s: %s); serving cached "
                        "keys until it is back", type(exc).__name__, exc)
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:
                entry.fresh_until = self._clock() + self.retry_after_error
        if entry is None:
            if isinstance(exc, StoreUnavailable):
                raise exc
            raise StoreUnavailable(f"the key store failed: {type(exc).__name__}: {exc}"
                                   ) from exc
        self.stale_served += 1
        return entry.record

    def _put(self, token: str, record: KeyRecord | None) -> None:
        ttl = self.ttl if record is not None else self.negative_ttl
        with self._lock:
            self._entries.pop(token, None)  # re-insert at the end: oldest first for eviction
            self._entries[token] = _Entry(record, self._clock() + ttl)
            if len(self._entries) > self.max_entries:
                self._evict()

    def _evict(self) -> None:
        now = self._clock()
        expired = [t for t, e in self._entries.items() if e.fresh_until <= now]
        for token in expired:
            del self._entries[token]
        excess = len(self._entries) - self.max_entries
        for token in list(self._entries)[:max(excess, 0)]:
            del self._entries[token]

    def invalidate(self, token: str) -> None:
        """Forget ``token``: the next ``get`` reads the store."""
        with self._lock:
            self._entries.pop(token, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self._entries), "hits": self.hits, "misses": self.misses,
                "stale_served": self.stale_served, "errors": self.errors,
                "store_down": self._store_down or self.watch_error is not None,
                "store_error": self.watch_error}

    # -- changes made by other processes ----------------------------------------------
    async def poll_changes(self) -> int:
        """One look at the store's recent key changes (see the module docstring); returns
        how many entries were dropped. Raises what the store raises."""
        changes = await self.store.recent_key_changes(self.watch_window)
        now = self._clock()
        seen, self._seen_changes = self._seen_changes, {seq for seq, _ in changes}
        gap = seen is not None and now - self._watched_at > (
            self.watch_window - self.watch_interval)
        self._watched_at = now
        if seen is None or gap:
            # Nothing to compare with: whatever is cached may predate unseen changes.
            dropped = len(self._entries)
            self.clear()
            for follower in self.followers:
                follower.clear()
            return dropped
        dropped = 0
        with self._lock:
            for seq, token in changes:
                if seq not in seen and self._entries.pop(token, None) is not None:
                    dropped += 1
        for seq, token in changes:
            if seq not in seen:
                for follower in self.followers:
                    follower.on_key_changed(token)
        return dropped

    def start_watching(self, interval: float | None = None,
                       window: float | None = None) -> None:
        """Poll the store's key changes in a background task on the running loop."""
        if interval is not None:
            self.watch_interval = interval
        if window is not None:
            self.watch_window = window
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(
                self._watch(), name="llmrelay-key-cache-watch")

    async def stop_watching(self) -> None:
        task, self._watcher = self._watcher, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _watch(self) -> None:
        while True:
            try:
                await self.poll_changes()
                self.watch_error = None
            except Exception as exc:  # the database is away: try again next time
                self.watch_error = f"{type(exc).__name__}: {exc}"
                log.debug("llmrelay key cache: reading key changes failed: %s", exc)
            await asyncio.sleep(self.watch_interval)

    # -- store change notices ----------------------------------------------------------
    def on_key_changed(self, token: str) -> None:
        self.invalidate(token)

    def on_spend_added(self, deltas: Mapping[str, float]) -> None:
        """Add committed spend to cached records (a new record object: holders of the old
        one keep a consistent snapshot)."""
        with self._lock:
            for token, usd in deltas.items():
                entry = self._entries.get(token)
                if entry is not None and entry.record is not None:
                    entry.record = dataclasses.replace(entry.record,
                                                       spend=entry.record.spend + usd)
