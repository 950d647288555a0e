"""The hook registry: signatures checked at registration, near misses, proxy-only hooks,
and the re-entrancy guard."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

import llmrelay
from llmrelay.callbacks import reentry
from llmrelay.callbacks.registry import HookSignatureError, hook_methods, proxy_hooks
from llmrelay.integrations.custom_logger import CustomLogger

MSGS = [{"role": "user", "content": "Hi"}]


def test_a_hook_with_too_few_parameters_is_an_error_at_registration() -> None:
    class Short(CustomLogger):
        def log_success_event(self, kwargs):  # type: ignore[no-untyped-def,override]
            pass

    with pytest.raises(HookSignatureError) as info:
        llmrelay.callbacks = [Short()]
    text = str(info.value)
    assert "Short.log_success_event(kwargs)" in text
    assert "log_success_event(kwargs, response_obj, start_time, end_time)" in text
    assert llmrelay.callbacks == []  # not registered
    with pytest.raises(HookSignatureError):
        llmrelay.Client(callbacks=[Short()])
    with pytest.raises(HookSignatureError):
        llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x",
                            callbacks=[Short()])


def test_functions_are_checked_for_the_list_they_are_in() -> None:
    def two(kwargs: Any, response: Any) -> None:
        pass

    with pytest.raises(HookSignatureError, match=r"two\(kwargs, response\).*success_callback"):
        llmrelay.success_callback = [two]

    def one(kwargs: Any) -> None:
        pass

    llmrelay.input_callback = [one]  # input callbacks get kwargs only
    with pytest.raises(HookSignatureError, match="input_callback"):
        llmrelay.input_callback = [lambda: None]


def test_flexible_signatures_are_accepted() -> None:
    class Flexible(CustomLogger):
        def log_success_event(self, *args: Any) -> None:
            pass

        def log_failure_event(self, kwargs: Any, response_obj: Any, start: Any, end: Any,
                              extra: Any = None, **more: Any) -> None:
            pass

        async def async_post_call_failure_hook(self, request_data: Any, exc: Any,
                                               auth: Any) -> None:
            pass

    with pytest.warns(UserWarning, match="proxy-only"):
        llmrelay.callbacks = [Flexible()]
    llmrelay.success_callback = [lambda *a: None, print]  # no signature to check: accepted


def test_proxy_hooks_are_checked_too() -> None:
    class BadProxy(CustomLogger):
        async def async_pre_call_hook(self, data: Any) -> Any:  # type: ignore[override]
            return data

    with pytest.raises(HookSignatureError, match="async_pre_call_hook"):
        proxy_hooks([BadProxy()])


def test_near_miss_and_proxy_only_warnings_come_once() -> None:
    class Typo(CustomLogger):
        def log_sucess_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                             end_time: Any) -> None:
            pass

    typo = Typo()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llmrelay.callbacks = [typo]
        llmrelay.callbacks = [typo]
        llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    assert len([w for w in caught if "log_sucess_event" in str(w.message)]) == 1


def test_router_and_proxy_use_the_same_registry() -> None:
    class Both(CustomLogger):
        async def log_success_fallback_event(self, original_model_group: str, kwargs: Any,
                                             original_exception: Exception) -> None:
            pass

        async def async_post_call_success_hook(self, data: Any, auth: Any,
                                               response: Any) -> Any:
            return None

    both = Both()
    with pytest.warns(UserWarning, match="proxy-only"):
        llmrelay.callbacks = [both]
    assert [m.__self__ for m in hook_methods([both, both], "log_success_fallback_event")] \
        == [both]
    hooks = proxy_hooks([both])
    assert len(hooks.success) == 1 and hooks.pre_call == ()


class Echo(CustomLogger):
    """A logger whose success hook calls the model again."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self.calls += 1
        if self.calls < 50:
            llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="inner")

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self.calls += 1
        if self.calls < 50:
            await llmrelay.acompletion(model="gpt-4o", messages=MSGS, mock_response="inner")


def test_a_call_from_inside_a_hook_does_not_fire_that_logger_again() -> None:
    echo = Echo()
    others: list[str] = []
    llmrelay.callbacks = [echo]
    llmrelay.success_callback = [lambda kw, r, s, e: others.append(r.choices[0].message.content)]
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="outer")
    assert llmrelay.flush(10)
    assert echo.calls == 1
    assert sorted(others) == ["inner", "outer"]  # other loggers still hear the inner call

    echo.calls = 0
    asyncio.run(llmrelay.acompletion(model="gpt-4o", messages=MSGS, mock_response="outer"))
    assert llmrelay.flush(10)
    assert echo.calls == 1


def test_in_band_hooks_are_guarded_too() -> None:
    class PreEcho(CustomLogger):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            self.calls += 1
            if self.calls < 20:
                llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="inner")

    pre = PreEcho()
    llmrelay.callbacks = [pre]
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="outer")
    assert pre.calls == 1


def test_the_guard_can_be_switched_off() -> None:
    echo = Echo()
    llmrelay.suppress_reentrant_callbacks = False
    try:
        llmrelay.callbacks = [echo]
        llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="outer")
        deadline = 50
        for _ in range(100):
            if echo.calls >= deadline:
                break
            llmrelay.flush(1)
        assert echo.calls == 50  # LiteLLM's behaviour: the hook fires for its own calls
    finally:
        llmrelay.suppress_reentrant_callbacks = True


def test_user_code_can_mark_a_block_as_a_hook() -> None:
    seen: list[str] = []

    def fn(kw: Any, r: Any, s: Any, e: Any) -> None:
        seen.append("fired")

    llmrelay.success_callback = [fn]
    with reentry.delivering(fn):
        assert reentry.suppressed(fn)
        llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    assert llmrelay.flush(5)
    assert seen == ["fired"]
