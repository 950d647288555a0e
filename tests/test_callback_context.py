"""Observer hooks run in the caller's contextvars context as it was when the call began, so
context-based state (a request id, the caller's current OpenTelemetry span) reaches them,
even though they run in the background."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

import llmrelay
from llmrelay.integrations.custom_logger import CustomLogger

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
MSG = [{"role": "user", "content": "hi"}]


class Seen(CustomLogger):
    def __init__(self) -> None:
        self.ids: list[tuple[str, str]] = []

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self.ids.append(("sync", REQUEST_ID.get()))

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self.ids.append(("async", REQUEST_ID.get()))


class OnlySyncHook(CustomLogger):
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.hits: list[bool] = []

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self.ids.append(REQUEST_ID.get())
        self.hits.append(bool(kwargs.get("cache_hit")))


def test_sync_calls_hooks_see_the_callers_context() -> None:
    seen = Seen()
    llmrelay.callbacks = [seen]
    for rid in ("a", "b"):
        token = REQUEST_ID.set(rid)
        try:
            llmrelay.completion("gpt-4o-mini", MSG, mock_response="ok")
            for _ in llmrelay.completion("gpt-4o-mini", MSG, mock_response="x y", stream=True):
                pass
        finally:
            REQUEST_ID.reset(token)
    llmrelay.flush(10)
    assert seen.ids == [("sync", "a"), ("sync", "a"), ("sync", "b"), ("sync", "b")]
    assert REQUEST_ID.get() == "-"  # nothing leaked into this thread's context


def test_concurrent_async_calls_each_carry_their_own_context() -> None:
    seen, bridged = Seen(), OnlySyncHook()
    llmrelay.callbacks = [seen, bridged]

    async def one(rid: str) -> None:
        REQUEST_ID.set(rid)
        await llmrelay.acompletion("gpt-4o-mini", MSG, mock_response="ok")

    async def main() -> None:
        await asyncio.gather(*(one(f"r{i}") for i in range(20)))
        await llmrelay.aflush(10)

    asyncio.run(main())
    assert sorted(rid for _, rid in seen.ids) == sorted(f"r{i}" for i in range(20))
    assert {kind for kind, _ in seen.ids} == {"async"}
    assert sorted(bridged.ids) == sorted(f"r{i}" for i in range(20))  # sync hook, async call


@pytest.mark.parametrize("stream", [False, True])
def test_cache_hits_carry_the_callers_context(stream: bool) -> None:
    seen = OnlySyncHook()
    llmrelay.cache = llmrelay.Cache(type="local")
    llmrelay.callbacks = [seen]
    for rid in ("miss", "hit"):
        token = REQUEST_ID.set(rid)
        try:
            r = llmrelay.completion("gpt-4o-mini", MSG, mock_response="cached answer",
                                    stream=stream, caching=True)
            if stream:
                list(r)
        finally:
            REQUEST_ID.reset(token)
    llmrelay.flush(10)
    assert seen.ids == ["miss", "hit"]
    assert seen.hits == [False, True]
