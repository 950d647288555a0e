"""Anthropic's Messages API through the SDK (``llmrelay.anthropic_messages``,
``llmrelay.anthropic.messages.create``): relayed as written to Anthropic, translated over
chat for every other wire (OpenAI here, Gemini and Bedrock through the same bridge), the
mock; streams as Anthropic's events; one callback event per call, priced."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmrelay
from fakes.anthropic_server import FakeAnthropic
from fakes.gemini_server import FakeGemini
from fakes.openai_server import FakeOpenAI
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay.providers.base import Call
from llmrelay.providers.bridges.messages_in import to_chat_call
from llmrelay.providers.bridges.messages_out import MessagesStream
from llmrelay.providers.registry import spec_for
from llmrelay.types import AnthropicEvent, AnthropicMessagesResponse, ModelResponseStream

KEY = "sk-test-0123456789abcdef"
HI = [{"role": "user", "content": "Hello"}]
WEATHER = {"name": "get_weather", "input_schema": {"type": "object", "properties": {
    "city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeAnthropic, FakeOpenAI]]:
    with FakeAnthropic() as an, FakeOpenAI() as oa:
        yield an, oa


@pytest.fixture
def an(servers: Any) -> FakeAnthropic:
    servers[0].reset()
    servers[0].configure_defaults()
    return servers[0]


@pytest.fixture
def oa(servers: Any) -> FakeOpenAI:
    fake = servers[1]
    fake.reset()
    fake.tool_call = None
    fake.default_usage = {"prompt_tokens": 10, "completion_tokens": 5}
    return fake


class Events(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[str, Any, Any]] = []

    def log_success_event(self, kwargs: Any, obj: Any, start: Any, end: Any) -> None:
        self.got.append(("success", kwargs, obj))

    def log_failure_event(self, kwargs: Any, obj: Any, start: Any, end: Any) -> None:
        self.got.append(("failure", kwargs, obj))


# ---- the translation (pure) ---------------------------------------------------------------
def _call(**params: Any) -> Call:
    return Call("anthropic_messages", "gpt-4o-mini", spec_for("openai"),
                params.pop("messages", HI), None, params, bool(params.pop("stream", False)))


def test_request_translation() -> None:
    msgs = [{"role": "user", "content": [
        {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": {"type": "url", "url": "https://x/cat.png"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                        "data": "JVBERi0="}, "title": "a.pdf"}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "calling"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
             "input": {"city": "Rome"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
             "content": [{"type": "text", "text": "down"}]},
            {"type": "text", "text": "try again"}]}]
    chat = to_chat_call(_call(messages=msgs, max_tokens=99, system=[
        {"type": "text", "text": "sys"}], stop_sequences=["X"], top_k=4, tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        thinking={"type": "enabled", "budget_tokens": 20000}, speed="fast",
        output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}}))
    assert chat.call_type == "completion"
    assert chat.messages == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=",
                                      "filename": "a.pdf"}}]},
        {"role": "assistant", "content": "calling", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {
                "name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: down"},
        {"role": "user", "content": "try again"}]
    assert chat.params == {
        "max_tokens": 99, "stop": ["X"], "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "output", "schema": {"type": "object"}, "strict": True}},
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "parameters": WEATHER["input_schema"]}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    reasoning = to_chat_call(Call("anthropic_messages", "o3-mini", spec_for("openai"), HI,
                                  None, {"max_tokens": 9, "thinking": {
                                      "type": "enabled", "budget_tokens": 2000}}))
    assert reasoning.params["reasoning_effort"] == "low"
    with pytest.raises(llmrelay.BadRequestError, match="Anthropic's servers"):
        to_chat_call(_call(max_tokens=5, tools=[{"type": "web_search_20250305",
                                                 "name": "web_search"}]))


def test_stream_translation_text_thinking_and_tools() -> None:
    conv = MessagesStream(_call(max_tokens=9))

    def chunk(delta: dict[str, Any], finish: str | None = None) -> Any:
        return ModelResponseStream(id="c1", model="m", choices=[
            {"index": 0, "delta": delta, "finish_reason": finish}])

    events: list[AnthropicEvent] = []
    for c in (chunk({"role": "assistant", "reasoning_content": "think"}),
              chunk({"content": "Hi"}),
              chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                     "function": {"name": "f", "arguments": '{"a"'}}]}),
              chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
              chunk({}, "tool_calls")):
        events += conv.feed(c)
    usage = ModelResponseStream(id="c1", model="m", choices=[])
    usage.usage = {"prompt_tokens": 12, "completion_tokens": 7,
                   "prompt_tokens_details": {"cached_tokens": 2}, "total_tokens": 19}
    events += conv.feed(usage) + conv.finish()
    kinds = [(e.type, e.data.get("index")) for e in events]
    assert kinds == [("message_start", None), ("content_block_start", 0),
                     ("content_block_delta", 0), ("content_block_stop", 0),
                     ("content_block_start", 1), ("content_block_delta", 1),
                     ("content_block_stop", 1), ("content_block_start", 2),
                     ("content_block_delta", 2), ("content_block_delta", 2),
                     ("content_block_stop", 2), ("message_delta", None),
                     ("message_stop", None)]
    assert events[-2].data["delta"]["stop_reason"] == "tool_use"
    assert events[-2].usage.prompt_tokens == 12 and events[-2].data["usage"] == {
        "input_tokens": 10, "output_tokens": 7, "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2}
    from llmrelay.types.anthropic_messages import assemble_message

    msg = assemble_message(events)
    assert msg is not None
    assert [b["type"] for b in msg.content] == ["thinking", "text", "tool_use"]
    assert msg.content[2]["input"] == {"a": 1} and msg.stop_reason == "tool_use"
    assert bytes(events[0]).startswith(b"event: message_start\ndata: {")


# ---- against the fakes ---------------------------------------------------------------------
def test_anthropic_native_whole_stream_and_count(an: FakeAnthropic) -> None:
    args = {"api_base": an.base, "api_key": KEY}
    r = asyncio.run(llmrelay.anthropic_messages(
        max_tokens=64, messages=HI, model="anthropic/claude-3-5-sonnet-20241022",
        system="sys", thinking={"type": "enabled", "budget_tokens": 1024}, **args))
    assert isinstance(r, AnthropicMessagesResponse)
    assert an.last.body == {"model": "claude-3-5-sonnet-20241022", "messages": HI,
                            "max_tokens": 64, "system": "sys",
                            "thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert r["content"][0]["text"] == "Hello from fake Claude"
    assert r._hidden_params["response_cost"] == pytest.approx(10 * 3e-6 + 5 * 15e-6)
    stream = llmrelay.anthropic.messages.create(
        max_tokens=64, messages=HI, model="anthropic/claude-3-5-sonnet-20241022",
        stream=True, **args)
    raw = b"".join(stream)
    assert raw.startswith(b"event: message_start\n") and b"event: ping\n" in raw
    assert stream._hidden_params["response_cost"] == pytest.approx(10 * 3e-6 + 5 * 15e-6)
    counted = llmrelay.anthropic.messages.count_tokens(
        model="anthropic/claude-3-5-sonnet-20241022", messages=HI, system="be brief", **args)
    assert counted == {"input_tokens": 3}


def test_over_openai_whole_and_stream(oa: FakeOpenAI) -> None:
    args = {"api_base": oa.url, "api_key": KEY}
    oa.tool_call = {"name": "get_weather", "arguments": {"city": "Lima"}}
    r = llmrelay.anthropic.messages.create(max_tokens=32, messages=HI,
                                           model="openai/gpt-4o-mini", tools=[WEATHER], **args)
    assert r.content == [{"type": "tool_use", "id": r.content[0]["id"],
                          "name": "get_weather", "input": {"city": "Lima"}}]
    assert r.stop_reason == "tool_use"
    oa.tool_call = None

    async def stream() -> list[Any]:
        s = await llmrelay.anthropic.messages.acreate(max_tokens=32, messages=HI,
                                                      model="openai/gpt-4o-mini",
                                                      stream=True, **args)
        return [e async for e in s]

    events = asyncio.run(stream())
    text = "".join(e.data["delta"].get("text", "") for e in events
                   if e.type == "content_block_delta")
    assert text == "Hello from fake" and events[-1].type == "message_stop"
    assert oa.last.body["stream_options"] == {"include_usage": True}


def test_over_gemini() -> None:
    with FakeGemini() as gm:
        r = llmrelay.anthropic.messages.create(max_tokens=32, system="terse", messages=HI,
                                               model="gemini/gemini-2.0-flash",
                                               api_base=gm.url, api_key=KEY)
        assert gm.last.body["systemInstruction"]["parts"][0]["text"] == "terse"
    assert r.content[0]["type"] == "text" and r.usage.output_tokens > 0


def test_mock_follows_tools_and_structured_output() -> None:
    r = llmrelay.anthropic.messages.create(max_tokens=20, messages=HI, model="mock/c",
                                           tools=[WEATHER], tool_choice={"type": "any"})
    assert r.content[0]["type"] == "tool_use" and "city" in r.content[0]["input"]
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    r = llmrelay.anthropic.messages.create(
        max_tokens=20, messages=HI, model="mock/c",
        output_config={"format": {"type": "json_schema", "schema": schema}})
    assert isinstance(json.loads(r.content[0]["text"])["n"], int)
    given = llmrelay.anthropic.messages.create(
        max_tokens=20, messages=HI, model="anthropic/claude-3-5-haiku-20241022",
        mock_response={"type": "message", "content": [{"type": "text", "text": "given"}]})
    assert given.content[0]["text"] == "given"


@pytest.mark.parametrize("stream", [False, True])
def test_one_priced_event_per_call(oa: FakeOpenAI, an: FakeAnthropic, stream: bool) -> None:
    ev = Events()
    llmrelay.callbacks = [ev]
    try:
        for model, base in (("openai/gpt-4o-mini", oa.url),
                            ("anthropic/claude-3-5-sonnet-20241022", an.base)):
            r = llmrelay.anthropic.messages.create(max_tokens=16, messages=HI, model=model,
                                                   stream=stream, api_base=base, api_key=KEY)
            if stream:
                list(r)
        assert llmrelay.flush(5)
    finally:
        llmrelay.callbacks = []
    assert [e[0] for e in ev.got] == ["success", "success"]
    for _, kwargs, obj in ev.got:
        assert kwargs["call_type"] == "anthropic_messages" and kwargs["stream"] is stream
        assert kwargs["response_cost"] > 0 and isinstance(obj, AnthropicMessagesResponse)
        assert kwargs["standard_logging_object"]["prompt_tokens"] == 10


def test_cache_keys_the_messages_of_a_messages_call(an: FakeAnthropic) -> None:
    """Each prompt its own entry: a second prompt is asked upstream, a repeat is a hit."""
    an.default_content = lambda body: "echo " + body["messages"][-1]["content"]
    args = {"api_base": an.base, "api_key": KEY, "model": "anthropic/claude-3-5-sonnet-20241022",
            "max_tokens": 16}
    llmrelay.cache = llmrelay.Cache(type="local")
    try:
        one = llmrelay.anthropic.messages.create(
            messages=[{"role": "user", "content": "one"}], **args)
        two = llmrelay.anthropic.messages.create(
            messages=[{"role": "user", "content": "two"}], **args)
        again = llmrelay.anthropic.messages.create(
            messages=[{"role": "user", "content": "two"}], **args)
        system = llmrelay.anthropic.messages.create(
            messages=[{"role": "user", "content": "two"}], system="be brief", **args)
    finally:
        llmrelay.cache = None
    assert one["content"][0]["text"] == "echo one" and two["content"][0]["text"] == "echo two"
    assert not two._hidden_params.get("cache_hit") and again._hidden_params["cache_hit"] is True
    assert again["content"] == two["content"] and not system._hidden_params.get("cache_hit")
    assert an.request_count == 3


def test_router_count_tokens_fails_over_only_when_the_upstream_cannot_answer(
        an: FakeAnthropic) -> None:
    from fakes.anthropic_server import Reply

    def dep(group: str, model: str) -> dict[str, Any]:
        return {"model_name": group, "litellm_params": {
            "model": "anthropic/" + model, "api_base": an.base, "api_key": KEY}}

    router = llmrelay.Router(model_list=[dep("main", "claude-3-5-sonnet-20241022"),
                                         dep("spare", "claude-3-5-haiku-20241022")],
                             fallbacks=[{"main": ["spare"]}], num_retries=0)
    expected = asyncio.run(router.acount_tokens("main", HI))
    an.reset()
    an.enqueue(Reply.overloaded())
    assert asyncio.run(router.acount_tokens("main", HI)) == expected
    assert [r.body["model"] for r in an.requests] == ["claude-3-5-sonnet-20241022",
                                                      "claude-3-5-haiku-20241022"]
    an.reset()
    an.enqueue(Reply.error(400, "invalid_request_error", "messages: bad"))
    with pytest.raises(llmrelay.BadRequestError):
        asyncio.run(router.acount_tokens("main", HI))
    assert an.request_count == 1
