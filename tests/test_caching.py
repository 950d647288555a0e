"""Response caching with the in-memory and SQLite backends, against the fake OpenAI server."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply
from llmrelay.caching import Cache, cache_key
from llmrelay.cost import usage_cost
from llmrelay.exceptions import BadRequestError
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay.types import EmbeddingResponse, ModelResponseStream, TextCompletionResponse

MSGS = [{"role": "user", "content": "What is caching?"}]
SRC = str(Path(__file__).resolve().parents[1] / "src")


class Clock:
    """A settable clock for TTL and s-maxage tests."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Recorder(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.pre = 0
        self.success: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        with self.lock:
            self.pre += 1

    async def async_log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        self.log_pre_api_call(model, messages, kwargs)

    def log_success_event(self, kwargs: Any, response_obj: Any, start: Any, end: Any) -> None:
        with self.lock:
            self.success.append(dict(kwargs))

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start: Any,
                                      end: Any) -> None:
        self.log_success_event(kwargs, response_obj, start, end)


class BrokenBackend:
    """Every operation fails, as a backend that is down would."""

    def __init__(self) -> None:
        self.calls = 0

    def _fail(self) -> None:
        self.calls += 1
        raise ConnectionError("backend is down")

    def get_many(self, keys: list[str]) -> list[str | None]:
        self._fail()
        return []

    def set_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        self._fail()

    def delete(self, keys: list[str]) -> None:
        self._fail()

    def close(self) -> None:
        return None

    async def aget_many(self, keys: list[str]) -> list[str | None]:
        return self.get_many(keys)

    async def aset_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        self.set_many(items, ttl)

    async def adelete(self, keys: list[str]) -> None:
        self.delete(keys)

    async def aclose(self) -> None:
        return None


@pytest.fixture
def args(openai_args: dict[str, str]) -> dict[str, Any]:
    return dict(openai_args)


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# ---- basic hits and misses ------------------------------------------------------------------
def test_memory_hit_skips_upstream(fake: FakeOpenAI, args: dict[str, Any],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache()
    llmrelay.cache = cache
    r1 = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **args)
    monkeypatch.setattr(fake, "default_content", "something else")
    r2 = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **args)
    assert len(fake.requests) == 1
    assert type(r2) is type(r1)
    assert r2.model_dump() == r1.model_dump()
    assert r2.choices[0].message.content == "Hello from fake"
    assert r1._hidden_params["cache_hit"] is False
    assert r2._hidden_params["cache_hit"] is True
    assert r2._hidden_params["response_cost"] == 0.0
    assert r1._hidden_params["response_cost"] > 0
    assert cache.stats() == {"hits": 1, "misses": 1, "writes": 1, "errors": 0, "corrupt": 0}


