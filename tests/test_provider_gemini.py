"""The Gemini wire: translation on recorded payloads, then whole calls against FakeGemini."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import pytest

import llmrelay
from fakes.gemini_server import FakeGemini, gemini_error, gemini_sse
from llmrelay.exceptions import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedParamsError,
)
from llmrelay.providers.base import Call
from llmrelay.providers.registry import get_provider, spec_for
from llmrelay.tokens import token_counter

MODEL = "gemini-2.0-flash"
MSGS = [{"role": "user", "content": "Hello"}]
KEY = "AIza-test-key-0123456789"
PROVIDER = get_provider(spec_for("gemini"))


def make_call(messages: Any = None, *, call_type: str = "completion", stream: bool = False,
              api_base: str | None = "http://gemini.test", api_key: str | None = KEY,
              api_version: str | None = None, model: str = MODEL, inp: Any = None,
              **params: Any) -> Call:
    return Call(call_type, model, spec_for("gemini"), messages, inp, params, stream, api_base,
                api_key, api_version)


def price(model: str, prompt: int, completion: int, cached: int = 0) -> float:
    row = llmrelay.cost.lookup(model)
    assert row is not None
    read = row.get("cache_read_input_token_cost", row["input_cost_per_token"])
    return float((prompt - cached) * row["input_cost_per_token"] + cached * read
                 + completion * row["output_cost_per_token"])


@pytest.fixture(scope="module")
def gemini_server() -> Iterator[FakeGemini]:
    with FakeGemini() as srv:
        yield srv


@pytest.fixture
def gem(gemini_server: FakeGemini) -> Iterator[FakeGemini]:
    srv = gemini_server
    srv.reset()
    srv.default_content = "Hello from Gemini"
    srv.thought = srv.tool_call = srv.block_reason = srv.require_api_key = None
    srv.usage = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
    srv.finish_reason = "STOP"
    yield srv
    srv.reset()


@pytest.fixture
def args(gem: FakeGemini) -> dict[str, str]:
    return {"api_base": gem.url, "api_key": KEY}


def capture() -> list[tuple[dict[str, Any], Any]]:
    seen: list[tuple[dict[str, Any], Any]] = []
    llmrelay.success_callback = [lambda kw, resp, start, end: seen.append((kw, resp))]
    return seen


# ---- request translation ---------------------------------------------------------------------
def test_request_url_headers_and_generation_config() -> None:
    call = make_call(MSGS, temperature=0.3, top_p=0.8, max_tokens=50, n=2, stop="END",
                     seed=7, presence_penalty=0.1, frequency_penalty=0.2)
    req = PROVIDER.build_request(call)
    assert req.method == "POST"
    assert req.url == f"http://gemini.test/v1beta/models/{MODEL}:generateContent"
    assert req.headers["x-goog-api-key"] == KEY and "Authorization" not in req.headers
    assert req.body == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "generationConfig": {"temperature": 0.3, "topP": 0.8, "candidateCount": 2, "seed": 7,
                             "presencePenalty": 0.1, "frequencyPenalty": 0.2,
                             "maxOutputTokens": 50, "stopSequences": ["END"]}}
    assert "model" not in req.body


def test_request_urls_stream_version_and_prefixes() -> None:
    stream = PROVIDER.build_request(make_call(MSGS, stream=True, stream_options={
        "include_usage": True}))
    assert stream.url.endswith(f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse")
    assert stream.body is not None and "stream_options" not in stream.body
    v1 = PROVIDER.build_request(make_call(MSGS, api_version="v1"))
    assert v1.url == f"http://gemini.test/v1/models/{MODEL}:generateContent"
    based = PROVIDER.build_request(make_call(MSGS, api_base="http://gemini.test/v1beta/"))
    assert based.url == f"http://gemini.test/v1beta/models/{MODEL}:generateContent"
    tuned = PROVIDER.build_request(make_call(MSGS, model="tunedModels/my-tune"))
    assert tuned.url.endswith("/v1beta/tunedModels/my-tune:generateContent")
    default = PROVIDER.build_request(make_call(MSGS, api_base=None))
    assert default.url.startswith("https://generativelanguage.googleapis.com/v1beta/models/")


def test_max_completion_tokens_wins_and_stop_list() -> None:
    body = PROVIDER.build_request(make_call(MSGS, max_tokens=5, max_completion_tokens=9,
                                            stop=["a", "b"])).body
    assert body is not None
    assert body["generationConfig"] == {"maxOutputTokens": 9, "stopSequences": ["a", "b"]}


def test_messages_become_contents() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
        {"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0"}},
            {"type": "image_url", "image_url": "https://example.com/cat.jpg"},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
            {"id": "call_2", "type": "function",
             "function": {"name": "time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 4}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": ""},
    ]
    body = PROVIDER.build_request(make_call(messages)).body
    assert body is not None
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."},
                                                   {"text": "Use metric units."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [
            {"text": "What is in this picture?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0"}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}},
        ]},
        {"role": "model", "parts": [
            {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}},
            {"functionCall": {"name": "time", "args": {}}}]},
        {"role": "user", "parts": [  # tool results and the next user turn merge into one
            {"functionResponse": {"name": "weather", "response": {"temp_c": 4}}},
            {"functionResponse": {"name": "time", "response": {"content": "noon"}}},
            {"text": "Thanks"}]},
    ]


def test_bad_messages_raise_before_io() -> None:
    orphan = [{"role": "user", "content": "x"},
              {"role": "tool", "tool_call_id": "nope", "content": "1"}]
    with pytest.raises(BadRequestError, match="tool_call_id"):
        PROVIDER.build_request(make_call(orphan))
    with pytest.raises(BadRequestError, match="unsupported content part"):
        PROVIDER.build_request(make_call([{"role": "user", "content": [{"type": "video"}]}]))
    with pytest.raises(BadRequestError, match="at least one"):
        PROVIDER.build_request(make_call([{"role": "system", "content": "only system"}]))


def test_tools_schema_cleaning_and_response_format() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
        "additionalProperties": False,
        "properties": {"city": {"type": "string", "description": "name"},
                       "unit": {"type": ["string", "null"], "enum": ["c", "f", None]},
                       "where": {"$ref": "#/$defs/Place"}},
        "required": ["city"],
        "$defs": {"Place": {"type": "object", "additionalProperties": False,
                            "properties": {"lat": {"type": "number"}}}},
    }
    tools = [{"type": "function", "function": {"name": "weather", "description": "Weather",
                                               "parameters": schema}},
             {"type": "function", "function": {"name": "ping", "parameters": {
                 "type": "object", "properties": {}}}},
             {"googleSearch": {}}]
    body = PROVIDER.build_request(make_call(
        MSGS, tools=tools, tool_choice="required",
        response_format={"type": "json_schema", "json_schema": {"name": "w", "strict": True,
                                                                "schema": schema}})).body
    assert body is not None
    cleaned = {"type": "object", "required": ["city"], "properties": {
        "city": {"type": "string", "description": "name"},
        "unit": {"type": "string", "enum": ["c", "f", None], "nullable": True},
        "where": {"type": "object", "properties": {"lat": {"type": "number"}}}}}
    assert body["tools"] == [
        {"functionDeclarations": [
            {"name": "weather", "description": "Weather", "parameters": cleaned},
            {"name": "ping"}]},
        {"googleSearch": {}}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert body["generationConfig"] == {"responseMimeType": "application/json",
                                        "responseSchema": cleaned}
    plain = PROVIDER.build_request(make_call(MSGS, response_format={"type": "json_object"}))
    assert plain.body is not None
    assert plain.body["generationConfig"] == {"responseMimeType": "application/json"}


@pytest.mark.parametrize(("choice", "config"), [
    ("auto", {"mode": "AUTO"}),
    ("none", {"mode": "NONE"}),
    ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "f"}},
     {"mode": "ANY", "allowedFunctionNames": ["f"]}),
])
def test_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "integer"}}}}}]
    body = PROVIDER.build_request(make_call(MSGS, tools=tools, tool_choice=choice)).body
    assert body is not None and body["toolConfig"] == {"functionCallingConfig": config}


def test_vendor_extras_land_in_their_place() -> None:
    body = PROVIDER.build_request(make_call(
        MSGS, top_k=4, safety_settings=[{"category": "HARM_CATEGORY_HATE_SPEECH",
                                          "threshold": "BLOCK_NONE"}],
        thinking_config={"thinkingBudget": 0})).body
    assert body is not None
    assert body["generationConfig"] == {"topK": 4, "thinkingConfig": {"thinkingBudget": 0}}
    assert body["safetySettings"][0]["threshold"] == "BLOCK_NONE"


def test_embedding_request() -> None:
    req = PROVIDER.build_request(make_call(call_type="embedding", model="text-embedding-004",
                                           inp=["a", "b"], dimensions=16))
    assert req.url == "http://gemini.test/v1beta/models/text-embedding-004:batchEmbedContents"
    assert req.body == {"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]},
         "outputDimensionality": 16},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]},
         "outputDimensionality": 16}]}
    with pytest.raises(BadRequestError, match="strings only"):
        PROVIDER.build_request(make_call(call_type="embedding", inp=[[1, 2, 3]]))


def test_missing_key_and_text_completion_fail_before_io() -> None:
    with pytest.raises(AuthenticationError, match="GEMINI_API_KEY"):
        PROVIDER.build_request(make_call(MSGS, api_base=None, api_key=None))
    # a self-hosted gateway in front of Gemini may take no key
    assert PROVIDER.build_request(make_call(MSGS, api_key=None)).headers.get(
        "x-goog-api-key") is None
    with pytest.raises(BadRequestError, match="not text completions"):
        PROVIDER.build_request(make_call(call_type="text_completion", inp="hi"))


# ---- reply translation -----------------------------------------------------------------------
REPLY = {
    "candidates": [{
        "content": {"role": "model", "parts": [
            {"text": "Let me think.", "thought": True},
            {"text": "It is "}, {"text": "sunny."},
            {"functionCall": {"name": "weather", "args": {"city": "Oslo"}},
             "thoughtSignature": "c2lnbmF0dXJl"}]},
        "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
                      "thoughtsTokenCount": 12, "cachedContentTokenCount": 40,
                      "totalTokenCount": 132},
    "modelVersion": "gemini-2.0-flash-001", "responseId": "resp-1",
}


def test_parse_response_maps_parts_usage_and_finish() -> None:
    call = make_call(MSGS)
    r = PROVIDER.parse_response(call, 200, {}, json.dumps(REPLY).encode())
    choice = r.choices[0]
    assert choice.message.content == "It is sunny."
    assert choice.message.reasoning_content == "Let me think."
    assert choice.finish_reason == "tool_calls"
    tc = choice.message.tool_calls[0]
    assert tc.type == "function" and tc.function.name == "weather"
    assert json.loads(tc.function.arguments) == {"city": "Oslo"}
    assert tc.id.startswith("call_")
    assert r.id == "resp-1" and r.model == "gemini-2.0-flash-001"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (100, 32, 132)
    assert u.completion_tokens_details.reasoning_tokens == 12
    assert u.prompt_tokens_details.cached_tokens == 40
    # the thought signature rides in the id and goes back to Gemini with the next turn
    follow = [*MSGS, {"role": "assistant", "tool_calls": [tc.model_dump()]},
              {"role": "tool", "tool_call_id": tc.id, "content": "sunny"}]
    body = PROVIDER.build_request(make_call(follow)).body
    assert body is not None
    assert body["contents"][1]["parts"][0] == {
        "functionCall": {"name": "weather", "args": {"city": "Oslo"}},
        "thoughtSignature": "c2lnbmF0dXJl"}
    assert body["contents"][2]["parts"][0]["functionResponse"]["name"] == "weather"


@pytest.mark.parametrize(("reason", "finish"), [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"),
    ("BLOCKLIST", "content_filter"), ("SPII", "content_filter"), ("OTHER", "stop"),
])
def test_finish_reasons(reason: str, finish: str) -> None:
    data = {"candidates": [{"content": {"parts": [{"text": "partial"}]},
                            "finishReason": reason}]}
    r = PROVIDER.parse_response(make_call(MSGS), 200, {}, json.dumps(data).encode())
    assert r.choices[0].finish_reason == finish
    assert r.choices[0].message.content == "partial"


def test_several_candidates() -> None:
    data = {"candidates": [
        {"content": {"parts": [{"text": "one"}]}, "finishReason": "STOP", "index": 0},
        {"content": {"parts": [{"text": "two"}]}, "finishReason": "MAX_TOKENS", "index": 1}]}
    r = PROVIDER.parse_response(make_call(MSGS), 200, {}, json.dumps(data).encode())
    assert [(c.index, c.message.content, c.finish_reason) for c in r.choices] == [
        (0, "one", "stop"), (1, "two", "length")]


def test_safety_blocks_raise_content_policy() -> None:
    call = make_call(MSGS)
    blocked = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
               "usageMetadata": {"promptTokenCount": 8}}
    with pytest.raises(ContentPolicyViolationError, match="SAFETY") as info:
        PROVIDER.parse_response(call, 200, {}, json.dumps(blocked).encode())
    assert info.value.llm_provider == "gemini"
    empty = {"candidates": [{"finishReason": "SAFETY", "index": 0,
                             "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                                "probability": "HIGH", "blocked": True}]}]}
    with pytest.raises(ContentPolicyViolationError):
        PROVIDER.parse_response(call, 200, {}, json.dumps(empty).encode())
    with pytest.raises(APIConnectionError, match="no candidates"):
        PROVIDER.parse_response(call, 200, {}, b'{"candidates": []}')


def test_embedding_reply_estimates_usage() -> None:
    call = make_call(call_type="embedding", model="gemini-embedding-001", inp=["abcd efgh", "x"])
    data = {"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]}
    r = PROVIDER.parse_response(call, 200, {}, json.dumps(data).encode())
    assert [e.embedding for e in r.data] == [[0.1, 0.2], [0.3, 0.4]]
    assert [e.index for e in r.data] == [0, 1]
    expected = token_counter(text=["abcd efgh", "x"])
    assert r.usage.prompt_tokens == expected == r.usage.total_tokens


# ---- stream decoding -------------------------------------------------------------------------
def sse(obj: Any) -> list[bytes]:
    return [b"data: " + json.dumps(obj).encode() + b"\r", b"\r"]


def decode(call: Call, events: list[Any]) -> list[Any]:
    dec = PROVIDER.stream_decoder(call)
    out: list[Any] = []
    for ev in events:
        for line in sse(ev):
            out += dec.feed(line)
    return out + dec.finish()


def test_stream_decoder_text_tools_and_usage() -> None:
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [
            {"text": "hmm", "thought": True}]}, "index": 0}],
         "usageMetadata": {"promptTokenCount": 7}},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}],
         "usageMetadata": {"promptTokenCount": 7}},
        {"candidates": [{"content": {"role": "model", "parts": [
            {"text": "lo"}, {"functionCall": {"name": "f", "args": {"a": 1}}}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "g", "args": {}}}]}, "finishReason": "STOP"}],
         "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 4,
                           "thoughtsTokenCount": 2, "totalTokenCount": 13}},
    ]
    chunks = decode(make_call(MSGS, stream=True), events)
    assert len(chunks) == 5
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.reasoning_content == "hmm"
    assert all(c.choices[0].delta.role is None for c in chunks[1:4])
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:4]) == "Hello"
    calls = [tc for c in chunks[:4] for tc in c.choices[0].delta.tool_calls or []]
    assert [(tc.index, tc.function.name, tc.function.arguments) for tc in calls] == [
        (0, "f", '{"a": 1}'), (1, "g", "{}")]
    assert len({tc.id for tc in calls}) == 2
    assert [c.choices[0].finish_reason for c in chunks[:4]] == [None, None, None, "tool_calls"]
    usage_chunk = chunks[4]
    assert usage_chunk.choices == []
    assert (usage_chunk.usage.prompt_tokens, usage_chunk.usage.completion_tokens) == (7, 6)
    assert usage_chunk.usage.completion_tokens_details.reasoning_tokens == 2
    assert len({c.id for c in chunks}) == 1


def test_stream_decoder_cut_blocked_and_error_events() -> None:
    call = make_call(MSGS, stream=True)
    with pytest.raises(APIConnectionError, match="finishReason"):
        decode(call, [{"candidates": [{"content": {"parts": [{"text": "a"}]}}]}])
    with pytest.raises(ContentPolicyViolationError):
        decode(call, [{"promptFeedback": {"blockReason": "OTHER"}}])
    with pytest.raises(ContentPolicyViolationError):
        decode(call, [{"candidates": [{"finishReason": "SAFETY", "index": 0}]}])
    late = decode(call, [{"candidates": [{"content": {"parts": [{"text": "a"}]}}]},
                         {"candidates": [{"finishReason": "SAFETY"}]}])
    assert late[-1].choices[0].finish_reason == "content_filter"
    with pytest.raises(RateLimitError, match="quota"):
        decode(call, [{"error": {"code": 429, "message": "quota", "status":
                                 "RESOURCE_EXHAUSTED"}}])
    dec = PROVIDER.stream_decoder(call)
    dec.feed(b"data: {not json")
    with pytest.raises(APIConnectionError, match="unreadable"):
        dec.feed(b"")


# ---- error mapping ---------------------------------------------------------------------------
def err(code: int, message: str, status: str, reason: str | None = None) -> bytes:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        body["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": reason}]
    return json.dumps({"error": body}).encode()


@pytest.mark.parametrize(("status", "body", "cls", "code"), [
    (400, err(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT",
              "API_KEY_INVALID"), AuthenticationError, 401),
    (400, err(400, "The input token count (1200000) exceeds the maximum number of tokens "
              "allowed (1048576).", "INVALID_ARGUMENT"), ContextWindowExceededError, 400),
    (400, err(400, "Invalid value at 'contents[0].role'", "INVALID_ARGUMENT"),
     BadRequestError, 400),
    (403, err(403, "The caller does not have permission", "PERMISSION_DENIED"),
     PermissionDeniedError, 403),
    (403, err(403, "Your API key was reported as leaked. Please use another API key.",
              "PERMISSION_DENIED"), AuthenticationError, 401),
    (403, err(403, "Method doesn't allow unregistered callers (callers without established "
              "identity). Please use API Key or other form of API consumer identity to call "
              "this API.", "PERMISSION_DENIED"), AuthenticationError, 401),
    (404, err(404, "models/nope is not found", "NOT_FOUND"), NotFoundError, 404),
    (429, err(429, "Resource has been exhausted", "RESOURCE_EXHAUSTED"), RateLimitError, 429),
    (500, err(500, "Internal error", "INTERNAL"), InternalServerError, 500),
    (503, err(503, "The model is overloaded.", "UNAVAILABLE"), ServiceUnavailableError, 503),
    (502, b"<html>Bad gateway</html>", ServiceUnavailableError, 502),
])
def test_map_error(status: int, body: bytes, cls: type[Exception], code: int) -> None:
    exc = PROVIDER.map_error(make_call(MSGS), status, {"x": "y"}, body)
    assert type(exc) is cls
    assert exc.status_code == code and exc.llm_provider == "gemini" and exc.model == MODEL
    assert exc.response_headers == {"x": "y"}


def test_stream_error_list_body() -> None:
    body = b"[" + err(429, "slow", "RESOURCE_EXHAUSTED") + b"]"
    assert isinstance(PROVIDER.map_error(make_call(MSGS), 429, {}, body), RateLimitError)


def quota_error(delay: Any) -> bytes:
    return json.dumps({"error": {"code": 429, "message": "You exceeded your current quota",
                                 "status": "RESOURCE_EXHAUSTED", "details": [
                                     {"@type": "type.googleapis.com/google.rpc.Help",
                                      "links": []},
                                     {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                      "retryDelay": delay}]}}).encode()


@pytest.mark.parametrize(("delay", "header"), [
    ("23s", "23"), ("12.5s", "12.5"), ({"seconds": 4, "nanos": 500000000}, "4.5"),
    ("soon", None), (None, None),
])
def test_retry_info_becomes_retry_after(delay: Any, header: str | None) -> None:
    exc = PROVIDER.map_error(make_call(MSGS), 429, {"x": "y"}, quota_error(delay))
    assert type(exc) is RateLimitError and exc.message == "You exceeded your current quota"
    assert exc.response_headers.get("retry-after") == header
    assert exc.response_headers["x"] == "y"
    # a Retry-After header the server sent wins over the body's delay
    exc = PROVIDER.map_error(make_call(MSGS), 429, {"Retry-After": "2"}, quota_error(delay))
    assert exc.response_headers == {"Retry-After": "2"}


def test_unsupported_params_need_drop_params(gem: FakeGemini, args: dict[str, str]) -> None:
    with pytest.raises(UnsupportedParamsError, match="logit_bias"):
        llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, logit_bias={"1": 2},
                            parallel_tool_calls=True, **args)
    with pytest.raises(UnsupportedParamsError, match="user"):
        llmrelay.embedding(model="gemini/text-embedding-004", input="x", user="u1", **args)
    with pytest.raises(BadRequestError, match="encoding_format"):
        llmrelay.embedding(model="gemini/text-embedding-004", input="x",
                           encoding_format="int8", **args)
    assert gem.request_count == 0
    r = llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, logit_bias={"1": 2},
                            temperature=0.5, drop_params=True, **args)
    assert r.choices[0].message.content == "Hello from Gemini"
    assert gem.last is not None and gem.last.body == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "generationConfig": {"temperature": 0.5}}


# ---- end to end over HTTP --------------------------------------------------------------------
def test_completion_end_to_end(gem: FakeGemini, args: dict[str, str]) -> None:
    seen = capture()
    r = llmrelay.completion(model=f"gemini/{MODEL}", messages=[
        {"role": "system", "content": "Be kind."}, *MSGS], temperature=0.2, **args)
    assert r.choices[0].message.content == "Hello from Gemini"
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (10, 5)
    rec = gem.last
    assert rec is not None and rec.path == f"/v1beta/models/{MODEL}:generateContent"
    assert rec.headers["x-goog-api-key"] == KEY
    assert llmrelay.flush(5)
    kw, resp = seen[0]
    assert kw["additional_args"]["complete_input_dict"] == rec.body
    assert rec.body is not None and rec.body["systemInstruction"] == {
        "parts": [{"text": "Be kind."}]}
    assert kw["response_cost"] == pytest.approx(price(MODEL, 10, 5))
    assert r._hidden_params["response_cost"] == pytest.approx(price(MODEL, 10, 5))
    assert kw["custom_llm_provider"] == "gemini" and resp is r


def test_acompletion_with_thoughts_and_cache(gem: FakeGemini, args: dict[str, str]) -> None:
    gem.thought = "Pondering."
    gem.usage = {"promptTokenCount": 100, "cachedContentTokenCount": 40,
                 "candidatesTokenCount": 20, "thoughtsTokenCount": 10, "totalTokenCount": 130}
    seen = capture()
    r = asyncio.run(llmrelay.acompletion(model=f"gemini/{MODEL}", messages=MSGS, **args))
    assert r.choices[0].message.content == "Hello from Gemini"
    assert r.choices[0].message.reasoning_content == "Pondering."
    assert r.usage.completion_tokens == 30 and r.usage.reasoning_tokens == 10
    assert llmrelay.flush(5)
    kw, _ = seen[0]
    assert kw["additional_args"]["complete_input_dict"] == gem.last.body  # type: ignore[union-attr]
    assert kw["response_cost"] == pytest.approx(price(MODEL, 100, 30, cached=40))


@pytest.mark.parametrize("stream", [False, True])
def test_long_prompts_cost_the_long_context_prices(gem: FakeGemini, args: dict[str, str],
                                                   stream: bool) -> None:
    seen = capture()
    row = llmrelay.cost.lookup("gemini-2.5-pro")
    assert row is not None
    for prompt in (150_000, 250_000):  # under and over the 200k threshold
        gem.usage = {"promptTokenCount": prompt, "cachedContentTokenCount": 50_000,
                     "candidatesTokenCount": 100, "thoughtsTokenCount": 40,
                     "totalTokenCount": prompt + 140}
        r = llmrelay.completion(model="gemini/gemini-2.5-pro", messages=MSGS, stream=stream,
                                stream_options={"include_usage": True} if stream else None,
                                **args)
        if stream:
            r = llmrelay.stream_chunk_builder(list(r))
        assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (prompt, 140)
        assert r.usage.completion_tokens_details.reasoning_tokens == 40
    assert llmrelay.flush(5)
    short, long = seen[0][0]["response_cost"], seen[1][0]["response_cost"]
    assert short == pytest.approx(100_000 * row["input_cost_per_token"]
                                  + 50_000 * row["cache_read_input_token_cost"]
                                  + 140 * row["output_cost_per_token"])
    assert long == pytest.approx(200_000 * row["input_cost_per_token_above_200k_tokens"]
                                 + 50_000 * row["cache_read_input_token_cost_above_200k_tokens"]
                                 + 140 * row["output_cost_per_token_above_200k_tokens"])


def test_stream_sync_end_to_end(gem: FakeGemini, args: dict[str, str]) -> None:
    seen = capture()
    chunks = list(llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, stream=True,
                                      **args))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from Gemini"
    assert all(c.choices for c in chunks)  # usage chunk hidden: include_usage not asked
    assert chunks[-1].choices[0].finish_reason == "stop"
    rec = gem.last
    assert rec is not None and rec.path.endswith(":streamGenerateContent")
    assert rec.query == {"alt": "sse"}
    assert llmrelay.flush(5)
    kw, resp = seen[0]
    assert kw["additional_args"]["complete_input_dict"] == rec.body
    assert resp.usage.prompt_tokens == 10 and resp.usage.completion_tokens == 5
    assert kw["response_cost"] == pytest.approx(price(MODEL, 10, 5))


def test_stream_async_with_usage_and_tools(gem: FakeGemini, args: dict[str, str]) -> None:
    gem.tool_call = [{"name": "weather", "args": {"city": "Oslo"}}]
    gem.usage = {"promptTokenCount": 30, "candidatesTokenCount": 8, "totalTokenCount": 38}
    seen = capture()
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}},
        "additionalProperties": False}}}]

    async def main() -> list[Any]:
        stream = await llmrelay.acompletion(model=f"gemini/{MODEL}", messages=MSGS,
                                            tools=tools, stream=True,
                                            stream_options={"include_usage": True}, **args)
        return [c async for c in stream]

    chunks = asyncio.run(main())
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 38
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert [(tc.function.name, json.loads(tc.function.arguments)) for tc in calls] == [
        ("weather", {"city": "Oslo"})]
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert llmrelay.flush(5)
    kw, resp = seen[0]
    assert resp.choices[0].message.tool_calls[0].function.name == "weather"
    assert kw["response_cost"] == pytest.approx(price(MODEL, 30, 8))


def test_tool_round_trip_is_accepted(gem: FakeGemini, args: dict[str, str]) -> None:
    gem.tool_call = {"name": "weather", "args": {"city": "Oslo"}}
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    r = llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, tools=tools, **args)
    tc = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    history = [*MSGS, r.choices[0].message.model_dump(),
               {"role": "tool", "tool_call_id": tc.id, "content": '{"temp": 3}'}]
    second = llmrelay.completion(model=f"gemini/{MODEL}", messages=history, tools=tools,
                                 tool_choice="none", **args)
    assert second.choices[0].message.content == "Hello from Gemini"
    body = gem.last.body  # type: ignore[union-attr]
    assert body["contents"][-1] == {"role": "user", "parts": [
        {"functionResponse": {"name": "weather", "response": {"temp": 3}}}]}
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}


def test_max_tokens_and_candidates_end_to_end(gem: FakeGemini, args: dict[str, str]) -> None:
    r = llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, max_tokens=2, n=2, **args)
    assert [(c.index, c.message.content, c.finish_reason) for c in r.choices] == [
        (0, "Hello from", "length"), (1, "Hello from", "length")]


def test_embedding_end_to_end(gem: FakeGemini, args: dict[str, str]) -> None:
    seen = capture()
    texts = ["first text here", "second"]
    r = llmrelay.embedding(model="gemini/gemini-embedding-001", input=texts, dimensions=4,
                           **args)
    assert len(r.data) == 2 and all(len(e.embedding) == 4 for e in r.data)
    rec = gem.last
    assert rec is not None and rec.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    tokens = token_counter(text=texts)
    assert r.usage.prompt_tokens == tokens
    r2 = asyncio.run(llmrelay.aembedding(model="gemini/gemini-embedding-001", input="solo",
                                         **args))
    assert len(r2.data) == 1 and len(r2.data[0].embedding) == gem.embedding_dim
    assert llmrelay.flush(5)
    kw, _ = seen[0]
    assert kw["additional_args"]["complete_input_dict"] == rec.body
    row = llmrelay.cost.lookup("gemini-embedding-001")
    assert row is not None
    assert kw["response_cost"] == pytest.approx(tokens * row["input_cost_per_token"])
    assert seen[1][0]["response_cost"] == pytest.approx(
        token_counter(text=["solo"]) * row["input_cost_per_token"])


def test_embedding_encoding_formats(gem: FakeGemini, args: dict[str, str]) -> None:
    seen = capture()
    texts = ["alpha", "beta gamma"]
    floats = llmrelay.embedding(model="gemini/gemini-embedding-001", input=texts,
                                encoding_format="float", **args)
    packed = llmrelay.embedding(model="gemini/gemini-embedding-001", input=texts,
                                encoding_format="base64", **args)
    assert gem.last is not None and gem.last.body is not None
    assert "encoding_format" not in json.dumps(gem.last.body)  # Gemini has no such field
    for f, b in zip(floats.data, packed.data, strict=True):
        assert isinstance(f.embedding, list) and isinstance(b.embedding, str)
        raw = base64.b64decode(b.embedding)
        values = struct.unpack(f"<{len(raw) // 4}f", raw)
        assert values == pytest.approx(f.embedding, rel=1e-6)
    assert packed.usage.prompt_tokens == floats.usage.prompt_tokens
    assert llmrelay.flush(5)
    assert seen[1][0]["response_cost"] == pytest.approx(seen[0][0]["response_cost"])


def test_env_configuration(gem: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_BASE", gem.url)
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-from-env-000000")
    r = llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS)
    assert r.choices[0].message.content == "Hello from Gemini"
    assert gem.last is not None and gem.last.headers["x-goog-api-key"] == "AIza-from-env-000000"


def test_bare_gemini_name_resolves(gem: FakeGemini, args: dict[str, str]) -> None:
    r = llmrelay.completion(model=MODEL, messages=MSGS, **args)
    assert r._hidden_params["custom_llm_provider"] == "gemini"


# ---- errors over HTTP ------------------------------------------------------------------------
def test_http_errors_are_mapped(gem: FakeGemini, args: dict[str, str]) -> None:
    gem.enqueue(gemini_error(429, "Resource has been exhausted (e.g. check quota).",
                             "RESOURCE_EXHAUSTED"))
    with pytest.raises(RateLimitError, match="exhausted"):
        llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, **args)
    gem.enqueue(gemini_error(503, "The model is overloaded.", "UNAVAILABLE"))
    with pytest.raises(ServiceUnavailableError):
        asyncio.run(llmrelay.acompletion(model=f"gemini/{MODEL}", messages=MSGS, **args))
    gem.require_api_key = "AIza-right-key-000000"
    with pytest.raises(AuthenticationError, match="API key not valid"):
        llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, **args)
    with pytest.raises(AuthenticationError):
        list(llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, stream=True, **args))


def test_missing_key_and_quota_errors_over_http(gem: FakeGemini, args: dict[str, str]) -> None:
    gem.require_api_key = KEY
    with pytest.raises(AuthenticationError, match="unregistered callers") as info:
        llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, api_base=gem.url)
    assert info.value.status_code == 401
    gem.enqueue(gemini_error(429, "You exceeded your current quota.", retry_delay="0s"))
    r = llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, num_retries=1, **args)
    assert r.choices[0].message.content == "Hello from Gemini"
    gem.enqueue(gemini_error(429, "You exceeded your current quota.", retry_delay="37s"))
    with pytest.raises(RateLimitError, match="quota") as rate:
        llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, **args)
    assert rate.value.response_headers["retry-after"] == "37"


def test_retry_after_unavailable(gem: FakeGemini, args: dict[str, str]) -> None:
    gem.enqueue(gemini_error(503, "The model is overloaded.", "UNAVAILABLE"))
    r = llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, num_retries=1, **args)
    assert r.choices[0].message.content == "Hello from Gemini"
    assert gem.request_count == 2


def test_safety_block_end_to_end(gem: FakeGemini, args: dict[str, str]) -> None:
    failures: list[Any] = []
    llmrelay.failure_callback = [lambda kw, resp, start, end: failures.append(kw)]
    gem.block_reason = "PROHIBITED_CONTENT"
    with pytest.raises(ContentPolicyViolationError, match="PROHIBITED_CONTENT"):
        llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, **args)
    assert llmrelay.flush(5)
    assert isinstance(failures[0]["exception"], ContentPolicyViolationError)


def test_streams_cut_short(gem: FakeGemini, args: dict[str, str]) -> None:
    piece = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]},
                             "index": 0}]}
    gem.enqueue(gemini_sse([piece, piece]))  # ends cleanly but never finishes
    with pytest.raises(APIConnectionError, match="finishReason"):
        list(llmrelay.completion(model=f"gemini/{MODEL}", messages=MSGS, stream=True, **args))
    gem.enqueue(gemini_sse([piece], truncate=True))  # connection dropped mid-body

    async def main() -> None:
        stream = await llmrelay.acompletion(model=f"gemini/{MODEL}", messages=MSGS,
                                            stream=True, **args)
        async for _ in stream:
            pass

    with pytest.raises(APIConnectionError):
        asyncio.run(main())
