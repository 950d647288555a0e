"""Every example of the reference doc (shared/spec/custom-callbacks.txt), run as written with
only ``litellm`` -> ``llmrelay`` changed and its two ``def async`` typos fixed, against fake
upstreams. The example code sits in each test body unchanged apart from that; the asserts
after it check what each callback received."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI


@pytest.fixture
def env(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """The examples name bare models and no keys: point OpenAI at the fake."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-reference-example-key")
    return fake


def test_callback_class_example(env: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    import llmrelay
    from llmrelay import acompletion, completion
    from llmrelay.integrations.custom_logger import CustomLogger

    class MyCustomHandler(CustomLogger):
        def log_pre_api_call(self, model, messages, kwargs):  # type: ignore[no-untyped-def]
            print("Pre-API Call")

        def log_post_api_call(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
            print("Post-API Call")

        def log_success_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
            print("On Success")

        def log_failure_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
            print("On Failure")

        #### ASYNC #### - for acompletion/aembeddings
        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
            print("On Async Success")

        async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
            print("On Async Failure")

    customHandler = MyCustomHandler()
    llmrelay.callbacks = [customHandler]

    ## sync
    response = completion(model="gpt-3.5-turbo", messages=[{"role": "user",
                                                            "content": "Hi  - i'm openai"}],
                          stream=True)
    for _chunk in response:
        continue

    ## async
    import asyncio

    async def completion():  # type: ignore[no-untyped-def]
        response = await acompletion(model="gpt-3.5-turbo",
                                     messages=[{"role": "user", "content": "Hi  - i'm openai"}],
                                     stream=True)
        async for _chunk in response:
            continue

    asyncio.run(completion())

    llmrelay.flush(5)
    lines = capsys.readouterr().out.splitlines()
    assert lines.count("Pre-API Call") == 2
    assert lines.count("Post-API Call") == 2
    assert lines.count("On Success") == 1 and lines.count("On Async Success") == 1
    assert "On Failure" not in lines and "On Async Failure" not in lines
    assert env.request_count == 2 and env.last.body["stream"] is True


def test_callback_function_example(env: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    def custom_callback(
        kwargs,  # kwargs to completion
        completion_response,  # response from completion
        start_time, end_time  # start/end time
    ):  # type: ignore[no-untyped-def]
        # Your custom code here
        print("LITELLM: in custom callback function")
        print("kwargs", kwargs)
        print("completion_response", completion_response)
        print("start_time", start_time)
        print("end_time", end_time)

    import llmrelay
    from llmrelay import completion

    # Assign the custom callback function
    llmrelay.success_callback = [custom_callback]

    response = completion(
        model="gpt-3.5-turbo",
        messages=[
            {
                "role": "user",
                "content": "Hi  - i'm openai"
            }
        ]
    )

    print(response)
    llmrelay.flush(5)
    out = capsys.readouterr().out
    assert out.count("LITELLM: in custom callback function") == 1
    assert "Hello from fake" in out and "'model': 'gpt-3.5-turbo'" in out
    assert "start_time 20" in out and "end_time 20" in out


def test_async_custom_logger_example(env: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    from llmrelay import acompletion
    from llmrelay.integrations.custom_logger import CustomLogger

    class MyCustomHandler(CustomLogger):
        #### ASYNC ####
        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
            print("On Async Success")

        async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
            print("On Async Failure")

    import asyncio
    customHandler = MyCustomHandler()
    llmrelay.callbacks = [customHandler]

    async def completion():  # type: ignore[no-untyped-def]
        response = await acompletion(model="gpt-3.5-turbo",
                                     messages=[{"role": "user", "content": "Hi  - i'm openai"}],
                                     stream=True)
        async for _chunk in response:
            continue

    asyncio.run(completion())
    llmrelay.flush(5)
    assert capsys.readouterr().out.splitlines() == ["On Async Success"]


def test_async_function_example(env: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    import llmrelay

    async def async_test_logging_fn(kwargs, completion_obj, start_time, end_time):  # type: ignore[no-untyped-def]
        print("On Async Success!")

    async def test_chat_openai():  # type: ignore[no-untyped-def]
        try:
            # llmrelay.set_verbose = True
            llmrelay.success_callback = [async_test_logging_fn]
            response = await llmrelay.acompletion(model="gpt-3.5-turbo",
                                                  messages=[{
                                                      "role": "user",
                                                      "content": "Hi  - i'm openai"
                                                  }],
                                                  stream=True)
            async for _chunk in response:
                continue
        except Exception as e:
            print(e)
            pytest.fail(f"An error occurred - {e!s}")

    asyncio.run(test_chat_openai())
    llmrelay.flush(5)
    assert capsys.readouterr().out.splitlines() == ["On Async Success!"]


def test_whats_available_in_kwargs(env: FakeOpenAI) -> None:
    seen: dict[str, Any] = {}

    def custom_callback(kwargs, completion_response, start_time, end_time):  # type: ignore[no-untyped-def]
        # Access common data
        model = kwargs.get("model")
        messages = kwargs.get("messages", [])
        cost = kwargs.get("response_cost", 0)
        cache_hit = kwargs.get("cache_hit", False)

        # Access metadata you passed in
        metadata = kwargs.get("litellm_params", {}).get("metadata", {})
        seen.update(model=model, messages=messages, cost=cost, cache_hit=cache_hit,
                    metadata=metadata)

    llmrelay.success_callback = [custom_callback]
    msgs = [{"role": "user", "content": "Hello"}]
    llmrelay.completion(model="gpt-3.5-turbo", messages=msgs, metadata={"run": 7})
    llmrelay.flush(5)
    row = llmrelay.cost.lookup("gpt-3.5-turbo")
    assert row is not None
    assert seen == {"model": "gpt-3.5-turbo", "messages": msgs,
                    "cost": pytest.approx(10 * row["input_cost_per_token"]
                                          + 5 * row["output_cost_per_token"]),
                    "cache_hit": False, "metadata": {"run": 7}}


def test_track_api_costs(env: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    from llmrelay import completion

    def track_cost_callback(kwargs, completion_response, start_time, end_time):  # type: ignore[no-untyped-def]
        cost = kwargs["response_cost"]  # llmrelay calculates this for you
        print(f"Request cost: ${cost}")

    llmrelay.success_callback = [track_cost_callback]

    response = completion(model="gpt-3.5-turbo", messages=[{"role": "user",
                                                            "content": "Hello"}])
    llmrelay.flush(5)
    expected = response._hidden_params["response_cost"]
    assert expected > 0
    assert capsys.readouterr().out.strip() == f"Request cost: ${expected}"


@pytest.fixture
def anthropic_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from fakes.anthropic_server import FakeAnthropic

    with FakeAnthropic() as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-reference-example")
        yield srv


def test_log_inputs_to_llms(anthropic_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from llmrelay import completion

    def get_transformed_inputs(kwargs):  # type: ignore[no-untyped-def]
        params_to_model = kwargs["additional_args"]["complete_input_dict"]
        print("params to model", params_to_model)

    llmrelay.input_callback = [get_transformed_inputs]

    response = completion(model="claude-2", messages=[{"role": "user", "content": "Hello"}])
    out = capsys.readouterr().out
    assert out.startswith("params to model ")
    sent = anthropic_env.last.body
    assert out.strip() == f"params to model {sent}"
    assert sent["model"] == "claude-2" and "max_tokens" in sent
    assert sent["messages"] == [{"role": "user", "content": "Hello"}] or \
        sent["messages"][0]["role"] == "user"
    assert response.choices[0].message.content


class _Analytics(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        _Analytics.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_send_to_external_service(env: FakeOpenAI) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Analytics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api"  # the doc's analytics URL
    _Analytics.received = []
    try:
        import requests

        def send_to_analytics(kwargs, completion_response, start_time, end_time):  # type: ignore[no-untyped-def]
            data = {
                "model": kwargs.get("model"),
                "cost": kwargs.get("response_cost", 0),
                "duration": (end_time - start_time).total_seconds()
            }
            requests.post(url, json=data)

        llmrelay.success_callback = [send_to_analytics]
        llmrelay.completion(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hi"}])
        llmrelay.flush(5)
    finally:
        server.shutdown()
    assert len(_Analytics.received) == 1
    got = _Analytics.received[0]
    assert got["model"] == "gpt-3.5-turbo" and got["cost"] > 0 and got["duration"] >= 0


def test_safe_handler_example(env: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    from llmrelay.integrations.custom_logger import CustomLogger

    async def external_service(response_obj: Any) -> None:
        raise ConnectionError("analytics down")

    class SafeHandler(CustomLogger):
        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
            try:
                await external_service(response_obj)
            except Exception as e:
                print(f"Callback error: {e}")  # Log but don't break the flow

    import asyncio

    llmrelay.callbacks = [SafeHandler()]
    r = asyncio.run(llmrelay.acompletion(model="gpt-3.5-turbo",
                                         messages=[{"role": "user", "content": "Hi"}]))
    llmrelay.flush(5)
    assert r.choices[0].message.content == "Hello from fake"
    assert capsys.readouterr().out.strip() == "Callback error: analytics down"
