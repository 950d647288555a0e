"""Upstream response headers in ``_hidden_params["additional_headers"]``, as LiteLLM
names them."""

from __future__ import annotations

import asyncio

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply
from llmrelay._headers import additional_headers

MSGS = [{"role": "user", "content": "Hello"}]
LIMITS = {"x-ratelimit-remaining-requests": "99", "x-ratelimit-remaining-tokens": "5000",
          "x-request-id": "req_1"}


def test_every_header_prefixed_and_rate_limits_under_openai_names() -> None:
    out = additional_headers({"X-RateLimit-Remaining-Requests": "7", "Server": "up",
                              "anthropic-ratelimit-tokens-remaining": "100"})
    assert out["x-ratelimit-remaining-requests"] == "7"
    assert out["x-ratelimit-remaining-tokens"] == "100"  # Anthropic's, under OpenAI's name
    assert out["llm_provider-server"] == "up"
    assert out["llm_provider-x-ratelimit-remaining-requests"] == "7"
    assert out["llm_provider-anthropic-ratelimit-tokens-remaining"] == "100"
    assert additional_headers(None) == {} and additional_headers({}) == {}


def test_openai_names_win_over_aliases() -> None:
    out = additional_headers({"anthropic-ratelimit-requests-remaining": "1",
                              "x-ratelimit-remaining-requests": "2"})
    assert out["x-ratelimit-remaining-requests"] == "2"


def test_completion_and_stream_expose_provider_headers(fake: FakeOpenAI,
                                                       openai_args: dict[str, str]) -> None:
    fake.enqueue(Reply(headers=LIMITS))
    r = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    extra = r._hidden_params["additional_headers"]
    assert extra["x-ratelimit-remaining-requests"] == "99"
    assert extra["llm_provider-x-request-id"] == "req_1"
    fake.enqueue(Reply(headers=LIMITS))
    stream = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, stream=True,
                                 **openai_args)
    assert stream._hidden_params["additional_headers"]["x-ratelimit-remaining-tokens"] == "5000"
    for _ in stream:
        pass

    async def main() -> None:
        fake.enqueue(Reply(headers=LIMITS))
        r = await llmrelay.acompletion(model="openai/gpt-4o-mini", messages=MSGS,
                                       **openai_args)
        assert r._hidden_params["additional_headers"]["x-ratelimit-remaining-requests"] == "99"

    asyncio.run(main())


def test_mocked_reply_has_no_provider_headers() -> None:
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi")
    assert r._hidden_params["additional_headers"] == {}


def test_response_headers_attribute_on_replies_streams_and_embeddings(
        fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    """LiteLLM code reads ``response._response_headers`` (after setting
    ``return_response_headers``): the provider's raw headers, on every surface."""
    llmrelay.return_response_headers = True
    try:
        fake.enqueue(Reply(headers=LIMITS))
        r = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
        assert r._response_headers is not None
        assert r._response_headers["x-ratelimit-remaining-tokens"] == "5000"
        fake.enqueue(Reply(headers=LIMITS))
        stream = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, stream=True,
                                     **openai_args)
        assert stream._response_headers is not None
        assert stream._response_headers["x-request-id"] == "req_1"
        for _ in stream:
            pass
        fake.enqueue(Reply(headers=LIMITS))
        e = llmrelay.embedding(model="openai/text-embedding-3-small", input="hi",
                               **openai_args)
        assert e._response_headers is not None
        assert e._response_headers["x-ratelimit-remaining-requests"] == "99"
    finally:
        llmrelay.return_response_headers = False


def test_response_headers_none_without_an_http_reply() -> None:
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi")
    assert r._response_headers is None
    stream = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi",
                                 stream=True)
    assert stream._response_headers is None
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "hi"


def test_response_ms_is_the_calls_duration(fake: FakeOpenAI,
                                           openai_args: dict[str, str]) -> None:
    """``response._response_ms``: milliseconds from the call's start to its reply, also in
    ``_hidden_params``; kept out of the response's fields and dumps."""
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi",
                            mock_delay=0.05)
    assert r._response_ms >= 50.0
    assert r._hidden_params["_response_ms"] == r._response_ms
    assert "_response_ms" not in r.model_dump() and "_response_ms" not in r
    fake.enqueue(Reply(headers=LIMITS))

    async def main() -> float:
        e = await llmrelay.aembedding(model="openai/text-embedding-3-small", input="hi",
                                      **openai_args)
        return float(e._response_ms)

    assert asyncio.run(main()) > 0.0
