"""Limits: blocked/expired keys and allowed models, then rpm, tpm, requests in flight and
budgets with reservations, the same on each backend (this process's memory, the
machine's SQLite file, Redis), and the failure policy when the backend is away."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from keystore_support import drop_redis_prefix, redis_url

from llmrelay.proxy.keys import KeyRecord, Limiter, LimitExceeded, model_allowed
from llmrelay.proxy.keys.levels import Level, key_level, levels_for
from llmrelay.proxy.keys.limit_backend import BackendUnavailable, MemoryBackend, Refusal
from llmrelay.proxy.keys.limit_sqlite import MachineBackend

UTC = timezone.utc
NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: float = 6000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def key(**fields: Any) -> KeyRecord:
    fields.setdefault("token", "a" * 64)
    return KeyRecord(**fields)


def who(rec: KeyRecord) -> Any:
    return SimpleNamespace(record=rec)


def nothing() -> float:
    return 0.0


@pytest.fixture(params=["memory", "machine", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "memory":
        made: Any = MemoryBackend()
    elif request.param == "machine":
        made = MachineBackend(str(tmp_path / "limits.db"))
    else:
        from llmrelay.proxy.keys.limit_redis import RedisBackend

        prefix = f"llmrelay-test-{uuid.uuid4().hex[:12]}:"
        made = RedisBackend(redis_url(), prefix=prefix)
        request.addfinalizer(lambda: drop_redis_prefix(prefix))
    yield made
    await made.close()


async def admitted(lim: Limiter, rec: KeyRecord, lease: str | None = None,
                   reserve: float = 0.0) -> Any:
    return await lim.admit(who(rec), lease or uuid.uuid4().hex, lambda: reserve)


async def refused(lim: Limiter, rec: KeyRecord, reserve: float = 0.0) -> LimitExceeded:
    with pytest.raises(LimitExceeded) as info:
        await admitted(lim, rec, reserve=reserve)
    return info.value


async def settled(lim: Limiter) -> None:
    """Wait until queued settlements reached a shared backend."""
    for _ in range(200):
        if not lim.stats()["settles_waiting"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("settlements not sent")


# -- key state ------------------------------------------------------------------------------

def test_model_allowed() -> None:
    assert model_allowed([], "anything")
    assert model_allowed(["gpt-4o"], "gpt-4o")
    assert not model_allowed(["gpt-4o"], "gpt-4o-mini")
    assert model_allowed(["openai/*"], "openai/gpt-4o")
    assert not model_allowed(["openai/*"], "anthropic/claude")
    assert model_allowed(["*"], "x") and model_allowed(["all-proxy-models"], "x")


def test_key_state_checks() -> None:
    lim = Limiter(now=lambda: NOW)
    lim.check(key(), "m")
    with pytest.raises(LimitExceeded) as info:
        lim.check(key(blocked=True, key_alias="svc"), "m")
    err = info.value
    assert (err.status_code, err.code, err.type) == (401, "key_blocked", "auth_error")
    assert "svc" in err.message
    with pytest.raises(LimitExceeded) as info:
        lim.check(key(expires=NOW - timedelta(seconds=1)), "m")
    assert (info.value.status_code, info.value.code) == (401, "key_expired")
    lim.check(key(expires=NOW + timedelta(seconds=1)), "m")
    with pytest.raises(LimitExceeded) as info:
        lim.check(key(models=["gpt-4o"]), "claude")
    assert (info.value.status_code, info.value.code) == (401, "model_not_allowed")


def test_levels_of_a_key() -> None:
    assert levels_for(who(key())) == []  # no limit: nothing to count
    assert levels_for(SimpleNamespace(record=None)) == []  # master key, anonymous
    [level] = levels_for(who(key(rpm_limit=3, key_alias="svc", spend=0.5)),
                         unflushed=lambda token: 0.25)
    assert (level.scope, level.label, level.rpm, level.spend) == (
        "key:" + "a" * 64, "key svc", 3, 0.75)
    # A budget window that ended: the stored spend is the old window's.
    rec = key(max_budget=1.0, spend=5.0, budget_duration="1h",
              budget_reset_at=NOW - timedelta(minutes=1))
    level = key_level(rec, now=NOW)
    assert level.spend == 0.0 and level.window_end == NOW + timedelta(minutes=59)
    same = key_level(key(max_budget=1.0, budget_duration="1h",
                         budget_reset_at=NOW + timedelta(minutes=59)), now=NOW)
    assert same.window == level.window  # every instance names the window alike
    assert key_level(key(max_budget=1.0, spend_epoch=7), now=NOW).window != key_level(
        key(max_budget=1.0), now=NOW).window  # spend set by hand: a new counter


# -- the same on every backend -------------------------------------------------------------

async def test_rpm_is_exact(backend: Any) -> None:
    lim = Limiter(backend)
    await lim.start()
    rec = key(rpm_limit=10, key_alias="r")
    results = await asyncio.gather(*(admitted(lim, rec) for _ in range(60)),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, LimitExceeded)]
    assert len(results) - len(errors) == 10
    err = errors[0]
    assert (err.status_code, err.code, err.type) == (429, "rate_limit_exceeded",
                                                     "rate_limit_error")
    assert "rpm_limit of 10" in err.message and 50 <= float(err.headers["retry-after"]) <= 60
    await admitted(lim, key(token="b" * 64, rpm_limit=1))  # limits are per key
    await lim.close()


async def test_max_parallel_requests(backend: Any) -> None:
    lim = Limiter(backend)
    await lim.start()
    rec = key(max_parallel_requests=2)
    first, second = await admitted(lim, rec), await admitted(lim, rec)
    err = await refused(lim, rec)
    assert err.status_code == 429 and "max_parallel_requests" in err.message
    lim.release(first, 10)
    lim.release(first, 10)  # twice: one slot back, tokens counted once
    await settled(lim)
    third = await admitted(lim, rec)
    await refused(lim, rec)
    lim.release(second)
    lim.release(third)
    lim.release(None)
    await settled(lim)
    assert lim.stats()["in_flight"] == 0
    await admitted(lim, rec)
    await lim.close()


async def test_tpm_counts_settled_tokens(backend: Any) -> None:
    lim = Limiter(backend)
    await lim.start()
    rec = key(tpm_limit=1000)
    lim.release(await admitted(lim, rec), 600)
    await settled(lim)
    lim.release(await admitted(lim, rec), 400)
    await settled(lim)
    err = await refused(lim, rec)
    assert err.status_code == 429 and "tpm_limit" in err.message
    await lim.close()


async def test_budget_race_ends_at_the_budget_plus_one_request(backend: Any) -> None:
    """50 requests at once, each reserving its worst case ($0.0002) of a $0.001 budget:
    5 are admitted; once they settle at their real cost the next one is refused."""
    lim = Limiter(backend)
    await lim.start()
    rec = key(max_budget=0.001, key_alias="b")
    results = await asyncio.gather(*(admitted(lim, rec, reserve=0.0002) for _ in range(50)),
                                   return_exceptions=True)
    leases = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, LimitExceeded)]
    assert len(leases) == 5 and len(errors) == 45
    assert {(e.status_code, e.code) for e in errors} == {(400, "budget_exceeded")}
    for lease in leases:
        lim.release(lease, 10, 0.0002)
    await settled(lim)
    await refused(lim, rec, reserve=0.0002)
    # A real cost under the reservation frees budget: rounds of admissions settled at
    # $0.0001 each admit 5, 3, 1, 1 requests, then none: 10 x $0.0001 = the budget.
    cheap = key(token="c" * 64, max_budget=0.001)
    rounds = []
    while True:
        leases = []
        try:
            while True:
                leases.append(await admitted(lim, cheap, reserve=0.0002))
        except LimitExceeded:
            pass
        rounds.append(len(leases))
        for lease in leases:
            lim.release(lease, 1, 0.0001)
        await settled(lim)
        if not leases:
            break
    assert rounds == [5, 3, 1, 1, 0]
    await lim.close()


async def test_budget_counter_starts_from_the_stored_spend(backend: Any) -> None:
    lim = Limiter(backend)
    await lim.start()
    rec = key(max_budget=1.0, spend=0.9)
    lease = await admitted(lim, rec, reserve=0.1)  # 0.9 < 1.0: admitted, holds 0.1
    await refused(lim, rec)  # 0.9 + 0.1 held
    lim.release(lease, 0, 0.2)
    await settled(lim)
    other = Limiter(backend)  # the counter lives in the backend, not in a limiter
    await refused(other, key(max_budget=1.0, spend=0.9))  # 0.9 + 0.2 settled
    # Spend set by hand (a new epoch) or a new window: a new counter.
    await admitted(other, key(max_budget=1.0, spend=0.0, spend_epoch=5))
    await admitted(other, key(max_budget=1.0, budget_duration="1h",
                              budget_reset_at=datetime.now(UTC) + timedelta(hours=1)))
    await lim.close()


async def test_one_refusing_level_counts_at_none(backend: Any) -> None:
    """Several levels (a key and, later, its team): all or nothing."""
    open_level = Level(scope=f"team:{uuid.uuid4().hex}", label="team t", rpm=100)
    full = Level(scope=f"key:{uuid.uuid4().hex}", label="key k", parallel=0)
    refusal = await backend.admit("l1", [open_level, full], 0.0, 30.0)
    assert isinstance(refusal, Refusal) and (refusal.index, refusal.kind) == (1, "parallel")
    capped = Level(scope=open_level.scope, label="team t", rpm=1)
    assert await backend.admit("l2", [capped], 0.0, 30.0) is None  # l1 was not counted
    assert await backend.admit("l3", [capped], 0.0, 30.0) is not None


async def test_settling_twice_counts_once(backend: Any) -> None:
    level = Level(scope=f"key:{uuid.uuid4().hex}", label="k", max_budget=1.0, tpm=100)
    assert await backend.admit("x", [level], 0.1, 30.0) is None
    await backend.settle([("x", [level], 0.6, 60)])
    await backend.settle([("x", [level], 0.6, 60)])
    refusal = await backend.admit("y", [level], 0.1, 30.0)
    assert refusal is None  # 0.6 spent < 1.0 (not 1.2); 60 tokens < 100 (not 120)


# -- shared backends: leases of a dead process expire ------------------------------------------

async def test_leases_of_a_dead_process_expire(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    backend = MachineBackend(str(tmp_path / "limits.db"), clock=clock)
    level = Level(scope="key:dead", label="k", parallel=1)
    assert await backend.admit("held", [level], 0.0, 30.0) is None  # its owner is killed
    assert await backend.admit("next", [level], 0.0, 30.0) is not None
    clock.now += 20
    await backend.refresh([("held", [level])], 30.0)  # a live owner's heartbeat
    clock.now += 20
    assert await backend.admit("next", [level], 0.0, 30.0) is not None
    clock.now += 31  # no more heartbeats
    assert await backend.admit("next", [level], 0.0, 30.0) is None
    await backend.close()


async def test_machine_backend_is_shared_by_workers(tmp_path: Path) -> None:
    """Two backends on one file (two workers) count together."""
    one = Limiter(MachineBackend(str(tmp_path / "limits.db")))
    two = Limiter(MachineBackend(str(tmp_path / "limits.db")))
    rec = key(rpm_limit=10)
    results = await asyncio.gather(*(admitted(lim, rec) for _ in range(30)
                                     for lim in (one, two)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 10
    await one.close()
    await two.close()


# -- the failure policy ------------------------------------------------------------------------

class Flaky:
    """A shared backend that fails on demand."""

    name = "flaky"
    shared = True

    def __init__(self) -> None:
        self.inner = MemoryBackend()
        self.down = False
        self.settled: list[tuple[str, float, int]] = []

    def _check(self) -> None:
        if self.down:
            raise BackendUnavailable("connection refused (test)")

    async def admit(self, lease: str, levels: Sequence[Level], reserve: float,
                    ttl: float) -> Refusal | None:
        self._check()
        return await self.inner.admit(lease, levels, reserve, ttl)

    async def settle(self, items: Sequence[tuple[str, Sequence[Level], float, int]]) -> None:
        self._check()
        self.settled += [(lease, cost, tokens) for lease, _, cost, tokens in items]
        await self.inner.settle(items)

    async def refresh(self, leases: Any, ttl: float) -> None:
        self._check()

    async def ping(self) -> None:
        self._check()

    async def close(self) -> None:
        return None


async def test_fail_open_admits_counts_and_catches_up(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky()
    lim = Limiter(flaky, policy="fail_open")
    await lim.start()
    rec = key(rpm_limit=1)
    flaky.down = True
    leases = [await admitted(lim, rec) for _ in range(3)]  # unchecked, not refused
    assert all(lease.unchecked for lease in leases)
    stats = lim.stats()
    assert stats["backend_up"] is False and stats["unchecked"] == 3
    assert "connection refused" in stats["backend_problem"]
    # What is stored is still known: a key whose spend reached its budget is refused.
    err = await refused(lim, key(max_budget=1.0, spend=1.0))
    assert err.code == "budget_exceeded"
    for lease in leases:
        lim.release(lease, 5, 0.01)
    flaky.down = False
    for _ in range(300):
        if lim.backend_up and not lim.stats()["settles_waiting"]:
            break
        await asyncio.sleep(0.01)
    assert [cost for _, cost, _ in flaky.settled] == [0.01] * 3  # sent once back
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1
    await lim.close()


async def test_fail_closed_refuses_with_503() -> None:
    flaky = Flaky()
    lim = Limiter(flaky, policy="fail_closed")
    flaky.down = True
    err = await refused(lim, key(rpm_limit=100))
    assert (err.status_code, err.code, err.headers) == (503, "limits_unavailable",
                                                        {"retry-after": "1"})
    assert await admitted(lim, key()) is None  # a key without limits is not affected
    started = time.monotonic()
    await refused(lim, key(rpm_limit=100))  # no new attempt while the backend is down
    assert time.monotonic() - started < 1.0
    await lim.close()