def test_client_cache_setting_is_per_client(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    cached = llmrelay.Client(cache=Cache())
    plain = llmrelay.Client()
    for _ in range(2):
        cached.completion(model="gpt-4o-mini", messages=MSGS, **args)
        plain.completion(model="gpt-4o-mini", messages=MSGS, **args)
    assert len(fake.requests) == 3


def test_callbacks_see_hit_without_pre_api_call(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    rec = Recorder()
    client = llmrelay.Client(cache=Cache(), callbacks=[rec])
    r1 = client.completion(model="gpt-4o-mini", messages=MSGS, **args)
    client.completion(model="gpt-4o-mini", messages=MSGS, **args)
    llmrelay.flush(timeout=10)
    assert rec.pre == 1
    miss, hit = rec.success
    assert miss["cache_hit"] is False and miss["response_cost"] > 0
    assert hit["cache_hit"] is True and hit["response_cost"] == 0.0
    assert hit["saved_cache_cost"] == pytest.approx(
        usage_cost("gpt-4o-mini", "openai", r1.usage))
    assert hit["saved_cache_cost"] == pytest.approx(miss["response_cost"])
    assert len(hit["cache_key"]) == 64
    slo = hit["standard_logging_object"]
    assert slo["cache_hit"] is True and slo["cache_key"] == hit["cache_key"]
    assert slo["saved_cache_cost"] == pytest.approx(miss["response_cost"])


async def test_async_hit_and_callbacks(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    rec = Recorder()
    cache = Cache()
    client = llmrelay.Client(cache=cache, callbacks=[rec])
    r1 = await client.acompletion(model="gpt-4o-mini", messages=MSGS, **args)
    r2 = await client.acompletion(model="gpt-4o-mini", messages=MSGS, **args)
    await llmrelay.aflush(timeout=10)
    assert len(fake.requests) == 1
    assert r2.model_dump() == r1.model_dump()
    assert rec.pre == 1
    assert [e["cache_hit"] for e in rec.success] == [False, True]
    assert rec.success[1]["response_cost"] == 0.0
    assert cache.stats()["hits"] == 1


def test_key_covers_what_changes_the_answer(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    llmrelay.cache = Cache()
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    variants: list[dict[str, Any]] = [
        {}, {"temperature": 0.1}, {"temperature": 0.2}, {"tools": tools},
        {"response_format": {"type": "json_object"}}, {"model": "gpt-4o"},
        {"messages": [{"role": "user", "content": "other"}]}, {"extra_body": {"x": 1}},
    ]
    for v in variants:
        call = {"model": "gpt-4o-mini", "messages": MSGS, **args, **v}
        llmrelay.completion(**call)
    assert len(fake.requests) == len(variants)
    # what does not change the answer does not change the key
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, metadata={"user": "u"}, timeout=30,
                        num_retries=2, api_base=args["api_base"], api_key="sk-another-key-999")
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, temperature=0.1,
                        callbacks=[Recorder()], **args)
    assert len(fake.requests) == len(variants)


def test_key_is_namespaced_sha256_without_secrets(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    cache = Cache(namespace="team-a")
    rec = Recorder()
    client = llmrelay.Client(cache=cache, callbacks=[rec])
    client.completion(model="gpt-4o-mini", messages=MSGS, **args)
    client.completion(model="gpt-4o-mini", messages=MSGS, **args)
    llmrelay.flush(timeout=10)
    key = rec.success[1]["cache_key"]
    ns, digest = key.split(":")
    assert ns == "team-a" and len(digest) == 64 and int(digest, 16) >= 0
    stored = cache.backend.get_many([key])[0]  # type: ignore[union-attr]
    assert stored is not None and args["api_key"] not in str(stored)
    assert args["api_key"] not in key


def test_cache_key_function_is_stable() -> None:
    from llmrelay.providers.base import Call
    from llmrelay.providers.registry import spec_for

    spec = spec_for("openai")
    a = Call("completion", "m", spec, MSGS, None, {"temperature": 1, "tools": [{"b": 1, "a": 2}]},
             api_key="sk-1")
    b = Call("completion", "m", spec, MSGS, None, {"tools": [{"a": 2, "b": 1}], "temperature": 1},
             api_key="sk-2")
    c = Call("completion", "m", spec, MSGS, None, {"temperature": 0.5})
    assert cache_key(a) == cache_key(b) != cache_key(c)
    assert cache_key(a, "ns").startswith("ns:")


# ---- per-call options -------------------------------------------------------------------------
def test_caching_false_bypasses(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    cache = Cache()
    llmrelay.cache = cache
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, caching=False, **args)
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, caching=False, **args)
    assert len(fake.requests) == 2
    assert cache.stats()["writes"] == 0
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **args)
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **args)
    assert len(fake.requests) == 3


