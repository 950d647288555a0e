"""The callback contract (DESIGN.md §4): sequence, delivery, isolation, privacy."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import warnings
from typing import Any

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply
from llmrelay.integrations.custom_logger import CustomLogger

MSGS = [{"role": "user", "content": "Hello secret prompt"}]


class Recorder(CustomLogger):
    """Records (hook, thread name, kwargs snapshot, response) for every hook it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str, dict[str, Any], Any]] = []
        self.lock = threading.Lock()

    def _add(self, hook: str, kwargs: dict[str, Any], obj: Any) -> None:
        with self.lock:
            self.events.append((hook, threading.current_thread().name, dict(kwargs), obj))

    def hooks(self) -> list[str]:
        return [e[0] for e in self.events]

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        self._add("pre", kwargs, None)

    def log_post_api_call(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._add("post", kwargs, response_obj)

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._add("success", kwargs, response_obj)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._add("failure", kwargs, response_obj)

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._add("async_success", kwargs, response_obj)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._add("async_failure", kwargs, response_obj)


def test_sequence_sync_call(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    rec = Recorder()
    llmrelay.callbacks = [rec]
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, metadata={"team": "a"},
                            **openai_args)
    assert llmrelay.flush(5)
    assert rec.hooks() == ["pre", "post", "success"]
    pre_kwargs = rec.events[0][2]
    assert rec.events[0][1] == threading.main_thread().name  # in-band on the caller's thread
    assert pre_kwargs["additional_args"]["complete_input_dict"] == fake.last.body
    success_thread = rec.events[2][1]
    assert success_thread != threading.main_thread().name
    kw = rec.events[2][2]
    assert kw["model"] == "gpt-4o-mini" and kw["messages"] == MSGS
    assert kw["call_type"] == "completion" and kw["stream"] is False
    assert kw["litellm_params"]["metadata"] == {"team": "a"}
    assert kw["litellm_params"]["custom_llm_provider"] == "openai"
    assert kw["litellm_params"]["api_base"].startswith(fake.url)
    assert kw["start_time"] <= kw["completion_start_time"] <= kw["end_time"]
    assert isinstance(kw["start_time"], dt.datetime)
    row = llmrelay.cost.lookup("gpt-4o-mini")
    expected = 10 * row["input_cost_per_token"] + 5 * row["output_cost_per_token"]
    assert kw["response_cost"] == pytest.approx(expected)
    assert r._hidden_params["response_cost"] == pytest.approx(expected)
    assert kw["cache_hit"] is False
    assert kw["litellm_call_id"] and kw["original_response"] is not None
    slo = kw["standard_logging_object"]
    json.dumps(slo)
    assert slo["schema_version"] == 1 and slo["status"] == "success"
    assert slo["total_tokens"] == 15 and slo["response_cost"] == pytest.approx(expected)
    assert slo["metadata"] == {"team": "a"}
    assert rec.events[2][3] is r


def test_async_call_gets_async_variant_once(fake: FakeOpenAI,
                                            openai_args: dict[str, str]) -> None:
    rec = Recorder()
    llmrelay.callbacks = [rec]

    async def main() -> None:
        await llmrelay.acompletion(model="gpt-4o", messages=MSGS, **openai_args)

    asyncio.run(main())
    assert llmrelay.flush(5)
    assert rec.hooks() == ["pre", "post", "async_success"]
    assert rec.events[2][2]["call_type"] == "acompletion"


class OnlyAsync(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[str] = []

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self.got.append(kwargs["call_type"])


class OnlySync(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[str] = []

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self.got.append(kwargs["call_type"])


def test_bridging_every_combination() -> None:
    a, s = OnlyAsync(), OnlySync()
    llmrelay.callbacks = [a, s]
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="hi")
    asyncio.run(llmrelay.acompletion(model="gpt-4o", messages=MSGS, mock_response="hi"))
    for _chunk in llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="a b",
                                      stream=True):
        pass

    async def astream() -> None:
        r = await llmrelay.acompletion(model="gpt-4o", messages=MSGS, mock_response="a b",
                                       stream=True)
        async for _ in r:
            pass

    asyncio.run(astream())
    assert llmrelay.flush(5)
    assert a.got == ["completion", "acompletion", "completion", "acompletion"]
    assert s.got == ["completion", "acompletion", "completion", "acompletion"]


def test_plain_functions_sync_and_async() -> None:
    got: list[str] = []

    def fn(kwargs: Any, resp: Any, start: Any, end: Any) -> None:
        got.append("sync:" + kwargs["call_type"])

    async def afn(kwargs: Any, resp: Any, start: Any, end: Any) -> None:
        got.append("async:" + kwargs["call_type"])

    llmrelay.success_callback = [fn, afn]
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    asyncio.run(llmrelay.acompletion(model="gpt-4o", messages=MSGS, mock_response="x"))
    assert llmrelay.flush(5)
    assert sorted(got) == sorted(["sync:completion", "async:completion", "sync:acompletion",
                                  "async:acompletion"])


def test_failure_event_and_exception_reaches_caller(fake: FakeOpenAI,
                                                    openai_args: dict[str, str]) -> None:
    rec = Recorder()
    failures: list[Any] = []
    llmrelay.callbacks = [rec]
    llmrelay.failure_callback = [lambda kw, resp, s, e: failures.append(kw["exception"])]
    fake.enqueue(Reply.error(429, "slow down", type="rate_limit_error"))
    with pytest.raises(llmrelay.RateLimitError):
        llmrelay.completion(model="gpt-4o", messages=MSGS, **openai_args)
    assert llmrelay.flush(5)
    assert rec.hooks() == ["pre", "post", "failure"]  # the error reply arrived: post fires
    kw = rec.events[2][2]
    assert "slow down" in kw["original_response"]
    assert isinstance(kw["exception"], llmrelay.RateLimitError)
    assert "RateLimitError" in kw["traceback_exception"]
    assert kw["standard_logging_object"]["status"] == "failure"
    assert kw["standard_logging_object"]["error_code"] == 429
    assert len(failures) == 1


def test_slow_and_broken_callbacks_never_delay_or_break_the_call() -> None:
    release = threading.Event()
    seen: list[str] = []

    class Slow(CustomLogger):
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            release.wait(10)

    class Broken(CustomLogger):
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            raise RuntimeError("boom")

        async def async_log_success_event(self, kwargs: Any, response_obj: Any,
                                          start_time: Any, end_time: Any) -> None:
            raise RuntimeError("async boom")

    class Fine(CustomLogger):
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            seen.append("fine")

    llmrelay.callbacks = [Slow(), Broken(), Fine()]
    for _ in range(3):
        r = llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="ok")
        assert r.choices[0].message.content == "ok"
    deadline = time.monotonic() + 5
    while len(seen) < 3 and time.monotonic() < deadline:  # Fine is not starved by Slow
        time.sleep(0.01)
    assert seen == ["fine"] * 3
    release.set()
    assert llmrelay.flush(5)
    stats = llmrelay.callback_stats()
    assert stats["Broken"]["failed"] >= 3 and stats["Fine"]["delivered"] >= 3


