"""DualCache: the key/value store LiteLLM hands proxy hooks (and that hook code builds for
itself): an in-process store in front of an optional shared one.

Values are any Python objects in memory; ``ttl`` is in seconds. With ``redis_cache=``
(anything with ``get_cache``/``set_cache``/``delete_cache`` and optionally
``increment_cache``, sync or async twins), reads fall through to it on a local miss and
writes go to both unless ``local_only=True``.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections import OrderedDict
from typing import Any

__all__ = ["DualCache"]

_MISSING: Any = object()


class DualCache:
    """An LRU of up to ``max_size_in_memory`` entries, each with an optional TTL
    (``default_in_memory_ttl`` when ``set_cache`` gives none), over ``redis_cache``."""

    def __init__(self, in_memory_cache: Any = None, redis_cache: Any = None,
                 default_in_memory_ttl: float | None = None,
                 default_redis_ttl: float | None = None,
                 max_size_in_memory: int = 10000) -> None:
        del in_memory_cache  # LiteLLM's slot for its own class: the store here is built in
        self.redis_cache = redis_cache
        self.default_in_memory_ttl = default_in_memory_ttl
        self.default_redis_ttl = default_redis_ttl
        self.max_size = max(1, int(max_size_in_memory))
        self._data: OrderedDict[str, tuple[Any, float | None]] = OrderedDict()
        self._lock = threading.Lock()

    # ---- the local store ----------------------------------------------------------------------
    def _get_local(self, key: str) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return _MISSING
            if item[1] is not None and item[1] <= time.monotonic():
                del self._data[key]
                return _MISSING
            self._data.move_to_end(key)
            return item[0]

    def _set_local(self, key: str, value: Any, ttl: float | None) -> None:
        ttl = self.default_in_memory_ttl if ttl is None else ttl
        with self._lock:
            self._data[key] = (value, None if ttl is None else time.monotonic() + float(ttl))
            self._data.move_to_end(key)
            while len(self._data) > self.max_size:
                self._data.popitem(last=False)

    def _remote(self, name: str) -> Any:
        if self.redis_cache is None:
            return None
        return getattr(self.redis_cache, name, None)

    # ---- sync API -----------------------------------------------------------------------------
    def get_cache(self, key: str, local_only: bool = False, **kwargs: Any) -> Any:
        """The value of ``key`` (None when absent or expired)."""
        found = self._get_local(key)
        if found is not _MISSING:
            return found
        remote = None if local_only else self._remote("get_cache")
        if remote is None:
            return None
        value = remote(key, **kwargs)
        if value is not None:
            self._set_local(key, value, None)
        return value

    def set_cache(self, key: str, value: Any, local_only: bool = False,
                  ttl: float | None = None, **kwargs: Any) -> None:
        """Store ``value`` under ``key`` (for ``ttl`` seconds when given)."""
        self._set_local(key, value, ttl)
        remote = None if local_only else self._remote("set_cache")
        if remote is not None:
            remote(key, value, ttl=ttl if ttl is not None else self.default_redis_ttl, **kwargs)

    def increment_cache(self, key: str, value: float, local_only: bool = False,
                        ttl: float | None = None, **kwargs: Any) -> float:
        """Add ``value`` to the number under ``key`` (0 when absent); returns the new total
        (the shared store's total when there is one)."""
        with self._lock:
            item = self._data.get(key)
            alive = item is not None and (item[1] is None or item[1] > time.monotonic())
            current = item[0] if alive and item is not None else 0
        total = (current or 0) + value
        remote = None if local_only else self._remote("increment_cache")
        if remote is not None:
            total = remote(key, value, ttl=ttl, **kwargs)
        self._set_local(key, total, ttl)
        return total  # type: ignore[no-any-return]

    def batch_get_cache(self, keys: list[str], local_only: bool = False,
                        **kwargs: Any) -> list[Any]:
        """:meth:`get_cache` for each key, in order."""
        return [self.get_cache(k, local_only=local_only, **kwargs) for k in keys]

    def delete_cache(self, key: str) -> None:
        """Remove ``key`` here and from the shared store."""
        with self._lock:
            self._data.pop(key, None)
        remote = self._remote("delete_cache")
        if remote is not None:
            remote(key)

    def flush_cache(self) -> None:
        """Empty the local store (the shared store is left alone)."""
        with self._lock:
            self._data.clear()

    # ---- async API (the local store never waits; a shared store may) ----------------------------
    async def _aremote(self, name: str, *args: Any, **kwargs: Any) -> Any:
        fn = self._remote("async_" + name) or self._remote(name)
        if fn is None:
            return _MISSING
        result = fn(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    async def async_get_cache(self, key: str, local_only: bool = False, **kwargs: Any) -> Any:
        found = self._get_local(key)
        if found is not _MISSING:
            return found
        if local_only:
            return None
        value = await self._aremote("get_cache", key, **kwargs)
        if value is _MISSING or value is None:
            return None
        self._set_local(key, value, None)
        return value

    async def async_set_cache(self, key: str, value: Any, local_only: bool = False,
                              ttl: float | None = None, **kwargs: Any) -> None:
        self._set_local(key, value, ttl)
        if not local_only:
            await self._aremote("set_cache", key, value,
                                ttl=ttl if ttl is not None else self.default_redis_ttl,
                                **kwargs)

    async def async_increment_cache(self, key: str, value: float, local_only: bool = False,
                                    ttl: float | None = None, **kwargs: Any) -> float:
        total = self.increment_cache(key, value, local_only=True, ttl=ttl)
        if not local_only:
            shared = await self._aremote("increment_cache", key, value, ttl=ttl, **kwargs)
            if shared is not _MISSING:
                total = shared
                self._set_local(key, total, ttl)
        return total

    async def async_batch_get_cache(self, keys: list[str], local_only: bool = False,
                                    **kwargs: Any) -> list[Any]:
        return [await self.async_get_cache(k, local_only=local_only, **kwargs) for k in keys]

    async def async_delete_cache(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)
        await self._aremote("delete_cache", key)
