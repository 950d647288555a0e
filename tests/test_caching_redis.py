"""Response caching on a real Redis (``LLMRELAY_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/0``). Skipped when Redis is unreachable, unless
``LLMRELAY_REQUIRE_SERVICES=1`` makes that a failure. Every test writes under its own
namespace and deletes its keys afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI
from llmrelay.caching import Cache

URL = os.environ.get("LLMRELAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRED = os.environ.get("LLMRELAY_REQUIRE_SERVICES") == "1"

try:
    import redis
    import redis.asyncio
except ImportError as exc:  # pragma: no cover - depends on the environment
    if REQUIRED:
        raise
    pytest.skip(f"redis-py is not installed: {exc}", allow_module_level=True)
MSGS = [{"role": "user", "content": "Cache me in Redis"}]


@pytest.fixture(scope="module")
def redis_url() -> str:
    client = redis.Redis.from_url(URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        message = f"Redis not reachable at {URL}: {exc}"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()
    return URL


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    ns = f"llmrelay-test-{uuid.uuid4().hex[:12]}"
    yield ns
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{ns}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def cache(redis_url: str, namespace: str) -> Iterator[Cache]:
    c = Cache(type="redis", url=redis_url, namespace=namespace)
    yield c
    c.close()


def _keys(cache: Cache) -> list[str]:
    client = cache.backend.client  # type: ignore[attr-defined]
    return sorted(k.decode() for k in client.scan_iter(match=f"{cache.namespace}:*"))


def test_sync_hit(fake: FakeOpenAI, openai_args: dict[str, str], cache: Cache) -> None:
    llmrelay.cache = cache
    r1 = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
    r2 = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
    assert len(fake.requests) == 1
    assert r2.model_dump() == r1.model_dump()
    assert r2._hidden_params["cache_hit"] is True
    assert r2._hidden_params["response_cost"] == 0.0
    keys = _keys(cache)
    assert len(keys) == 1 and keys[0] == r2._hidden_params["cache_key"]
    stored = json.loads(cache.backend.client.get(keys[0]))  # type: ignore[attr-defined]
    assert stored["data"]["choices"][0]["message"]["content"] == "Hello from fake"
    assert openai_args["api_key"] not in json.dumps(stored)


async def test_async_hit_uses_asyncio_client(fake: FakeOpenAI, openai_args: dict[str, str],
                                             cache: Cache) -> None:
    client = llmrelay.Client(cache=cache)
    r1 = await client.acompletion(model="gpt-4o-mini", messages=MSGS, **openai_args)
    r2 = await client.acompletion(model="gpt-4o-mini", messages=MSGS, **openai_args)
    assert len(fake.requests) == 1
    assert r2.model_dump() == r1.model_dump()
    assert r2._hidden_params["cache_hit"] is True
    aclient = cache.backend._aclient()  # type: ignore[attr-defined]
    assert isinstance(aclient, redis.asyncio.Redis)
    await cache.aclose()


def test_host_port_configuration(fake: FakeOpenAI, openai_args: dict[str, str],
                                 redis_url: str, namespace: str) -> None:
    from urllib.parse import urlparse

    parsed = urlparse(redis_url)
    cache = Cache(type="redis", host=parsed.hostname, port=parsed.port or 6379,
                  password=parsed.password, db=int(parsed.path.strip("/") or 0),
                  namespace=namespace)
    client = llmrelay.Client(cache=cache)
    client.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
    r = client.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
    assert r._hidden_params["cache_hit"] is True
    cache.close()


def test_ttl_is_set_and_expires(fake: FakeOpenAI, openai_args: dict[str, str],
                                cache: Cache) -> None:
    llmrelay.cache = cache
    call = {"model": "gpt-4o-mini", "messages": MSGS, **openai_args}
    llmrelay.completion(**call, cache={"ttl": 0.3})
    (key,) = _keys(cache)
    rclient = cache.backend.client  # type: ignore[attr-defined]
    assert 0 < rclient.pttl(key) <= 300
    deadline = time.monotonic() + 5
    while rclient.exists(key) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not rclient.exists(key)
    llmrelay.completion(**call)
    assert len(fake.requests) == 2
    assert rclient.pttl(_keys(cache)[0]) == -1  # no ttl: kept until deleted


def test_stream_replay(fake: FakeOpenAI, openai_args: dict[str, str], cache: Cache) -> None:
    llmrelay.cache = cache
    call = {"model": "gpt-4o-mini", "messages": MSGS, "stream": True, **openai_args}
    first = list(llmrelay.completion(**call))
    replay = llmrelay.completion(**call)
    second = list(replay)
    assert len(fake.requests) == 1
    assert replay._hidden_params["cache_hit"] is True
    assert [c.model_dump() for c in second] == [c.model_dump() for c in first]


async def test_async_stream_and_embeddings(fake: FakeOpenAI, openai_args: dict[str, str],
                                           cache: Cache) -> None:
    client = llmrelay.Client(cache=cache)
    call = {"model": "gpt-4o-mini", "messages": MSGS, "stream": True, **openai_args}
    first = [c async for c in await client.acompletion(**call)]
    second = [c async for c in await client.acompletion(**call)]
    assert [c.model_dump() for c in second] == [c.model_dump() for c in first]
    await client.aembedding(model="text-embedding-3-small", input=["x", "y"], **openai_args)
    r = await client.aembedding(model="text-embedding-3-small", input=["y", "z", "x"],
                                **openai_args)
    bodies = [req.body for req in fake.requests if req.body]
    assert "messages" in bodies[0] and [b["input"] for b in bodies[1:]] == [["x", "y"], ["z"]]
    assert [d.index for d in r.data] == [0, 1, 2]
    assert len(_keys(cache)) == 4  # one stream, three embedding items
    await cache.aclose()


def test_per_call_namespace_and_clear(fake: FakeOpenAI, openai_args: dict[str, str],
                                      cache: Cache, namespace: str) -> None:
    llmrelay.cache = cache
    call = {"model": "gpt-4o-mini", "messages": MSGS, **openai_args}
    llmrelay.completion(**call, cache={"namespace": f"{namespace}-b"})
    llmrelay.completion(**call)
    llmrelay.completion(**call, cache={"namespace": f"{namespace}-b"})
    assert len(fake.requests) == 2
    assert len(_keys(cache)) == 1
    cache.clear()
    assert _keys(cache) == []
    llmrelay.completion(**call, cache={"namespace": f"{namespace}-b"})
    assert len(fake.requests) == 2  # the other namespace was left alone


def test_corrupt_entry_replaced(fake: FakeOpenAI, openai_args: dict[str, str],
                                cache: Cache) -> None:
    llmrelay.cache = cache
    call = {"model": "gpt-4o-mini", "messages": MSGS, **openai_args}
    llmrelay.completion(**call)
    (key,) = _keys(cache)
    cache.backend.client.set(key, b"\xff\xfe not json")  # type: ignore[attr-defined]
    r = llmrelay.completion(**call)
    assert r._hidden_params["cache_hit"] is False and cache.stats()["corrupt"] == 1
    assert llmrelay.completion(**call)._hidden_params["cache_hit"] is True
    assert len(fake.requests) == 2


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redis_down_call_still_succeeds(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    cache = Cache(type="redis", url=f"redis://127.0.0.1:{_closed_port()}/0", retry_after=0)
    llmrelay.cache = cache
    for _ in range(2):
        r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
        assert r.choices[0].message.content == "Hello from fake"
    chunks = list(llmrelay.completion(model="gpt-4o-mini", messages=MSGS, stream=True,
                                      **openai_args))
    assert chunks
    assert len(fake.requests) == 3
    stats = cache.stats()
    assert stats["errors"] == 6 and stats["hits"] == 0 and stats["writes"] == 0


def test_redis_unresponsive_times_out(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    # A listening socket nobody reads from: the connection opens, no reply ever comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        cache = Cache(type="redis", host="127.0.0.1", port=port, timeout=0.2)
        llmrelay.cache = cache
        r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
        assert r.choices[0].message.content == "Hello from fake"
        r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
        assert r.choices[0].message.content == "Hello from fake"
        cache.close()
    assert cache.stats()["errors"] == 1  # then left alone for retry_after seconds
    assert len(fake.requests) == 2


async def test_redis_down_async(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    cache = Cache(type="redis", host="127.0.0.1", port=_closed_port(), timeout=0.5)
    client = llmrelay.Client(cache=cache)
    results: list[Any] = await asyncio.gather(*[
        client.acompletion(model="gpt-4o-mini", messages=MSGS, **openai_args)
        for _ in range(3)])
    assert [r.choices[0].message.content for r in results] == ["Hello from fake"] * 3
    r = await client.aembedding(model="text-embedding-3-small", input=["a"], **openai_args)
    assert len(r.data) == 1
    assert cache.stats()["errors"] >= 1
    await cache.aclose()
