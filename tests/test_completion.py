"""completion/acompletion against the fake OpenAI upstream over real HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI
from llmrelay import ModelResponse

MSGS = [{"role": "user", "content": "Hello"}]


def test_completion_returns_openai_shape(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
    assert isinstance(r, ModelResponse)
    assert r.choices[0].message.content == "Hello from fake"
    assert r["choices"][0]["message"]["content"] == "Hello from fake"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == 10 and r.usage.completion_tokens == 5
    assert r.usage.total_tokens == 15
    dumped = r.model_dump()
    assert dumped["object"] == "chat.completion"
    assert json.loads(r.model_dump_json())["choices"][0]["message"]["role"] == "assistant"
    assert r._hidden_params["custom_llm_provider"] == "openai"
    assert r._hidden_params["api_base"] == fake.url
    assert "x-request-id" in r._hidden_params["response_headers"]


def test_params_arrive_as_sent(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    llmrelay.completion(
        model="openai/gpt-4o", messages=MSGS, temperature=0.2, top_p=0.9, max_tokens=12,
        max_completion_tokens=13, n=1, stop=["x"], seed=7, presence_penalty=0.1,
        frequency_penalty=0.2, logit_bias={"50256": -100}, user="u1", tools=tools,
        tool_choice="auto", parallel_tool_calls=False, response_format={"type": "json_object"},
        logprobs=True, top_logprobs=2, extra_headers={"X-Trace": "t1"},
        extra_body={"custom_field": 1}, metadata={"mine": True}, **openai_args)
    body = fake.last.body
    assert body is not None
    assert body["model"] == "gpt-4o"
    for key, value in {"temperature": 0.2, "top_p": 0.9, "max_tokens": 12,
                       "max_completion_tokens": 13, "n": 1, "stop": ["x"], "seed": 7,
                       "presence_penalty": 0.1, "frequency_penalty": 0.2,
                       "logit_bias": {"50256": -100}, "user": "u1", "tools": tools,
                       "tool_choice": "auto", "parallel_tool_calls": False,
                       "response_format": {"type": "json_object"}, "logprobs": True,
                       "top_logprobs": 2, "custom_field": 1}.items():
        assert body[key] == value, key
    assert "metadata" not in body and "api_key" not in body
    assert fake.last.headers["x-trace"] == "t1"
    assert fake.last.headers["authorization"] == "Bearer sk-test-0123456789abcdef"


def test_env_configuration(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-000000000")
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS)
    assert r.choices[0].message.content == "Hello from fake"
    assert fake.last.headers["authorization"] == "Bearer sk-env-key-000000000"


@pytest.mark.parametrize("provider", ["groq", "together_ai", "deepseek", "mistral", "openrouter",
                                      "fireworks_ai", "perplexity", "xai", "hosted_vllm",
                                      "lm_studio", "ollama_chat"])
def test_openai_compatible_rows(fake: FakeOpenAI, provider: str) -> None:
    r = llmrelay.completion(model=f"{provider}/some-model", messages=MSGS, api_base=fake.url,
                            api_key="k-123456789012")
    assert r.choices[0].message.content == "Hello from fake"
    assert fake.last.body is not None and fake.last.body["model"] == "some-model"
    assert r._hidden_params["custom_llm_provider"] == provider


def test_sync_stream(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    chunks = list(llmrelay.completion(model="gpt-4o", messages=MSGS, stream=True, **openai_args))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from fake"
    assert chunks[-1].choices[0].finish_reason == "stop"
    # usage was requested upstream to price the call, but not shown to a caller who did not ask
    assert fake.last.body is not None
    assert fake.last.body["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks)


def test_stream_include_usage(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    chunks = list(llmrelay.completion(model="gpt-4o", messages=MSGS, stream=True,
                                      stream_options={"include_usage": True}, **openai_args))
    assert chunks[-1].choices == []
    assert chunks[-1].usage.total_tokens == 15
    built = llmrelay.stream_chunk_builder(chunks)
    assert built.choices[0].message.content == "Hello from fake"
    assert built.usage.prompt_tokens == 10


def test_async_completion_and_stream(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    async def main() -> tuple[Any, list[Any]]:
        r = await llmrelay.acompletion(model="gpt-4o", messages=MSGS, **openai_args)
        s = await llmrelay.acompletion(model="gpt-4o", messages=MSGS, stream=True,
                                       stream_options={"include_usage": True}, **openai_args)
        return r, [c async for c in s]

    r, chunks = asyncio.run(main())
    assert r.choices[0].message.content == "Hello from fake"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "Hello from fake"
    assert chunks[-1].usage.completion_tokens == 5


def test_stream_tool_calls_round_trip(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    fake.tool_call = {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    chunks = list(llmrelay.completion(model="gpt-4o", messages=MSGS, tools=tools, stream=True,
                                      **openai_args))
    built = llmrelay.stream_chunk_builder(chunks)
    call = built.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "c"}
    assert call.id
    assert built.choices[0].finish_reason == "tool_calls"
    plain = llmrelay.completion(model="gpt-4o", messages=MSGS, tools=tools, **openai_args)
    assert plain.choices[0].message.tool_calls[0].function.arguments == call.function.arguments


def test_early_close_releases_connection(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    fake.default_content = " ".join(["word"] * 200)
    fake.default_chunk_delay = 0.001
    try:
        stream = llmrelay.completion(model="gpt-4o", messages=MSGS, stream=True, **openai_args)
        next(stream)
        stream.close()
        with llmrelay.completion(model="gpt-4o", messages=MSGS, stream=True,
                                 **openai_args) as s2:
            next(s2)
        assert fake.wait_for_open_connections(0, timeout=5.0) or \
            fake.open_connections() <= 1
    finally:
        fake.default_content = "Hello from fake"
        fake.default_chunk_delay = 0.0


def test_async_early_close(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    fake.default_content = " ".join(["word"] * 200)

    async def main() -> None:
        s = await llmrelay.acompletion(model="gpt-4o", messages=MSGS, stream=True,
                                       **openai_args)
        await s.__anext__()
        await s.aclose()
        async with await llmrelay.acompletion(model="gpt-4o", messages=MSGS, stream=True,
                                              **openai_args) as s2:
            await s2.__anext__()

    try:
        asyncio.run(main())
    finally:
        fake.default_content = "Hello from fake"


def test_text_completion(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    r = llmrelay.text_completion(model="gpt-3.5-turbo-instruct", prompt="Say hi",
                                 **openai_args)
    assert r.object == "text_completion"
    assert r.choices[0].text
    assert fake.last.path.endswith("/completions") and fake.last.body["prompt"] == "Say hi"
    r2 = asyncio.run(llmrelay.atext_completion(model="openai/gpt-3.5-turbo-instruct",
                                               prompt="Say hi", **openai_args))
    assert r2.choices[0].text == r.choices[0].text


def test_embedding(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    r = llmrelay.embedding(model="text-embedding-3-small", input=["a b", "c"], dimensions=4,
                           **openai_args)
    assert len(r.data) == 2 and len(r.data[0].embedding) == 4
    assert r.usage.prompt_tokens == 3
    assert fake.last.body == {"model": "text-embedding-3-small", "input": ["a b", "c"],
                              "dimensions": 4}
    r2 = asyncio.run(llmrelay.aembedding(model="text-embedding-3-small", input="a b",
                                         **openai_args))
    assert len(r2.data) == 1


def test_client_has_no_global_state(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    seen: list[str] = []
    llmrelay.success_callback = [lambda kw, resp, s, e: seen.append("global")]
    client = llmrelay.Client(success_callback=[lambda kw, resp, s, e: seen.append("client")])
    client.completion(model="gpt-4o", messages=MSGS, **openai_args)
    llmrelay.flush(5)
    assert seen == ["client"]


def test_missing_usage_is_estimated(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    from fakes.openai_server import Reply

    fake.enqueue(Reply(json={"id": "x", "object": "chat.completion", "created": 1,
                             "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "stop",
                                                             "message": {"role": "assistant",
                                                                         "content": "four words are here"}}]}))
    r = llmrelay.completion(model="gpt-4o", messages=MSGS, **openai_args)
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r._hidden_params["usage_estimated"] is True
    assert r._hidden_params["response_cost"] > 0
