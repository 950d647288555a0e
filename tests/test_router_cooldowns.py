"""``Router.cooldown_cache`` (LiteLLM's name) and per-deployment / per-call
``cooldown_time``."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock, patch

import pytest

import llmrelay
from llmrelay import Router

MSG = [{"role": "user", "content": "Hi"}]


def _router(**kw: Any) -> Router:
    return Router(model_list=[
        {"model_name": "g", "litellm_params": {"model": "gpt-4o", "mock_response": "a"},
         "model_info": {"id": "a"}},
        {"model_name": "g", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "b"},
         "model_info": {"id": "b"}},
        {"model_name": "solo", "litellm_params": {"model": "gpt-4o", "mock_response": "s"},
         "model_info": {"id": "s"}},
    ], num_retries=0, **kw)


def test_every_cooldown_starts_through_the_cooldown_cache() -> None:
    r = _router(cooldown_time=30)
    with patch.object(r.cooldown_cache, "add_deployment_to_cooldown",
                      wraps=r.cooldown_cache.add_deployment_to_cooldown) as add, \
            pytest.raises(llmrelay.RateLimitError):
        r.completion(model="a", messages=MSG, mock_response="llmrelay.RateLimitError")
    add.assert_called_once()
    assert add.call_args.args[0] == "a" and add.call_args.args[3] == 30
    (model_id, info), = r.cooldown_cache.get_active_cooldowns()
    assert model_id == "a" and 0 < info["cooldown_time"] <= 30
    assert "RateLimitError" in info["exception_received"]
    assert r.cooldown_cache.get_min_cooldown(["a", "b"]) > 0
    assert r.cooldown_cache.get_min_cooldown(["b"]) == 0.0
    assert {r.completion(model="g", messages=MSG).choices[0].message.content
            for _ in range(5)} == {"b"}


def test_a_groups_only_deployment_never_cools_down() -> None:
    r = _router()
    with patch.object(r.cooldown_cache, "add_deployment_to_cooldown", new=MagicMock()) as add, \
            pytest.raises(llmrelay.RateLimitError):
        r.completion(model="solo", messages=MSG, mock_response="llmrelay.RateLimitError")
    add.assert_not_called()


def test_cooldown_by_hand_and_zero_cooldown_times() -> None:
    r = _router()
    r.cooldown_cache.add_deployment_to_cooldown("b", Exception("maintenance"), 503, 60)
    assert {r.completion(model="g", messages=MSG).choices[0].message.content
            for _ in range(5)} == {"a"}
    r.cooldown_cache.add_deployment_to_cooldown("a", None, None, 0)  # nothing
    assert "a" not in dict(r.cooldown_cache.get_active_cooldowns())
    with pytest.raises(llmrelay.RateLimitError):  # the call's cooldown_time=0: no cooldown
        r.completion(model="a", messages=MSG, mock_response="llmrelay.RateLimitError",
                     cooldown_time=0)
    assert "a" not in dict(r.cooldown_cache.get_active_cooldowns())
    zero = Router(model_list=[
        {"model_name": "g", "litellm_params": {"model": "gpt-4o", "cooldown_time": 0,
                                               "mock_response": "x"}, "model_info": {"id": "z"}},
        {"model_name": "g", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "y"}}],
        num_retries=0, cooldown_time=300)
    with pytest.raises(llmrelay.RateLimitError):
        zero.completion(model="z", messages=MSG, mock_response="llmrelay.RateLimitError")
    assert zero.cooldown_cache.get_active_cooldowns() == []


def test_reset_keeps_the_cooldown_cache_wired() -> None:
    r = _router()
    r.reset()
    with patch.object(r.cooldown_cache, "add_deployment_to_cooldown", new=MagicMock()) as add, \
            pytest.raises(llmrelay.RateLimitError):
        r.completion(model="a", messages=MSG, mock_response="llmrelay.RateLimitError")
    add.assert_called_once()
