"""The Anthropic Messages API provider: translation units, then end to end over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import llmrelay
from fakes.anthropic_server import (
    FakeAnthropic,
    Reply,
    error_body,
    error_event,
    message,
    stream_events,
)
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay.providers.anthropic import AnthropicProvider
from llmrelay.providers.anthropic.response import JSON_TOOL
from llmrelay.providers.base import Call
from llmrelay.providers.registry import resolve_model, spec_for

MODEL = "claude-3-5-sonnet-20241022"
KEY = "sk-ant-test-0123456789abcdef"
MSGS = [{"role": "user", "content": "Hello"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


# ---- helpers and fixtures ---------------------------------------------------------------------
def provider() -> AnthropicProvider:
    return AnthropicProvider(spec_for("anthropic"))


def make_call(messages: list[dict[str, Any]] | None = None, model: str = MODEL,
              stream: bool = False, call_type: str = "completion", **params: Any) -> Call:
    return Call(call_type, model, spec_for("anthropic"), messages if messages is not None
                else list(MSGS), params=params, stream=stream, api_key=KEY)


def body_of(messages: list[dict[str, Any]] | None = None, **params: Any) -> dict[str, Any]:
    body = provider().build_request(make_call(messages, **params)).body
    assert body is not None
    return body


def sse_lines(events: list[dict[str, Any]]) -> list[bytes]:
    """Body lines of an SSE stream, as the transport hands them to a decoder."""
    lines: list[bytes] = []
    for ev in events:
        lines += [f"event: {ev['type']}".encode(), b"data: " + json.dumps(ev).encode(), b""]
    return lines


def decode(events: list[dict[str, Any]], call: Call | None = None) -> list[Any]:
    dec = provider().stream_decoder(call or make_call(stream=True))
    out: list[Any] = []
    for line in sse_lines(events):
        out += dec.feed(line)
    return out + dec.finish()


def hand_cost(usage: dict[str, int], model: str = MODEL) -> float:
    row = llmrelay.cost.lookup(model)
    assert row is not None
    return (usage["input_tokens"] * row["input_cost_per_token"]
            + usage["cache_read_input_tokens"] * row["cache_read_input_token_cost"]
            + usage["cache_creation_input_tokens"] * row["cache_creation_input_token_cost"]
            + usage["output_tokens"] * row["output_cost_per_token"])


class Recorder(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.success: list[tuple[dict[str, Any], Any]] = []
        self.failure: list[dict[str, Any]] = []

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self.success.append((kwargs, response_obj))

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self.failure.append(kwargs)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as srv:
        yield srv


@pytest.fixture
def ant(server: FakeAnthropic) -> Iterator[FakeAnthropic]:
    server.reset()
    server.configure_defaults()
    yield server
    server.reset()


@pytest.fixture
def args(ant: FakeAnthropic) -> dict[str, str]:
    return {"api_base": ant.base, "api_key": KEY}


USAGE = {"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 50,
         "cache_read_input_tokens": 200}


# ---- request translation ----------------------------------------------------------------------
def test_request_url_headers_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)  # conftest clears only *_API_BASE
    req = provider().build_request(make_call())
    assert req.method == "POST" and req.url == "https://api.anthropic.com/v1/messages"
    assert req.headers["x-api-key"] == KEY
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["content-type"] == "application/json"
    assert req.body == {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}],
                        "max_tokens": 8192}  # the table's max_output_tokens for the model
    assert body_of(model="claude-unknown-9")["max_tokens"] == 4096
    assert body_of(max_completion_tokens=77)["max_tokens"] == 77
    assert body_of(max_tokens=5, max_completion_tokens=77)["max_tokens"] == 5


def test_extra_headers_override_case_insensitively() -> None:
    call = make_call()
    call.extra_headers = {"Anthropic-Version": "2024-01-01", "anthropic-beta": "x-2025"}
    headers = provider().build_request(call).headers
    assert headers["Anthropic-Version"] == "2024-01-01" and "anthropic-version" not in headers
    assert headers["anthropic-beta"] == "x-2025" and headers["x-api-key"] == KEY


@pytest.mark.parametrize("base,url", [
    ("http://gw.local", "http://gw.local/v1/messages"),
    ("http://gw.local/", "http://gw.local/v1/messages"),
    ("http://gw.local/v1", "http://gw.local/v1/messages"),
    ("http://gw.local/anthropic/v1/messages", "http://gw.local/anthropic/v1/messages"),
])
def test_api_base_forms(base: str, url: str) -> None:
    call = make_call()
    call.api_base = base
    assert provider().build_request(call).url == url


def test_base_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_BASE", "http://second.local")
    assert provider().build_request(make_call()).url == "http://second.local/v1/messages"
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://first.local")
    assert provider().build_request(make_call()).url == "http://first.local/v1/messages"


def test_missing_key_fails_before_any_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    call = make_call()
    call.api_key = None
    with pytest.raises(llmrelay.AuthenticationError, match="ANTHROPIC_API_KEY"):
        provider().build_request(call)


def test_sampling_params_stop_user_and_extras() -> None:
    body = body_of(temperature=0.3, top_p=0.9, top_k=40, stop="END", user="u-7",
                   stream_options={"include_usage": True})
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9 and body["top_k"] == 40
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u-7"}
    assert "stream_options" not in body and "user" not in body and "stop" not in body
    assert body_of(stop=["a", "b"])["stop_sequences"] == ["a", "b"]


def test_system_lifted_and_same_roles_merged() -> None:
    msgs = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "one"},
            {"role": "user", "content": [{"type": "text", "text": "two"}]},
            {"role": "system", "content": [{"type": "text", "text": "Be kind."}]},
            {"role": "assistant", "content": "ok"},
            {"role": "assistant", "content": "sure  "}]
    body = body_of(msgs)
    assert body["system"] == "Be brief.\n\nBe kind."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"},
                                     {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"},
                                          {"type": "text", "text": "sure"}]}]
    assert msgs[0] == {"role": "system", "content": "Be brief."}  # input left untouched


def test_cache_control_makes_system_blocks_and_passes_through() -> None:
    cc = {"type": "ephemeral"}
    msgs = [{"role": "system", "content": [{"type": "text", "text": "Long doc", "cache_control": cc}]},
            {"role": "system", "content": "Short"},
            {"role": "user", "content": [{"type": "text", "text": "Q", "cache_control": cc}]},
            {"role": "assistant", "content": "A", "cache_control": cc},
            {"role": "user", "content": "Q2"}]
    body = body_of(msgs)
    assert body["system"] == [{"type": "text", "text": "Long doc", "cache_control": cc},
                              {"type": "text", "text": "Short"}]
    assert body["messages"][0]["content"] == [{"type": "text", "text": "Q", "cache_control": cc}]
    assert body["messages"][1]["content"] == [{"type": "text", "text": "A", "cache_control": cc}]
    assert body["messages"][2]["content"] == "Q2"


def test_images_and_documents() -> None:
    parts = [{"type": "text", "text": "What is this?"},
             {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}},
             {"type": "image_url", "image_url": "data:image/jpeg;base64,QUJD"},
             {"type": "image_url", "image_url": {"url": "data:application/pdf;base64,UERG"},
              "cache_control": {"type": "ephemeral"}}]
    content = body_of([{"role": "user", "content": parts}])["messages"][0]["content"]
    assert content[1] == {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.png"}}
    assert content[2] == {"type": "image", "source": {"type": "base64",
                                                      "media_type": "image/jpeg", "data": "QUJD"}}
    assert content[3] == {"type": "document", "cache_control": {"type": "ephemeral"},
                          "source": {"type": "base64", "media_type": "application/pdf",
                                     "data": "UERG"}}
    with pytest.raises(llmrelay.BadRequestError, match="image URL"):
        body_of([{"role": "user", "content": [{"type": "image_url",
                                               "image_url": {"url": "ftp://x/y.png"}}]}])


@pytest.mark.parametrize("choice,expected", [
    ("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}},
     {"type": "tool", "name": "get_weather"}),
])
def test_tools_and_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    body = body_of(tools=[WEATHER], tool_choice=choice)
    assert body["tools"] == [{"name": "get_weather", "description": "Weather for a city",
                              "input_schema": WEATHER["function"]["parameters"]}]
    assert body["tool_choice"] == expected


def test_parallel_tool_calls_false() -> None:
    body = body_of(tools=[WEATHER], parallel_tool_calls=False)
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    body = body_of(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert "tool_choice" not in body_of(tools=[WEATHER], parallel_tool_calls=True)


def test_tool_round_trip_messages() -> None:
    msgs = [{"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                {"id": "toolu_2", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "toolu_2",
             "content": [{"type": "text", "text": "21C"}]},
            {"role": "user", "content": "Thanks"}]
    out = body_of(msgs, tools=[WEATHER])["messages"]
    assert out[1] == {"role": "assistant", "content": [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}}]}
    assert out[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "toolu_2",
         "content": [{"type": "text", "text": "21C"}]},
        {"type": "text", "text": "Thanks"}]}
    assert len(out) == 3
    bad = [msgs[0], {"role": "assistant", "content": None, "tool_calls": [
        {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]
    with pytest.raises(llmrelay.BadRequestError, match="not valid JSON"):
        body_of(bad)


def test_response_format_becomes_forced_tool() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    body = body_of(response_format=fmt)
    assert [(t["name"], t["input_schema"]) for t in body["tools"]] == [(JSON_TOOL, schema)]
    assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    # with the caller's own tools (or thinking) the JSON tool is offered, not forced
    body = body_of(response_format=fmt, tools=[WEATHER])
    assert [t["name"] for t in body["tools"]] == ["get_weather", JSON_TOOL]
    assert body["tool_choice"] == {"type": "auto"}
    body = body_of(response_format={"type": "json_object"}, reasoning_effort="low")
    assert body["tools"][0]["input_schema"] == {"type": "object"}
    assert body["tool_choice"] == {"type": "auto"}
    assert "tools" not in body_of(response_format={"type": "text"})


def test_thinking_config() -> None:
    assert body_of(reasoning_effort="low")["thinking"] == {"type": "enabled",
                                                           "budget_tokens": 2048}
    assert body_of(reasoning_effort="high", max_tokens=3000)["thinking"]["budget_tokens"] == 2999
    given = {"type": "enabled", "budget_tokens": 5000}
    assert body_of(thinking=given, reasoning_effort="low")["thinking"] == given
    assert "thinking" not in body_of(reasoning_effort="none")
    with pytest.raises(llmrelay.BadRequestError, match="max_tokens"):
        body_of(reasoning_effort="low", max_tokens=500)
    blocks = [{"type": "thinking", "thinking": "hmm", "signature": "sig"}]
    msgs = [MSGS[0], {"role": "assistant", "content": "x", "thinking_blocks": blocks},
            {"role": "user", "content": "y"}]
    assert body_of(msgs)["messages"][1]["content"][0] == blocks[0]


def test_embeddings_and_bad_roles_are_clear_errors() -> None:
    call = Call("embedding", MODEL, spec_for("anthropic"), input=["x"], api_key=KEY)
    with pytest.raises(llmrelay.BadRequestError, match=r"anthropic.*no embeddings"):
        provider().build_request(call)
    with pytest.raises(llmrelay.BadRequestError, match="no embeddings"):
        llmrelay.embedding(model="anthropic/" + MODEL, input="x", api_key=KEY)
    with pytest.raises(llmrelay.BadRequestError, match="at least one user"):
        body_of([{"role": "system", "content": "only"}])
    with pytest.raises(llmrelay.BadRequestError, match="function"):
        body_of([MSGS[0], {"role": "function", "name": "f", "content": "1"}])


def test_model_names_resolve_to_anthropic() -> None:
    for name in ("anthropic/claude-sonnet-4-5", "claude-3-5-haiku-20241022", "claude-opus-4-1"):
        spec, _ = resolve_model(name)
        assert spec.name == "anthropic"


# ---- response translation ---------------------------------------------------------------------
def test_parse_text_tools_thinking_and_usage() -> None:
    raw = message([{"type": "thinking", "thinking": "Let me think.", "signature": "sig1"},
                   {"type": "text", "text": "Calling a tool."},
                   {"type": "tool_use", "id": "toolu_9", "name": "get_weather",
                    "input": {"city": "Oslo"}}],
                  stop_reason="tool_use", usage=USAGE, id="msg_1")
    r = provider().parse_response(make_call(), 200, {}, json.dumps(raw).encode())
    assert isinstance(r, llmrelay.ModelResponse) and r.id == "msg_1" and r.model == MODEL
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Calling a tool."
    assert choice.message.reasoning_content == "Let me think."
    assert choice.message.thinking_blocks == [{"type": "thinking", "thinking": "Let me think.",
                                               "signature": "sig1"}]
    tc = choice.message.tool_calls[0]
    assert tc.id == "toolu_9" and tc.type == "function" and tc.function.name == "get_weather"
    assert json.loads(tc.function.arguments) == {"city": "Oslo"}
    u = r.usage
    assert u.prompt_tokens == 350 and u.completion_tokens == 20 and u.total_tokens == 370
    assert u.cache_read_input_tokens == 200 and u.cache_creation_input_tokens == 50
    assert u.prompt_tokens_details.cached_tokens == 200
    assert llmrelay.cost.usage_cost(MODEL, "anthropic", u) == pytest.approx(hand_cost(USAGE))


@pytest.mark.parametrize("stop,finish", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("tool_use", "tool_calls"), ("refusal", "content_filter"), (None, "stop")])
def test_stop_reasons(stop: str | None, finish: str) -> None:
    raw = message([{"type": "text", "text": "x"}], stop_reason=stop)  # type: ignore[arg-type]
    r = provider().parse_response(make_call(), 200, {}, json.dumps(raw).encode())
    assert r.choices[0].finish_reason == finish


def test_parse_json_tool_answer() -> None:
    call = make_call(response_format={"type": "json_object"})
    raw = message([{"type": "tool_use", "id": "t", "name": JSON_TOOL, "input": {"a": 1}}],
                  stop_reason="tool_use")
    r = provider().parse_response(call, 200, {}, json.dumps(raw).encode())
    assert json.loads(r.choices[0].message.content) == {"a": 1}
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.tool_calls is None


def test_parse_rejects_non_messages() -> None:
    with pytest.raises(llmrelay.APIConnectionError, match="not an Anthropic message"):
        provider().parse_response(make_call(), 200, {}, b'{"choices": []}')
    with pytest.raises(llmrelay.APIConnectionError):
        provider().parse_response(make_call(), 200, {}, b"<html>")


@pytest.mark.parametrize("status,kind,msg,cls", [
    (401, "authentication_error", "invalid x-api-key", llmrelay.AuthenticationError),
    (403, "permission_error", "no access", llmrelay.PermissionDeniedError),
    (404, "not_found_error", "model: claude-x", llmrelay.NotFoundError),
    (429, "rate_limit_error", "slow down", llmrelay.RateLimitError),
    (529, "overloaded_error", "Overloaded", llmrelay.ServiceUnavailableError),
    (500, "api_error", "Internal server error", llmrelay.InternalServerError),
    (400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum",
     llmrelay.ContextWindowExceededError),
    (400, "invalid_request_error", "input length and `max_tokens` exceed context limit: "
     "173342 + 64000 > 200000, decrease input length or `max_tokens` and try again",
     llmrelay.ContextWindowExceededError),
    (413, "request_too_large", "Request exceeds the maximum allowed number of bytes.",
     llmrelay.BadRequestError),
    (402, "billing_error", "Your credit balance is too low", llmrelay.BadRequestError),
    (400, "invalid_request_error", "Output blocked by content filtering policy",
     llmrelay.ContentPolicyViolationError),
    (400, "invalid_request_error", "temperature: too big", llmrelay.BadRequestError),
])
def test_error_mapping(status: int, kind: str, msg: str, cls: type[Exception]) -> None:
    body = json.dumps({"type": "error", "error": {"type": kind, "message": msg}}).encode()
    err = provider().map_error(make_call(), status, {"retry-after": "3"}, body)
    assert type(err) is cls
    assert err.status_code == status and err.message == msg and err.code == kind
    assert err.llm_provider == "anthropic" and err.model == MODEL
    assert err.response_headers == {"retry-after": "3"}


@pytest.mark.parametrize(("kind", "status", "cls"), [
    ("overloaded_error", 529, llmrelay.ServiceUnavailableError),
    ("rate_limit_error", 429, llmrelay.RateLimitError),
    ("billing_error", 402, llmrelay.BadRequestError),
    ("conflict_error", 409, llmrelay.BadRequestError),
    ("something_new", 500, llmrelay.InternalServerError),
])
def test_mid_stream_error_types_get_their_status(kind: str, status: int,
                                                 cls: type[Exception]) -> None:
    """An ``error`` event after the 200 has no HTTP status of its own: the type gives it."""
    err = provider().map_error(make_call(), 0, {}, json.dumps(error_event(kind, "x")).encode())
    assert type(err) is cls and err.status_code == status and err.code == kind


# ---- stream decoding --------------------------------------------------------------------------
def test_stream_text_and_usage_chunk() -> None:
    msg = message([{"type": "text", "text": "Hi there friend"}], usage=USAGE, id="msg_s")
    chunks = decode(stream_events(msg))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "Hi there friend"
    assert all(c.id == "msg_s" and c.model == MODEL for c in chunks)
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage.prompt_tokens == 350
    assert last.usage.completion_tokens == 20 and last.usage.cache_read_input_tokens == 200
    assert last.usage.model_dump() == provider().parse_response(
        make_call(), 200, {}, json.dumps(msg).encode()).usage.model_dump()


def test_stream_tool_calls() -> None:
    msg = message([{"type": "text", "text": "Let me look."},
                   {"type": "tool_use", "id": "toolu_a", "name": "get_weather",
                    "input": {"city": "Paris"}},
                   {"type": "tool_use", "id": "toolu_b", "name": "get_time",
                    "input": {"tz": "CET"}}], stop_reason="tool_use")
    chunks = decode(stream_events(msg))
    built = llmrelay.stream_chunk_builder(chunks)
    calls = built.choices[0].message.tool_calls
    assert [(c.id, c.function.name) for c in calls] == [("toolu_a", "get_weather"),
                                                        ("toolu_b", "get_time")]
    assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Paris"},
                                                                {"tz": "CET"}]
    assert built.choices[0].finish_reason == "tool_calls"
    firsts = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []
              if tc.id]
    assert [(t.index, t.function.name) for t in firsts] == [(0, "get_weather"), (1, "get_time")]


def test_stream_thinking_and_json_tool() -> None:
    msg = message([{"type": "thinking", "thinking": "Some deep thought", "signature": "s9"},
                   {"type": "tool_use", "id": "t", "name": JSON_TOOL, "input": {"a": [1, 2]}}],
                  stop_reason="tool_use")
    chunks = decode(stream_events(msg), make_call(stream=True,
                                                  response_format={"type": "json_object"}))
    built = llmrelay.stream_chunk_builder(chunks)
    assert built.choices[0].message.reasoning_content == "Some deep thought"
    assert json.loads(built.choices[0].message.content) == {"a": [1, 2]}
    assert built.choices[0].finish_reason == "stop"
    blocks = [b for c in chunks if c.choices for b in c.choices[0].delta.get("thinking_blocks") or []]
    assert blocks == [{"type": "thinking", "thinking": "Some deep thought", "signature": "s9"}]


def test_stream_ping_ignored_error_raises_cut_stream_detected() -> None:
    events = stream_events(message([{"type": "text", "text": "a b"}]))
    pings = [{"type": "ping"}] * 3
    assert len(decode(events[:2] + pings + events[2:])) == len(decode(events))
    dec = provider().stream_decoder(make_call(stream=True))
    for line in sse_lines(events[:3]):
        dec.feed(line)
    with pytest.raises(llmrelay.ServiceUnavailableError, match="Overloaded") as info:
        for line in sse_lines([error_event("overloaded_error", "Overloaded")]):
            dec.feed(line)
    assert info.value.status_code == 529
    dec = provider().stream_decoder(make_call(stream=True))
    for line in sse_lines(events[:-1]):
        dec.feed(line)
    with pytest.raises(llmrelay.APIConnectionError, match="message_stop"):
        dec.finish()


def test_stream_text_completion_mode() -> None:
    msg = message([{"type": "text", "text": "one two"}], usage=USAGE)
    call = make_call(call_type="text_completion", stream=True)
    call.messages, call.input = None, "Say it"
    chunks = decode(stream_events(msg), call)
    assert all(isinstance(c, llmrelay.TextCompletionResponse) for c in chunks)
    assert "".join(ch.text for c in chunks for ch in c.choices) == "one two"
    assert chunks[-1].usage.prompt_tokens == 350


# ---- end to end against the fake server -------------------------------------------------------
def test_completion_end_to_end_with_callback(ant: FakeAnthropic, args: dict[str, str]) -> None:
    ant.default_usage = dict(USAGE)
    rec = Recorder()
    llmrelay.success_callback = [rec]
    r = llmrelay.completion(model="anthropic/" + MODEL,
                            messages=[{"role": "system", "content": "Terse."}, *MSGS],
                            temperature=0.1, **args)
    assert r.choices[0].message.content == "Hello from fake Claude"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == 350 and r.usage.completion_tokens == 20
    assert r._hidden_params["custom_llm_provider"] == "anthropic"
    rq = ant.last
    assert rq is not None and rq.path == "/v1/messages"
    assert rq.headers["x-api-key"] == KEY and rq.headers["anthropic-version"] == "2023-06-01"
    assert rq.body == {"model": MODEL, "messages": MSGS, "system": "Terse.", "max_tokens": 8192,
                       "temperature": 0.1}
    assert llmrelay.flush(5)
    kwargs, obj = rec.success[0]
    assert kwargs["additional_args"]["complete_input_dict"] == rq.body
    assert kwargs["response_cost"] == pytest.approx(hand_cost(USAGE))
    assert r._hidden_params["response_cost"] == pytest.approx(hand_cost(USAGE))
    assert obj is r


def test_acompletion_and_bare_name_from_env(ant: FakeAnthropic,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", ant.base)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY + "env")
    ant.tool_use = {"name": "get_weather", "input": {"city": "Paris"}}

    async def main() -> Any:
        return await llmrelay.acompletion(model="claude-3-5-haiku-20241022", messages=MSGS,
                                          tools=[WEATHER], tool_choice="required")

    r = asyncio.run(main())
    assert ant.last is not None and ant.last.headers["x-api-key"] == KEY + "env"
    assert ant.last.body is not None and ant.last.body["tool_choice"] == {"type": "any"}
    tc = r.choices[0].message.tool_calls[0]
    assert tc.function.name == "get_weather" and json.loads(tc.function.arguments) == {
        "city": "Paris"}
    assert r.choices[0].finish_reason == "tool_calls"


def test_stream_sync_and_async_match_unstreamed_cost(ant: FakeAnthropic,
                                                     args: dict[str, str]) -> None:
    ant.default_usage = dict(USAGE)
    rec = Recorder()
    llmrelay.success_callback = [rec]
    plain = llmrelay.completion(model=MODEL, messages=MSGS, **args)
    chunks = list(llmrelay.completion(model=MODEL, messages=MSGS, stream=True, **args))
    assert ant.last is not None and ant.last.body is not None and ant.last.body["stream"] is True
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        plain.choices[0].message.content
    assert all(c.choices for c in chunks)  # the usage chunk is only shown when asked for

    async def astream() -> list[Any]:
        s = await llmrelay.acompletion(model=MODEL, messages=MSGS, stream=True,
                                       stream_options={"include_usage": True}, **args)
        return [c async for c in s]

    achunks = asyncio.run(astream())
    assert achunks[-1].choices == [] and achunks[-1].usage.total_tokens == 370
    assert llmrelay.flush(5)
    assert len(rec.success) == 3
    costs = [kw["response_cost"] for kw, _ in rec.success]
    assert costs == [pytest.approx(hand_cost(USAGE))] * 3
    usages = [obj.usage.model_dump() for _, obj in rec.success]
    assert usages[0] == usages[1] == usages[2]
    assert rec.success[1][0]["additional_args"]["complete_input_dict"]["stream"] is True


def test_one_hour_cache_writes_cost_their_own_price(ant: FakeAnthropic,
                                                    args: dict[str, str]) -> None:
    split = {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30}
    ant.default_usage = {**USAGE, "cache_creation": split}
    rec = Recorder()
    llmrelay.success_callback = [rec]
    plain = llmrelay.completion(model=MODEL, messages=MSGS, **args)
    streamed = list(llmrelay.completion(model=MODEL, messages=MSGS, stream=True,
                                        stream_options={"include_usage": True}, **args))
    assert plain.usage.prompt_tokens_details.cache_creation_token_details == split
    assert streamed[-1].usage.prompt_tokens_details.cache_creation_token_details == split
    assert llmrelay.flush(5)
    row = llmrelay.cost.lookup(MODEL)
    assert row is not None
    expected = (USAGE["input_tokens"] * row["input_cost_per_token"]
                + USAGE["cache_read_input_tokens"] * row["cache_read_input_token_cost"]
                + 20 * row["cache_creation_input_token_cost"]
                + 30 * row["cache_creation_input_token_cost_above_1hr"]
                + USAGE["output_tokens"] * row["output_cost_per_token"])
    assert [kw["response_cost"] for kw, _ in rec.success] == [pytest.approx(expected)] * 2
    assert expected > hand_cost(USAGE)  # the same 50 writes, all with the 5-minute TTL


def test_stream_thinking_end_to_end(ant: FakeAnthropic, args: dict[str, str]) -> None:
    ant.thinking = "First I consider the question."
    chunks = list(llmrelay.completion(model="claude-sonnet-4-5", messages=MSGS, stream=True,
                                      reasoning_effort="medium", **args))
    assert ant.last is not None and ant.last.body is not None
    assert ant.last.body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    reasoning = "".join(c.choices[0].delta.get("reasoning_content") or "" for c in chunks)
    assert reasoning == "First I consider the question."
    r = llmrelay.completion(model="claude-sonnet-4-5", messages=MSGS,
                            thinking={"type": "enabled", "budget_tokens": 2000}, **args)
    assert r.choices[0].message.reasoning_content == "First I consider the question."
    assert r.choices[0].message.content == "Hello from fake Claude"


def test_response_format_end_to_end(ant: FakeAnthropic, args: dict[str, str]) -> None:
    ant.tool_use = {"name": JSON_TOOL, "input": {"answer": "42"}}
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": {
        "type": "object", "properties": {"answer": {"type": "string"}}}}}
    r = llmrelay.completion(model=MODEL, messages=MSGS, response_format=fmt, **args)
    assert json.loads(r.choices[0].message.content) == {"answer": "42"}
    chunks = list(llmrelay.completion(model=MODEL, messages=MSGS, response_format=fmt,
                                      stream=True, **args))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text) == {"answer": "42"}


def test_text_completion_end_to_end(ant: FakeAnthropic, args: dict[str, str]) -> None:
    r = llmrelay.text_completion(model=MODEL, prompt="Say hi", max_tokens=3, **args)
    assert isinstance(r, llmrelay.TextCompletionResponse)
    assert r.choices[0].text == "Hello from fake" and r.choices[0].finish_reason == "length"
    assert ant.last is not None and ant.last.body is not None
    assert ant.last.body["messages"] == [{"role": "user", "content": "Say hi"}]
    chunks = list(llmrelay.text_completion(model=MODEL, prompt="Say hi", stream=True, **args))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Hello from fake Claude"


def test_multi_turn_tool_conversation_accepted(ant: FakeAnthropic, args: dict[str, str]) -> None:
    msgs = [{"role": "system", "content": "sys"}, *MSGS,
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}]
    r = llmrelay.completion(model=MODEL, messages=msgs, tools=[WEATHER], tool_choice="none",
                            **args)
    assert r.choices[0].message.content == "Hello from fake Claude"  # the fake validated it


def test_unsupported_params(ant: FakeAnthropic, args: dict[str, str]) -> None:
    for name, value in (("logit_bias", {"1": 1}), ("presence_penalty", 0.5),
                        ("frequency_penalty", 0.5), ("logprobs", True), ("n", 2), ("seed", 1)):
        with pytest.raises(llmrelay.UnsupportedParamsError, match=name):
            llmrelay.completion(model=MODEL, messages=MSGS, **{name: value}, **args)
    assert ant.request_count == 0
    llmrelay.completion(model=MODEL, messages=MSGS, seed=1, presence_penalty=0.5, n=2,
                        drop_params=True, **args)
    assert ant.last is not None and ant.last.body is not None
    assert not {"seed", "presence_penalty", "n"} & set(ant.last.body)


@pytest.mark.parametrize("reply,cls", [
    (Reply.overloaded(), llmrelay.ServiceUnavailableError),
    (Reply.unauthorized(), llmrelay.AuthenticationError),
    (Reply.prompt_too_long(), llmrelay.ContextWindowExceededError),
    (Reply.error(403, "permission_error", "nope"), llmrelay.PermissionDeniedError),
    (Reply.error(404, "not_found_error", "model: x"), llmrelay.NotFoundError),
    (Reply.error(500, "api_error", "boom"), llmrelay.InternalServerError),
])
def test_http_errors_end_to_end(ant: FakeAnthropic, args: dict[str, str], reply: Reply,
                                cls: type[Exception]) -> None:
    rec = Recorder()
    llmrelay.failure_callback = [rec]
    ant.enqueue(reply)
    with pytest.raises(cls) as info:
        llmrelay.completion(model=MODEL, messages=MSGS, **args)
    assert info.value.message == reply.json["error"]["message"]  # type: ignore[attr-defined]
    assert llmrelay.flush(5) and len(rec.failure) == 1


def test_rate_limit_retry_after_then_success(ant: FakeAnthropic, args: dict[str, str]) -> None:
    ant.enqueue(Reply.rate_limited("0"), Reply.overloaded())
    r = llmrelay.completion(model=MODEL, messages=MSGS, num_retries=2, **args)
    assert r.choices[0].message.content == "Hello from fake Claude"
    assert ant.request_count == 3
    ant.enqueue(Reply.rate_limited("7"))
    with pytest.raises(llmrelay.RateLimitError) as info:
        llmrelay.completion(model=MODEL, messages=MSGS, **args)
    assert info.value.response_headers["retry-after"] == "7"


def test_spend_limit_429_is_not_retried(ant: FakeAnthropic, args: dict[str, str]) -> None:
    body = error_body("rate_limit_error", "You have reached your specified API usage limits.")
    body["error"]["details"] = {"error_code": "enforced_spend_limit_reached"}
    ant.enqueue(Reply(status=429, json=body, headers={"retry-after": "0"}))
    with pytest.raises(llmrelay.RateLimitError):
        llmrelay.completion(model=MODEL, messages=MSGS, num_retries=2, **args)
    assert ant.request_count == 1


def test_stream_errors_end_to_end(ant: FakeAnthropic, args: dict[str, str]) -> None:
    events = stream_events(message([{"type": "text", "text": "partial answer"}]))
    ant.enqueue(Reply.sse([*events[:4], error_event("overloaded_error", "Overloaded")]))
    with pytest.raises(llmrelay.ServiceUnavailableError):
        list(llmrelay.completion(model=MODEL, messages=MSGS, stream=True, **args))
    ant.enqueue(Reply(cut_before="message_stop"))
    with pytest.raises(llmrelay.APIConnectionError):
        list(llmrelay.completion(model=MODEL, messages=MSGS, stream=True, **args))
    ant.enqueue(Reply.sse(events[:-1]))  # a clean end of body, but no message_stop

    async def astream() -> None:
        s = await llmrelay.acompletion(model=MODEL, messages=MSGS, stream=True, **args)
        async for _ in s:
            pass

    with pytest.raises(llmrelay.APIConnectionError, match="message_stop"):
        asyncio.run(astream())


# ---- the fake itself --------------------------------------------------------------------------
def test_fake_checks_headers_and_body(ant: FakeAnthropic) -> None:
    url = ant.base + "/v1/messages"
    ok = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    body = {"model": MODEL, "max_tokens": 10, "messages": MSGS}
    with httpx.Client() as client:
        r = client.post(url, json=body, headers={"anthropic-version": "2023-06-01"})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        r = client.post(url, json=body, headers={"x-api-key": KEY})
        assert r.status_code == 400 and "anthropic-version" in r.json()["error"]["message"]
        r = client.post(url, json={**body, "max_tokens": None}, headers=ok)
        assert r.status_code == 400 and "max_tokens" in r.json()["error"]["message"]
        sys_msgs = [{"role": "system", "content": "x"}, *MSGS]
        r = client.post(url, json={**body, "messages": sys_msgs}, headers=ok)
        assert r.status_code == 400 and r.json()["type"] == "error"
        r = client.post(url, json={**body, "stop_sequences": ["fake"]}, headers=ok)
        assert r.json()["content"][0]["text"] == "Hello from " and \
            r.json()["stop_reason"] == "stop_sequence"
