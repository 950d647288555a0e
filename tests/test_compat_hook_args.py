"""The arguments hooks get, as LiteLLM passes them (observed side by side with LiteLLM
1.108.7): post-call arguments, stream objects as ``original_response``, keyword calls,
hooks replaced on the instance, ``api_base`` of mocked calls, the payload's
``hidden_params`` section."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from typing import Any
from unittest.mock import MagicMock, patch

import llmrelay
from fakes.openai_server import FakeOpenAI
from llmrelay.integrations.custom_logger import CustomLogger

MSGS = [{"role": "user", "content": "Hello"}]


class Seen(CustomLogger):
    """Records (hook, response_obj, end_time, kwargs copy)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, Any, Any, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def _add(self, hook: str, obj: Any, end: Any, kwargs: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((hook, obj, end, dict(kwargs)))

    def of(self, hook: str) -> list[tuple[str, Any, Any, dict[str, Any]]]:
        return [e for e in self.events if e[0] == hook]

    def log_post_api_call(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._add("post", response_obj, end_time, kwargs)

    def log_stream_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                         end_time: Any) -> None:
        self._add("stream", response_obj, end_time, kwargs)

    async def async_log_stream_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                     end_time: Any) -> None:
        self._add("stream", response_obj, end_time, kwargs)

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._add("success", response_obj, end_time, kwargs)

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._add("success", response_obj, end_time, kwargs)


def test_post_api_call_gets_no_response_obj_and_no_end_time(
        fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    # LiteLLM calls log_post_api_call(kwargs, None, start_time, None): the raw reply is
    # kwargs["original_response"].
    seen = Seen()
    llmrelay.callbacks = [seen]
    llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    assert llmrelay.flush(5)
    (_, obj, end, kw), = seen.of("post")
    assert obj is None and end is None
    assert isinstance(kw["original_response"], str) and "choices" in kw["original_response"]


def test_stream_hooks_see_the_stream_object_as_original_response(
        fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    seen = Seen()
    llmrelay.callbacks = [seen]
    stream = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, stream=True,
                                 **openai_args)
    for _ in stream:
        pass
    assert llmrelay.flush(5)
    assert seen.of("post")[0][3]["original_response"] is stream
    assert seen.of("stream") and all(e[3]["original_response"] is stream
                                     for e in seen.of("stream"))
    assert seen.of("success")[0][3]["original_response"] is stream


def test_async_stream_is_a_custom_stream_wrapper(fake: FakeOpenAI,
                                                 openai_args: dict[str, str]) -> None:
    # LiteLLM users tell streams from whole replies with isinstance(r, CustomStreamWrapper).
    seen = Seen()
    llmrelay.callbacks = [seen]

    async def main() -> Any:
        stream = await llmrelay.acompletion(model="openai/gpt-4o-mini", messages=MSGS,
                                            stream=True, **openai_args)
        assert isinstance(stream, llmrelay.CustomStreamWrapper)
        async for _ in stream:
            pass
        return stream

    stream = asyncio.run(main())
    assert llmrelay.flush(5)
    assert seen.of("success")[0][3]["original_response"] is stream
    try:
        iter(stream)
    except TypeError as exc:
        assert "async for" in str(exc)
    else:
        raise AssertionError("an async stream must refuse plain iteration")


class Statuses(CustomLogger):
    """Keeps no kwargs (a logger keeping them would keep the stream alive itself)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, Any]] = []

    def log_stream_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                         end_time: Any) -> None:
        self.events.append(("stream", None))

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self.events.append(("success", kwargs.get("stream_status")))


def test_a_dropped_stream_is_still_reported_at_once(fake: FakeOpenAI,
                                                    openai_args: dict[str, str]) -> None:
    # Hooks see the stream object, yet the call's log holds it weakly: dropping an
    # unfinished stream closes it once the events in flight are delivered, with no
    # reference cycle waiting for the garbage collector.
    seen = Statuses()
    llmrelay.callbacks = [seen]
    gc.disable()
    try:
        stream = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, stream=True,
                                     **openai_args)
        next(stream)
        del stream
        deadline = time.monotonic() + 5
        while ("success", "abandoned") not in seen.events and time.monotonic() < deadline:
            llmrelay.flush(5)
            time.sleep(0.01)
        assert ("success", "abandoned") in seen.events
    finally:
        gc.enable()


class Renamed(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[Any, ...]] = []

    def log_success_event(self, kw: Any, resp: Any, t0: Any, t1: Any) -> None:  # other names
        self.got.append((kw, resp, t0, t1))


def test_hooks_are_called_by_keyword_and_renamed_ones_positionally() -> None:
    # LiteLLM calls hooks with keywords (kwargs=, response_obj=, ...): a MagicMock put in
    # place of a hook sees them in call_args.kwargs. Overrides with other parameter names
    # still get the arguments in the documented order.
    seen, renamed = Seen(), Renamed()
    llmrelay.callbacks = [seen, renamed]
    with patch.object(seen, "log_success_event", new=MagicMock()) as hook:
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi")
        assert llmrelay.flush(5)
    hook.assert_called_once()
    assert set(hook.call_args.kwargs) == {"kwargs", "response_obj", "start_time", "end_time"}
    assert hook.call_args.kwargs["response_obj"].choices[0].message.content == "hi"
    assert len(renamed.got) == 1 and renamed.got[0][1].choices[0].message.content == "hi"


def test_a_hook_patched_after_earlier_calls_is_the_one_called() -> None:
    seen = Seen()
    llmrelay.callbacks = [seen]
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="one")
    assert llmrelay.flush(5)
    with patch.object(seen, "log_success_event", new=MagicMock()) as hook:
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="two")
        assert llmrelay.flush(5)
    hook.assert_called_once()
    assert len(seen.of("success")) == 1  # the first call only


def test_mocked_call_api_base_is_an_empty_string() -> None:
    # No endpoint was called: LiteLLM reports "" (a str, never None).
    seen = Seen()
    llmrelay.callbacks = [seen]
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi")
    assert llmrelay.flush(5)
    assert seen.of("success")[0][3]["litellm_params"]["api_base"] == ""
    assert r._hidden_params["api_base"].startswith("https://api.openai.com")


def test_hidden_api_base_is_the_base_used(fake: FakeOpenAI, monkeypatch: Any) -> None:
    monkeypatch.setenv("OPENAI_API_BASE", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    stream = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, stream=True)
    assert stream._hidden_params["api_base"] == fake.url
    for _ in stream:
        pass


def test_standard_payload_has_hidden_params_with_provider_headers(
        fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    seen = Seen()
    llmrelay.callbacks = [seen]
    r = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    assert llmrelay.flush(5)
    slo = seen.of("success")[0][3]["standard_logging_object"]
    hidden = slo["hidden_params"]
    assert hidden["additional_headers"] == r._hidden_params["additional_headers"]
    assert any(k.startswith("llm_provider-") for k in hidden["additional_headers"])
    assert hidden["response_cost"] == slo["response_cost"]


def test_pre_call_metadata_is_none_unless_given_and_a_dict_at_the_end() -> None:
    # LiteLLM's pre-call hooks see litellm_params["metadata"] None when the call has none.
    pre: list[Any] = []

    class Pre(Seen):
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            pre.append(kwargs["litellm_params"]["metadata"])

    seen = Pre()
    llmrelay.callbacks = [seen]
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi")
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi",
                        metadata={"team": "a"})
    assert llmrelay.flush(5)
    assert pre == [None, {"team": "a"}]
    assert [e[3]["litellm_params"]["metadata"] for e in seen.of("success")] == [
        {}, {"team": "a"}]
