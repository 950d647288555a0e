"""The proxy's OpenAI-compatible API, driven with the official openai SDK: chat (sync,
async, streamed), text completions, embeddings, models, health, metrics, response headers,
bad input and upstream errors. One proxy process (auth off) serves the whole module."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from proxy_harness import Proxy, start_proxy, upstream_model, wait_events, wait_until

from fakes.openai_server import Reply

EVENTS_MODULE = '''
import json, os
from llmrelay.integrations.custom_logger import CustomLogger

PATH = os.environ["PROXY_EVENTS"]

def _write(kind, kwargs, response_obj):
    md = (kwargs.get("litellm_params") or {}).get("metadata") or {}
    with open(PATH, "a") as f:
        f.write(json.dumps({"kind": kind, "call_id": kwargs.get("litellm_call_id"),
                            "stream_status": kwargs.get("stream_status"),
                            "cost": kwargs.get("response_cost"),
                            "metadata": {k: v for k, v in md.items() if isinstance(v, (str, int, float, type(None)))},
                            "error": type(kwargs.get("exception")).__name__}) + "\\n")

class Recorder(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        _write("success", kwargs, response_obj)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        _write("failure", kwargs, response_obj)

recorder = Recorder()
'''

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def proxy(module_tmp: Path, fake_server: Any) -> Iterator[Proxy]:
    config = {
        "model_list": [
            upstream_model(fake_server),
            upstream_model(fake_server, "text-embedding-3-small"),
            upstream_model(fake_server, "gpt-3.5-turbo-instruct"),
            {"model_name": "mock", "litellm_params": {"model": "mock/mock"}},
        ],
        "litellm_settings": {"callbacks": ["recorder_mod.recorder"], "num_retries": 0},
        "router_settings": {"num_retries": 0, "allowed_fails": 1000, "cooldown_time": 0},
        "general_settings": {"max_request_size_mb": 0.05},
    }
    p = start_proxy(module_tmp, config, files={"recorder_mod.py": EVENTS_MODULE},
                    env={"PROXY_EVENTS": str(module_tmp / "events.jsonl")})
    yield p
    p.stop()


@pytest.fixture
def fake(fresh_fake: Any) -> Any:
    return fresh_fake



def events_file(proxy: Proxy) -> Path:
    return proxy.tmp / "events.jsonl"


def test_chat_sync_through_proxy(proxy: Proxy, fake: Any) -> None:
    fake.default_content = "Hi there"
    client = proxy.client()
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                           messages=MESSAGES, temperature=0.2)
    r = raw.parse()
    assert r.choices[0].message.content == "Hi there"
    assert r.usage.total_tokens == 15
    sent = fake.last.body
    assert sent["model"] == "gpt-4o-mini" and sent["messages"] == MESSAGES
    assert sent["temperature"] == 0.2
    assert fake.last.headers["authorization"] == "Bearer sk-upstream-key"
    call_id = raw.headers["x-llmrelay-call-id"]
    assert len(call_id) == 36
    assert float(raw.headers["x-llmrelay-response-cost"]) > 0  # gpt-4o-mini is priced
    assert float(raw.headers["x-llmrelay-overhead-duration-ms"]) >= 0
    events = wait_events(events_file(proxy), lambda e: e["call_id"] == call_id)
    assert [e["kind"] for e in events] == ["success"]
    assert events[0]["metadata"]["model_group"] == "gpt-4o-mini"


async def test_chat_async_concurrent(proxy: Proxy, fake: Any) -> None:
    fake.default_content = lambda body: "echo:" + body["messages"][-1]["content"]
    async with proxy.aclient() as client:
        rs = await asyncio.gather(*[
            client.chat.completions.create(model="gpt-4o-mini",
                                           messages=[{"role": "user", "content": f"n{i}"}])
            for i in range(8)])
    assert sorted(r.choices[0].message.content for r in rs) == sorted(
        f"echo:n{i}" for i in range(8))


def test_stream_without_usage(proxy: Proxy, fake: Any) -> None:
    fake.default_content = "one two three"
    client = proxy.client()
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                 stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    # usage is still requested upstream so that the stream can be priced
    assert fake.last.body["stream_options"] == {"include_usage": True}


def test_stream_wire_format_and_usage_cost(proxy: Proxy, fake: Any) -> None:
    fake.default_content = "alpha beta"
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True,
            "stream_options": {"include_usage": True}}
    with proxy.http.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        call_id = r.headers["x-llmrelay-call-id"]
        raw = r.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    payloads = [json.loads(e[len("data: "):]) for e in events[:-2]]
    assert all(e.startswith("data: ") for e in events[:-1])
    assert payloads[0]["object"] == "chat.completion.chunk"
    assert "tool_calls" not in payloads[1]["choices"][0]["delta"]  # no null fields in deltas
    usage = payloads[-1]["usage"]
    assert payloads[-1]["choices"] == []
    assert usage["total_tokens"] == 15 and usage["cost"] > 0
    events_seen = wait_events(events_file(proxy), lambda e: e["call_id"] == call_id)
    assert [e["kind"] for e in events_seen] == ["success"]


async def test_async_stream_openai_sdk(proxy: Proxy, fake: Any) -> None:
    fake.default_content = "streamed async"
    async with proxy.aclient() as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True,
            stream_options={"include_usage": True})
        parts, usage = [], None
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
            if chunk.usage:
                usage = chunk.usage
    assert "".join(parts) == "streamed async"
    assert usage is not None and usage.prompt_tokens == 10
    assert usage.model_extra["cost"] > 0


def test_text_completion_and_stream(proxy: Proxy, fake: Any) -> None:
    fake.default_content = "completed text"
    client = proxy.client()
    r = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once")
    assert r.choices[0].text == "completed text"
    assert fake.last.path.endswith("/completions") and fake.last.body["prompt"] == "Once"
    chunks = list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once",
                                            stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "completed text"


def test_embeddings(proxy: Proxy, fake: Any) -> None:
    client = proxy.client()
    r = client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"])
    assert [d.index for d in r.data] == [0, 1]
    assert len(r.data[0].embedding) == 8
    assert fake.last.body["input"] == ["a b", "c"]
    # also served without the /v1 prefix
    raw = proxy.http.post("/embeddings", json={"model": "mock", "input": "x"})
    assert raw.status_code == 200 and raw.json()["object"] == "list"


def test_models_endpoints(proxy: Proxy) -> None:
    client = proxy.client()
    ids = [m.id for m in client.models.list()]
    assert ids == ["gpt-4o-mini", "text-embedding-3-small", "gpt-3.5-turbo-instruct", "mock"]
    assert client.models.retrieve("mock").id == "mock"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_mock_model_no_upstream(proxy: Proxy, fake: Any) -> None:
    r = proxy.client().chat.completions.create(model="mock", messages=MESSAGES)
    assert r.choices[0].message.content
    assert fake.request_count == 0


@pytest.mark.parametrize(("body", "status", "param"), [
    (b"{not json", 400, None),
    (b"[1, 2]", 400, None),
    (b"", 400, None),
    (b"[" * 50000, 400, None),  # deeper than the JSON parser's recursion limit
    (json.dumps({"messages": MESSAGES}).encode(), 400, "model"),
    (json.dumps({"model": "gpt-4o-mini"}).encode(), 400, "messages"),
    (json.dumps({"model": "gpt-4o-mini", "messages": "hi"}).encode(), 400, "messages"),
    (json.dumps({"model": "gpt-4o-mini", "messages": ["hi"]}).encode(), 400, "messages[0]"),
    (json.dumps({"model": 5, "messages": MESSAGES}).encode(), 400, "model"),
    (json.dumps({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": 5}]}).encode(), 400, "messages[0].content"),
    (json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES,
                 "temperature": "hot"}).encode(), 400, "temperature"),
    (json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES,
                 "stream": "yes"}).encode(), 400, "stream"),
    (json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES,
                 "api_base": "http://evil.invalid"}).encode(), 400, "api_base"),
    (json.dumps({"model": "no-such-model", "messages": MESSAGES}).encode(), 404, "model"),
    (json.dumps({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "x" * 60000}]}).encode(), 413, None),
])
def test_bad_input_gets_openai_error(proxy: Proxy, fake: Any, body: bytes, status: int,
                                     param: str | None) -> None:
    r = proxy.http.post("/v1/chat/completions", content=body,
                        headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"] and "Traceback" not in r.text
    assert err["param"] == param
    assert "x-llmrelay-call-id" in r.headers
    assert fake.request_count == 0


def test_oversized_chunked_body(proxy: Proxy) -> None:
    def gen() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024
    r = proxy.http.post("/v1/chat/completions", content=gen())
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


def test_embeddings_missing_input(proxy: Proxy) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        proxy.client().embeddings.create(model="text-embedding-3-small", input=[])
    assert info.value.body["param"] == "input"


def test_unknown_route_and_method(proxy: Proxy) -> None:
    r = proxy.http.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = proxy.http.get("/v1/chat/completions")
    assert r.status_code == 405 and "error" in r.json()


@pytest.mark.parametrize(("status", "exc_type"), [
    (400, openai.BadRequestError), (401, openai.AuthenticationError),
    (404, openai.NotFoundError), (429, openai.RateLimitError),
    (500, openai.InternalServerError), (503, openai.InternalServerError),
])
def test_upstream_errors_keep_status_class(proxy: Proxy, fake: Any, status: int,
                                           exc_type: type[Exception]) -> None:
    fake.enqueue(*[Reply.error(status, f"upstream says {status}", headers={"Retry-After": "0"})
                   for _ in range(3)])
    with pytest.raises(exc_type) as info:
        proxy.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    err = info.value
    assert err.status_code == status  # type: ignore[attr-defined]
    assert f"upstream says {status}" in str(err)
    assert "x-llmrelay-call-id" in err.response.headers  # type: ignore[attr-defined]


def test_upstream_error_before_stream_starts_keeps_status(proxy: Proxy, fake: Any) -> None:
    fake.enqueue(Reply.error(429, "busy", type="rate_limit_error",
                             headers={"Retry-After": "0"}))
    with pytest.raises(openai.RateLimitError) as info:
        proxy.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                               stream=True)
    assert "busy" in str(info.value)


def test_upstream_error_mid_stream_is_sent_as_error_event(proxy: Proxy, fake: Any) -> None:
    fake.enqueue(Reply.sse([
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"content": "partial"}, "finish_reason": None}]},
    ], truncate=True))
    client = proxy.client()
    seen = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                    stream=True):
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["partial"]
    assert "failed" in str(info.value)


def test_client_disconnect_cancels_upstream_and_logs_one_event(proxy: Proxy,
                                                               fake: Any) -> None:
    fake.default_content = " ".join(f"w{i}" for i in range(200))
    fake.default_chunk_delay = 0.02
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    with httpx.Client(base_url=proxy.url, timeout=30) as http, \
            http.stream("POST", "/v1/chat/completions", json=body) as r:
        call_id = r.headers["x-llmrelay-call-id"]
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]
        assert any(line.startswith("data: {") for line in got)
        during = fake.open_connections()
        assert during >= 1
    # the proxy closed its upstream connection (a half-read reply cannot go back to the
    # pool) well before the 200 words were sent (at least that one closed: idle pooled
    # connections may close too, so not an exact count)
    assert wait_until(lambda: fake.open_connections() <= during - 1)
    events = wait_events(events_file(proxy), lambda e: e["call_id"] == call_id)
    assert len(events) == 1
    event = events[0]
    assert (event["kind"], event["stream_status"]) == ("success", "abandoned")
    # and one usage record, with what was streamed before the client left
    rows = wait_until(lambda: [r for r in proxy.spend_logs(1) if r["call_id"] == call_id])
    assert len(rows) == 1 and rows[0]["completion_tokens"] > 0
    # and no second event arrives later
    assert len(wait_events(events_file(proxy), lambda e: e["call_id"] == call_id, n=2,
                           timeout=0.5)) == 1


def test_health_and_metrics(proxy: Proxy, fake: Any) -> None:
    assert proxy.http.get("/health/liveliness").json() == {"status": "alive"}
    ready = proxy.http.get("/health/readiness").json()
    assert ready["status"] == "healthy" and ready["db"] == "connected"
    assert "pending" in ready["spend_writer"]
    proxy.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    text = proxy.http.get("/metrics").text
    assert "# TYPE llmrelay_requests_total counter" in text
    line = next(x for x in text.splitlines() if x.startswith(
        'llmrelay_requests_total{route="/v1/chat/completions",model="gpt-4o-mini",status="200"}'))
    assert int(line.rsplit(" ", 1)[1]) >= 1
    assert 'llmrelay_tokens_total{model="gpt-4o-mini",type="prompt"}' in text
    assert "llmrelay_spend_usd_total{" in text
    assert "llmrelay_request_duration_seconds_bucket{" in text
    assert "llmrelay_requests_in_flight 0" in text
    assert 'llmrelay_callback_failures_total{callback=' in text
