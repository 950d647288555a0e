"""OpenAI's Responses API through the SDK (``llmrelay.responses`` / ``aresponses``,
``get_responses``, ``delete_responses``): native on OpenAI, translated over chat for the
others (Anthropic, Gemini, the mock), the conversation state behind
``previous_response_id`` (in memory, bounded; a client's own store; across providers),
typed stream events, one priced callback event per call, the Router."""

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
from llmrelay._responses_state import MemoryResponsesStore
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay.providers.base import Call
from llmrelay.providers.bridges.responses_in import to_chat_call
from llmrelay.providers.registry import spec_for
from llmrelay.types import ResponsesAPIResponse, ResponsesStreamEvent

KEY = "sk-test-0123456789abcdef"
TOOL = {"type": "function", "name": "lookup", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeOpenAI, FakeAnthropic]]:
    with FakeOpenAI() as oa, FakeAnthropic() as an:
        yield oa, an


@pytest.fixture
def oa(servers: Any) -> FakeOpenAI:
    servers[0].reset()
    servers[0].tool_call = None
    return servers[0]


@pytest.fixture
def an(servers: Any) -> FakeAnthropic:
    servers[1].reset()
    servers[1].configure_defaults()
    return servers[1]


def test_request_translation() -> None:
    state = [{"role": "user", "content": "earlier"},
             {"type": "message", "role": "assistant", "content": [
                 {"type": "output_text", "text": "answer", "annotations": []}]},
             {"type": "function_call", "call_id": "c1", "name": "lookup",
              "arguments": '{"q":"x"}'}]
    call = Call("responses", "gpt-4o-mini", spec_for("openai"), None, [
        {"type": "function_call_output", "call_id": "c1", "output": "found"},
        {"role": "developer", "content": [{"type": "input_text", "text": "rule"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "see"},
                                     {"type": "input_image", "image_url": "https://x/i.png"}]}],
        {"instructions": "sys", "max_output_tokens": 50, "tools": [TOOL],
         "tool_choice": {"type": "function", "name": "lookup"}, "store": True,
         "text": {"format": {"type": "json_schema", "name": "o", "schema": {"type": "object"}}},
         "reasoning": {"effort": "high"}, "truncation": "auto"}, state=state)
    chat = to_chat_call(call)
    assert chat.messages == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "answer", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup",
                                                          "arguments": '{"q":"x"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "found"},
        {"role": "system", "content": "rule"},
        {"role": "user", "content": [{"type": "text", "text": "see"},
                                     {"type": "image_url", "image_url": {"url": "https://x/i.png"}}]}]
    assert chat.params == {
        "max_tokens": 50, "tools": [{"type": "function", "function": {
            "name": "lookup", "parameters": TOOL["parameters"]}}],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "o", "schema": {"type": "object"}}}}
    with pytest.raises(llmrelay.BadRequestError, match="OpenAI's servers"):
        to_chat_call(Call("responses", "m", spec_for("openai"), None, "x",
                          {"tools": [{"type": "web_search"}]}))


def test_native_openai_whole_stream_get_delete(oa: FakeOpenAI) -> None:
    args = {"api_base": oa.url, "api_key": KEY}
    r = llmrelay.responses(input="Hi", model="openai/gpt-4o-mini", temperature=0.2, **args)
    assert oa.last.body == {"model": "gpt-4o-mini", "input": "Hi", "temperature": 0.2}
    assert isinstance(r, ResponsesAPIResponse) and r.output_text == "Hello from fake"
    assert r._hidden_params["response_cost"] == pytest.approx(10 * 0.15e-6 + 5 * 0.6e-6)
    events = list(llmrelay.responses(input="Hi", model="openai/gpt-4o-mini", stream=True,
                                     **args))
    assert all(isinstance(e, ResponsesStreamEvent) for e in events)
    assert events[-1].type == "response.completed" and events[-1].usage.total_tokens == 15
    assert llmrelay.get_responses(r.id, **args).output_text == "Hello from fake"
    assert llmrelay.delete_responses(r.id, **args).deleted is True
    with pytest.raises(llmrelay.NotFoundError):
        asyncio.run(llmrelay.aget_responses(r.id, **args))


