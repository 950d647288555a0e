"""Redis cache through redis-py: ``redis.Redis`` for sync calls, ``redis.asyncio.Redis``
for async ones, so an async call never blocks its event loop on the network.

Connections use short socket timeouts (``timeout``, default 1 s) and no client-side
retries: a Redis that is down or slow costs a call at most about one timeout before the
cache layer gives up and goes upstream. Values are stored with ``SET ... PX <ttl>``, so
Redis expires them itself.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any

__all__ = ["RedisBackend"]

_INSTALL_HINT = "pip install 'llmrelay[redis]'"


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
        import redis.retry
    except ImportError as exc:
        raise ImportError(f"Cache(type='redis') needs the redis package: {_INSTALL_HINT}"
                          ) from exc
    return redis


class RedisBackend:
    """Keys and values in one Redis database.

    Connection: ``url`` (``redis://[:password@]host:port/db``, ``rediss://`` for TLS), or
    ``host``/``port``/``password``/``db``; with none of them, the ``REDIS_URL`` or
    ``REDIS_HOST``/``REDIS_PORT``/``REDIS_PASSWORD`` environment variables, then
    ``127.0.0.1:6379``. ``client_kwargs`` go to the redis-py client constructors.
    Raises ImportError naming ``pip install 'llmrelay[redis]'`` when redis-py is missing.
    """

    def __init__(self, *, url: str | None = None, host: str | None = None,
                 port: int | None = None, password: str | None = None, db: int | None = None,
                 timeout: float = 1.0, client_kwargs: dict[str, Any] | None = None) -> None:
        self._redis = _import_redis()
        if url is None and host is None:
            url = os.environ.get("REDIS_URL") or None
            host = os.environ.get("REDIS_HOST") or None
            port = port if port is not None else _env_int("REDIS_PORT")
            password = password if password is not None else os.environ.get("REDIS_PASSWORD")
        self._url = url
        self._address: dict[str, Any] = {"host": host or "127.0.0.1", "port": port or 6379,
                                         "password": password, "db": db or 0}
        self._kwargs: dict[str, Any] = {"socket_timeout": timeout,
                                        "socket_connect_timeout": timeout,
                                        **(client_kwargs or {})}
        self._sync = self._make(self._redis.Redis, self._redis.retry.Retry)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary())

    def _make(self, cls: Any, retry_cls: Any) -> Any:
        kwargs = dict(self._kwargs)
        kwargs.setdefault("retry", retry_cls(self._redis.backoff.NoBackoff(), 0))
        if self._url is not None:
            return cls.from_url(self._url, **kwargs)
        return cls(**self._address, **kwargs)

    def _aclient(self) -> Any:
        """The async client of the running loop (redis.asyncio connections belong to the
        loop that opened them)."""
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = self._make(self._redis.asyncio.Redis, self._redis.asyncio.retry.Retry)
            self._async[loop] = client
        return client

    @property
    def client(self) -> Any:
        """The sync ``redis.Redis`` client, for inspection and tests."""
        return self._sync

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        return list(self._sync.mget(keys))

    def set_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        pipe = self._sync.pipeline(transaction=False)
        for key, value in items:
            pipe.set(key, value, px=_millis(ttl))
        pipe.execute()

    def delete(self, keys: list[str]) -> None:
        if keys:
            self._sync.delete(*keys)

    def clear_prefix(self, prefix: str) -> None:
        """Delete every key starting with ``prefix`` (never the whole database)."""
        if not prefix:
            raise ValueError("refusing to clear a Redis cache without a namespace")
        batch: list[bytes] = []
        for key in self._sync.scan_iter(match=_glob_escape(prefix) + "*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                self._sync.delete(*batch)
                batch = []
        if batch:
            self._sync.delete(*batch)

    def close(self) -> None:
        self._sync.close()
        self._async = weakref.WeakKeyDictionary()

    async def aget_many(self, keys: list[str]) -> list[bytes | None]:
        return list(await self._aclient().mget(keys))

    async def aset_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        pipe = self._aclient().pipeline(transaction=False)
        for key, value in items:
            pipe.set(key, value, px=_millis(ttl))
        await pipe.execute()

    async def adelete(self, keys: list[str]) -> None:
        if keys:
            await self._aclient().delete(*keys)

    async def aclose(self) -> None:
        """Close the running loop's async client (and its connections)."""
        loop = asyncio.get_running_loop()
        client = self._async.pop(loop, None)
        if client is not None:
            closer = getattr(client, "aclose", None) or client.close
            await closer()


def _millis(ttl: float | None) -> int | None:
    return None if ttl is None else max(1, int(ttl * 1000))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value and value.isdigit() else None