def test_no_cache_and_no_store(fake: FakeOpenAI, args: dict[str, Any],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    llmrelay.cache = Cache()
    call = {"model": "gpt-4o-mini", "messages": MSGS, **args}
    llmrelay.completion(**call, cache={"no-store": True})
    assert llmrelay.completion(**call).choices[0].message.content == "Hello from fake"
    assert len(fake.requests) == 2  # no-store wrote nothing
    monkeypatch.setattr(fake, "default_content", "fresh answer")
    r = llmrelay.completion(**call, cache={"no-cache": True})
    assert r.choices[0].message.content == "fresh answer"  # did not read...
    assert len(fake.requests) == 3
    r = llmrelay.completion(**call)
    assert r.choices[0].message.content == "fresh answer"  # ...but stored
    assert len(fake.requests) == 3


def test_ttl_expiry_with_fake_clock(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    clock = Clock()
    llmrelay.cache = Cache(ttl=60, clock=clock)
    call = {"model": "gpt-4o-mini", "messages": MSGS, **args}
    llmrelay.completion(**call)
    clock.now += 59
    llmrelay.completion(**call)
    assert len(fake.requests) == 1
    clock.now += 2
    llmrelay.completion(**call)
    assert len(fake.requests) == 2
    # a per-call ttl overrides the default
    other = {**call, "messages": [{"role": "user", "content": "short-lived"}]}
    llmrelay.completion(**other, cache={"ttl": 5})
    clock.now += 6
    llmrelay.completion(**other)
    assert len(fake.requests) == 4


def test_s_maxage_and_namespace(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    clock = Clock()
    llmrelay.cache = Cache(clock=clock)
    call = {"model": "gpt-4o-mini", "messages": MSGS, **args}
    llmrelay.completion(**call)
    clock.now += 30
    llmrelay.completion(**call, cache={"s-maxage": 60})
    assert len(fake.requests) == 1
    llmrelay.completion(**call, cache={"s-maxage": 10})  # too old for this caller
    assert len(fake.requests) == 2
    llmrelay.completion(**call, cache={"s-maxage": 10})  # the fresh answer replaced it
    assert len(fake.requests) == 2
    llmrelay.completion(**call, cache={"namespace": "other"})
    llmrelay.completion(**call, cache={"namespace": "other"})
    assert len(fake.requests) == 3


def test_default_off_mode(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    llmrelay.cache = Cache(mode="default_off")
    call = {"model": "gpt-4o-mini", "messages": MSGS, **args}
    llmrelay.completion(**call)
    llmrelay.completion(**call)
    assert len(fake.requests) == 2
    llmrelay.completion(**call, caching=True)
    llmrelay.completion(**call, cache={"use-cache": True})
    assert len(fake.requests) == 3


def test_supported_call_types(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    llmrelay.cache = Cache(supported_call_types=["aembedding", "embedding"])
    for _ in range(2):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **args)
        llmrelay.embedding(model="text-embedding-3-small", input="hi", **args)
    assert len(fake.requests) == 3
    with pytest.raises(ValueError, match="unknown call type"):
        Cache(supported_call_types=["bogus_call"])


def test_bad_options_are_rejected(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    llmrelay.cache = Cache()
    with pytest.raises(BadRequestError, match="unknown cache option"):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, cache={"no_cache": True}, **args)
    with pytest.raises(BadRequestError, match="ttl"):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, cache={"ttl": "soon"}, **args)
    with pytest.raises(BadRequestError, match="dict"):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, cache=True, **args)
    assert fake.requests == []
    with pytest.raises(ValueError, match="unknown cache type"):
        Cache(type="memcached")


def test_lru_bound(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    cache = Cache(max_size=2)
    llmrelay.cache = cache

    def ask(text: str) -> None:
        llmrelay.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": text}],
                            **args)

    ask("a")
    ask("b")
    ask("a")  # hit; "a" becomes the most recently used
    ask("c")  # evicts "b"
    assert len(fake.requests) == 3
    ask("a")
    assert len(fake.requests) == 3
    ask("b")
    assert len(fake.requests) == 4
    assert len(cache.backend) == 2  # type: ignore[arg-type]


def test_mock_response_is_part_of_the_key() -> None:
    cache = Cache()
    llmrelay.cache = cache
    r1 = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="one")
    r2 = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="two")
    r3 = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="one")
    assert (r1.choices[0].message.content, r2.choices[0].message.content,
            r3.choices[0].message.content) == ("one", "two", "one")
    assert r3._hidden_params["cache_hit"] is True
    assert cache.stats()["hits"] == 1


def test_text_completion_cached(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    llmrelay.cache = Cache()
    r1 = llmrelay.text_completion(model="gpt-3.5-turbo-instruct", prompt="Say hi", **args)
    r2 = llmrelay.text_completion(model="gpt-3.5-turbo-instruct", prompt="Say hi", **args)
    assert isinstance(r2, TextCompletionResponse)
    assert r2.choices[0].text == r1.choices[0].text == "Hello from fake"
    assert len(fake.requests) == 1


def test_failed_calls_are_not_cached(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    cache = Cache()
    llmrelay.cache = cache
    fake.enqueue(Reply.error(400, "bad request"))
    with pytest.raises(BadRequestError):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **args)
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **args)
    assert r._hidden_params["cache_hit"] is False
    assert cache.stats()["writes"] == 1