def test_async_callback_does_not_stall_callers_loop() -> None:
    class Blocking(CustomLogger):
        async def async_log_success_event(self, kwargs: Any, response_obj: Any,
                                          start_time: Any, end_time: Any) -> None:
            await asyncio.sleep(0.5)

    llmrelay.callbacks = [Blocking()]

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        t = asyncio.create_task(ticker())
        for _ in range(5):
            await llmrelay.acompletion(model="gpt-4o", messages=MSGS, mock_response="x")
        await asyncio.sleep(0.05)
        t.cancel()
        return ticks

    assert asyncio.run(main()) > 5
    assert llmrelay.flush(10)


def test_hook_timeout_counts_and_moves_on() -> None:
    llmrelay.callback_timeout = 0.2
    done: list[int] = []

    class Stuck(CustomLogger):
        async def async_log_success_event(self, kwargs: Any, response_obj: Any,
                                          start_time: Any, end_time: Any) -> None:
            if not done:
                done.append(1)
                await asyncio.sleep(5)
            done.append(2)

    stuck = Stuck()
    llmrelay.callbacks = [stuck]
    asyncio.run(llmrelay.acompletion(model="gpt-4o", messages=MSGS, mock_response="x"))
    asyncio.run(llmrelay.acompletion(model="gpt-4o", messages=MSGS, mock_response="x"))
    assert llmrelay.flush(5)
    assert done == [1, 2]
    assert llmrelay.callback_stats()["Stuck"]["timed_out"] == 1


def test_queue_overflow_drops_oldest_and_counts() -> None:
    llmrelay.callback_queue_size = 2
    gate = threading.Event()
    got: list[str] = []

    class Gated(CustomLogger):
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            gate.wait(5)
            got.append(kwargs["litellm_params"]["metadata"]["i"])

    llmrelay.callbacks = [Gated()]
    for i in range(6):
        llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x", metadata={"i": i})
    time.sleep(0.2)
    gate.set()
    assert llmrelay.flush(5)
    stats = llmrelay.callback_stats()["Gated"]
    assert stats["dropped"] >= 1
    assert got[-1] == 5  # the newest event survives
    assert len(got) + stats["dropped"] == 6


def test_per_call_callbacks_and_dedupe() -> None:
    rec = Recorder()
    other: list[str] = []
    llmrelay.callbacks = [rec]
    llmrelay.success_callback = [rec]  # same logger in two lists: one event
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x",
                        success_callback=[lambda kw, r, s, e: other.append("per-call")])
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    assert llmrelay.flush(5)
    assert rec.hooks().count("success") == 2
    assert other == ["per-call"]


def test_reassigning_lists_takes_effect_next_call() -> None:
    first, second = Recorder(), Recorder()
    llmrelay.callbacks = [first]
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    llmrelay.callbacks = [second]
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    llmrelay.callbacks = []
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    assert llmrelay.flush(5)
    assert first.hooks().count("success") == 1 and second.hooks().count("success") == 1


def test_metadata_is_copied_not_mutated() -> None:
    class Mutator(CustomLogger):
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            kwargs["litellm_params"]["metadata"]["added"] = True

    meta = {"a": 1}
    llmrelay.callbacks = [Mutator()]
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x", metadata=meta)
    assert meta == {"a": 1}


