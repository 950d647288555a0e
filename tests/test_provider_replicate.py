"""Replicate's predictions API: translation on recorded payloads, then whole calls against
FakeReplicate (created, polled, streamed) over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmrelay
from fakes.replicate_server import FakeReplicate
from llmrelay.exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    Timeout,
)
from llmrelay.providers.base import Call, FollowUp
from llmrelay.providers.registry import get_provider, spec_for
from llmrelay.providers.replicate import provider as replicate_provider

MSGS = [{"role": "user", "content": "Say hello"}]
PROVIDER = get_provider(spec_for("replicate"))


def make_call(model: str = "meta/llama-2-7b", messages: Any = None, *, stream: bool = False,
              **params: Any) -> Call:
    return Call("completion", model, spec_for("replicate"), messages or MSGS, None, params,
                stream, "http://replicate.test/v1", "r8_key")


@pytest.fixture(scope="module")
def replicate_server() -> Iterator[FakeReplicate]:
    with FakeReplicate() as srv:
        yield srv


@pytest.fixture
def rep(replicate_server: FakeReplicate, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[FakeReplicate]:
    monkeypatch.setattr(replicate_provider, "POLL_EVERY", 0.01)
    srv = replicate_server
    srv.reset()
    srv.polls, srv.instant, srv.fail, srv.token = 2, False, None, "r8_test"
    srv.default_content = "Hello from Replicate"
    yield srv
    srv.reset()


def args(srv: FakeReplicate) -> dict[str, Any]:
    return {"api_base": srv.url, "api_key": "r8_test"}


# ---- translation ---------------------------------------------------------------------------
def test_create_request_per_model_form() -> None:
    req = PROVIDER.build_request(make_call())
    assert (req.method, req.url) == ("POST", "http://replicate.test/v1/models/meta/llama-2-7b/"
                                             "predictions")
    assert req.headers["Authorization"] == "Bearer r8_key"
    assert req.headers["Prefer"] == "wait"
    assert req.body == {"input": {"prompt": "Say hello"}}
    versioned = PROVIDER.build_request(make_call("acme/tuned:5c7d5dc6dd8bf75c1acaa8565735e7"))
    assert versioned.url == "http://replicate.test/v1/predictions"
    assert versioned.body["version"] == "5c7d5dc6dd8bf75c1acaa8565735e7"
    deployed = PROVIDER.build_request(make_call("deployments/acme/prod"))
    assert deployed.url == "http://replicate.test/v1/deployments/acme/prod/predictions"


def test_inputs_from_messages_and_parameters() -> None:
    msgs = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Again"}]
    body = PROVIDER.build_request(make_call(messages=msgs, max_tokens=20, temperature=0.2,
                                            stop=["\n", "END"], top_k=5)).body
    assert body["input"] == {
        "prompt": "User: Hi\nAssistant: Hello\nUser: Again\nAssistant:",
        "system_prompt": "Be brief", "max_new_tokens": 20, "temperature": 0.2,
        "stop_sequences": "\n,END", "top_k": 5}
    streamed = PROVIDER.build_request(make_call(stream=True))
    assert streamed.body["stream"] is True and "Prefer" not in streamed.headers


def test_a_registered_prompt_template_builds_the_prompt() -> None:
    llmrelay.register_prompt_template(
        model="replicate/meta/llama-2-7b", initial_prompt_value="<s>",
        roles={"user": {"pre_message": "[INST] ", "post_message": " [/INST]"}},
        final_prompt_value="")
    try:
        body = PROVIDER.build_request(make_call()).body
        assert body["input"] == {"prompt": "<s>[INST] Say hello [/INST]"}
    finally:
        llmrelay.custom_prompt_dict = {}


def test_follow_up_polls_an_unfinished_prediction_and_stops_at_the_answer() -> None:
    call = make_call()
    pending = json.dumps({"id": "p1", "status": "processing",
                          "urls": {"get": "http://replicate.test/v1/predictions/p1"}}).encode()
    nxt = PROVIDER.follow_up(call, 201, {}, pending)
    assert isinstance(nxt, FollowUp) and nxt.after > 0
    assert (nxt.request.method, nxt.request.url) == ("GET", "http://replicate.test/v1/"
                                                            "predictions/p1")
    assert nxt.request.headers["Authorization"] == "Bearer r8_key"
    done = json.dumps({"id": "p1", "status": "succeeded", "output": ["Hi", " there"]}).encode()
    assert PROVIDER.follow_up(call, 200, {}, done) is None
    assert PROVIDER.parse_response(call, 200, {}, done).choices[0].message.content == "Hi there"
    failed = json.dumps({"id": "p1", "status": "failed", "error": "CUDA out of memory"})
    with pytest.raises(APIError, match="CUDA out of memory"):
        PROVIDER.parse_response(call, 200, {}, failed.encode())


def test_other_call_types_are_refused_before_any_io() -> None:
    call = Call("text_completion", "meta/llama-2-7b", spec_for("replicate"), None, "x", {},
                False, None, "k")
    with pytest.raises(BadRequestError, match="chat completions"):
        PROVIDER.build_request(call)


# ---- whole calls ---------------------------------------------------------------------------
def test_completion_creates_then_polls(rep: FakeReplicate) -> None:
    seen: list[Any] = []
    llmrelay.success_callback = [lambda kw, resp, s, e: seen.append((kw, resp))]
    r = llmrelay.completion(model="replicate/meta/llama-2-7b", messages=MSGS, max_tokens=30,
                            **args(rep))
    assert r.choices[0].message.content == "Hello from Replicate"
    assert r.usage.completion_tokens > 0  # Replicate sends no counts: estimated
    methods = [(q.method, q.path) for q in rep.requests]
    assert methods[0] == ("POST", "/v1/models/meta/llama-2-7b/predictions")
    assert methods[1:] == [("GET", "/v1/predictions/pred1")] * 3
    assert rep.requests[0].body["input"]["max_new_tokens"] == 30
    assert llmrelay.flush(5)
    kw, resp = seen[0]
    assert resp.choices[0].message.content == "Hello from Replicate"
    assert kw["additional_args"]["complete_input_dict"]["input"]["prompt"] == "Say hello"


def test_a_quick_prediction_is_answered_by_the_create_request(rep: FakeReplicate) -> None:
    rep.instant = True
    r = llmrelay.completion(model="replicate/meta/llama-2-7b", messages=MSGS, **args(rep))
    assert r.choices[0].message.content == "Hello from Replicate"
    assert len(rep.requests) == 1


def test_acompletion_creates_then_polls(rep: FakeReplicate) -> None:
    r = asyncio.run(llmrelay.acompletion(model="replicate/meta/meta-llama-3-8b-instruct",
                                         messages=MSGS, **args(rep)))
    assert r.choices[0].message.content == "Hello from Replicate"
    assert [q.method for q in rep.requests] == ["POST", "GET", "GET", "GET"]


def test_errors_are_mapped(rep: FakeReplicate) -> None:
    with pytest.raises(AuthenticationError, match="valid authentication token"):
        llmrelay.completion(model="replicate/meta/llama-2-7b", messages=MSGS,
                            api_base=rep.url, api_key="r8_wrong")
    with pytest.raises(NotFoundError):
        llmrelay.completion(model="replicate/nobody/nothing", messages=MSGS, **args(rep))
    rep.fail = "CUDA out of memory"
    with pytest.raises(APIError, match="failed: CUDA out of memory"):
        llmrelay.completion(model="replicate/meta/llama-2-7b", messages=MSGS, **args(rep))


def test_a_prediction_that_outlives_the_timeout_raises_timeout(rep: FakeReplicate) -> None:
    rep.polls = 10_000
    with pytest.raises(Timeout):
        llmrelay.completion(model="replicate/meta/llama-2-7b", messages=MSGS, timeout=0.3,
                            **args(rep))


def test_stream_reads_the_prediction_events(rep: FakeReplicate) -> None:
    done: list[Any] = []
    llmrelay.success_callback = [lambda kw, resp, s, e: done.append(resp)]
    chunks = list(llmrelay.completion(model="replicate/meta/llama-2-7b", messages=MSGS,
                                      stream=True, **args(rep)))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from Replicate"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert [(q.method, q.path) for q in rep.requests] == [
        ("POST", "/v1/models/meta/llama-2-7b/predictions"), ("GET", "/v1/streams/pred1")]
    assert rep.requests[0].body["stream"] is True
    assert rep.requests[1].headers["authorization"] == "Bearer r8_test"
    assert llmrelay.flush(5)
    assert done[0].choices[0].message.content == "Hello from Replicate"


def test_astream_and_a_failed_stream(rep: FakeReplicate) -> None:
    async def read() -> str:
        stream = await llmrelay.acompletion(model="replicate/meta/llama-2-7b", messages=MSGS,
                                            stream=True, **args(rep))
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(read()) == "Hello from Replicate"
    rep.fail = "the model crashed"
    with pytest.raises(APIError, match="the model crashed"):
        asyncio.run(read())


def test_mock_response_with_a_template_and_model_inputs() -> None:
    # LiteLLM's replicate test: a template, a model input (repetition_penalty), a mock
    llmrelay.register_prompt_template(model="replicate/meta/llama-2-7b",
                                      initial_prompt_value="You are a good assistant",
                                      roles={"user": {"pre_message": "[INST] ",
                                                      "post_message": " [/INST]"}})
    try:
        r = llmrelay.completion(model="replicate/meta/llama-2-7b", messages=MSGS,
                                mock_response="Hello world", repetition_penalty=0.1,
                                num_retries=3)
        assert r.choices[0].message.content == "Hello world"
    finally:
        llmrelay.custom_prompt_dict = {}
