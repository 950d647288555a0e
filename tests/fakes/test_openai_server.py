"""Tests of the fake OpenAI upstream itself (plain httpx, no llmrelay imports)."""

from __future__ import annotations

import base64
import json
import logging
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from .openai_server import FakeOpenAI, Reply, split_words

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    }
]


@pytest.fixture
def srv() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def sse_events(text: str) -> list[str]:
    """Split an SSE body into the payloads of its ``data:`` events (strict framing)."""
    assert text.endswith("\n\n"), repr(text[-40:])
    out = []
    for block in text.split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        out.append(block[len("data: ") :])
    return out


def stream_chunks(srv: FakeOpenAI, client: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    resp = client.post(srv.url + path, json=body)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/event-stream"
    events = sse_events(resp.text)
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_lifecycle_urls_and_stop() -> None:
    srv = FakeOpenAI()
    with pytest.raises(RuntimeError):
        _ = srv.url
    assert srv.start() is srv
    assert srv.start() is srv  # idempotent
    assert srv.running
    assert srv.base == f"http://127.0.0.1:{srv.port}"
    assert srv.url == srv.base + "/v1"
    assert httpx.get(srv.url + "/models").status_code == 200
    srv.stop()
    srv.stop()  # idempotent
    assert not srv.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(srv.url + "/models")


def test_chat_default_and_recording(srv: FakeOpenAI, client: httpx.Client) -> None:
    resp = client.post(
        srv.url + "/chat/completions",
        json=CHAT,
        headers={"Authorization": "Bearer sk-test", "X-Custom": "1"},
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    data = resp.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-fake")
    assert data["model"] == "gpt-4o-mini"
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Hello from fake"
    assert choice["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}

    second = client.post(srv.url + "/chat/completions", json=CHAT).json()
    assert second["id"] != data["id"]

    assert len(srv.requests) == 2
    rec = srv.requests[0]
    assert rec.method == "POST"
    assert rec.path == "/v1/chat/completions"
    assert rec.headers["authorization"] == "Bearer sk-test"
    assert rec.headers["x-custom"] == "1"
    assert rec.body == CHAT
    assert json.loads(rec.raw) == CHAT
    assert srv.last is srv.requests[-1]

    srv.default_content = "Custom text"
    srv.default_usage = {"prompt_tokens": 3, "completion_tokens": 2}
    data = client.post(srv.url + "/chat/completions", json=CHAT).json()
    assert data["choices"][0]["message"]["content"] == "Custom text"
    assert data["usage"]["total_tokens"] == 5

    srv.reset()
    assert srv.requests == []
    assert srv.last is None


def test_chat_stream_matches_openai_framing(srv: FakeOpenAI, client: httpx.Client) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    chunks = stream_chunks(srv, client, "/chat/completions", body)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[0]["choices"][0]["delta"]["content"] == ""
    words = [c["choices"][0]["delta"]["content"] for c in chunks[1:4]]
    assert words == ["Hello", " from", " fake"]
    assert chunks[4]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert chunks[5]["choices"] == []
    assert chunks[5]["usage"]["completion_tokens"] == 5
    assert len(chunks) == 6

    chunks = stream_chunks(srv, client, "/chat/completions", {**CHAT, "stream": True})
    assert len(chunks) == 5
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)


def test_split_words_keeps_leading_space() -> None:
    assert split_words("Hello from fake") == ["Hello", " from", " fake"]
    assert "".join(split_words("  a b\n c  ")) == "  a b\n c  "
    assert split_words("") == []


def test_tool_calls(srv: FakeOpenAI, client: httpx.Client) -> None:
    args = json.dumps({"city": "Paris", "unit": "celsius"})
    srv.tool_call = {"name": "get_weather", "arguments": args}

    # No tools in the request: plain text even with tool_call configured.
    plain = client.post(srv.url + "/chat/completions", json=CHAT).json()
    assert plain["choices"][0]["message"]["content"] == "Hello from fake"

    data = client.post(srv.url + "/chat/completions", json={**CHAT, "tools": TOOLS}).json()
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": args}

    body = {**CHAT, "tools": TOOLS, "stream": True}
    chunks = stream_chunks(srv, client, "/chat/completions", body)
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["index"] == 0
    assert first["id"].startswith("call_")
    assert first["function"]["name"] == "get_weather"
    arg_pieces = [
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for c in chunks[1:]
        if c["choices"][0]["delta"].get("tool_calls")
    ]
    assert 2 <= len(arg_pieces) <= 3
    assert "".join(arg_pieces) == args
    assert all(
        "id" not in c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks[1:]
        if c["choices"][0]["delta"].get("tool_calls")
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_completions(srv: FakeOpenAI, client: httpx.Client) -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}
    data = client.post(srv.url + "/completions", json=body).json()
    assert data["object"] == "text_completion"
    assert data["model"] == "gpt-3.5-turbo-instruct"
    assert data["choices"][0]["text"] == "Hello from fake"
    assert data["choices"][0]["finish_reason"] == "stop"

    stream = {**body, "stream": True, "stream_options": {"include_usage": True}}
    chunks = stream_chunks(srv, client, "/completions", stream)
    texts = [c["choices"][0]["text"] for c in chunks if c["choices"]]
    assert texts == ["Hello", " from", " fake", ""]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 10


def test_embeddings(srv: FakeOpenAI, client: httpx.Client) -> None:
    url = srv.url + "/embeddings"
    one = client.post(url, json={"model": "text-embedding-3-small", "input": "hello world"}).json()
    assert one["object"] == "list"
    assert one["model"] == "text-embedding-3-small"
    assert len(one["data"]) == 1
    vec = one["data"][0]["embedding"]
    assert len(vec) == 8 and all(isinstance(v, float) for v in vec)
    assert one["usage"] == {"prompt_tokens": 2, "total_tokens": 2}

    many = client.post(
        url, json={"model": "e", "input": ["hello world", "other text here"], "dimensions": 4}
    ).json()
    assert [d["index"] for d in many["data"]] == [0, 1]
    assert all(len(d["embedding"]) == 4 for d in many["data"])
    assert many["data"][0]["embedding"] != many["data"][1]["embedding"]
    assert many["usage"]["prompt_tokens"] == 5

    again = client.post(url, json={"model": "x", "input": ["hello world"]}).json()
    assert again["data"][0]["embedding"] == vec  # deterministic

    srv.embedding_dim = 3
    b64 = client.post(
        url, json={"model": "x", "input": "hello world", "encoding_format": "base64"}
    ).json()
    decoded = struct.unpack("<3f", base64.b64decode(b64["data"][0]["embedding"]))
    assert len(decoded) == 3


def test_models(srv: FakeOpenAI, client: httpx.Client) -> None:
    data = client.get(srv.url + "/models").json()
    assert data["object"] == "list"
    assert {m["id"] for m in data["data"]} >= {"gpt-4o-mini"}
    assert all(m["object"] == "model" for m in data["data"])
    one = client.get(srv.url + "/models/gpt-4o").json()
    assert one["id"] == "gpt-4o" and one["object"] == "model"


def test_path_suffix_matching(srv: FakeOpenAI, client: httpx.Client) -> None:
    azure = srv.base + "/openai/deployments/my-dep/chat/completions?api-version=2024-06-01"
    resp = client.post(azure, json=CHAT, headers={"api-key": "az"})
    assert resp.json()["object"] == "chat.completion"
    assert srv.last is not None
    assert srv.last.path == "/openai/deployments/my-dep/chat/completions"
    assert srv.last.query == {"api-version": "2024-06-01"}
    assert srv.last.headers["api-key"] == "az"

    bare = client.post(srv.base + "/chat/completions", json=CHAT).json()
    assert bare["object"] == "chat.completion"
    emb = client.post(srv.base + "/embeddings", json={"model": "m", "input": "x"}).json()
    assert emb["object"] == "list"
    comp = client.post(srv.base + "/completions", json={"model": "m", "prompt": "x"}).json()
    assert comp["object"] == "text_completion"
    assert client.get(srv.base + "/models").json()["object"] == "list"


def test_default_errors(srv: FakeOpenAI, client: httpx.Client) -> None:
    resp = client.post(srv.url + "/nope", json=CHAT)
    assert resp.status_code == 404
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}

    resp = client.post(srv.url + "/chat/completions", content=b"{not json")
    assert resp.status_code == 400
    assert srv.last is not None and srv.last.body is None and srv.last.raw == b"{not json"

    resp = client.post(srv.url + "/chat/completions", json={"messages": []})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "model"

    assert client.get(srv.url + "/chat/completions").status_code == 405

    srv.require_api_key = "sk-good"
    assert client.post(srv.url + "/chat/completions", json=CHAT).status_code == 401
    ok = client.post(
        srv.url + "/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-good"}
    )
    assert ok.status_code == 200


