"""The limits' Redis connection (``keys/redis_pipe.py``) and what the Redis backend builds
on it: one pipelined connection with a deadline on every reply, a new connection after a
failure, scripts loaded again when the server forgot them, a hand-shake refusal named;
admissions that count once when retried or cancelled; a limiter that closes promptly."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from keystore_support import drop_redis_prefix, redis_url
from tcp_relay import Relay

from llmrelay.proxy.keys import KeyRecord, Limiter
from llmrelay.proxy.keys.levels import key_level
from llmrelay.proxy.keys.limit_redis import RedisBackend
from llmrelay.proxy.keys.redis_pipe import PipeError, RedisPipe

ECHO = "return ARGV[1]"


@pytest.fixture
def relay() -> Iterator[Relay]:
    parts = urlsplit(redis_url())
    r = Relay(parts.hostname or "127.0.0.1", parts.port or 6379)
    yield r
    r.close()


@pytest.fixture
async def backend() -> AsyncIterator[RedisBackend]:
    prefix = f"llmrelay-test-{uuid.uuid4().hex[:12]}:"
    made = RedisBackend(redis_url(), prefix=prefix)
    yield made
    await made.close()
    drop_redis_prefix(prefix)


async def test_replies_come_back_in_order_for_concurrent_callers() -> None:
    pipe = RedisPipe(redis_url(), {"echo": ECHO})
    try:
        got = await asyncio.gather(*(pipe.script("echo", [str(i)]) for i in range(200)))
        assert got == [str(i).encode() for i in range(200)]
        assert await pipe.script("echo", ["late"], lazy=True) == b"late"  # sent alone too
    finally:
        await pipe.close()


async def test_a_forgotten_script_is_loaded_again() -> None:
    pipe = RedisPipe(redis_url(), {"echo": ECHO})
    try:
        assert await pipe.call("PING") in (b"PONG", "PONG")
        source = f"return 'fresh-{uuid.uuid4().hex}'"  # the server has never seen it
        pipe.scripts["echo"] = source
        pipe.shas["echo"] = hashlib.sha1(source.encode()).hexdigest()
        assert (await pipe.script("echo", [])).startswith(b"fresh-")
    finally:
        await pipe.close()


async def test_a_refused_hand_shake_is_named() -> None:
    url = urlsplit(redis_url())._replace(netloc=f"nobody:wrong@{urlsplit(redis_url()).netloc}")
    pipe = RedisPipe(url.geturl(), {"echo": ECHO})
    try:
        with pytest.raises(PipeError, match="hand-shake"):
            await pipe.call("PING")
    finally:
        await pipe.close()


async def test_a_blackholed_server_fails_calls_at_the_deadline_then_heals(
        relay: Relay) -> None:
    pipe = RedisPipe(relay.via(redis_url()), {"echo": ECHO}, timeout=0.3)
    try:
        assert await pipe.script("echo", ["a"]) == b"a"
        relay.blackhole()
        started = time.monotonic()
        results = await asyncio.gather(*(pipe.script("echo", ["b"]) for _ in range(5)),
                                       return_exceptions=True)
        assert all(isinstance(r, PipeError) for r in results), results
        assert time.monotonic() - started < 1.5  # one deadline, not five
        relay.heal()
        assert await pipe.script("echo", ["c"]) == b"c"  # a new connection
    finally:
        await pipe.close()


async def test_a_refusing_server_then_a_new_connection(relay: Relay) -> None:
    pipe = RedisPipe(relay.via(redis_url()), {"echo": ECHO}, timeout=0.3)
    try:
        assert await pipe.script("echo", ["a"]) == b"a"
        relay.refuse()
        with pytest.raises(PipeError):
            await pipe.script("echo", ["b"])
        relay.heal()
        assert await pipe.script("echo", ["c"]) == b"c"
    finally:
        await pipe.close()


async def test_a_retried_admission_counts_once(backend: RedisBackend) -> None:
    rec = KeyRecord(token=uuid.uuid4().hex, rpm_limit=1, max_budget=1.0)
    level = key_level(rec)
    assert await backend.admit("lease-1", [level], 0.25, 30) is None
    assert await backend.admit("lease-1", [level], 0.25, 30) is None  # its answer was lost
    refusal = await backend.admit("lease-2", [level], 0.25, 30)
    assert refusal is not None and refusal.kind == "rpm" and refusal.current == 1
    await backend.settle([("lease-1", [level], 0.1, 5)])
    # The reservation was held once and handed back once: only the spend is left.
    budget_only = key_level(KeyRecord(token=rec.token, max_budget=0.35))
    assert await backend.admit("lease-3", [budget_only], 0.0, 30) is None
    assert await backend.admit("lease-5", [key_level(KeyRecord(
        token=rec.token, max_budget=0.1))], 0.0, 30) is not None  # spend 0.1 counted


async def test_a_cancelled_admission_hands_its_lease_back(backend: RedisBackend) -> None:
    lim = Limiter(backend)
    await lim.start()
    await backend.ping()  # connected: the admission below is really sent
    rec = KeyRecord(token=uuid.uuid4().hex, max_parallel_requests=1)
    who = SimpleNamespace(record=rec)
    task = asyncio.ensure_future(lim.admit(who, "gone", lambda: 0.0))
    await asyncio.sleep(0)  # the admission is on its way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(300):  # the lease is handed back: the only slot is free again
        try:
            lease = await lim.admit(who, uuid.uuid4().hex, lambda: 0.0)
            break
        except Exception:
            await asyncio.sleep(0.01)
    else:
        raise AssertionError("the cancelled admission kept its slot")
    lim.release(lease)
    await lim.close()


async def test_close_stops_a_background_task_that_swallowed_its_cancellation(
        backend: RedisBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Python < 3.12 ``wait_for`` swallows a cancellation that races its wake-up (a
    release just before close): close() must still stop the task, not wait forever."""
    real = asyncio.wait_for

    async def swallowing(aw: Any, timeout: float | None) -> Any:
        try:
            return await real(aw, timeout)
        except asyncio.CancelledError:
            return None

    lim = Limiter(backend)
    monkeypatch.setattr(asyncio, "wait_for", swallowing)
    await lim.start()
    who = SimpleNamespace(record=KeyRecord(token=uuid.uuid4().hex, rpm_limit=10**6))
    for _ in range(20):
        lim.release(await lim.admit(who, uuid.uuid4().hex, lambda: 0.0), 1, 0.0)
    await asyncio.sleep(0.05)
    closing = asyncio.ensure_future(lim.close())
    done, _ = await asyncio.wait({closing}, timeout=5)
    assert done, "close() did not return"
    assert lim.stats()["settles_waiting"] == 0
