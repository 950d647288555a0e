"""Per-key limits: blocked/expired keys, allowed models, budgets, rpm/tpm windows and
requests in flight (all with injected clocks: no sleeping, no timing)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from llmrelay.proxy.keys import (
    KeyRecord,
    Limiter,
    LimitExceeded,
    SpendRecord,
    SpendWriter,
    model_allowed,
)

UTC = timezone.utc
NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: float = 6000.0) -> None:  # 6000 s = the start of a minute
        self.now = start

    def __call__(self) -> float:
        return self.now


def key(**fields: Any) -> KeyRecord:
    fields.setdefault("token", "a" * 64)
    return KeyRecord(**fields)


def limiter(clock: Clock | None = None) -> Limiter:
    return Limiter(clock=clock or Clock(), now=lambda: NOW)


def refused(fn: Any, *args: Any) -> LimitExceeded:
    with pytest.raises(LimitExceeded) as info:
        fn(*args)
    return info.value


def test_model_allowed() -> None:
    assert model_allowed([], "anything")
    assert model_allowed(["gpt-4o"], "gpt-4o")
    assert not model_allowed(["gpt-4o"], "gpt-4o-mini")
    assert model_allowed(["openai/*"], "openai/gpt-4o")
    assert not model_allowed(["openai/*"], "anthropic/claude")
    assert model_allowed(["*"], "x") and model_allowed(["all-proxy-models"], "x")


def test_key_state_checks() -> None:
    lim = limiter()
    lim.check(key(), "m", 0.0)
    err = refused(lim.check, key(blocked=True, key_alias="svc"), "m", 0.0)
    assert (err.status_code, err.code, err.type) == (401, "key_blocked", "auth_error")
    assert "svc" in err.message
    err = refused(lim.check, key(expires=NOW - timedelta(seconds=1)), "m", 0.0)
    assert (err.status_code, err.code) == (401, "key_expired")
    lim.check(key(expires=NOW + timedelta(seconds=1)), "m", 0.0)
    err = refused(lim.check, key(models=["gpt-4o"]), "claude", 0.0)
    assert (err.status_code, err.code) == (401, "model_not_allowed")
    assert "claude" in err.message and "gpt-4o" in err.message
    lim.check(key(models=["gpt-4o"]), "gpt-4o", 0.0)


def test_budget() -> None:
    lim = limiter()
    lim.check(key(max_budget=1.0), "m", 0.99)
    err = refused(lim.check, key(max_budget=1.0), "m", 1.0)
    assert (err.status_code, err.code, err.type) == (400, "budget_exceeded", "budget_exceeded")
    assert "1.000000" in err.message
    lim.check(key(max_budget=None), "m", 1e9)
    refused(lim.check, key(max_budget=0.0), "m", 0.0)


def test_budget_of_an_ended_window_counts_only_new_spend() -> None:
    lim = limiter()
    rec = key(max_budget=1.0, spend=5.0, budget_duration="1h",
              budget_reset_at=NOW - timedelta(minutes=1))
    lim.check(rec, "m", 5.0 + 0.5)  # 5.0 belongs to the previous window
    refused(lim.check, rec, "m", 5.0 + 1.0)
    fresh = key(max_budget=1.0, spend=5.0, budget_duration="1h",
                budget_reset_at=NOW + timedelta(minutes=1))
    refused(lim.check, fresh, "m", 5.0)


def test_budget_sees_unwritten_spend(tmp_path: Any) -> None:
    writer = SpendWriter(None, str(tmp_path / "spool"))
    rec = key(max_budget=1.0, spend=0.5)
    lim = limiter()
    lim.check(rec, "m", writer.spend_of(rec.token, rec.spend))
    writer.record(SpendRecord(call_id="c1", key_hash=rec.token, cost=0.5))
    assert writer.spend_of(rec.token, rec.spend) == pytest.approx(1.0)
    err = refused(lim.check, rec, "m", writer.spend_of(rec.token, rec.spend))
    assert err.code == "budget_exceeded"
    lim.check(key(token="b" * 64, max_budget=1.0), "m", writer.spend_of("b" * 64, 0.0))


def test_rpm_sliding_window() -> None:
    clock = Clock()
    lim = limiter(clock)
    rec = key(rpm_limit=10)
    for _ in range(10):
        lim.check(rec, "m", 0.0)
        lim.release(lim.acquire(rec))
    err = refused(lim.check, rec, "m", 0.0)
    assert (err.status_code, err.code, err.type) == (429, "rate_limit_exceeded",
                                                     "rate_limit_error")
    assert err.headers == {"retry-after": "60"}
    refused(lim.acquire, rec)
    clock.now += 30  # still the same minute
    refused(lim.acquire, rec)
    clock.now += 36  # 6 s into the next minute: 10 * 54/60 = 9 of the old ones still count
    lease = lim.acquire(rec)
    err = refused(lim.acquire, rec)
    assert err.retry_after == pytest.approx(54)
    lim.release(lease)
    clock.now += 60 * 2  # two minutes later the window is empty
    for _ in range(10):
        lim.acquire(rec)
    refused(lim.acquire, rec)
    other = key(token="b" * 64, rpm_limit=1)
    lim.acquire(other)  # limits are per key
    refused(lim.acquire, key(token="c" * 64, rpm_limit=0))


def test_tpm_counts_released_tokens() -> None:
    clock = Clock()
    lim = limiter(clock)
    rec = key(tpm_limit=1000)
    lim.release(lim.acquire(rec), 600)
    lim.check(rec, "m", 0.0)
    lim.release(lim.acquire(rec), 400)
    err = refused(lim.check, rec, "m", 0.0)
    assert err.status_code == 429 and "tpm_limit" in err.message
    assert lim.usage(rec.token)["tokens"] == 1000
    clock.now += 180
    lim.check(rec, "m", 0.0)


def test_max_parallel_requests() -> None:
    lim = limiter()
    rec = key(max_parallel_requests=2)
    first, second = lim.acquire(rec), lim.acquire(rec)
    err = refused(lim.acquire, rec)
    assert err.status_code == 429 and "max_parallel_requests" in err.message
    refused(lim.check, rec, "m", 0.0)
    lim.release(first, 10)
    lim.release(first, 10)  # releasing twice frees one slot, counts tokens once
    assert lim.usage(rec.token) == {"in_flight": 1, "requests": 2.0, "tokens": 10.0}
    third = lim.acquire(rec)
    refused(lim.acquire, rec)
    lim.release(second)
    lim.release(third)
    lim.release(None)
    assert lim.usage(rec.token)["in_flight"] == 0


def test_limits_follow_record_changes() -> None:
    lim = limiter()
    for _ in range(3):
        lim.acquire(key(rpm_limit=5))
    refused(lim.acquire, key(rpm_limit=3))
    lim.acquire(key(rpm_limit=None))


def test_threads_count_exactly() -> None:
    lim = limiter()
    rec = key(max_parallel_requests=1000)

    def work() -> None:
        for _ in range(500):
            lim.release(lim.acquire(rec), 1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lim.usage(rec.token) == {"in_flight": 0, "requests": 4000.0, "tokens": 4000.0}


def test_idle_keys_are_forgotten() -> None:
    clock = Clock()
    lim = limiter(clock)
    lim.release(lim.acquire(key(token="old" + "0" * 61)))
    busy = lim.acquire(key(token="busy" + "0" * 60))
    clock.now += 600
    for i in range(1024):
        lim.release(lim.acquire(key(token=f"{i:064d}")))
    assert "old" + "0" * 61 not in lim._counts
    assert lim.usage("busy" + "0" * 60)["in_flight"] == 1
    lim.release(busy)
