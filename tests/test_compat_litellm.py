"""Compatibility with what LiteLLM users' code expects (observed side by side with LiteLLM).

Each test pins one behaviour a LiteLLM user relies on, where llmrelay differed. Deliberate
differences (DESIGN.md §4: exactly-once delivery, bridging, masking ...) are not tested here.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply
from llmrelay.integrations.custom_logger import CustomLogger

MSGS = [{"role": "user", "content": "Hi there secret prompt"}]


class Hooks(CustomLogger):
    """Records (hook, kwargs copy, response_obj) for the observer hooks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events: list[tuple[str, dict[str, Any], Any]] = []
        self.lock = threading.Lock()

    def _add(self, hook: str, kwargs: dict[str, Any], obj: Any) -> None:
        with self.lock:
            self.events.append((hook, dict(kwargs), obj))

    def hooks(self) -> list[str]:
        return [e[0] for e in self.events]

    def log_post_api_call(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._add("post", kwargs, response_obj)

    def log_stream_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                         end_time: Any) -> None:
        self._add("stream", kwargs, response_obj)

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._add("success", kwargs, response_obj)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._add("failure", kwargs, response_obj)


def _collect(store: list[dict[str, Any]]) -> Any:
    def fn(kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        store.append(kwargs)
    return fn


# ---- failures ---------------------------------------------------------------------------------

def test_failure_kwargs_carry_error_reply_as_original_response(
        fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    # LiteLLM: kwargs["original_response"] on failure holds the upstream error text.
    failed: list[dict[str, Any]] = []
    llmrelay.failure_callback = [_collect(failed)]
    fake.enqueue(Reply.error(429, "slow down please", type="rate_limit_error"))
    with pytest.raises(llmrelay.RateLimitError):
        llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    assert llmrelay.flush(5)
    assert len(failed) == 1
    assert "slow down please" in str(failed[0].get("original_response"))


def test_post_api_call_fires_when_an_error_reply_arrives(
        fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    # LiteLLM fires log_post_api_call for an HTTP error reply too (the raw response arrived).
    # NOTE: conflicts with tests/test_callbacks.py::test_failure_event_and_exception_reaches_caller
    # (which pins ["pre", "failure"]); see the compatibility report.
    rec = Hooks()
    llmrelay.callbacks = [rec]
    fake.enqueue(Reply.error(500, "upstream broke", type="server_error"))
    with pytest.raises(llmrelay.InternalServerError):
        llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    assert llmrelay.flush(5)
    assert rec.hooks() == ["post", "failure"]
    assert "upstream broke" in str(rec.events[0][1]["original_response"])


def test_failure_response_cost_is_zero_not_none(fake: FakeOpenAI,
                                                openai_args: dict[str, str]) -> None:
    # LiteLLM reports response_cost 0 for failed calls, so `total += kwargs["response_cost"]`
    # in a callback registered for both events keeps working.
    seen: list[dict[str, Any]] = []
    llmrelay.callbacks = [_collect(seen)]
    fake.enqueue(Reply.error(429, "slow down", type="rate_limit_error"))
    with pytest.raises(llmrelay.RateLimitError):
        llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    with pytest.raises(llmrelay.RateLimitError):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS,
                            mock_response=llmrelay.RateLimitError("mocked"))
    assert llmrelay.flush(5)
    assert len(seen) == 2
    for kw in seen:
        assert isinstance(kw["response_cost"], float) and kw["response_cost"] == 0.0
        assert kw["standard_logging_object"]["response_cost"] == 0.0


@pytest.mark.parametrize("call", [
    {"model": "no-such-provider-model-xyz", "messages": MSGS},
    {"model": "gpt-4o-mini", "messages": "not a list", "mock_response": "x"},
])
def test_errors_raised_before_the_request_still_fire_failure_callbacks(
        call: dict[str, Any]) -> None:
    # LiteLLM fires failure callbacks for argument/provider-resolution errors; DESIGN §4.2
    # promises one terminal event per call.
    failed: list[dict[str, Any]] = []
    llmrelay.failure_callback = [_collect(failed)]
    with pytest.raises(llmrelay.BadRequestError):
        llmrelay.completion(**call)
    assert llmrelay.flush(5)
    assert len(failed) == 1
    assert isinstance(failed[0]["exception"], llmrelay.BadRequestError)
    assert failed[0]["model"]
    assert failed[0]["standard_logging_object"]["status"] == "failure"


def test_async_error_before_request_fires_failure_callback() -> None:
    failed: list[dict[str, Any]] = []
    llmrelay.failure_callback = [_collect(failed)]

    async def main() -> None:
        with pytest.raises(llmrelay.BadRequestError):
            await llmrelay.acompletion(model="no-such-provider-model-xyz", messages=MSGS)

    asyncio.run(main())
    assert llmrelay.flush(5)
    assert len(failed) == 1
    assert failed[0]["call_type"] == "acompletion"


# ---- kwargs -----------------------------------------------------------------------------------

def test_litellm_trace_id_is_passed_through() -> None:
    seen: list[dict[str, Any]] = []
    llmrelay.success_callback = [_collect(seen)]
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="x",
                        litellm_trace_id="trace-123")
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="x")
    assert llmrelay.flush(5)
    assert seen[0].get("litellm_trace_id") == "trace-123"
    assert seen[0]["standard_logging_object"]["trace_id"] == "trace-123"
    assert isinstance(seen[1].get("litellm_trace_id"), str) and seen[1]["litellm_trace_id"]


