"""``CustomLLM`` + ``custom_provider_map``: a provider written in Python, registered at
run time, served through the whole pipeline (LiteLLM's custom LLM server pattern)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import llmrelay
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay.types.utils import GenericStreamingChunk

MSG = [{"role": "user", "content": "Hello world!"}]


class Echo(llmrelay.CustomLLM):
    """Answers with the last user message; streams it word by word."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def completion(self, *args: Any, **kwargs: Any) -> llmrelay.ModelResponse:
        self.seen.append(kwargs)
        text = kwargs["messages"][-1]["content"]
        return llmrelay.ModelResponse(model=kwargs["model"], choices=[
            {"message": {"role": "assistant", "content": f"echo: {text}"}}])

    def streaming(self, *args: Any, **kwargs: Any) -> Iterator[GenericStreamingChunk]:
        words = kwargs["messages"][-1]["content"].split()
        for i, word in enumerate(words):
            yield {"text": word if i == 0 else " " + word, "is_finished": False,
                   "finish_reason": "", "index": 0, "tool_use": None, "usage": None}
        yield {"text": "", "is_finished": True, "finish_reason": "stop", "index": 0,
               "tool_use": None, "usage": {"prompt_tokens": 3, "completion_tokens": 2,
                                           "total_tokens": 5}}

    async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[GenericStreamingChunk]:
        for chunk in self.streaming(*args, **kwargs):
            yield chunk

    def embedding(self, *args: Any, model: str, input: Any, **kwargs: Any) -> dict[str, Any]:
        return {"object": "list", "model": model,
                "data": [{"object": "embedding", "index": i, "embedding": [float(len(x))]}
                         for i, x in enumerate(input)]}


class Broken(llmrelay.CustomLLM):
    def completion(self, *args: Any, **kwargs: Any) -> Any:
        err = RuntimeError("backend overloaded")
        err.status_code = 429  # type: ignore[attr-defined]
        raise err


@pytest.fixture
def echo() -> Iterator[Echo]:
    handler = Echo()
    llmrelay.custom_provider_map = [{"provider": "echo-llm", "custom_handler": handler},
                                    {"provider": "broken-llm", "custom_handler": Broken()}]
    yield handler
    llmrelay.custom_provider_map = []


def test_completion_stream_and_embedding_sync(echo: Echo) -> None:
    r = llmrelay.completion(model="echo-llm/my-model", messages=MSG, temperature=0.5,
                            api_key="k1")
    assert r.choices[0].message.content == "echo: Hello world!"
    assert r._hidden_params["custom_llm_provider"] == "echo-llm"
    kwargs = echo.seen[-1]
    assert kwargs["model"] == "my-model" and kwargs["api_key"] == "k1"
    assert kwargs["optional_params"] == {"temperature": 0.5}
    assert kwargs["litellm_params"]["custom_llm_provider"] == "echo-llm"
    chunks = list(llmrelay.completion(model="echo-llm/m", messages=MSG, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello world!")
    assert chunks[-1].choices[0].finish_reason == "stop"
    e = llmrelay.embedding(model="echo-llm/emb", input=["ab", "abcd"])
    assert [d["embedding"] for d in e.data] == [[2.0], [4.0]]
    assert llmrelay.get_llm_provider("echo-llm/m")[:2] == ("m", "echo-llm")


def test_async_calls_use_async_methods_or_the_sync_ones_on_a_thread(echo: Echo) -> None:
    async def main() -> tuple[str, str]:
        r = await llmrelay.acompletion(model="echo-llm/m", messages=MSG)  # sync completion
        s = await llmrelay.acompletion(model="echo-llm/m", messages=MSG, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
        return str(r.choices[0].message.content), text

    assert asyncio.run(main()) == ("echo: Hello world!", "Hello world!")


def test_callbacks_see_one_event_with_the_request_and_the_handler_errors_map(
        echo: Echo) -> None:
    class Rec(CustomLogger):
        def __init__(self) -> None:
            super().__init__()
            self.events: list[tuple[str, dict[str, Any]]] = []
            self.lock = threading.Lock()

        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            self.events.append(("pre", dict(kwargs)))

        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            self.events.append(("success", dict(kwargs)))

        def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            self.events.append(("failure", dict(kwargs)))

    rec = Rec()
    llmrelay.callbacks = [rec]
    llmrelay.completion(model="echo-llm/m", messages=MSG)
    assert llmrelay.flush(5)
    with pytest.raises(llmrelay.RateLimitError, match="backend overloaded") as info:
        llmrelay.completion(model="broken-llm/m", messages=MSG)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert llmrelay.flush(5)
    hooks = [h for h, _ in rec.events]
    assert hooks == ["pre", "success", "pre", "failure"]
    body = rec.events[0][1]["additional_args"]["complete_input_dict"]
    assert body == {"model": "m", "messages": MSG}


def test_router_deployments_and_unregistered_names(echo: Echo) -> None:
    router = llmrelay.Router(model_list=[
        {"model_name": "mine", "litellm_params": {"model": "echo-llm/a"}},
        {"model_name": "flaky", "litellm_params": {"model": "broken-llm/b"}}],
        fallbacks=[{"flaky": ["mine"]}], num_retries=0)
    assert router.completion(model="flaky", messages=MSG).choices[0].message.content == (
        "echo: Hello world!")
    llmrelay.custom_provider_map = []
    with pytest.raises(llmrelay.BadRequestError, match="echo-llm"):
        llmrelay.completion(model="echo-llm/m", messages=MSG)


def test_bad_map_entries_are_refused() -> None:
    for bad in ([{"provider": "x"}], [{"custom_handler": Echo()}], ["x"],
                [{"provider": "a/b", "custom_handler": Echo()}]):
        with pytest.raises(ValueError, match="custom_provider_map"):
            llmrelay.custom_provider_map = bad


def test_a_method_the_handler_lacks_is_a_clear_error(echo: Echo) -> None:
    class OnlyChat(llmrelay.CustomLLM):
        def completion(self, *args: Any, **kwargs: Any) -> Any:
            return {"choices": [{"message": {"role": "assistant", "content": "hi"}}]}

    llmrelay.custom_provider_map = [{"provider": "chat-only", "custom_handler": OnlyChat()}]
    assert llmrelay.completion(model="chat-only/m", messages=MSG).choices[0].message.content == "hi"
    with pytest.raises(llmrelay.APIError, match="does not implement embedding"):
        llmrelay.embedding(model="chat-only/m", input=["x"])
