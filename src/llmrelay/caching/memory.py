"""In-process cache: a thread-safe LRU with per-entry expiry and a bound on entries."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Up to ``max_size`` entries; the least recently used goes first when full.

    Expired entries are dropped when read or when they reach the LRU end. ``clock`` (seconds) is replaceable for tests. Every operation is
    a few dict steps under a lock, so the async twins run inline.
    """

    def __init__(self, max_size: int = 1000, clock: Callable[[], float] = time.time) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        self.max_size = max_size
        self._clock = clock
        self._lock = threading.Lock()
        self._data: OrderedDict[str, tuple[str, float | None]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def get_many(self, keys: list[str]) -> list[str | None]:
        now = self._clock()
        out: list[str | None] = []
        with self._lock:
            data = self._data
            for key in keys:
                item = data.get(key)
                if item is None:
                    out.append(None)
                elif item[1] is not None and item[1] <= now:
                    del data[key]
                    out.append(None)
                else:
                    data.move_to_end(key)
                    out.append(item[0])
        return out

    def set_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        expires = None if ttl is None else self._clock() + ttl
        with self._lock:
            data = self._data
            for key, value in items:
                data[key] = (value, expires)
                data.move_to_end(key)
            while len(data) > self.max_size:
                data.popitem(last=False)

    def delete(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def close(self) -> None:
        return None

    async def aget_many(self, keys: list[str]) -> list[str | None]:
        return self.get_many(keys)

    async def aset_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        self.set_many(items, ttl)

    async def adelete(self, keys: list[str]) -> None:
        self.delete(keys)

    async def aclose(self) -> None:
        return None