def test_messages_is_a_list_for_embedding_and_text_completion() -> None:
    # LiteLLM wraps the input as user messages, so `for m in kwargs.get("messages", [])`
    # works in a generic logger; llmrelay gave None.
    seen: list[dict[str, Any]] = []
    llmrelay.success_callback = [_collect(seen)]
    llmrelay.embedding(model="text-embedding-3-small", input=["a", "b"], mock_response=[0.1])
    llmrelay.text_completion(model="gpt-3.5-turbo-instruct", prompt="Say hi",
                             mock_response="hi")
    assert llmrelay.flush(5)
    by_type = {kw["call_type"]: kw for kw in seen}
    assert by_type["embedding"]["messages"] == [{"role": "user", "content": "a"},
                                               {"role": "user", "content": "b"}]
    assert by_type["text_completion"]["messages"] == [{"role": "user", "content": "Say hi"}]


def test_per_logger_turn_off_message_logging_redacts_for_that_logger_only() -> None:
    # CustomLogger(turn_off_message_logging=True) is accepted by the constructor; LiteLLM
    # honours it (at least in the standard logging payload). Other loggers still see text.
    quiet = Hooks(turn_off_message_logging=True)
    loud = Hooks()
    llmrelay.callbacks = [quiet, loud]
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="secret answer")
    assert r.choices[0].message.content == "secret answer"
    assert llmrelay.flush(5)
    [(_, qkw, qobj)] = [e for e in quiet.events if e[0] == "success"]
    [(_, lkw, lobj)] = [e for e in loud.events if e[0] == "success"]
    quiet_seen = json.dumps(qkw["standard_logging_object"], default=str) + json.dumps(
        qkw["messages"], default=str) + str(qobj.choices[0].message.content)
    assert "secret prompt" not in quiet_seen and "secret answer" not in quiet_seen
    assert "secret prompt" in json.dumps(lkw["standard_logging_object"], default=str)
    assert lobj.choices[0].message.content == "secret answer"


# ---- streaming --------------------------------------------------------------------------------

def test_stream_hooks_get_only_the_chunks_the_caller_gets(fake: FakeOpenAI,
                                                          openai_args: dict[str, str]) -> None:
    # The usage chunk llmrelay requests for pricing (choices == []) is hidden from the
    # caller, but was delivered to log_stream_event, where `response_obj.choices[0]` fails.
    rec = Hooks()
    llmrelay.callbacks = [rec]
    caller = list(llmrelay.completion(model="gpt-4o-mini", messages=MSGS,
                                      mock_response="a b c", stream=True))
    caller += list(llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, stream=True,
                                       **openai_args))
    assert llmrelay.flush(5)
    hooked = [obj for hook, _, obj in rec.events if hook == "stream"]
    assert len(hooked) == len(caller)
    assert all(chunk.choices for chunk in hooked)