def test_translated_conversation_over_anthropic_and_gemini(an: FakeAnthropic) -> None:
    args = {"api_base": an.base, "api_key": KEY}
    first = llmrelay.responses(input="One", model="anthropic/claude-3-5-sonnet-20241022",
                               **args)
    second = asyncio.run(llmrelay.aresponses(
        input="Two", model="anthropic/claude-3-5-sonnet-20241022",
        previous_response_id=first.id, **args))
    assert [m["content"] for m in an.last.body["messages"]] == [
        "One", "Hello from fake Claude", "Two"]
    with FakeGemini() as gm:  # the same conversation continues on another provider
        llmrelay.responses(input="Three", model="gemini/gemini-2.0-flash",
                           previous_response_id=second.id, api_base=gm.url, api_key=KEY)
        texts = [p["text"] for c in gm.last.body["contents"] for p in c["parts"]]
    assert texts[0] == "One" and texts[-1] == "Three" and len(texts) == 5
    assert llmrelay.get_responses(second.id).previous_response_id == first.id
    assert llmrelay.delete_responses(second.id).deleted is True
    with pytest.raises(llmrelay.BadRequestError, match="not found"):
        llmrelay.responses(input="x", model="anthropic/claude-3-5-sonnet-20241022",
                           previous_response_id=second.id, **args)
    unstored = llmrelay.responses(input="y", model="mock/m", store=False)
    with pytest.raises(llmrelay.BadRequestError):
        llmrelay.responses(input="z", model="mock/m", previous_response_id=unstored.id)


def test_a_client_store_of_its_own_and_the_bound() -> None:
    mine = MemoryResponsesStore(max_entries=2)
    client = llmrelay.Client(responses_store=mine)
    ids = [client.responses(input=f"q{i}", model="mock/m").id for i in range(3)]
    assert len(mine) == 2 and mine.get(ids[0]) is None  # the oldest is forgotten
    client.responses(input="more", model="mock/m", previous_response_id=ids[2])
    with pytest.raises(llmrelay.BadRequestError):  # not in the default store
        llmrelay.responses(input="x", model="mock/m", previous_response_id=ids[2])


def test_tools_round_trip_on_the_mock() -> None:
    first = llmrelay.responses(input="look it up", model="mock/m", tools=[TOOL],
                               tool_choice="required")
    call = first.output[0]
    assert call["type"] == "function_call" and "q" in json.loads(call["arguments"])
    second = llmrelay.responses(model="mock/m", previous_response_id=first.id, tools=[TOOL],
                                input=[{"type": "function_call_output",
                                        "call_id": call["call_id"], "output": "42"}])
    assert second.output_text  # after a tool result the model answers in text


class Events(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[str, Any, Any]] = []

    def log_success_event(self, kwargs: Any, obj: Any, start: Any, end: Any) -> None:
        self.got.append(("success", kwargs, obj))

    def log_failure_event(self, kwargs: Any, obj: Any, start: Any, end: Any) -> None:
        self.got.append(("failure", kwargs, obj))


@pytest.mark.parametrize("stream", [False, True])
def test_one_priced_event_per_call(oa: FakeOpenAI, an: FakeAnthropic, stream: bool) -> None:
    ev = Events()
    llmrelay.callbacks = [ev]
    try:
        for model, base in (("openai/gpt-4o-mini", oa.url),
                            ("anthropic/claude-3-5-sonnet-20241022", an.base)):
            r = llmrelay.responses(input="Hi", model=model, stream=stream, api_base=base,
                                   api_key=KEY)
            if stream:
                list(r)
        s = llmrelay.responses(input="Hi", model="mock/m", stream=True)
        next(iter(s))
        s.close()  # abandoned: still one event
        assert llmrelay.flush(5)
    finally:
        llmrelay.callbacks = []
    assert len(ev.got) == 3 and {e[0] for e in ev.got} == {"success"}
    for _, kwargs, obj in ev.got[:2]:
        assert kwargs["call_type"] == "responses" and isinstance(obj, ResponsesAPIResponse)
        assert kwargs["response_cost"] > 0 and obj.usage.total_tokens == 15
    assert ev.got[2][1]["stream_status"] == "abandoned"


def test_router_aresponses_with_fallback(an: FakeAnthropic) -> None:
    from fakes.anthropic_server import Reply

    router = llmrelay.Router(model_list=[
        {"model_name": "main", "litellm_params": {"model": "anthropic/claude-3-5-sonnet-20241022",
                                                  "api_base": an.base, "api_key": KEY}},
        {"model_name": "spare", "litellm_params": {"model": "mock/spare"}}],
        fallbacks=[{"main": ["spare"]}], num_retries=0)
    an.enqueue(Reply.overloaded())
    r = asyncio.run(router.aresponses(model="main", input="Hi"))
    assert r.output_text == "This is a mock response from llmrelay."
    assert router.responses(model="main", input="Hi").output_text == "Hello from fake Claude"
