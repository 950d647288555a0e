"""Raw pass-through (proxy/raw.py): with no hook that may change the answer, the client
gets the upstream's own bytes (the JSON body, each SSE event), while callbacks still get
parsed objects and the usage rows carry the upstream's tokens, priced exactly. A registered
proxy stream hook turns it off for its streams and still sees every parsed chunk."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from asgi_support import in_process

from fakes.openai_server import Reply

HI = [{"role": "user", "content": "hi"}]
PRICED = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
# formatted unlike the proxy's own encoder (spaces, key order, an unknown field, a non-ASCII
# escape), so an answer equal to it byte for byte was not re-encoded
BODY = (b'{ "object": "chat.completion", "id": "chatcmpl-raw1", "created": 1700000000,\n'
        b'  "model": "gpt-4o-mini", "vendor_extra": {"k": [1, 2.50]},\n'
        b'  "choices": [ {"index": 0, "message": {"role": "assistant", '
        b'"content": "caf\\u00e9 ok"}, "finish_reason": "stop"} ],\n'
        b'  "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12} }')
EVENTS = [
    'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", '
    '"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, '
    '"finish_reason": null}], "usage": null}',
    'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", '
    '"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": null}], '
    '"usage": null, "x_extra": 1}',
    'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", '
    '"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}], '
    '"usage": null}',
    'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", '
    '"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}}',
]
HOOKS = '''
from llmrelay.integrations.custom_logger import CustomLogger

SEEN = []


class Observer(CustomLogger):
    """An SDK stream observer: sees parsed chunks; the proxy still passes bytes through."""

    async def async_log_stream_event(self, kwargs, response_obj, start_time, end_time):
        SEEN.append(("observer", response_obj))


class ChunkHook(CustomLogger):
    """A proxy stream hook: turns pass-through off for its streams."""

    async def async_post_call_streaming_hook(self, user_api_key_dict, response):
        SEEN.append(("hook", response))
        return response


observer = Observer()
chunk_hook = ChunkHook()
'''


def _model(fake: Any) -> dict[str, Any]:
    return {"model_name": "gpt-4o-mini", "model_info": {"id": "dep-raw", **PRICED},
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": fake.url,
                               "api_key": "sk-upstream-key"}}


def _config(fake: Any, *callbacks: str) -> dict[str, Any]:
    out: dict[str, Any] = {"model_list": [_model(fake)],
                           "litellm_settings": {"num_retries": 0}}
    if callbacks:
        out["litellm_settings"]["callbacks"] = list(callbacks)
    return out


async def _rows(p: Any, n: int) -> list[dict[str, Any]]:
    for _ in range(100):
        r = await p.http.get("/spend/logs", headers=p.headers())
        assert r.status_code == 200
        rows = list(r.json())
        if len(rows) >= n:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"{n} usage rows expected, got {rows}")


def _sse_lines(body: bytes) -> list[str]:
    return [ln for ln in body.decode().split("\n\n") if ln]


@pytest.fixture
def hooks_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    name = f"raw_hooks_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(HOOKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


async def test_whole_answer_is_the_upstreams_bytes_and_priced(tmp_path: Path,
                                                               fresh_fake: Any) -> None:
    fresh_fake.enqueue(Reply(body=BODY, headers={"Content-Type": "application/json"}))
    async with in_process(tmp_path, _config(fresh_fake)) as p:
        r = await p.post("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HI})
        assert r.status_code == 200, r.text
        assert r.content == BODY
        assert r.headers["content-type"].startswith("application/json")
        assert float(r.headers["x-llmrelay-response-cost"]) == pytest.approx(0.017)
        # the official client reads it as any OpenAI answer
        fresh_fake.enqueue(Reply(body=BODY, headers={"Content-Type": "application/json"}))
        got = await p.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)
        assert got.choices[0].message.content == "café ok"
        rows = await _rows(p, 2)
    for row in rows:
        assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (7, 5, 12)
        assert row["cost"] == pytest.approx(7 * 0.001 + 5 * 0.002)


async def test_stream_events_are_the_upstreams_bytes_and_priced(tmp_path: Path,
                                                                fresh_fake: Any) -> None:
    async with in_process(tmp_path, _config(fresh_fake)) as p:
        fresh_fake.enqueue(Reply.sse(EVENTS))
        r = await p.post("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HI,
                                                  "stream": True})
        assert r.status_code == 200
        # the usage chunk was asked for by the proxy, not the client: left out
        assert _sse_lines(r.content) == [*EVENTS[:3], "data: [DONE]"]
        fresh_fake.enqueue(Reply.sse(EVENTS))
        r = await p.post("/v1/chat/completions", {
            "model": "gpt-4o-mini", "messages": HI, "stream": True,
            "stream_options": {"include_usage": True}})
        lines = _sse_lines(r.content)
        assert lines[:3] == EVENTS[:3] and lines[4] == "data: [DONE]"
        usage = json.loads(lines[3][len("data: "):])["usage"]  # priced: re-encoded
        assert usage["total_tokens"] == 12
        assert usage["cost"] == pytest.approx(9 * 0.001 + 3 * 0.002)
        rows = await _rows(p, 2)
    for row in rows:
        assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (9, 3, 12)
        assert row["cost"] == pytest.approx(9 * 0.001 + 3 * 0.002)


async def test_stream_observers_get_parsed_chunks_beside_pass_through(
        tmp_path: Path, fresh_fake: Any, hooks_module: str) -> None:
    async with in_process(tmp_path, _config(fresh_fake, f"{hooks_module}.observer")) as p:
        fresh_fake.enqueue(Reply.sse(EVENTS))
        r = await p.post("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HI,
                                                  "stream": True})
        assert _sse_lines(r.content) == [*EVENTS[:3], "data: [DONE]"]  # still passed through
        seen = sys.modules[hooks_module].SEEN
        for _ in range(100):
            if len(seen) >= 4:
                break
            await asyncio.sleep(0.05)
    chunks = [obj for who, obj in seen if who == "observer"]
    assert [c.choices[0].delta.content for c in chunks if c.choices] == ["", "Hel", "lo"]
    assert chunks[-1].usage.total_tokens == 12  # the usage chunk the proxy asked for


async def test_a_stream_hook_receives_every_parsed_chunk(tmp_path: Path, fresh_fake: Any,
                                                         hooks_module: str) -> None:
    async with in_process(tmp_path, _config(fresh_fake, f"{hooks_module}.chunk_hook")) as p:
        fresh_fake.enqueue(Reply.sse(EVENTS))
        r = await p.post("/v1/chat/completions", {
            "model": "gpt-4o-mini", "messages": HI, "stream": True,
            "stream_options": {"include_usage": True}})
        assert r.status_code == 200
        lines = _sse_lines(r.content)
        rows = await _rows(p, 1)
    seen = [obj for who, obj in sys.modules[hooks_module].SEEN if who == "hook"]
    # every chunk the client gets, usage chunk included, as an object parsed before the
    # hook ran (not one left as bytes: see test_stream_chunks_no_hook_reads_are_not_parsed)
    assert len(seen) == 4 == len(lines) - 1
    assert {type(c).__name__ for c in seen} == {"ModelResponseStream"}
    assert [c.choices[0].delta.content for c in seen[:3]] == ["", "Hel", "lo"]
    assert seen[3].usage.total_tokens == 12
    # pass-through is off for this stream: the client gets the encoded objects
    assert lines[:3] != EVENTS[:3]
    assert [json.loads(ln[6:])["choices"][0]["delta"].get("content") for ln in lines[:3]] == [
        "", "Hel", "lo"]
    assert rows[0]["total_tokens"] == 12
    assert rows[0]["cost"] == pytest.approx(9 * 0.001 + 3 * 0.002)


async def test_answers_without_upstream_bytes_are_encoded(tmp_path: Path,
                                                               fresh_fake: Any) -> None:
    """Without the bytes kept (a mocked answer) the object is encoded as before."""
    config = {"model_list": [{"model_name": "m", "litellm_params": {
        "model": "mock/mock", "mock_response": "mocked"}}]}
    async with in_process(tmp_path, config) as p:
        r = await p.post("/v1/chat/completions", {"model": "m", "messages": HI})
        assert r.json()["choices"][0]["message"]["content"] == "mocked"


async def test_stream_chunks_no_hook_reads_are_not_parsed(tmp_path: Path, fresh_fake: Any,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Without a stream hook the delta events stay bytes (no JSON parse, no objects); only
    the usage event is parsed, and the usage row is exact."""
    from llmrelay.types import ModelResponseStream
    from llmrelay.types.lazy_chunks import LazyChunk

    built: list[Any] = []
    parses: list[Any] = []
    eager = ModelResponseStream.from_dict.__func__  # type: ignore[attr-defined]
    parse = LazyChunk.parse

    def counting_from_dict(cls: Any, data: dict[str, Any]) -> Any:
        built.append(data)
        return eager(cls, data)

    def counting_parse(self: LazyChunk) -> LazyChunk:
        parses.append(self)
        return parse(self)

    monkeypatch.setattr(ModelResponseStream, "from_dict", classmethod(counting_from_dict))
    monkeypatch.setattr(LazyChunk, "parse", counting_parse)
    async with in_process(tmp_path, _config(fresh_fake)) as p:
        fresh_fake.enqueue(Reply.sse(EVENTS))
        r = await p.post("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HI,
                                                  "stream": True})
        assert _sse_lines(r.content) == [*EVENTS[:3], "data: [DONE]"]
        rows = await _rows(p, 1)
    assert [d.get("usage") for d in built] == [
        {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}]  # usage event only
    assert parses == []
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"]) == (9, 3)
