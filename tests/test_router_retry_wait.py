"""Router retries pause as the SDK's do: the server's Retry-After, else exponential backoff
with jitter; no pause when an untried deployment is ready; never past the request's
timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply
from llmrelay.exceptions import RateLimitError
from llmrelay.router import Router

MSG = [{"role": "user", "content": "hi"}]
KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def servers() -> Iterator[list[FakeOpenAI]]:
    with FakeOpenAI() as a, FakeOpenAI() as b:
        yield [a, b]


@pytest.fixture
def up(servers: list[FakeOpenAI]) -> Iterator[list[FakeOpenAI]]:
    for s in servers:
        s.reset()
    yield servers
    for s in servers:
        s.reset()


def dep(srv: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {"model_name": "g", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": srv.url, "api_key": KEY, **extra}}


def limited(after: str, n: int = 1) -> list[Reply]:
    return [Reply.error(429, "slow down", "rate_limit_error", headers={"retry-after-ms": after})
            for _ in range(n)]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_retry_after_is_honoured(up: list[FakeOpenAI], mode: str) -> None:
    up[0].enqueue(*limited("300", 2))
    router = Router(model_list=[dep(up[0])], num_retries=2)
    started = time.monotonic()
    if mode == "sync":
        r = router.completion(model="g", messages=MSG)
    else:
        r = await router.acompletion(model="g", messages=MSG)
    assert r.choices[0].message.content
    assert up[0].request_count == 3
    assert time.monotonic() - started >= 0.6  # two pauses of the 300 ms the server asked


async def test_a_pause_past_the_timeout_ends_the_retries(up: list[FakeOpenAI]) -> None:
    up[0].enqueue(*limited("30000", 3))
    router = Router(model_list=[dep(up[0])], num_retries=2, timeout=2)
    with pytest.raises(RateLimitError):
        await router.acompletion(model="g", messages=MSG)
    assert up[0].request_count == 1  # waiting 30 s would pass the 2 s timeout


async def test_an_untried_deployment_is_asked_at_once(up: list[FakeOpenAI]) -> None:
    up[0].enqueue(*limited("30000"))
    up[1].enqueue(*limited("30000"))
    router = Router(model_list=[dep(up[0]), dep(up[1])], num_retries=1, timeout=5)
    with pytest.raises(RateLimitError):
        await router.acompletion(model="g", messages=MSG)
    # Both asked once, no 30 s pause between them; the third attempt would have waited.
    assert (up[0].request_count, up[1].request_count) == (1, 1)


def test_backoff_grows_with_jitter_without_retry_after(up: list[FakeOpenAI],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from llmrelay.router import layer

    waits: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:  # the router's pauses recorded, not slept
        if threading.current_thread() is threading.main_thread():
            waits.append(seconds)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(layer.time, "sleep", sleep)
    monkeypatch.setattr(llmrelay, "retry_initial_delay", 0.1)
    up[0].enqueue(*[Reply.error(500, "broke", "api_error") for _ in range(3)])
    router = Router(model_list=[dep(up[0])], num_retries=3)
    router.completion(model="g", messages=MSG)
    assert len(waits) == 3
    for attempt, wait in enumerate(waits):
        assert 0.05 * 2 ** attempt <= wait <= 0.1 * 2 ** attempt
