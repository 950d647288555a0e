"""``client=`` an OpenAI SDK client: the call is sent through that client (its headers,
retries, HTTP settings), and answers, streams and errors are llmrelay's as without it."""

from __future__ import annotations

import asyncio

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply

openai = pytest.importorskip("openai")

MSGS = [{"role": "user", "content": "Hello there"}]
KEY = "sk-test-0123456789abcdef"


def _sync(fake: FakeOpenAI) -> object:
    return openai.OpenAI(api_key=KEY, base_url=fake.url, max_retries=0,
                         default_headers={"x-from-client": "sync"})


def _async(fake: FakeOpenAI) -> object:
    return openai.AsyncOpenAI(api_key=KEY, base_url=fake.url, max_retries=0,
                              default_headers={"x-from-client": "async"})


def test_completion_is_sent_by_the_given_client(fake: FakeOpenAI) -> None:
    r = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, client=_sync(fake),
                            temperature=0.5, user="u-1")
    assert r.choices[0].message.content
    assert fake.last.headers["x-from-client"] == "sync"  # the client's own header: it sent
    assert fake.last.headers["authorization"] == f"Bearer {KEY}"
    assert fake.last.body["temperature"] == 0.5 and fake.last.body["user"] == "u-1"
    assert fake.last.body["messages"] == MSGS


def test_a_key_given_to_the_call_replaces_the_clients(fake: FakeOpenAI) -> None:
    llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, client=_sync(fake),
                        api_key="sk-test-explicit-000000")
    assert fake.last.headers["x-from-client"] == "sync"
    assert fake.last.headers["authorization"] == "Bearer sk-test-explicit-000000"


def test_stream_and_embedding_through_the_client(fake: FakeOpenAI) -> None:
    chunks = list(llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS,
                                      client=_sync(fake), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and fake.last.headers["x-from-client"] == "sync"
    e = llmrelay.embedding(model="openai/text-embedding-3-small", input=["a", "b"],
                           client=_sync(fake))
    assert len(e.data) == 2 and fake.last.path.endswith("/embeddings")
    assert fake.last.headers["x-from-client"] == "sync"


def test_async_calls_use_an_async_client(fake: FakeOpenAI) -> None:
    async def run() -> tuple[str, str]:
        client = _async(fake)
        r = await llmrelay.acompletion(model="openai/gpt-4o-mini", messages=MSGS,
                                       client=client)
        first = fake.last.headers["x-from-client"]
        s = await llmrelay.acompletion(model="openai/gpt-4o-mini", messages=MSGS,
                                       client=client, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
        assert r.choices[0].message.content and text
        return first, fake.last.headers["x-from-client"]

    assert asyncio.run(run()) == ("async", "async")


def test_errors_through_the_client_map_as_without_it(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply.error(429, "slow down", type="rate_limit_error"))
    with pytest.raises(llmrelay.RateLimitError, match="slow down"):
        llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, client=_sync(fake),
                            num_retries=0)
    fake.enqueue(Reply.error(401, "bad key", type="invalid_request_error"))

    async def run() -> None:
        await llmrelay.acompletion(model="openai/gpt-4o-mini", messages=MSGS,
                                   client=_async(fake), num_retries=0)

    with pytest.raises(llmrelay.AuthenticationError, match="bad key"):
        asyncio.run(run())


def test_azure_client_gets_the_deployment_and_the_calls_api_version(
        fake: FakeOpenAI) -> None:
    client = openai.AzureOpenAI(api_key=KEY, azure_endpoint=fake.url,
                                api_version="2024-02-01", max_retries=0)
    r = llmrelay.completion(model="azure/my-deployment", messages=MSGS, client=client,
                            api_version="2024-10-21")
    assert r.choices[0].message.content
    assert "/deployments/my-deployment/chat/completions" in fake.last.path
    assert fake.last.query["api-version"] == "2024-10-21"
    assert fake.last.headers["api-key"] == KEY
