"""``Cache``: where answers are kept, how long, and which calls may use them.

    llmrelay.cache = Cache()                                   # in memory, LRU
    llmrelay.cache = Cache(type="disk", disk_cache_dir="/var/cache/llm", ttl=3600)
    llmrelay.cache = Cache(type="redis", url="redis://localhost:6379/0", namespace="app")
    client = llmrelay.Client(cache=Cache(type="local", max_size=500))

Per call: ``caching=False`` bypasses the cache; ``cache={"no-cache": True}`` does not read,
``{"no-store": True}`` does not write, ``{"ttl": 60}``, ``{"namespace": "x"}`` and
``{"s-maxage": 30}`` (only accept entries written in the last 30 s) adjust one call. With
``mode="default_off"`` only calls passing ``caching=True`` or ``cache={"use-cache": True}``
use it.

A backend that is down, slow or raising never fails a call: the call goes upstream, the
fault is logged once (on the ``llmrelay`` logger, until the backend works again), counted
in :meth:`Cache.stats`, and the backend is left alone for ``retry_after`` seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..exceptions import BadRequestError
from .codec import CorruptEntry, Entry, decode
from .direct import DirectAccess

__all__ = ["Backend", "Cache", "Plan"]

_log = logging.getLogger("llmrelay")

TYPES = ("local", "disk", "redis")
CALL_TYPES = ("completion", "text_completion", "embedding")
OPTIONS = frozenset({"no-cache", "no-store", "ttl", "namespace", "s-maxage", "use-cache"})
_STATS = ("hits", "misses", "writes", "errors", "corrupt")


class Backend(Protocol):
    """Storage under a cache: string values by key, sync and async. Async twins must not
    block the event loop."""

    def get_many(self, keys: list[str]) -> Sequence[str | bytes | None]: ...
    def set_many(self, items: list[tuple[str, str]], ttl: float | None) -> None: ...
    def delete(self, keys: list[str]) -> None: ...
    def close(self) -> None: ...
    async def aget_many(self, keys: list[str]) -> Sequence[str | bytes | None]: ...
    async def aset_many(self, items: list[tuple[str, str]], ttl: float | None) -> None: ...
    async def adelete(self, keys: list[str]) -> None: ...
    async def aclose(self) -> None: ...


@dataclass
class Plan:
    """How one call uses the cache, from the cache settings and the call's options."""

    read: bool
    write: bool
    ttl: float | None
    namespace: str | None
    max_age: float | None
    mock: Any


def _number(opts: Mapping[str, Any], name: str, default: float | None) -> float | None:
    value = opts.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise BadRequestError(f"cache={{'{name}': ...}} must be a number of seconds >= 0, "
                              f"got {value!r}", param="cache")
    return float(value)