def test_text_completion_stream_with_mock_response() -> None:
    chunks = list(llmrelay.text_completion(model="gpt-3.5-turbo-instruct", prompt="x",
                                           mock_response="a b", stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "a b"


def test_text_completion_stream_chunks_have_no_zero_usage(fake: FakeOpenAI,
                                                          openai_args: dict[str, str]) -> None:
    # Chat chunks carry usage None unless they hold real counts; text chunks carried a
    # zero-filled Usage (truthy), unlike LiteLLM (None).
    chunks = list(llmrelay.text_completion(model="openai/gpt-3.5-turbo-instruct",
                                           prompt="x", stream=True, **openai_args))
    assert chunks
    for c in chunks:
        assert c.usage is None or c.usage.total_tokens > 0


def test_text_completion_stream_hooks_get_chat_chunks(fake: FakeOpenAI,
                                                     openai_args: dict[str, str]) -> None:
    # LiteLLM's log_stream_event gets a text completion's chunks as ModelResponseStream
    # (the text in delta.content); the caller still iterates text chunks, and the terminal
    # event still gets the text completion.
    hooks = Hooks()
    llmrelay.callbacks = [hooks]
    chunks = list(llmrelay.text_completion(model="openai/gpt-3.5-turbo-instruct",
                                           prompt="x", stream=True, **openai_args))
    assert llmrelay.flush(5)
    assert all(isinstance(c, llmrelay.TextCompletionResponse) for c in chunks)
    seen = [obj for hook, _, obj in hooks.events if hook == "stream"]
    assert seen and all(isinstance(o, llmrelay.ModelResponseStream) for o in seen)
    caller_text = "".join(c.choices[0].text for c in chunks if c.choices)
    hooked_text = "".join(o.choices[0].delta.content or "" for o in seen if o.choices)
    assert hooked_text == caller_text and caller_text
    assert seen[0].id == chunks[0].id
    done = [obj for hook, _, obj in hooks.events if hook == "success"]
    assert isinstance(done[0], llmrelay.TextCompletionResponse)


# ---- mock_response forms ----------------------------------------------------------------------

def _model_response() -> llmrelay.ModelResponse:
    return llmrelay.ModelResponse(choices=[{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant",
                                                        "content": "from object"}}])


def test_mock_response_accepts_a_model_response_object() -> None:
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response=_model_response())
    assert r.choices[0].message.content == "from object"
    text = "".join(c.choices[0].delta.content or ""
                   for c in llmrelay.completion(model="gpt-4o-mini", messages=MSGS,
                                                mock_response=_model_response(), stream=True)
                   if c.choices)
    assert text == "from object"


@pytest.mark.parametrize("name,cls", [
    ("llmrelay.RateLimitError", llmrelay.RateLimitError),
    ("llmrelay.ContextWindowExceededError", llmrelay.ContextWindowExceededError),
    ("llmrelay.InternalServerError", llmrelay.InternalServerError),
])
def test_mock_response_error_name_raises_that_error(name: str, cls: type[Exception]) -> None:
    # LiteLLM: mock_response="litellm.RateLimitError" raises it (used to test fallbacks).
    failed: list[dict[str, Any]] = []
    llmrelay.failure_callback = [_collect(failed)]
    with pytest.raises(cls):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response=name)
    assert llmrelay.flush(5)
    assert len(failed) == 1


def test_mock_tool_calls() -> None:
    calls = [{"id": "call_1", "type": "function",
              "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi",
                            mock_tool_calls=calls)
    tool_calls = r.choices[0].message.tool_calls
    assert tool_calls and tool_calls[0].function.name == "get_weather"
    assert tool_calls[0].id == "call_1"


def test_mock_timeout_raises_timeout() -> None:
    with pytest.raises(llmrelay.Timeout):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi",
                            mock_timeout=True, timeout=0.01)


def test_mock_response_honours_n() -> None:
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi", n=2)
    assert [c.message.content for c in r.choices] == ["hi", "hi"]
    assert [c.index for c in r.choices] == [0, 1]


# ---- response objects -------------------------------------------------------------------------

def test_provider_specific_fields_attribute_exists(fake: FakeOpenAI,
                                                   openai_args: dict[str, str]) -> None:
    # LiteLLM code reads message.provider_specific_fields (citations etc.); it must not raise.
    r = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    assert r.choices[0].message.provider_specific_fields is None
    assert hasattr(r.choices[0], "provider_specific_fields")
    chunks = [c for c in llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS,
                                             stream=True, **openai_args) if c.choices]
    assert chunks[0].choices[0].delta.provider_specific_fields is None


def test_an_openai_sdk_client_lends_its_key_and_base_url(
        fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    # LiteLLM: completion(..., client=openai.OpenAI(...)) calls with that client's settings.
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(api_key=openai_args["api_key"], base_url=openai_args["api_base"])
    r = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, client=client)
    assert r.choices[0].message.content
    assert fake.last.headers["authorization"] == f"Bearer {openai_args['api_key']}"
    assert "client" not in fake.last.body
    explicit = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, client=client,
                                   api_key="sk-test-explicit-000000")
    assert explicit.choices[0].message.content
    assert fake.last.headers["authorization"] == "Bearer sk-test-explicit-000000"