def test_scripted_replies_in_order_then_default(srv: FakeOpenAI, client: httpx.Client) -> None:
    srv.enqueue(
        Reply.error(429, "Rate limit reached", type="requests", headers={"Retry-After": "0"}),
        Reply(status=502, body=b"<html>Bad Gateway</html>", headers={"Content-Type": "text/html"}),
        Reply(json={"custom": True}),
        Reply(status=200, body=b"{definitely not json"),
    )
    assert srv.pending_replies() == 4
    url = srv.url + "/chat/completions"

    r = client.post(url, json=CHAT)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "0"
    assert r.json() == {
        "error": {"message": "Rate limit reached", "type": "requests", "param": None, "code": None}
    }

    r = client.post(srv.url + "/embeddings", json={"model": "m", "input": "x"})  # any endpoint
    assert r.status_code == 502
    assert r.headers["content-type"] == "text/html"
    assert r.text == "<html>Bad Gateway</html>"

    assert client.post(url, json=CHAT).json() == {"custom": True}

    r = client.post(url, json=CHAT)
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()

    assert srv.pending_replies() == 0
    assert client.post(url, json=CHAT).json()["object"] == "chat.completion"
    assert len(srv.requests) == 5

    # A reply without body/json/stream: default reply with the status and headers applied,
    # or a generic OpenAI error for status >= 400.
    srv.enqueue(Reply(headers={"X-Extra": "yes"}), Reply(status=503))
    r = client.post(url, json=CHAT)
    assert r.headers["x-extra"] == "yes" and r.json()["object"] == "chat.completion"
    r = client.post(url, json=CHAT)
    assert r.status_code == 503 and "error" in r.json()

    srv.enqueue(Reply.error(500, "boom"))
    srv.reset()
    assert srv.pending_replies() == 0
    assert client.post(url, json=CHAT).status_code == 200