class Cache(DirectAccess):
    """A response cache for :class:`~llmrelay.Client` calls (see the module docstring).

    ``type``: ``"local"`` (in-process LRU of ``max_size`` entries), ``"disk"`` (SQLite
    file ``path``, or ``llmrelay-cache.sqlite3`` in ``disk_cache_dir``; shared by
    processes, survives restarts) or ``"redis"`` (``url`` or ``host``/``port``/
    ``password``/``db``; needs ``pip install 'llmrelay[redis]'``). ``ttl``: seconds an
    entry lives (None: until evicted). ``namespace`` prefixes every key. ``timeout``:
    seconds a backend operation may wait (socket timeout, SQLite busy timeout).
    ``supported_call_types``: which calls are cached (default all; ``"acompletion"`` and
    the like name the same types). ``retry_after``: seconds a failing backend is left
    alone before it is tried again. ``client_kwargs``: extra redis-py client arguments.
    ``backend``: any object implementing :class:`Backend`, used instead of ``type``.
    ``default_in_memory_ttl`` / ``default_in_redis_ttl`` (LiteLLM's names): the ``ttl`` of
    a ``local`` / ``redis`` cache when ``ttl`` is not given.
    ``clock`` (unix seconds) is replaceable for tests.

    Raises ValueError for an unknown ``type``/``mode``/call type, and ImportError naming
    the extra to install when ``type="redis"`` and redis-py is missing.
    """

    def __init__(self, type: str = "local", *, ttl: float | None = None,
                 namespace: str | None = None, max_size: int = 1000,
                 disk_cache_dir: str | os.PathLike[str] | None = None,
                 path: str | os.PathLike[str] | None = None, url: str | None = None,
                 host: str | None = None, port: int | None = None,
                 password: str | None = None, db: int | None = None, timeout: float = 1.0,
                 mode: str = "default_on", supported_call_types: Iterable[str] | None = None,
                 retry_after: float = 5.0, client_kwargs: dict[str, Any] | None = None,
                 backend: Backend | None = None, clock: Callable[[], float] = time.time,
                 default_in_memory_ttl: float | None = None,
                 default_in_redis_ttl: float | None = None) -> None:
        if ttl is None:  # LiteLLM's per-layer defaults: the one of this cache's type
            ttl = default_in_redis_ttl if type == "redis" else (
                default_in_memory_ttl if type == "local" else None)
        if mode not in ("default_on", "default_off"):
            raise ValueError(f"Cache mode must be 'default_on' or 'default_off', got {mode!r}")
        if ttl is not None and ttl < 0:
            raise ValueError(f"Cache ttl must be >= 0 seconds or None, got {ttl!r}")
        self.type = type
        self.ttl = ttl
        self.namespace = namespace
        self.mode = mode
        self.retry_after = retry_after
        self.call_types = _call_types(supported_call_types)
        self.clock = clock
        if backend is None:
            backend = _make_backend(type, max_size=max_size, disk_cache_dir=disk_cache_dir,
                                    path=path, url=url, host=host, port=port,
                                    password=password, db=db, timeout=timeout, clock=clock,
                                    client_kwargs=client_kwargs)
        self.backend: Backend = backend
        self._lock = threading.Lock()
        self._stats = dict.fromkeys(_STATS, 0)
        self._failing: set[str] = set()  # operations failing now: "read", "write"
        self._down_until = 0.0
        from .layer import CacheLayer

        self._layer = CacheLayer(self)

    def __repr__(self) -> str:
        return (f"Cache(type={self.type!r}, ttl={self.ttl!r}, namespace={self.namespace!r}, "
                f"mode={self.mode!r})")

    def as_layer(self) -> Any:
        """The client layer (``handle``/``ahandle``) that serves calls from this cache."""
        return self._layer

    def stats(self) -> dict[str, int]:
        """Counters since creation: ``hits``, ``misses``, ``writes``, ``errors`` (backend
        faults) and ``corrupt`` (unreadable entries, treated as misses). Embedding calls
        count one lookup per input item."""
        with self._lock:
            return dict(self._stats)

    # ---- per-call decisions (no I/O) ----------------------------------------------------
    def plan(self, ctx: Any) -> Plan | None:
        """How ``ctx``'s call uses the cache, or None to bypass it. Raises BadRequestError
        for a malformed ``cache=`` option."""
        if ctx.call_type not in self.call_types:
            return None
        kind = ctx.kind  # a call type whose answers must not be reused, or a stream of one
        if not kind.cache or (kind.response_type is None and ctx.call_type not in _CHAT_LIKE) \
                or (ctx.call.stream and ctx.call_type not in _CHAT_LIKE):
            return None
        raw = ctx.cache_options
        if raw is not None and not isinstance(raw, Mapping):
            raise BadRequestError(f"cache= takes a dict of per-call cache options, got "
                                  f"{type(raw).__name__}", param="cache")
        opts: Mapping[str, Any] = raw or {}
        unknown = sorted(set(opts) - OPTIONS)
        if unknown:
            raise BadRequestError(f"unknown cache option(s) {', '.join(unknown)}; known: "
                                  f"{', '.join(sorted(OPTIONS))}", param="cache")
        caching = ctx.kwargs.get("caching")
        if caching is False:
            return None
        if self.mode == "default_off" and not (caching is True or opts.get("use-cache")):
            return None
        ttl = _number(opts, "ttl", self.ttl)
        read = not opts.get("no-cache")
        write = not opts.get("no-store") and (ttl is None or ttl > 0)
        if not read and not write:
            return None
        namespace = opts.get("namespace", self.namespace)
        return Plan(read, write, ttl, str(namespace) if namespace else None,
                    _number(opts, "s-maxage", None), ctx.kwargs.get("mock_response"))

    def decode(self, raw: str | bytes | None, kind: str, call_type: str,
               max_age: float | None) -> Entry | None:
        """The entry in ``raw``, or None (absent, too old or corrupt; corrupt is counted)."""
        if raw is None:
            return None
        try:
            return decode(raw, kind, call_type, self.clock(), max_age)
        except CorruptEntry as exc:
            self.count("corrupt")
            _log.debug("llmrelay cache: ignoring an unreadable entry: %s", exc)
            return None

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._stats[name] += n

    # ---- guarded backend access: faults become misses -------------------------------------
    def _usable(self) -> bool:
        return not self._failing or time.monotonic() >= self._down_until

    def _fault(self, exc: BaseException, op: str) -> None:
        with self._lock:
            self._stats["errors"] += 1
            first = not self._failing  # one warning per outage, whichever operation fails
            self._failing.add(op)
            self._down_until = time.monotonic() + self.retry_after
        if first:
            _log.warning("llmrelay cache (%s) failed to %s: %s: %s; calls go upstream until "
                         "it works again (retrying after %.0f s)", self.type, op,
                         type(exc).__name__, exc, self.retry_after)

    def _works(self, op: str) -> None:
        """``op`` succeeded; the outage is over once every failing operation worked again
        (a backend whose writes work but whose reads keep failing is still warned once)."""
        if op in self._failing:
            with self._lock:
                self._failing.discard(op)
                over = not self._failing
            if over:
                _log.info("llmrelay cache (%s) works again", self.type)

    def read(self, keys: list[str]) -> list[str | bytes | None]:
        """Stored values for ``keys`` (None for each on a backend fault)."""
        if self._usable():
            try:
                values = _as_values(self.backend.get_many(keys), len(keys))
            except Exception as exc:
                self._fault(exc, "read")
            else:
                self._works("read")
                return values
        return [None] * len(keys)

    async def aread(self, keys: list[str]) -> list[str | bytes | None]:
        """Async :meth:`read`."""
        if self._usable():
            try:
                values = _as_values(await self.backend.aget_many(keys), len(keys))
            except Exception as exc:
                self._fault(exc, "read")
            else:
                self._works("read")
                return values
        return [None] * len(keys)

    def write(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        """Store ``items``; a backend fault is logged and counted, never raised."""
        if not items or not self._usable():
            return
        try:
            self.backend.set_many(items, ttl)
        except Exception as exc:
            self._fault(exc, "write")
            return
        self._works("write")
        self.count("writes", len(items))

    async def awrite(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        """Async :meth:`write`."""
        if not items or not self._usable():
            return
        try:
            await self.backend.aset_many(items, ttl)
        except Exception as exc:
            self._fault(exc, "write")
            return
        self._works("write")
        self.count("writes", len(items))

    # ---- maintenance ------------------------------------------------------------------------
    def delete(self, *keys: str) -> None:
        """Remove entries by key (as passed to callbacks in ``kwargs["cache_key"]``).
        Raises the backend's error: maintenance should not fail silently."""
        self.backend.delete(list(keys))

    async def adelete(self, *keys: str) -> None:
        """Async :meth:`delete`."""
        await self.backend.adelete(list(keys))

    def clear(self) -> None:
        """Remove every entry; on Redis, every key under this cache's ``namespace``
        (ValueError without one: the database may hold other data)."""
        clear_prefix = getattr(self.backend, "clear_prefix", None)
        if clear_prefix is not None:
            clear_prefix(f"{self.namespace}:" if self.namespace else "")
            return
        clear = getattr(self.backend, "clear", None)
        if clear is None:
            raise NotImplementedError(f"{type(self.backend).__name__} has no clear()")
        clear()

    def close(self) -> None:
        """Release connections (the cache still works afterwards: it reconnects)."""
        self.backend.close()

    async def aclose(self) -> None:
        """Release the running event loop's connections."""
        await self.backend.aclose()


def _as_values(found: Any, count: int) -> list[str | bytes | None]:
    """A backend's answer to a read of ``count`` keys; an answer of another length is a
    backend fault (raises ValueError). Values that are not text are decoded as corrupt."""
    values = list(found)
    if len(values) != count:
        raise ValueError(f"the backend returned {len(values)} values for {count} keys")
    return values


# call types whose streams the cache can replay (chat-shaped chunks)
_CHAT_LIKE = frozenset({"completion", "text_completion", "embedding"})


def _call_types(names: Iterable[str] | None) -> frozenset[str]:
    from .._calltypes import CALL_TYPES as declared  # every call type the client serves

    known = tuple(declared) or CALL_TYPES
    if names is None:
        return frozenset(known)
    out = set()
    for name in names:
        base = name[1:] if name.startswith("a") and name[1:] in known else name
        if base not in known:
            raise ValueError(f"unknown call type {name!r} in supported_call_types; known: "
                             f"{', '.join(known)} (and their 'a' async spellings)")
        out.add(base)
    return frozenset(out)


def _make_backend(type: str, *, max_size: int, disk_cache_dir: Any, path: Any, url: Any,
                  host: Any, port: Any, password: Any, db: Any, timeout: float,
                  clock: Callable[[], float], client_kwargs: Any) -> Backend:
    if type == "local":
        from .memory import MemoryBackend

        return MemoryBackend(max_size, clock)
    if type == "disk":
        from .sqlite import SQLiteBackend, resolve_path

        return SQLiteBackend(resolve_path(path, disk_cache_dir), timeout, clock)
    if type == "redis":
        from .redis import RedisBackend

        return RedisBackend(url=url, host=host, port=port, password=password, db=db,
                            timeout=timeout, client_kwargs=client_kwargs)
    raise ValueError(f"unknown cache type {type!r}; use one of {', '.join(TYPES)}")
