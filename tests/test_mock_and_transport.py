"""mock_response in every form, and the pooled transport (reuse, no leaks)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI
from llmrelay import transport

MSGS = [{"role": "user", "content": "Hello"}]


def test_mock_string_and_stream() -> None:
    r = llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="Hi there friend")
    assert r.choices[0].message.content == "Hi there friend"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    chunks = list(llmrelay.completion(model="gpt-4o", messages=MSGS,
                                      mock_response="Hi there friend", stream=True))
    words = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert words == ["Hi", " there", " friend"]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_mock_provider_needs_no_key() -> None:
    r = llmrelay.completion(model="mock/anything", messages=MSGS)
    assert r.choices[0].message.content
    e = llmrelay.embedding(model="mock/embed", input=["a", "b"])
    assert len(e.data) == 2 and e.data[0].embedding == llmrelay.embedding(
        model="mock/embed", input="a").data[0].embedding
    t = llmrelay.text_completion(model="mock/x", prompt="p", mock_response="done")
    assert t.choices[0].text == "done"


def test_mock_dict_forms() -> None:
    msg = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "f", "arguments": '{"a": 1}'}}]}
    r = llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response=msg)
    assert r.choices[0].message.tool_calls[0].function.name == "f"
    assert r.choices[0].finish_reason == "tool_calls"
    chunks = list(llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response=msg,
                                      stream=True))
    built = llmrelay.stream_chunk_builder(chunks)
    assert json.loads(built.choices[0].message.tool_calls[0].function.arguments) == {"a": 1}
    full = {"id": "x1", "choices": [{"index": 0, "message": {"role": "assistant",
                                                            "content": "whole"},
                                     "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
    r2 = llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response=full)
    assert r2.id == "x1" and r2.choices[0].message.content == "whole"
    assert r2.usage.total_tokens == 3


def test_mock_exception() -> None:
    with pytest.raises(llmrelay.ContextWindowExceededError) as info:
        llmrelay.completion(model="gpt-4o", messages=MSGS,
                            mock_response=llmrelay.ContextWindowExceededError("too long"))
    assert info.value.llm_provider == "openai"
    # a plain exception becomes the error a provider call raises, the original chained
    with pytest.raises(llmrelay.APIError) as raw:
        asyncio.run(llmrelay.acompletion(model="gpt-4o", messages=MSGS,
                                         mock_response=ValueError("raw")))
    assert isinstance(raw.value.__cause__, ValueError) and raw.value.status_code == 500
    with pytest.raises(llmrelay.ContentPolicyViolationError):
        llmrelay.completion(model="gpt-4o", messages=MSGS,
                            mock_response=Exception("content filtering policy"))
    with pytest.raises(llmrelay.ContentPolicyViolationError):
        llmrelay.completion(model="gpt-4o", messages=MSGS,
                            mock_response="Exception: content_filter_policy")


@pytest.mark.parametrize("status,cls", [
    (400, llmrelay.BadRequestError), (401, llmrelay.AuthenticationError),
    (404, llmrelay.NotFoundError), (408, llmrelay.Timeout), (429, llmrelay.RateLimitError),
    (500, llmrelay.InternalServerError), (503, llmrelay.ServiceUnavailableError),
])
def test_mock_exception_with_a_status_maps_by_status(status: int, cls: type) -> None:
    # LiteLLM: an exception carrying status_code (and text) maps as that HTTP error would.
    exc = Exception()
    exc.status_code = status  # type: ignore[attr-defined]
    exc.text = "This is an error message"  # type: ignore[attr-defined]
    with pytest.raises(cls) as info:
        llmrelay.completion(model="anthropic/claude-3-5-haiku-latest", messages=MSGS,
                            mock_response=exc)
    assert info.value.status_code == status and "This is an error message" in str(info.value)
    assert info.value.__cause__ is exc


def test_mock_timeout_waits_for_the_timeout_then_raises() -> None:
    # LiteLLM: mock_timeout=True makes the call time out after its timeout, no network.
    started = time.monotonic()
    with pytest.raises(llmrelay.Timeout):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, timeout=0.3,
                            mock_timeout=True)
    assert time.monotonic() - started >= 0.3

    async def main() -> None:
        with pytest.raises(llmrelay.Timeout):
            await llmrelay.acompletion(model="gpt-4o-mini", messages=MSGS, timeout="0.2",
                                       mock_timeout=True)

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started >= 0.2


def test_mock_delay_pauses_before_the_mock_reply() -> None:
    started = time.monotonic()
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="late",
                            mock_delay=0.2)
    assert r.choices[0].message.content == "late" and time.monotonic() - started >= 0.2

    async def main() -> str:
        out = await llmrelay.acompletion(model="gpt-4o-mini", messages=MSGS,
                                         mock_response="later", mock_delay=0.2)
        return str(out.choices[0].message.content)

    started = time.monotonic()
    assert asyncio.run(main()) == "later" and time.monotonic() - started >= 0.2


def test_connections_are_reused_and_not_leaked(fake: FakeOpenAI,
                                               openai_args: dict[str, str]) -> None:
    fake.record = False
    try:
        before = fake.connections_total
        for _ in range(10_000):
            llmrelay.completion(model="gpt-4o", messages=MSGS, **openai_args)
        for _ in range(200):
            for _chunk in llmrelay.completion(model="gpt-4o", messages=MSGS, stream=True,
                                              **openai_args):
                pass
        opened = fake.connections_total - before
        assert opened <= 2, opened  # keep-alive: one pooled connection serves them all
        assert transport.pool_stats()["sync"] <= 2

        async def many() -> None:
            await asyncio.gather(*[llmrelay.acompletion(model="gpt-4o", messages=MSGS,
                                                        **openai_args) for _ in range(500)])
            for _ in range(100):
                s = await llmrelay.acompletion(model="gpt-4o", messages=MSGS, stream=True,
                                               **openai_args)
                async for _c in s:
                    pass
            assert transport.pool_stats()["async"] <= 100

        asyncio.run(many())
        # the async session closed with its loop; only the sync pool's keep-alive remains
        deadline = time.monotonic() + 5
        while fake.open_connections() > 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake.open_connections() <= 2
    finally:
        fake.record = True


def test_async_session_per_loop(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    # each asyncio.run gets its own session; the previous loop's session is closed with it
    for _ in range(3):
        r = asyncio.run(llmrelay.acompletion(model="gpt-4o", messages=MSGS, **openai_args))
        assert r.choices[0].message.content == "Hello from fake"
    from llmrelay import http1

    assert all(p.closed for p in list(http1.pools.values()))
