"""Cohere v2: translation on recorded payloads, then chat, streams, embeddings and rerank
translation against FakeCohere, through the SDK and the router."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmrelay
from fakes.cohere_server import FakeCohere
from fakes.openai_server import Reply
from llmrelay.exceptions import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    RateLimitError,
    ServiceUnavailableError,
)
from llmrelay.providers.base import Call
from llmrelay.providers.cohere.chat import build_chat
from llmrelay.providers.cohere.embed import parse_rerank, rerank_body
from llmrelay.providers.registry import resolve_model, spec_for
from llmrelay.router import Router

MODEL = "command-r-08-2024"
MSGS = [{"role": "user", "content": "Hello"}]
KEY = "co-test-key-0123456789"
SPEC = spec_for("cohere")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeCohere]:
    with FakeCohere() as srv:
        yield srv


@pytest.fixture
def co(server: FakeCohere) -> Iterator[FakeCohere]:
    server.reset()
    server.require_api_key = KEY
    server.default_content = "Hello from Cohere"
    server.tool_call = None
    yield server


@pytest.fixture
def args(co: FakeCohere) -> dict[str, Any]:
    return {"api_base": co.url, "api_key": KEY}


def make_call(messages: Any = MSGS, **params: Any) -> Call:
    return Call("completion", MODEL, SPEC, messages, None, params, False)


def test_body_translation() -> None:
    messages = [{"role": "developer", "content": "Be brief.", "name": "x"},
                {"role": "user", "content": [{"type": "text", "text": "hi",
                                              "cache_control": {"type": "ephemeral"}}]},
                {"role": "assistant", "content": None, "tool_calls": [{
                    "id": "c1", "type": "function",
                    "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"}]
    body = build_chat(make_call(messages, max_completion_tokens=50, top_p=0.5, stop="END",
                                tool_choice="required", reasoning_effort="low",
                                documents=[{"data": {"text": "doc"}}],
                                response_format={"type": "json_schema", "json_schema": {
                                    "name": "a", "schema": {"type": "object"}}}))
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"}]
    assert body["max_tokens"] == 50 and body["p"] == 0.5 and body["stop_sequences"] == ["END"]
    assert body["tool_choice"] == "REQUIRED" and body["thinking"] == {"type": "enabled"}
    assert body["response_format"] == {"type": "json_object",
                                       "json_schema": {"type": "object"}}
    assert body["documents"] == [{"data": {"text": "doc"}}]
    with pytest.raises(BadRequestError, match="tool_choice"):
        build_chat(make_call(tool_choice={"type": "function", "function": {"name": "f"}}))
    assert resolve_model("cohere_chat/command-a-03-2025")[0].wire == "cohere"
    assert resolve_model("command-a-03-2025")[0].name == "cohere"


def test_chat_citations_cost_and_callbacks(co: FakeCohere, args: dict[str, Any]) -> None:
    seen: list[Any] = []
    llmrelay.success_callback = [lambda kw, resp, s, e: seen.append(kw)]
    resp = llmrelay.completion(f"cohere/{MODEL}", MSGS, documents=[
        {"id": "d1", "data": {"text": "Hello is a greeting", "title": "Greetings",
                              "url": "https://example.com/hello"}}], **args)
    llmrelay.flush()
    msg = resp.choices[0].message
    assert msg.content == "Hello from Cohere" and resp.choices[0].finish_reason == "stop"
    assert msg.annotations == [{"type": "url_citation", "url_citation": {
        "start_index": 0, "end_index": 5, "url": "https://example.com/hello",
        "title": "Greetings"}}]
    assert msg.citations[0]["sources"][0]["id"] == "d1"
    row = llmrelay.cost.lookup(MODEL)
    assert row is not None
    expected = 10 * row["input_cost_per_token"] + 5 * row["output_cost_per_token"]
    assert resp._hidden_params["response_cost"] == pytest.approx(expected)
    assert seen[0]["response_cost"] == pytest.approx(expected)
    assert co.last is not None and co.last.headers["authorization"] == f"Bearer {KEY}"
    llmrelay.success_callback = []


def test_tools_sync_stream_and_async(co: FakeCohere, args: dict[str, Any]) -> None:
    co.tool_call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    resp = llmrelay.completion(f"cohere/{MODEL}", MSGS, tools=tools, **args)
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.choices[0].message.tool_plan == "I will call the tool."
    chunks = list(llmrelay.completion(f"cohere/{MODEL}", MSGS, tools=tools, stream=True,
                                      **args))
    built = llmrelay.stream_chunk_builder(chunks)
    tc = built.choices[0].message.tool_calls[0]
    assert json.loads(tc.function.arguments) == {"city": "Paris"}
    assert built.choices[0].finish_reason == "tool_calls"
    co.tool_call = None

    async def run() -> list[Any]:
        stream = await llmrelay.acompletion(f"cohere/{MODEL}", MSGS, stream=True,
                                            stream_options={"include_usage": True}, **args)
        return [c async for c in stream]

    achunks = asyncio.run(run())
    assert "".join(c.choices[0].delta.content or "" for c in achunks if c.choices) == \
        "Hello from Cohere"
    assert achunks[-1].usage.total_tokens == 15


def test_cut_stream(co: FakeCohere, args: dict[str, Any]) -> None:
    from llmrelay.exceptions import APIConnectionError

    co.enqueue(Reply.sse(['event: message-start\ndata: {"type": "message-start", "id": "x"}'],
                         truncate=True))
    with pytest.raises(APIConnectionError):
        list(llmrelay.completion(f"cohere/{MODEL}", MSGS, stream=True, **args))


def test_embeddings(co: FakeCohere, args: dict[str, Any]) -> None:
    resp = llmrelay.embedding("cohere/embed-english-v3.0", ["a b", "c"],
                              input_type="search_query", **args)
    assert [len(d["embedding"]) for d in resp.data] == [8, 8]
    assert resp.usage.prompt_tokens == 3
    assert co.last is not None and co.last.body == {
        "model": "embed-english-v3.0", "texts": ["a b", "c"], "input_type": "search_query",
        "embedding_types": ["float"]}
    assert resp._hidden_params["response_cost"] == pytest.approx(3 * 0.1e-6)
    v4 = asyncio.run(llmrelay.aembedding("cohere/embed-v4.0", "x", dimensions=16, **args))
    assert len(v4.data[0]["embedding"]) == 16


def test_rerank_translation_against_the_fake(co: FakeCohere) -> None:
    import httpx

    docs = ["the cat sat", "dogs bark loudly", "a cat and a dog"]
    body = rerank_body("rerank-v3.5", "cat dog", docs, top_n=2)
    reply = httpx.post(co.url + "/v2/rerank", json=body,
                       headers={"Authorization": f"Bearer {KEY}"}).json()
    out = parse_rerank(reply, docs, return_documents=True)
    assert [r["index"] for r in out["results"]] == [2, 0]
    assert out["results"][0]["document"] == {"text": "a cat and a dog"}
    assert out["meta"]["billed_units"]["search_units"] == 1


@pytest.mark.parametrize(("status", "message", "expected"), [
    (429, "You are using a Trial key, which is limited to 10 API calls / minute.",
     RateLimitError),
    (401, "invalid api token", AuthenticationError),
    (400, "too many tokens: total number of tokens in the prompt cannot exceed 128000",
     ContextWindowExceededError),
    (503, "service unavailable", ServiceUnavailableError),
    (422, "invalid request: model 'x' not found", llmrelay.exceptions.UnprocessableEntityError),
])
def test_error_mapping(co: FakeCohere, args: dict[str, Any], status: int, message: str,
                       expected: type[Exception]) -> None:
    co.enqueue(Reply(status=status, json={"id": "e1", "message": message}))
    with pytest.raises(expected) as info:
        llmrelay.completion(f"cohere/{MODEL}", MSGS, **args)
    assert message in str(info.value)


def test_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    monkeypatch.delenv("CO_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="COHERE_API_KEY"):
        llmrelay.completion(f"cohere/{MODEL}", MSGS)


def test_router(co: FakeCohere, args: dict[str, Any]) -> None:
    router = Router(model_list=[{"model_name": "command", "litellm_params": {
        "model": f"cohere_chat/{MODEL}", **args}}])
    assert router.completion(model="command", messages=MSGS).choices[0].message.content == \
        "Hello from Cohere"
    chunks = asyncio.run(_collect(router))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "Hello from Cohere"


async def _collect(router: Router) -> list[Any]:
    stream = await router.acompletion(model="command", messages=MSGS, stream=True)
    return [c async for c in stream]