# ---- streams --------------------------------------------------------------------------------
def test_stream_stored_and_replayed(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    rec = Recorder()
    client = llmrelay.Client(cache=Cache(), callbacks=[rec])
    live = client.completion(model="gpt-4o-mini", messages=MSGS, stream=True, **args)
    first = list(live)
    replay = client.completion(model="gpt-4o-mini", messages=MSGS, stream=True, **args)
    assert type(replay) is type(live)
    second = list(replay)
    llmrelay.flush(timeout=10)
    assert len(fake.requests) == 1
    assert all(isinstance(c, ModelResponseStream) for c in second)
    assert _text(second) == _text(first) == "Hello from fake"
    assert [c.model_dump() for c in second] == [c.model_dump() for c in first]
    assert replay._hidden_params["cache_hit"] is True
    assert rec.pre == 1
    assert [e["cache_hit"] for e in rec.success] == [False, True]
    hit = rec.success[1]
    assert hit["response_cost"] == 0.0 and hit["stream_status"] == "complete"
    assert hit["saved_cache_cost"] == pytest.approx(rec.success[0]["response_cost"])


async def test_async_stream_stored_and_replayed(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    rec = Recorder()
    client = llmrelay.Client(cache=Cache(), callbacks=[rec])
    live = await client.acompletion(model="gpt-4o-mini", messages=MSGS, stream=True, **args)
    first = [c async for c in live]
    replay = await client.acompletion(model="gpt-4o-mini", messages=MSGS, stream=True, **args)
    assert type(replay) is type(live)
    second = [c async for c in replay]
    await llmrelay.aflush(timeout=10)
    assert len(fake.requests) == 1
    assert _text(second) == _text(first) == "Hello from fake"
    assert rec.pre == 1
    assert [e["cache_hit"] for e in rec.success] == [False, True]
    assert rec.success[1]["response_cost"] == 0.0


def test_stream_replay_honours_include_usage(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    llmrelay.cache = Cache()
    call = {"model": "gpt-4o-mini", "messages": MSGS, "stream": True, **args}
    list(llmrelay.completion(**call))
    with_usage = list(llmrelay.completion(**call, stream_options={"include_usage": True}))
    assert len(fake.requests) == 2  # stream_options is part of the key
    again = list(llmrelay.completion(**call, stream_options={"include_usage": True}))
    plain = list(llmrelay.completion(**call))
    assert len(fake.requests) == 2
    assert again[-1].usage is not None and again[-1].usage.total_tokens == 15
    assert with_usage[-1].usage.total_tokens == 15
    assert all(getattr(c, "usage", None) is None for c in plain)


def test_abandoned_or_cut_stream_is_not_stored(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    cache = Cache()
    llmrelay.cache = cache
    call = {"model": "gpt-4o-mini", "messages": MSGS, "stream": True, **args}
    stream = llmrelay.completion(**call)
    next(stream)
    stream.close()
    assert cache.stats()["writes"] == 0
    fake.enqueue(Reply.sse([{"id": "x", "object": "chat.completion.chunk", "created": 1,
                             "model": "gpt-4o-mini",
                             "choices": [{"index": 0, "delta": {"content": "Hel"}}]}],
                           truncate=True))
    with pytest.raises(llmrelay.APIConnectionError):
        list(llmrelay.completion(**call))
    assert cache.stats()["writes"] == 0
    assert _text(list(llmrelay.completion(**call))) == "Hello from fake"
    assert cache.stats()["writes"] == 1
    assert len(fake.requests) == 3


def test_text_completion_stream_replay(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    llmrelay.cache = Cache()
    call = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "stream": True, **args}
    first = list(llmrelay.text_completion(**call))
    second = list(llmrelay.text_completion(**call))
    assert len(fake.requests) == 1
    assert all(isinstance(c, TextCompletionResponse) for c in second)
    assert "".join(c.choices[0].text for c in second if c.choices) == "Hello from fake"
    assert [c.model_dump() for c in second] == [c.model_dump() for c in first]


# ---- embeddings, per item -------------------------------------------------------------------
EMB = "text-embedding-3-small"


def test_embeddings_cached_per_item(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    cache = Cache()
    llmrelay.cache = cache
    alone = llmrelay.embedding(model=EMB, input="beta words", **args)
    r = llmrelay.embedding(model=EMB, input=["alpha", "beta words", "gamma", "alpha"], **args)
    assert [req.body["input"] for req in fake.requests if req.body] == [
        "beta words", ["alpha", "gamma"]]
    assert isinstance(r, EmbeddingResponse)
    assert [d.index for d in r.data] == [0, 1, 2, 3]
    fresh = llmrelay.Client().embedding(model=EMB, input=["alpha", "beta words", "gamma"],
                                        **args)
    assert [d.embedding for d in r.data] == [fresh.data[0].embedding, fresh.data[1].embedding,
                                             fresh.data[2].embedding, fresh.data[0].embedding]
    assert r.data[1].embedding == alone.data[0].embedding
    assert r.usage.prompt_tokens == 2  # only the upstream part: "alpha", "gamma"
    assert r._hidden_params["cache_hit"] is True  # as LiteLLM: some items were cached
    assert r._hidden_params["response_cost"] > 0  # the upstream part
    count = len(fake.requests)
    full = llmrelay.embedding(model=EMB, input=["gamma", "alpha"], **args)
    assert len(fake.requests) == count
    assert full._hidden_params["cache_hit"] is True
    assert full._hidden_params["response_cost"] == 0.0
    assert [d.embedding for d in full.data] == [r.data[2].embedding, r.data[0].embedding]
    assert full.usage.prompt_tokens == 2


async def test_async_embeddings_per_item(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    rec = Recorder()
    client = llmrelay.Client(cache=Cache(), callbacks=[rec])
    first = await client.aembedding(model=EMB, input=["one", "two"], **args)
    r = await client.aembedding(model=EMB, input=["two", "three"], **args)
    full = await client.aembedding(model=EMB, input=["three", "one", "two"], **args)
    await llmrelay.aflush(timeout=10)
    assert [req.body["input"] for req in fake.requests if req.body] == [
        ["one", "two"], ["three"]]
    assert [d.index for d in r.data] == [0, 1]
    assert [d.embedding for d in full.data] == [r.data[1].embedding, first.data[0].embedding,
                                                first.data[1].embedding]
    assert r.data[0].embedding == first.data[1].embedding
    assert rec.pre == 2
    assert [e["cache_hit"] for e in rec.success] == [False, False, True]
    assert rec.success[2]["response_cost"] == 0.0
    assert len(rec.success[2]["cache_keys"]) == 3


def test_embedding_token_arrays(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    llmrelay.cache = Cache()
    llmrelay.embedding(model=EMB, input=[[1, 2, 3]], **args)
    llmrelay.embedding(model=EMB, input=[[1, 2, 3], [4, 5]], **args)
    assert [req.body["input"] for req in fake.requests if req.body] == [[[1, 2, 3]], [[4, 5]]]


# ---- faults -------------------------------------------------------------------------------
def _corrupt_all(cache: Cache, value: str) -> int:
    data = cache.backend._data  # type: ignore[attr-defined]
    for key in list(data):
        data[key] = (value, None)
    return len(data)


@pytest.mark.parametrize("garbage", [
    "{not json",
    json.dumps({"v": 1, "kind": "response", "type": "completion", "t": 0,
                "data": {"choices": 5}}),
    json.dumps({"v": 1, "kind": "response", "type": "completion", "t": 0,
                "data": {"choices": [{"message": 5}]}}),
    json.dumps({"v": 1, "kind": "stream", "type": "completion", "t": 0, "data": []}),
    json.dumps({"v": 2, "kind": "response", "type": "completion", "t": 0,
                "data": {"choices": []}}),
    json.dumps([1, 2, 3]),
])
def test_corrupt_entry_ignored_and_replaced(fake: FakeOpenAI, args: dict[str, Any],
                                            garbage: str) -> None:
    cache = Cache()
    llmrelay.cache = cache
    call = {"model": "gpt-4o-mini", "messages": MSGS, **args}
    llmrelay.completion(**call)
    assert _corrupt_all(cache, garbage) == 1
    r = llmrelay.completion(**call)
    assert r.choices[0].message.content == "Hello from fake"
    assert r._hidden_params["cache_hit"] is False
    assert cache.stats()["corrupt"] == 1
    assert llmrelay.completion(**call)._hidden_params["cache_hit"] is True
    assert len(fake.requests) == 2


def test_corrupt_stream_entry_replaced(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    cache = Cache()
    llmrelay.cache = cache
    call = {"model": "gpt-4o-mini", "messages": MSGS, "stream": True, **args}
    list(llmrelay.completion(**call))
    bad = {"v": 1, "kind": "stream", "type": "completion", "t": 0,
           "data": [{"choices": [{"delta": 5}]}]}
    _corrupt_all(cache, json.dumps(bad))
    assert _text(list(llmrelay.completion(**call))) == "Hello from fake"
    assert cache.stats()["corrupt"] == 1 and len(fake.requests) == 2
    replay = llmrelay.completion(**call)
    assert _text(list(replay)) == "Hello from fake"
    assert replay._hidden_params["cache_hit"] is True and len(fake.requests) == 2


def test_corrupt_embedding_item_refetched(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    cache = Cache()
    llmrelay.cache = cache
    llmrelay.embedding(model=EMB, input=["a", "b"], **args)
    data = cache.backend._data  # type: ignore[attr-defined]
    first_key = next(iter(data))
    data[first_key] = ('{"v": 1, "kind": "item", "type": "embedding", "t": 0, "data": 7}', None)
    r = llmrelay.embedding(model=EMB, input=["a", "b"], **args)
    assert len(r.data) == 2 and cache.stats()["corrupt"] == 1
    assert fake.last is not None and fake.last.body is not None
    assert fake.last.body["input"] == ["a"]


def test_broken_backend_never_fails_the_call(fake: FakeOpenAI, args: dict[str, Any],
                                             caplog: pytest.LogCaptureFixture) -> None:
    backend = BrokenBackend()
    cache = Cache(backend=backend, retry_after=0)
    llmrelay.cache = cache
    with caplog.at_level(logging.WARNING, logger="llmrelay"):
        for _ in range(3):
            r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **args)
            assert r.choices[0].message.content == "Hello from fake"
        list(llmrelay.completion(model="gpt-4o-mini", messages=MSGS, stream=True, **args))
        llmrelay.embedding(model=EMB, input=["a", "b"], **args)
    assert len(fake.requests) == 5
    assert backend.calls == 10  # a read and a write per call, all tried
    assert cache.stats()["errors"] == 10 and cache.stats()["hits"] == 0
    warnings = [r for r in caplog.records if "cache" in r.getMessage()]
    assert len(warnings) == 1 and "backend is down" in warnings[0].getMessage()


async def test_broken_backend_async(fake: FakeOpenAI, args: dict[str, Any]) -> None:
    backend = BrokenBackend()
    cache = Cache(backend=backend)  # default retry_after: skipped after the first fault
    client = llmrelay.Client(cache=cache)
    for _ in range(3):
        r = await client.acompletion(model="gpt-4o-mini", messages=MSGS, **args)
        assert r.choices[0].message.content == "Hello from fake"
    assert backend.calls == 1 and cache.stats()["errors"] == 1
    assert len(fake.requests) == 3


def test_unreadable_sqlite_file_never_fails_the_call(fake: FakeOpenAI, args: dict[str, Any],
                                                     tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    cache = Cache(type="disk", path=path)
    llmrelay.cache = cache
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **args)
    assert r.choices[0].message.content == "Hello from fake"
    assert cache.stats()["errors"] == 1


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install 'llmrelay\[redis\]'"):
        Cache(type="redis")


# ---- SQLite on disk -------------------------------------------------------------------------
def test_disk_cache_survives_restart(fake: FakeOpenAI, args: dict[str, Any],
                                     tmp_path: Path) -> None:
    first = Cache(type="disk", disk_cache_dir=tmp_path / "c")
    llmrelay.Client(cache=first).completion(model="gpt-4o-mini", messages=MSGS, **args)
    first.close()
    assert (tmp_path / "c" / "llmrelay-cache.sqlite3").exists()
    second = Cache(type="disk", disk_cache_dir=tmp_path / "c")
    r = llmrelay.Client(cache=second).completion(model="gpt-4o-mini", messages=MSGS, **args)
    assert r._hidden_params["cache_hit"] is True
    assert len(fake.requests) == 1
    with sqlite3.connect(tmp_path / "c" / "llmrelay-cache.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_disk_ttl_and_corrupt_rows(fake: FakeOpenAI, args: dict[str, Any],
                                   tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "c.sqlite3"
    cache = Cache(type="disk", path=path, ttl=10, clock=clock)
    llmrelay.cache = cache
    call = {"model": "gpt-4o-mini", "messages": MSGS, **args}
    llmrelay.completion(**call)
    clock.now += 5
    llmrelay.completion(**call)
    assert len(fake.requests) == 1
    clock.now += 6
    llmrelay.completion(**call)
    assert len(fake.requests) == 2
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE llmrelay_cache SET value = 'garbage'")
    llmrelay.completion(**call)
    assert len(fake.requests) == 3 and cache.stats()["corrupt"] == 1
    llmrelay.completion(**call)
    assert len(fake.requests) == 3


async def test_disk_async_runs_off_the_event_loop(fake: FakeOpenAI, args: dict[str, Any],
                                                  tmp_path: Path) -> None:
    cache = Cache(type="disk", path=tmp_path / "c.sqlite3")
    threads: list[int] = []
    backend = cache.backend
    original = backend.get_many

    def spy(keys: list[str]) -> Any:
        threads.append(threading.get_ident())
        return original(keys)

    backend.get_many = spy  # type: ignore[method-assign]
    client = llmrelay.Client(cache=cache)
    await client.acompletion(model="gpt-4o-mini", messages=MSGS, **args)
    r = await client.acompletion(model="gpt-4o-mini", messages=MSGS, **args)
    assert r._hidden_params["cache_hit"] is True
    assert len(threads) == 2 and threading.get_ident() not in threads
    await cache.aclose()


def test_disk_cache_threads(tmp_path: Path) -> None:
    cache = Cache(type="disk", path=tmp_path / "c.sqlite3")
    client = llmrelay.Client(cache=cache)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                client.completion(model="gpt-4o-mini", mock_response=f"r{i}",
                                  messages=[{"role": "user", "content": f"{n}-{i}"}])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.stats() == {"hits": 0, "misses": 90, "writes": 90, "errors": 0, "corrupt": 0}
    work(3)
    assert cache.stats()["hits"] == 15


_CHILD = textwrap.dedent("""
    import json, sys
    import llmrelay
    from llmrelay.caching import Cache

    path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cache = Cache(type="disk", path=path, timeout=5.0)
    client = llmrelay.Client(cache=cache)
    hits = 0
    for i in range(count):
        r = client.completion(model="gpt-4o-mini", mock_response=f"{tag}-{i}",
                              messages=[{"role": "user", "content": f"{tag} {i}"}])
        assert r.choices[0].message.content == f"{tag}-{i}"
        hits += bool(r._hidden_params["cache_hit"])
    print(json.dumps({"hits": hits, **cache.stats()}))
""")


def _run_children(path: Path, tags: list[str], count: int) -> list[dict[str, int]]:
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, str(path), tag, str(count)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
             for tag in tags]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_disk_cache_shared_by_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    first = _run_children(path, ["p1", "p2", "p3"], 25)
    assert [r["errors"] for r in first] == [0, 0, 0]
    assert [r["writes"] for r in first] == [25, 25, 25]
    # another process, and this one, find what the others wrote
    again = _run_children(path, ["p2"], 25)
    assert again[0]["hits"] == 25 and again[0]["writes"] == 0
    cache = Cache(type="disk", path=path)
    r = llmrelay.Client(cache=cache).completion(
        model="gpt-4o-mini", mock_response="p3-7", messages=[{"role": "user", "content": "p3 7"}])
    assert r._hidden_params["cache_hit"] is True
    cache.close()


def test_generate_streaming_content_replays_a_text() -> None:
    chunks = list(Cache().generate_streaming_content("Hello, this is a test."))
    assert len(chunks) == 5 and all(len(c["choices"][0]["delta"]["content"]) <= 5
                                    for c in chunks)
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == (
        "Hello, this is a test.")
    assert {c["choices"][0]["delta"]["role"] for c in chunks} == {"assistant"}


def test_litellms_per_type_default_ttls() -> None:
    assert Cache(default_in_memory_ttl=7).ttl == 7
    assert Cache(default_in_memory_ttl=7, ttl=3).ttl == 3
    assert Cache(default_in_redis_ttl=7).ttl is None  # a local cache: the redis one is not its
