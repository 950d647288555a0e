"""Router health bookkeeping: usage is counted only where something reads it, and what is
counted stays bounded however many requests arrive (a settable clock stands in for time)."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from llmrelay.router import Router
from llmrelay.router.config import Deployment
from llmrelay.router.health import WINDOW, Health
from llmrelay.router.strategies import USES_TOKENS

SPEC = Router([{"model_name": "g", "litellm_params": {"model": "openai/x"}}]).groups["g"][0].spec


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def dep(name: str, **kw: Any) -> Deployment:
    return Deployment(id=name, model_name="g", model="openai/x", spec=SPEC, provider_model="x",
                      params={}, model_info={}, **kw)


def serve(health: Health, clock: Clock, d: Deployment, n: int, step: float) -> int:
    """``n`` requests to ``d``, ``step`` seconds apart, as the router books them; returns
    how many were let through."""
    served = 0
    for _ in range(n):
        if health.try_start(d):
            served += 1
            health.add_latency(d, 0.01)
            health.add_tokens(d, 15)
            health.finished(d)
        clock.now += step
    return served


def test_no_usage_is_kept_without_limits_or_a_usage_strategy() -> None:
    clock = Clock()
    health = Health(clock=clock)
    d = dep("plain")
    assert serve(health, clock, d, 1000, 0.001) == 1000
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        # 50,000 requests within one window: kept per request, this would be megabytes
        assert serve(health, clock, d, 50_000, 0.001) == 50_000
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename")
                if s.traceback[0].filename.endswith("health.py"))
    assert grown < 4096, grown
    state = health._states["plain"]
    assert state.requests is None and state.tokens is None and not state.fails
    stats = health.snapshot("plain", d)
    assert stats["requests_last_minute"] is None and stats["tokens_last_minute"] is None
    assert stats["in_flight"] == 0 and stats["latency_samples"] == 51_000
    assert health.tokens_used("plain") == 0 and health.requests_used("plain") == 0


@pytest.mark.parametrize("kind", ["rpm", "tpm", "usage"])
def test_counted_usage_stays_bounded_under_sustained_load(kind: str) -> None:
    clock = Clock()
    health = Health(clock=clock, track_tokens=kind == "usage")
    limits = {"rpm": {"rpm": 10**9}, "tpm": {"tpm": 10**12}, "usage": {}}[kind]
    d = dep("busy", **limits)
    # ten minutes of 100 requests a second
    assert serve(health, clock, d, 60_000, 0.01) == 60_000
    state = health._states["busy"]
    windows = [w for w in (state.requests, state.tokens) if w is not None]
    assert windows, "a limit or a usage strategy needs counting"
    assert all(len(w.buckets) <= WINDOW + 1 for w in windows)
    if kind == "rpm":
        assert state.tokens is None
        assert 6000 <= health.requests_used("busy") <= 6100  # 100 a second for 60-61 s
    else:
        assert state.requests is None
        assert 6000 * 15 <= health.tokens_used("busy") <= 6100 * 15


def test_rpm_limit_holds_across_the_window_edge() -> None:
    clock = Clock()
    health = Health(clock=clock)
    d = dep("limited", rpm=3)
    start = clock.now
    assert serve(health, clock, d, 3, 0.25) == 3
    ready, blocked = health.partition([d])
    assert ready == [] and blocked[0].rate_limited
    assert "rpm limit 3" in blocked[0].reason
    # never freed before a full minute after the first request...
    assert blocked[0].until >= start + WINDOW
    clock.now = start + WINDOW - 0.01
    assert not health.try_start(d)
    # ...and freed once it is over, as announced
    clock.now = blocked[0].until
    assert health.try_start(d)
    assert health.requests_used("limited") >= 1


def test_tpm_limit_counts_tokens_only_for_limited_deployments() -> None:
    clock = Clock()
    health = Health(clock=clock)
    limited, free = dep("limited", tpm=40), dep("free")
    assert serve(health, clock, limited, 5, 1.0) == 3  # 15 tokens a call: 45 >= 40
    assert serve(health, clock, free, 5, 1.0) == 5
    assert health.tokens_used("limited") == 45
    assert health.tokens_used("free") == 0
    clock.now += WINDOW + 1
    assert health.try_start(limited)


def test_router_counts_tokens_only_for_usage_based_routing() -> None:
    entries = [{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o-mini",
                                                      "mock_response": "ok"}},
               {"model_name": "g", "litellm_params": {"model": "openai/gpt-4o",
                                                      "mock_response": "ok"}}]
    for strategy in ("simple-shuffle", "least-busy", "latency-based-routing",
                     "usage-based-routing", "usage-based-routing-v2"):
        router = Router(entries, routing_strategy=strategy)
        for _ in range(4):
            router.completion("g", [{"role": "user", "content": "hi"}])
        counted = [router.deployment_stats(d.id)["tokens_last_minute"]
                   for d in router.groups["g"]]
        requests = [router.deployment_stats(d.id)["requests_last_minute"]
                    for d in router.groups["g"]]
        assert requests == [None, None]
        if strategy in USES_TOKENS:
            assert all(c is not None for c in counted) and sum(counted) > 0  # type: ignore[arg-type]
        else:
            assert counted == [None, None], strategy