def test_delay_triggers_client_timeout(srv: FakeOpenAI) -> None:
    srv.enqueue(Reply(delay=2.0, json={"late": True}))
    start = time.monotonic()
    with httpx.Client(timeout=0.2) as c, pytest.raises(httpx.ReadTimeout):
        c.post(srv.url + "/chat/completions", json=CHAT)
    assert time.monotonic() - start < 1.5
    assert srv.last is not None and srv.last.body == CHAT  # recorded before the delay
    with httpx.Client(timeout=5) as c:
        assert c.post(srv.url + "/chat/completions", json=CHAT).status_code == 200


def test_stream_lines_verbatim(srv: FakeOpenAI, client: httpx.Client) -> None:
    lines = [": keep-alive", 'data: {"a":1}', "event: x\ndata: 2"]
    srv.enqueue(Reply(stream_lines=lines), Reply(stream_lines=[*lines, "data: [DONE]"]))
    for _ in range(2):
        r = client.post(srv.url + "/chat/completions", json=CHAT)
        assert r.headers["content-type"] == "text/event-stream"
        assert r.text == ': keep-alive\n\ndata: {"a":1}\n\nevent: x\ndata: 2\n\ndata: [DONE]\n\n'

    srv.enqueue(Reply.sse([{"b": 2}], done=False))
    assert client.post(srv.url + "/chat/completions", json=CHAT).text == 'data: {"b":2}\n\n'


def test_truncated_stream_breaks_the_connection(srv: FakeOpenAI, client: httpx.Client) -> None:
    srv.enqueue(Reply.sse([{"n": 1}, {"n": 2}], truncate=True, chunk_delay=0.01))
    received = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", srv.url + "/chat/completions", json=CHAT) as resp,
    ):
        for line in resp.iter_lines():
            if line:
                received.append(line)
    assert received == ['data: {"n":1}', 'data: {"n":2}']
    # The server keeps working afterwards.
    assert client.post(srv.url + "/chat/completions", json=CHAT).status_code == 200