def test_api_keys_masked_everywhere(fake: FakeOpenAI) -> None:
    rec = Recorder()
    llmrelay.callbacks = [rec]
    key = "sk-supersecretvalue-abcd"
    llmrelay.completion(model="gpt-4o", messages=MSGS, api_base=fake.url, api_key=key)
    assert llmrelay.flush(5)
    for _hook, _thread, kw, _obj in rec.events:
        text = json.dumps(kw, default=str)
        assert "supersecretvalue" not in text
    assert rec.events[-1][2]["litellm_params"]["api_key"] == "sk-...abcd"


def test_turn_off_message_logging_redacts_everything(fake: FakeOpenAI,
                                                     openai_args: dict[str, str]) -> None:
    rec = Recorder()
    llmrelay.callbacks = [rec]
    llmrelay.turn_off_message_logging = True
    r = llmrelay.completion(model="gpt-4o", messages=MSGS, **openai_args)
    assert r.choices[0].message.content == "Hello from fake"  # the caller sees the truth
    assert llmrelay.flush(5)
    for _hook, _thread, kw, obj in rec.events:
        text = json.dumps(kw, default=lambda o: getattr(o, "model_dump", lambda: str(o))())
        assert "secret prompt" not in text and "Hello from fake" not in text
        if obj is not None:
            dumped = obj if isinstance(obj, str) else json.dumps(obj.model_dump())
            assert "Hello from fake" not in dumped


def test_near_miss_hook_name_warns() -> None:
    class Typo(CustomLogger):
        def log_sucess_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                             end_time: Any) -> None:
            pass

        async def async_log_success(self, kwargs: Any, response_obj: Any, start_time: Any,
                                    end_time: Any) -> None:
            pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llmrelay.callbacks = [Typo()]
    messages = [str(w.message) for w in caught]
    assert any("log_sucess_event" in m and "log_success_event" in m for m in messages)
    assert any("async_log_success " in m and "async_log_success_event" in m for m in messages)


def test_proxy_only_hook_warns_in_sdk_use() -> None:
    class ProxyHook(CustomLogger):
        async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any,
                                      data: dict[str, Any], call_type: str) -> Any:
            return data

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llmrelay.callbacks = [ProxyHook()]
    assert any("proxy-only" in str(w.message) for w in caught)


def test_unknown_integration_name_raises_at_registration() -> None:
    with pytest.raises(ValueError, match="unknown integration 'nope'"):
        llmrelay.callbacks = ["nope"]


def test_abandoned_stream_still_emits_one_event(fake: FakeOpenAI,
                                                openai_args: dict[str, str]) -> None:
    rec = Recorder()
    llmrelay.callbacks = [rec]
    fake.default_content = " ".join(["w"] * 50)
    try:
        s = llmrelay.completion(model="gpt-4o", messages=MSGS, stream=True, **openai_args)
        next(s)
        next(s)
        s.close()
        s.close()
    finally:
        fake.default_content = "Hello from fake"
    assert llmrelay.flush(5)
    assert rec.hooks().count("success") == 1
    kw = rec.events[-1][2]
    assert kw["stream_status"] == "abandoned"
    assert kw["complete_streaming_response"].choices[0].message.content.startswith("w")


def test_stream_costs_same_as_unstreamed(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    costs: list[float] = []
    llmrelay.success_callback = [lambda kw, r, s, e: costs.append(kw["response_cost"])]
    llmrelay.completion(model="gpt-4o", messages=MSGS, **openai_args)
    for _ in llmrelay.completion(model="gpt-4o", messages=MSGS, stream=True, **openai_args):
        pass
    assert llmrelay.flush(5)
    assert len(costs) == 2 and costs[0] == pytest.approx(costs[1]) and costs[0] > 0


def test_embedding_and_text_completion_fire_callbacks(fake: FakeOpenAI,
                                                      openai_args: dict[str, str]) -> None:
    types: list[str] = []
    llmrelay.success_callback = [lambda kw, r, s, e: types.append(kw["call_type"])]
    llmrelay.embedding(model="text-embedding-3-small", input="hi", **openai_args)
    asyncio.run(llmrelay.aembedding(model="text-embedding-3-small", input="hi", **openai_args))
    llmrelay.text_completion(model="gpt-3.5-turbo-instruct", prompt="hi", **openai_args)
    assert llmrelay.flush(5)
    assert sorted(types) == ["aembedding", "embedding", "text_completion"]


def test_retries_produce_one_terminal_event(fake: FakeOpenAI,
                                            openai_args: dict[str, str]) -> None:
    rec = Recorder()
    llmrelay.callbacks = [rec]
    fake.enqueue(Reply.error(503, "busy"), Reply.error(500, "oops"))
    r = llmrelay.completion(model="gpt-4o", messages=MSGS, num_retries=2, **openai_args)
    assert r.choices[0].message.content == "Hello from fake"
    assert llmrelay.flush(5)
    assert rec.hooks().count("success") == 1 and "failure" not in rec.hooks()
