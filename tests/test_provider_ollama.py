"""Ollama's native wire: translation on recorded payloads, then whole calls against FakeOllama."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import pytest

import llmrelay
from fakes.ollama_server import FakeOllama, ollama_error, ollama_ndjson
from llmrelay.exceptions import (
    APIConnectionError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    UnsupportedParamsError,
)
from llmrelay.providers.base import Call
from llmrelay.providers.registry import get_provider, spec_for

MODEL = "llama3.2"
MSGS = [{"role": "user", "content": "Hello"}]
PROVIDER = get_provider(spec_for("ollama"))


def make_call(messages: Any = None, *, call_type: str = "completion", stream: bool = False,
              api_base: str | None = "http://ollama.test", api_key: str | None = None,
              model: str = MODEL, inp: Any = None, **params: Any) -> Call:
    return Call(call_type, model, spec_for("ollama"), messages, inp, params, stream, api_base,
                api_key)


@pytest.fixture(scope="module")
def ollama_server() -> Iterator[FakeOllama]:
    with FakeOllama() as srv:
        yield srv


@pytest.fixture
def oll(ollama_server: FakeOllama) -> Iterator[FakeOllama]:
    srv = ollama_server
    srv.reset()
    srv.default_content = "Hello from Ollama"
    srv.thinking = srv.tool_call = None
    srv.counts = {"prompt_eval_count": 10, "eval_count": 5}
    yield srv
    srv.reset()


def capture() -> list[tuple[dict[str, Any], Any]]:
    seen: list[tuple[dict[str, Any], Any]] = []
    llmrelay.success_callback = [lambda kw, resp, start, end: seen.append((kw, resp))]
    return seen


# ---- request translation ---------------------------------------------------------------------
def test_chat_request_shape() -> None:
    req = PROVIDER.build_request(make_call(
        [{"role": "developer", "content": "Be brief."}, *MSGS], temperature=0.1, top_p=0.9,
        max_tokens=64, stop="END", seed=3, presence_penalty=0.2, frequency_penalty=0.3))
    assert (req.method, req.url) == ("POST", "http://ollama.test/api/chat")
    assert "Authorization" not in req.headers
    assert req.body == {
        "model": MODEL,
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Hello"}],
        "stream": False,
        "options": {"temperature": 0.1, "top_p": 0.9, "seed": 3, "presence_penalty": 0.2,
                    "frequency_penalty": 0.3, "num_predict": 64, "stop": ["END"]}}


def test_stream_flag_base_and_key() -> None:
    req = PROVIDER.build_request(make_call(MSGS, stream=True, api_key="ollama-secret-key",
                                           api_base="http://box:11434/",
                                           stream_options={"include_usage": True}))
    assert req.url == "http://box:11434/api/chat"
    assert req.body is not None and req.body["stream"] is True
    assert "stream_options" not in req.body and "options" not in req.body
    assert req.headers["Authorization"] == "Bearer ollama-secret-key"
    default = PROVIDER.build_request(make_call(MSGS, api_base=None))
    assert default.url == "http://localhost:11434/api/chat"


def test_native_options_and_top_level_extras() -> None:
    body = PROVIDER.build_request(make_call(MSGS, num_ctx=8192, top_k=20, keep_alive="5m",
                                            think=True, max_completion_tokens=9)).body
    assert body is not None
    assert body["options"] == {"num_ctx": 8192, "top_k": 20, "num_predict": 9}
    assert body["keep_alive"] == "5m" and body["think"] is True


@pytest.mark.parametrize(("fmt", "expected"), [
    ({"type": "json_object"}, "json"),
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"a": {"type": "integer"}}}}},
     {"type": "object", "properties": {"a": {"type": "integer"}}}),
    ({"type": "text"}, None),
])
def test_response_format(fmt: Any, expected: Any) -> None:
    body = PROVIDER.build_request(make_call(MSGS, response_format=fmt)).body
    assert body is not None and body.get("format") == expected


def test_messages_images_and_tools() -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    messages = [
        {"role": "user", "content": [
            {"type": "text", "text": "What is this? "},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_9", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": "4C"},
    ]
    body = PROVIDER.build_request(make_call(messages, tools=tools)).body
    assert body is not None
    assert body["tools"] == tools
    assert body["messages"] == [
        {"role": "user", "content": "What is this? ", "images": ["iVBORw0"]},
        {"role": "assistant", "content": "",
         "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Oslo"}}}]},
        {"role": "tool", "content": "4C", "tool_name": "weather"},
    ]
    with pytest.raises(BadRequestError, match="inline only"):
        PROVIDER.build_request(make_call([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]))
    with pytest.raises(BadRequestError, match="not text completions"):
        PROVIDER.build_request(make_call(call_type="text_completion", inp="hi"))


def test_embed_request() -> None:
    req = PROVIDER.build_request(make_call(call_type="embedding", model="nomic-embed-text",
                                           inp=["a", "b"], dimensions=32))
    assert req.url == "http://ollama.test/api/embed"
    assert req.body == {"model": "nomic-embed-text", "input": ["a", "b"], "dimensions": 32}


# ---- reply translation -----------------------------------------------------------------------
REPLY = {
    "model": "llama3.2", "created_at": "2024-11-05T14:21:09.123456789Z",
    "message": {"role": "assistant", "content": "Sunny.", "thinking": "Check the sky."},
    "done": True, "done_reason": "stop", "total_duration": 5000, "prompt_eval_count": 26,
    "eval_count": 7,
}


def test_parse_chat_reply() -> None:
    r = PROVIDER.parse_response(make_call(MSGS), 200, {}, json.dumps(REPLY).encode())
    assert r.choices[0].message.content == "Sunny."
    assert r.choices[0].message.reasoning_content == "Check the sky."
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (26, 7,
                                                                                          33)
    assert r.created == 1730816469 and r.model == "llama3.2"


@pytest.mark.parametrize(("stamp", "epoch"), [
    ("2024-11-05T14:21:09.12345Z", 1730816469),
    ("2024-11-05T14:21:09.123456789-07:00", 1730816469 + 7 * 3600),
    ("2024-11-05T14:21:09+02:00", 1730816469 - 2 * 3600),
])
def test_created_at_parsing(stamp: str, epoch: int) -> None:
    data = {**REPLY, "created_at": stamp}
    r = PROVIDER.parse_response(make_call(MSGS), 200, {}, json.dumps(data).encode())
    assert r.created == epoch


def test_parse_tool_calls_and_length() -> None:
    tools = {**REPLY, "message": {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "weather", "arguments": {"city": "Oslo"}}},
        {"function": {"name": "time", "arguments": {}}}]}}
    r = PROVIDER.parse_response(make_call(MSGS), 200, {}, json.dumps(tools).encode())
    calls = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.content is None
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("weather", {"city": "Oslo"}), ("time", {})]
    assert all(c.id.startswith("call_") for c in calls) and calls[0].id != calls[1].id
    cut = {**REPLY, "done_reason": "length"}
    assert PROVIDER.parse_response(make_call(MSGS), 200, {}, json.dumps(cut).encode()
                                   ).choices[0].finish_reason == "length"
    with pytest.raises(APIConnectionError, match="no 'message'"):
        PROVIDER.parse_response(make_call(MSGS), 200, {}, b'{"done": true}')


def test_parse_embed_reply() -> None:
    data = {"model": "nomic-embed-text", "embeddings": [[0.1, 0.2], [0.3, 0.4]],
            "prompt_eval_count": 4}
    r = PROVIDER.parse_response(make_call(call_type="embedding", inp=["a", "b"]), 200, {},
                                json.dumps(data).encode())
    assert [e.embedding for e in r.data] == [[0.1, 0.2], [0.3, 0.4]]
    assert r.usage.prompt_tokens == 4 == r.usage.total_tokens
    call = make_call(call_type="embedding", inp=["a", "b"], encoding_format="base64")
    packed = PROVIDER.parse_response(call, 200, {}, json.dumps(data).encode())
    for got, want in zip(packed.data, data["embeddings"], strict=True):
        raw = base64.b64decode(got.embedding)
        assert struct.unpack("<2f", raw) == pytest.approx(want, rel=1e-6)


def test_embed_encoding_format_is_ours_not_the_body() -> None:
    req = PROVIDER.build_request(make_call(call_type="embedding", inp="a",
                                           encoding_format="base64"))
    assert req.body == {"model": MODEL, "input": "a"}
    with pytest.raises(BadRequestError, match="encoding_format"):
        PROVIDER.build_request(make_call(call_type="embedding", inp="a",
                                         encoding_format="binary"))


# ---- stream decoding -------------------------------------------------------------------------
def decode(call: Call, lines: list[Any]) -> list[Any]:
    dec = PROVIDER.stream_decoder(call)
    out: list[Any] = []
    for line in lines:
        out += dec.feed(line if isinstance(line, bytes) else json.dumps(line).encode())
    return out + dec.finish()


def test_stream_decoder() -> None:
    lines = [
        {"model": MODEL, "created_at": "2024-11-05T14:21:09Z",
         "message": {"role": "assistant", "content": "", "thinking": "hm"}, "done": False},
        {"model": MODEL, "message": {"role": "assistant", "content": "Hel"}, "done": False},
        b"",
        {"model": MODEL, "message": {"role": "assistant", "content": "lo"}, "done": False},
        {"model": MODEL, "message": {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "f", "arguments": {"x": 1}}}]}, "done": False},
        {"model": MODEL, "message": {"role": "assistant", "content": ""}, "done": True,
         "done_reason": "stop", "prompt_eval_count": 12, "eval_count": 3},
    ]
    chunks = decode(make_call(MSGS, stream=True), lines)
    assert len(chunks) == 6
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.reasoning_content == "hm"
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:5]) == "Hello"
    tc = chunks[3].choices[0].delta.tool_calls[0]
    assert (tc.index, tc.function.name, json.loads(tc.function.arguments)) == (0, "f", {"x": 1})
    assert chunks[4].choices[0].finish_reason == "tool_calls"
    assert chunks[5].choices == []
    assert (chunks[5].usage.prompt_tokens, chunks[5].usage.completion_tokens) == (12, 3)
    assert chunks[0].created == 1730816469 and len({c.id for c in chunks}) == 1


def test_stream_decoder_cut_and_errors() -> None:
    call = make_call(MSGS, stream=True)
    with pytest.raises(APIConnectionError, match="done: true"):
        decode(call, [{"message": {"role": "assistant", "content": "a"}, "done": False}])
    with pytest.raises(InternalServerError, match="out of memory"):
        decode(call, [{"error": "out of memory"}])
    with pytest.raises(APIConnectionError, match="unreadable"):
        decode(call, [b"{oops"])


# ---- error mapping ---------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "body", "cls"), [
    (404, b'{"error":"model \\"nope\\" not found, try pulling it first"}', NotFoundError),
    (400, b'{"error":"invalid options"}', BadRequestError),
    (400, b'{"error":"input is too long for the context length"}', ContextWindowExceededError),
    (500, b'{"error":"llama runner process has terminated"}', InternalServerError),
    (500, b"plain text failure", InternalServerError),
])
def test_map_error(status: int, body: bytes, cls: type[Exception]) -> None:
    exc = PROVIDER.map_error(make_call(MSGS), status, {}, body)
    assert type(exc) is cls and exc.status_code == status and exc.llm_provider == "ollama"
    if body.startswith(b"{"):
        assert exc.message == json.loads(body)["error"]


def test_unsupported_params(oll: FakeOllama) -> None:
    with pytest.raises(UnsupportedParamsError, match="n, tool_choice"):
        llmrelay.completion(model=f"ollama/{MODEL}", messages=MSGS, n=2, tool_choice="auto",
                            api_base=oll.url)
    assert oll.request_count == 0
    r = llmrelay.completion(model=f"ollama/{MODEL}", messages=MSGS, n=2, tool_choice="auto",
                            drop_params=True, api_base=oll.url)
    assert r.choices[0].message.content == "Hello from Ollama"
    assert oll.last is not None and "n" not in oll.last.body  # type: ignore[operator]


# ---- end to end over HTTP --------------------------------------------------------------------
def test_completion_end_to_end(oll: FakeOllama) -> None:
    seen = capture()
    r = llmrelay.completion(model=f"ollama/{MODEL}", messages=MSGS, temperature=0.5,
                            api_base=oll.url)
    assert r.choices[0].message.content == "Hello from Ollama"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (10, 5)
    rec = oll.last
    assert rec is not None and rec.path == "/api/chat" and rec.body is not None
    assert rec.body["stream"] is False and rec.body["options"] == {"temperature": 0.5}
    assert llmrelay.flush(5)
    kw, resp = seen[0]
    assert kw["additional_args"]["complete_input_dict"] == rec.body
    assert kw["response_cost"] is None  # local models have no price
    assert resp is r and r._hidden_params["custom_llm_provider"] == "ollama"


def test_acompletion_thinking_and_length(oll: FakeOllama) -> None:
    oll.thinking = "Let me see."
    seen = capture()
    r = asyncio.run(llmrelay.acompletion(model=f"ollama/{MODEL}", messages=MSGS, max_tokens=1,
                                         api_base=oll.url))
    assert r.choices[0].message.content == "Hello"
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.reasoning_content == "Let me see."
    assert llmrelay.flush(5)
    assert seen[0][0]["additional_args"]["complete_input_dict"]["options"] == {"num_predict": 1}
    assert seen[0][0]["response_cost"] is None


def test_stream_sync_end_to_end(oll: FakeOllama) -> None:
    seen = capture()
    chunks = list(llmrelay.completion(model=f"ollama/{MODEL}", messages=MSGS, stream=True,
                                      api_base=oll.url))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from Ollama"
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert oll.last is not None and oll.last.body is not None
    assert oll.last.body["stream"] is True
    assert llmrelay.flush(5)
    kw, resp = seen[0]
    assert kw["additional_args"]["complete_input_dict"] == oll.last.body
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (10, 5)
    assert kw["response_cost"] is None


def test_stream_async_tools_with_usage(oll: FakeOllama) -> None:
    oll.tool_call = {"name": "weather", "arguments": {"city": "Oslo"}}
    oll.counts = {"prompt_eval_count": 40, "eval_count": 9}
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    seen = capture()

    async def main() -> list[Any]:
        stream = await llmrelay.acompletion(model=f"ollama/{MODEL}", messages=MSGS,
                                            tools=tools, stream=True,
                                            stream_options={"include_usage": True},
                                            api_base=oll.url)
        return [c async for c in stream]

    chunks = asyncio.run(main())
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 49
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert llmrelay.flush(5)
    resp = seen[0][1]
    call = resp.choices[0].message.tool_calls[0]
    assert call.function.name == "weather" and json.loads(call.function.arguments) == {
        "city": "Oslo"}
    # the tool round trip is accepted by the server (arguments sent back as an object)
    history = [*MSGS, resp.choices[0].message.model_dump(),
               {"role": "tool", "tool_call_id": call.id, "content": "4C"}]
    oll.tool_call = None
    r = llmrelay.completion(model=f"ollama/{MODEL}", messages=history, tools=tools,
                            api_base=oll.url)
    assert r.choices[0].message.content == "Hello from Ollama"
    sent = oll.last.body["messages"]  # type: ignore[index]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}
    assert sent[2] == {"role": "tool", "content": "4C", "tool_name": "weather"}


def test_embedding_end_to_end(oll: FakeOllama) -> None:
    seen = capture()
    r = llmrelay.embedding(model="ollama/nomic-embed-text", input=["one two", "three"],
                           dimensions=3, api_base=oll.url)
    assert [len(e.embedding) for e in r.data] == [3, 3]
    assert r.usage.prompt_tokens == 3
    r2 = asyncio.run(llmrelay.aembedding(model="ollama/nomic-embed-text", input="solo",
                                         api_base=oll.url))
    assert len(r2.data) == 1 and r2.usage.prompt_tokens == 1
    assert oll.last is not None and oll.last.path == "/api/embed"
    assert llmrelay.flush(5)
    assert seen[1][0]["additional_args"]["complete_input_dict"] == oll.last.body
    assert [s[0]["response_cost"] for s in seen] == [None, None]


def test_registered_price_for_a_local_model(oll: FakeOllama) -> None:
    """Local models are unpriced until the user gives a price; then it is used exactly."""
    saved = {k: dict(v) for k, v in llmrelay.model_cost.items()}
    llmrelay.register_model({f"ollama/{MODEL}": {"input_cost_per_token": 2e-8,
                                                 "output_cost_per_token": 5e-8},
                             "ollama/nomic-embed-text": {"input_cost_per_token": 1e-9,
                                                         "output_cost_per_token": 0.0,
                                                         "mode": "embedding"}})
    try:
        seen = capture()
        oll.counts = {"prompt_eval_count": 1200, "eval_count": 340}
        llmrelay.completion(model=f"ollama/{MODEL}", messages=MSGS, api_base=oll.url)
        list(llmrelay.completion(model=f"ollama/{MODEL}", messages=MSGS, stream=True,
                                 api_base=oll.url))
        emb = llmrelay.embedding(model="ollama/nomic-embed-text", input=["one two", "three"],
                                 api_base=oll.url)
        assert llmrelay.flush(5)
        assert [kw["response_cost"] for kw, _ in seen] == [
            pytest.approx(1200 * 2e-8 + 340 * 5e-8), pytest.approx(1200 * 2e-8 + 340 * 5e-8),
            pytest.approx(emb.usage.prompt_tokens * 1e-9)]
    finally:
        llmrelay.model_cost.clear()
        llmrelay.model_cost.update(saved)


def test_embedding_base64_end_to_end(oll: FakeOllama) -> None:
    floats = llmrelay.embedding(model="ollama/nomic-embed-text", input=["one two", "three"],
                                dimensions=5, api_base=oll.url)
    packed = llmrelay.embedding(model="ollama/nomic-embed-text", input=["one two", "three"],
                                dimensions=5, encoding_format="base64", api_base=oll.url)
    assert oll.last is not None and oll.last.body == {
        "model": "nomic-embed-text", "input": ["one two", "three"], "dimensions": 5}
    for f, b in zip(floats.data, packed.data, strict=True):
        assert struct.unpack("<5f", base64.b64decode(b.embedding)) == pytest.approx(
            f.embedding, rel=1e-6)


def test_env_base_and_key(oll: FakeOllama, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_BASE", oll.url)
    monkeypatch.setenv("OLLAMA_API_KEY", "ollama-env-key-0000")
    llmrelay.completion(model=f"ollama/{MODEL}", messages=MSGS)
    assert oll.last is not None
    assert oll.last.headers["authorization"] == "Bearer ollama-env-key-0000"


def test_http_errors(oll: FakeOllama) -> None:
    with pytest.raises(NotFoundError, match="try pulling it first"):
        llmrelay.completion(model="ollama/not-pulled", messages=MSGS, api_base=oll.url)
    with pytest.raises(NotFoundError):
        asyncio.run(llmrelay.aembedding(model="ollama/not-pulled", input="x", api_base=oll.url))
    oll.enqueue(ollama_error(500, "llama runner process has terminated"))
    with pytest.raises(InternalServerError, match="terminated"):
        list(llmrelay.completion(model=f"ollama/{MODEL}", messages=MSGS, stream=True,
                                 api_base=oll.url))
    oll.enqueue(ollama_error(503, "server busy"))
    r = llmrelay.completion(model=f"ollama/{MODEL}", messages=MSGS, num_retries=1,
                            api_base=oll.url)
    assert r.choices[0].message.content == "Hello from Ollama"


def test_streams_cut_short(oll: FakeOllama) -> None:
    line = {"model": MODEL, "message": {"role": "assistant", "content": "Hi"}, "done": False}
    oll.enqueue(ollama_ndjson([line, line]))  # ends cleanly without done: true
    failures: list[Any] = []
    llmrelay.failure_callback = [lambda kw, resp, start, end: failures.append(kw)]
    with pytest.raises(APIConnectionError, match="done: true"):
        list(llmrelay.completion(model=f"ollama/{MODEL}", messages=MSGS, stream=True,
                                 api_base=oll.url))
    oll.enqueue(ollama_ndjson([line], truncate=True))

    async def main() -> None:
        stream = await llmrelay.acompletion(model=f"ollama/{MODEL}", messages=MSGS,
                                            stream=True, api_base=oll.url)
        async for _ in stream:
            pass

    with pytest.raises(APIConnectionError):
        asyncio.run(main())
    assert llmrelay.flush(5)
    assert len(failures) == 2
    assert all(isinstance(f["exception"], APIConnectionError) for f in failures)