def test_connection_reuse_and_no_leaks(srv: FakeOpenAI) -> None:
    with httpx.Client() as c:
        for _ in range(5):
            assert c.post(srv.url + "/chat/completions", json=CHAT).status_code == 200
        body = {**CHAT, "stream": True}
        assert c.post(srv.url + "/chat/completions", json=body).text.endswith("[DONE]\n\n")
        assert srv.open_connections() == 1
        assert srv.connections_total == 1
    assert srv.wait_for_open_connections(0)

    for _ in range(3):  # a new client each time: new connections, all closed afterwards
        with httpx.Client() as c:
            c.get(srv.url + "/models")
    assert srv.wait_for_open_connections(0)
    assert srv.connections_total == 4


def test_client_disconnect_mid_stream_is_quiet(
    srv: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    srv.default_chunk_delay = 0.05
    srv.default_content = " ".join(f"w{i}" for i in range(40))
    body = {**CHAT, "stream": True}
    with (
        httpx.Client(timeout=5) as c,
        c.stream("POST", srv.url + "/chat/completions", json=body) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("data:"):
                break
        # Leaving the block closes the response mid-stream, which drops the connection.
    assert srv.wait_for_open_connections(0)
    srv.enqueue(Reply.sse(["data: 1"] * 50, chunk_delay=0.02))
    with (
        httpx.Client(timeout=5) as c,
        c.stream("POST", srv.url + "/chat/completions", json=CHAT) as r,
    ):
        next(r.iter_lines())
    assert srv.wait_for_open_connections(0)
    time.sleep(0.2)  # let the server notice and finish cancelling
    srv.default_chunk_delay = 0
    with httpx.Client() as c:
        assert c.post(srv.url + "/chat/completions", json=CHAT).status_code == 200
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == []


def test_many_concurrent_requests(srv: FakeOpenAI) -> None:
    srv.default_delay = 0.05
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with httpx.Client(limits=limits, timeout=10) as c:

        def one(i: int) -> str:
            body = {**CHAT, "model": f"m{i}", "stream": i % 2 == 0}
            r = c.post(srv.url + "/chat/completions", json=body)
            assert r.status_code == 200
            return body["model"]

        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=64) as pool:
            models = list(pool.map(one, range(256)))
        elapsed = time.monotonic() - start
        assert srv.open_connections() <= 64
    assert len(models) == 256
    assert sorted(r.body["model"] for r in srv.requests if r.body) == sorted(models)
    assert elapsed < 5  # requests are served concurrently, not one after another
    assert srv.wait_for_open_connections(0)


def test_record_off_for_benchmarks(client: httpx.Client) -> None:
    with FakeOpenAI(record=False) as srv:
        for _ in range(3):
            client.post(srv.url + "/chat/completions", json=CHAT)
        assert srv.requests == [] and srv.request_count == 3
        srv.reset()
        assert srv.request_count == 0


def test_wait_for_requests(srv: FakeOpenAI, client: httpx.Client) -> None:
    with pytest.raises(TimeoutError):
        srv.wait_for_requests(1, timeout=0.05)
    client.get(srv.url + "/models")
    assert len(srv.wait_for_requests(1, timeout=1)) == 1


def test_openai_sdk_against_fake(srv: FakeOpenAI) -> None:
    openai = pytest.importorskip("openai")
    sdk = openai.OpenAI(base_url=srv.url, api_key="sk-test", max_retries=0)
    try:
        out = sdk.chat.completions.create(model="gpt-4o-mini", messages=CHAT["messages"])
        assert out.choices[0].message.content == "Hello from fake"
        assert out.usage is not None and out.usage.total_tokens == 15

        stream = sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=CHAT["messages"],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Hello from fake"
        assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 10

        srv.tool_call = {"name": "get_weather", "arguments": {"city": "Oslo"}}
        out = sdk.chat.completions.create(model="m", messages=CHAT["messages"], tools=TOOLS)
        calls = out.choices[0].message.tool_calls
        assert calls is not None
        assert json.loads(calls[0].function.arguments) == {"city": "Oslo"}

        emb = sdk.embeddings.create(model="text-embedding-3-small", input=["a b", "c"])
        assert len(emb.data) == 2 and len(emb.data[0].embedding) == 8
        assert emb.usage.prompt_tokens == 3

        srv.enqueue(Reply.error(400, "bad things", code="bad_code"))
        with pytest.raises(openai.BadRequestError) as info:
            sdk.chat.completions.create(model="m", messages=CHAT["messages"])
        assert info.value.code == "bad_code"

        assert "gpt-4o-mini" in [m.id for m in sdk.models.list()]
    finally:
        sdk.close()
