"""The router's deployment checks (LiteLLM's ``routing_strategy_pre_call_checks``): the
``pre_call_check`` / ``async_pre_call_check`` hooks of the loggers in ``callbacks`` run before
each request to a deployment picked for a model group, and may refuse it."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import patch

import pytest

import llmrelay
from llmrelay import Router
from llmrelay.integrations.custom_logger import CustomLogger

MSG = [{"role": "user", "content": "Hi"}]


def _router(**kw: Any) -> Router:
    return Router(model_list=[
        {"model_name": "g", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "from a"},
         "model_info": {"id": "a"}},
        {"model_name": "g", "litellm_params": {"model": "gpt-4o", "mock_response": "from b"},
         "model_info": {"id": "b"}},
    ], num_retries=2, retry_after=0, **kw)


class RefuseA(CustomLogger):
    """Keeps a limit of its own: deployment "a" is full."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []

    def pre_call_check(self, deployment: Any) -> None:
        self.seen.append((deployment["model_info"]["id"],
                          deployment["litellm_params"]["model"]))
        if deployment["model_info"]["id"] == "a":
            raise llmrelay.RateLimitError("a is over its limit", model="g")


class AsyncRefuseA(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, Any]] = []

    async def async_pre_call_check(self, deployment: Any, parent_otel_span: Any) -> None:
        self.seen.append((deployment["model_info"]["id"], parent_otel_span))
        if deployment["model_info"]["id"] == "a":
            raise llmrelay.RateLimitError("a is over its limit", model="g")


@pytest.fixture(autouse=True)
def _no_global_callbacks() -> Any:
    yield
    llmrelay.callbacks = []


def test_a_check_refuses_a_deployment_and_the_call_moves_on() -> None:
    check = RefuseA()
    llmrelay.callbacks = [check]
    r = _router()
    for _ in range(6):
        assert r.completion(model="g", messages=MSG).choices[0].message.content == "from b"
    assert {dep for dep, _ in check.seen} <= {"a", "b"}
    assert ("b", "gpt-4o") in check.seen


def test_a_named_deployment_is_not_checked() -> None:
    check = RefuseA()
    llmrelay.callbacks = [check]
    r = _router()
    assert r.completion(model="a", messages=MSG).choices[0].message.content == "from a"
    assert check.seen == []
    with patch.object(r, "routing_strategy_pre_call_checks") as checks:
        r.completion(model="a", messages=MSG)
        checks.assert_not_called()
        r.completion(model="g", messages=MSG)
        checks.assert_called_once()


def test_async_checks_get_the_span_argument_and_sync_only_loggers() -> None:
    async_check, sync_check = AsyncRefuseA(), RefuseA()
    r = _router(client=llmrelay.Client(callbacks=[async_check, sync_check]))

    async def run() -> list[str]:
        out = []
        for _ in range(4):
            resp = await r.acompletion(model="g", messages=MSG)
            out.append(resp.choices[0].message.content)
        return out

    assert asyncio.run(run()) == ["from b"] * 4
    assert async_check.seen and all(span is None for _, span in async_check.seen)
    assert sync_check.seen  # a logger with only the sync check is asked by async calls too


def test_a_refusal_with_no_deployment_left_reaches_the_caller() -> None:
    class RefuseAll(CustomLogger):
        def pre_call_check(self, deployment: Any) -> None:
            raise llmrelay.RateLimitError("everything is full", model="g")

    llmrelay.callbacks = [RefuseAll()]
    with pytest.raises(llmrelay.RateLimitError, match="everything is full"):
        _router().completion(model="g", messages=MSG)


def test_the_public_methods_run_the_checks_directly() -> None:
    check = RefuseA()
    r = _router(client=llmrelay.Client(callbacks=[check]))
    dep = r.get_deployment("b")
    r.routing_strategy_pre_call_checks(dep)
    asyncio.run(r.async_routing_strategy_pre_call_checks(dep, None))
    assert [d for d, _ in check.seen] == ["b", "b"]
    with pytest.raises(llmrelay.RateLimitError):
        r.routing_strategy_pre_call_checks(r.get_deployment("a"))
