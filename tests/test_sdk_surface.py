"""The SDK names LiteLLM users call, against LiteLLM's documented behaviour: client-side
fallbacks, max_budget and BudgetManager, retries and batch helpers, mock_completion,
capability helpers, the model map, exceptions built LiteLLM's way, and import paths."""

from __future__ import annotations

import asyncio
import importlib
import json
from pathlib import Path
from typing import Any

import pytest

import llmrelay
from llmrelay import exceptions

MSG = [{"role": "user", "content": "Hi"}]


@pytest.fixture(autouse=True)
def _reset_budget() -> Any:
    yield
    llmrelay.max_budget = None
    llmrelay._current_cost = 0.0


# ---- client-side fallbacks -------------------------------------------------------------------

def test_fallbacks_try_each_entry_and_are_never_sent() -> None:
    seen: list[dict[str, Any]] = []

    def record(kwargs: dict[str, Any], *_: Any) -> None:
        seen.append(kwargs)

    r = llmrelay.completion(
        model="gpt-4o", messages=MSG, mock_response=llmrelay.RateLimitError("busy"),
        fallbacks=["no-such-model-anywhere",
                   {"model": "gpt-4o-mini", "mock_response": "from the fallback"}],
        success_callback=[record])
    assert r.choices[0].message.content == "from the fallback"
    assert r.model == "gpt-4o-mini"
    llmrelay.flush(5)
    body = seen[0]["additional_args"]["complete_input_dict"]
    assert "fallbacks" not in body and "fallbacks" not in seen[0]["optional_params"]


def test_fallback_dict_without_model_reuses_the_model() -> None:
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSG,
                            mock_response=llmrelay.AuthenticationError("bad key"),
                            fallbacks=[{"mock_response": "second key worked"}])
    assert r.model == "gpt-4o-mini" and r.choices[0].message.content == "second key worked"


async def test_async_fallbacks_raise_the_original_error_when_all_fail() -> None:
    with pytest.raises(llmrelay.NotFoundError) as info:
        await llmrelay.acompletion(model="gpt-4o", messages=MSG,
                                   mock_response=llmrelay.NotFoundError("no model"),
                                   fallbacks=[{"mock_response": llmrelay.Timeout("slow")}])
    assert [type(e) for e in info.value.fallback_errors] == [llmrelay.Timeout]


def test_fallbacks_must_be_a_list() -> None:
    with pytest.raises(TypeError, match="fallbacks must be a list"):
        llmrelay.completion(model="gpt-4o", messages=MSG, mock_response="x",
                            fallbacks="gpt-4o-mini")


# ---- budgets -------------------------------------------------------------------------------

def test_max_budget_stops_calls_once_exceeded() -> None:
    llmrelay.max_budget = 1e-9
    llmrelay.completion(model="gpt-4o", messages=MSG, mock_response="a reply that costs")
    assert llmrelay._current_cost > 1e-9
    with pytest.raises(llmrelay.BudgetExceededError) as info:
        llmrelay.completion(model="gpt-4o", messages=MSG, mock_response="x")
    assert info.value.max_budget == 1e-9 and info.value.current_cost == llmrelay._current_cost
    with pytest.raises(llmrelay.BudgetExceededError):
        llmrelay.embedding(model="text-embedding-3-small", input="x", mock_response=None)


def test_no_budget_means_no_tracking() -> None:
    llmrelay.completion(model="gpt-4o", messages=MSG, mock_response="x")
    assert llmrelay._current_cost == 0.0


def test_budget_manager(tmp_path: Path) -> None:
    path = str(tmp_path / "costs.json")
    bm = llmrelay.BudgetManager(project_name="p", path=path)
    assert not bm.is_valid_user("u1")
    bm.create_budget(total_budget=0.5, user="u1", duration="daily")
    r = llmrelay.completion(model="gpt-4o", messages=MSG, mock_response="hello there")
    bm.update_cost(user="u1", completion_obj=r)
    spent = bm.get_current_cost("u1")
    assert spent == pytest.approx(r._hidden_params["response_cost"]) and spent > 0
    assert bm.get_model_cost("u1") == {"gpt-4o": pytest.approx(spent)}
    assert bm.projected_cost("gpt-4o", MSG, "u1") > spent
    bm.update_cost(user="u1", model="gpt-4o", input_text="hi", output_text="there")
    assert bm.get_current_cost("u1") > spent
    bm.save_data()
    again = llmrelay.BudgetManager(project_name="p", path=path)
    assert again.get_total_budget("u1") == 0.5 and again.get_users() == ["u1"]
    again.reset_cost("u1")
    assert again.get_current_cost("u1") == 0.0
    with pytest.raises(KeyError, match="no budget"):
        again.update_cost(user="nobody", model="gpt-4o", input_text="x")
    with pytest.raises(ValueError, match="duration"):
        again.create_budget(1.0, "u2", duration="hourly")


def test_budget_manager_resets_after_its_period(tmp_path: Path) -> None:
    bm = llmrelay.BudgetManager(project_name="p", path=str(tmp_path / "c.json"))
    bm.create_budget(1.0, "u", duration="daily", created_at=0.0)
    bm.user_dict["u"]["current_cost"] = 0.7
    bm.update_budget_all_users()
    assert bm.get_current_cost("u") == 0.0


# ---- retries -------------------------------------------------------------------------------

def test_completion_with_retries_retries_whole_calls() -> None:
    calls: list[dict[str, Any]] = []

    def flaky(**kwargs: Any) -> str:
        calls.append(kwargs)
        if len(calls) < 3:
            raise llmrelay.ServiceUnavailableError("try again")
        return "ok"

    llmrelay.retry_initial_delay = 0.0
    try:
        assert llmrelay.completion_with_retries(model="m", messages=MSG, num_retries=2,
                                                original_function=flaky) == "ok"
    finally:
        llmrelay.retry_initial_delay = 0.5
    assert len(calls) == 3 and all(c["num_retries"] == 0 and c["max_retries"] == 0
                                   for c in calls)


async def test_acompletion_with_retries_gives_up_with_the_last_error() -> None:
    n = 0

    async def failing(**kwargs: Any) -> Any:
        nonlocal n
        n += 1
        raise llmrelay.Timeout(f"attempt {n}")

    llmrelay.retry_initial_delay = 0.0
    try:
        with pytest.raises(llmrelay.Timeout, match="attempt 2"):
            await llmrelay.acompletion_with_retries(model="m", messages=MSG, num_retries=1,
                                                    original_function=failing)
    finally:
        llmrelay.retry_initial_delay = 0.5


def test_retry_policy_on_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    got: dict[str, Any] = {}

    def fake_retries(**kwargs: Any) -> str:
        got.update(kwargs)
        return "retried"

    monkeypatch.setattr(llmrelay, "completion_with_retries", fake_retries)
    policy = llmrelay.RetryPolicy(ContentPolicyViolationErrorRetries=2,
                                  AuthenticationErrorRetries=0)
    r = llmrelay.completion(model="gpt-4o", messages=MSG, retry_policy=policy,
                            mock_response="Exception: content_filter_policy")
    assert r == "retried" and got["num_retries"] == 2
    with pytest.raises(llmrelay.AuthenticationError):
        llmrelay.completion(model="gpt-4o", messages=MSG, retry_policy=policy,
                            mock_response=llmrelay.AuthenticationError("no"))
    with pytest.raises(ValueError, match="whole number"):
        llmrelay.RetryPolicy(RateLimitErrorRetries=-1)


# ---- batch ---------------------------------------------------------------------------------

def test_batch_completion_keeps_order_and_errors() -> None:
    out = llmrelay.batch_completion(
        model="gpt-4o-mini", messages=[[{"role": "user", "content": f"q{i}"}] for i in range(4)],
        mock_response="fine")
    assert [r.choices[0].message.content for r in out] == ["fine"] * 4
    mixed = llmrelay.batch_completion(model="gpt-4o-mini", messages=[MSG, []],
                                      mock_response="fine")
    assert mixed[0].choices[0].message.content == "fine"
    assert isinstance(mixed[1], llmrelay.BadRequestError)
    with pytest.raises(TypeError):
        llmrelay.batch_completion(model="gpt-4o-mini", messages=MSG)


def test_batch_completion_models_first_answer_wins() -> None:
    r = llmrelay.batch_completion_models(
        models=["not-routable-model", "gpt-4o-mini"], messages=MSG, mock_response="hi")
    assert r.model == "gpt-4o-mini"
    with pytest.raises(llmrelay.BadRequestError):
        llmrelay.batch_completion_models(models=["nope-1", "nope-2"], messages=MSG)
    deps = llmrelay.batch_completion_models(
        deployments=[{"model": "gpt-4o", "mock_response": "from a deployment"}],
        messages=MSG)
    assert deps.choices[0].message.content == "from a deployment"


def test_batch_completion_models_all_responses() -> None:
    out = llmrelay.batch_completion_models_all_responses(
        models=["gpt-4o", "not-routable-model", "claude-3-haiku-20240307"], messages=MSG,
        mock_response="hi")
    assert [r.model for r in out] == ["gpt-4o", "claude-3-haiku-20240307"]


# ---- mock_completion -------------------------------------------------------------------------

def test_mock_completion() -> None:
    r = llmrelay.mock_completion(model="gpt-4o", messages=MSG, n=3)
    assert [c.message.content for c in r.choices] == ["This is a mock request"] * 3
    text = "".join(c.choices[0].delta.content or "" for c in llmrelay.mock_completion(
        model="gpt-4o", messages=MSG, stream=True, mock_response="streamed words"))
    assert text == "streamed words"


# ---- capabilities and the model map --------------------------------------------------------

def test_capability_helpers() -> None:
    assert llmrelay.supports_function_calling("gpt-4o")
    assert llmrelay.supports_vision("gpt-4o") and not llmrelay.supports_vision("gpt-3.5-turbo")
    assert llmrelay.supports_response_schema("gpt-4o-mini")
    assert llmrelay.supports_reasoning("o3-mini") and not llmrelay.supports_reasoning("gpt-4o")
    assert llmrelay.supports_prompt_caching("claude-3-5-sonnet-20241022")
    assert llmrelay.supports_tool_choice("gpt-4o")
    assert llmrelay.supports_system_messages("gpt-4o")
    assert llmrelay.supports_function_calling("no-such-model") is False
    assert llmrelay.get_max_tokens("gpt-3.5-turbo") == 4096
    with pytest.raises(llmrelay.NotFoundError):
        llmrelay.get_max_tokens("no-such-model")


def test_get_llm_provider_and_supported_params() -> None:
    assert llmrelay.get_llm_provider("claude-3-5-haiku-latest")[:2] == (
        "claude-3-5-haiku-latest", "anthropic")
    model, provider, key, base = llmrelay.get_llm_provider("groq/llama-3.1-8b-instant",
                                                           api_key="k")
    assert (model, provider, key, base) == ("llama-3.1-8b-instant", "groq", "k",
                                            "https://api.groq.com/openai/v1")
    with pytest.raises(llmrelay.BadRequestError):
        llmrelay.get_llm_provider("mystery-model")
    params = llmrelay.get_supported_openai_params("gpt-4o")
    assert params is not None and "tools" in params and "response_format" in params
    embed = llmrelay.get_supported_openai_params("text-embedding-3-small",
                                                 request_type="embeddings")
    assert embed == ["dimensions", "encoding_format", "user"]
    assert llmrelay.get_supported_openai_params("mystery-model") is None


def test_model_cost_map_and_lists(tmp_path: Path) -> None:
    table = llmrelay.get_model_cost_map(url="")
    assert table["gpt-4o"]["input_cost_per_token"] > 0
    table["gpt-4o"]["input_cost_per_token"] = 123.0  # a copy: the live table is untouched
    assert llmrelay.model_cost["gpt-4o"]["input_cost_per_token"] != 123.0
    assert "gpt-4o" in llmrelay.open_ai_chat_completion_models
    # LiteLLM's list holds every OpenAI model, whatever its mode
    assert "omni-moderation-latest" in llmrelay.open_ai_chat_completion_models
    assert "text-embedding-3-small" in llmrelay.open_ai_chat_completion_models
    assert "claude-2" in llmrelay.anthropic_models
    assert isinstance(llmrelay.bedrock_models, list)
    assert "anthropic" in llmrelay.models_by_provider and "openai" in llmrelay.provider_list
    assert len(llmrelay.model_list) == len(llmrelay.model_cost)
    with pytest.raises(AttributeError):
        _ = llmrelay.not_a_provider_models
    litellm_map = tmp_path / "map.json"
    litellm_map.write_text(json.dumps({"my-model": {
        "litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-6,
        "output_cost_per_token": 2e-6}}))
    saved = llmrelay.get_model_cost_map(url="")
    try:
        llmrelay.model_cost = llmrelay.get_model_cost_map(url=str(litellm_map))
        assert list(llmrelay.model_cost) == ["my-model"]
        assert llmrelay.get_model_info("my-model")["provider"] == "openai"
        assert llmrelay.cost_per_token("my-model", 10, 10) == pytest.approx((1e-5, 2e-5))
    finally:
        llmrelay.model_cost = saved
    assert "gpt-4o" in llmrelay.model_cost
    bad = llmrelay.get_model_cost_map(url=str(tmp_path / "missing.json"))
    assert "gpt-4o" in bad  # an unreadable map falls back to the bundled table


def test_register_prompt_template() -> None:
    from llmrelay.prompt_templates import render_prompt

    try:
        llmrelay.register_prompt_template(
            model="ollama/my-llama", initial_prompt_value="<s>", final_prompt_value="</s>",
            roles={"user": {"pre_message": "[INST] ", "post_message": " [/INST]"}})
        assert render_prompt("ollama/my-llama", [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}]) == (
            "<s>be brief[INST] hi [/INST]</s>")
        assert render_prompt("other", MSG) is None
        with pytest.raises(TypeError):
            llmrelay.register_prompt_template(model="x", roles={"user": "bad"})
    finally:
        llmrelay.custom_prompt_dict = {}


def test_set_verbose_turns_on_debug_logging() -> None:
    import logging

    logger = logging.getLogger("llmrelay")
    llmrelay.set_verbose = True
    try:
        assert logger.level == logging.DEBUG and logger.handlers
    finally:
        llmrelay.set_verbose = False
    assert logger.level == logging.NOTSET


# ---- exceptions as LiteLLM builds them ------------------------------------------------------

def test_exceptions_accept_litellm_constructors() -> None:
    import httpx

    e = llmrelay.RateLimitError("slow", "openai", "gpt-4o",
                                httpx.Response(429, headers={"retry-after": "3"}, text="{}"))
    assert (e.llm_provider, e.model, e.code, e.type) == ("openai", "gpt-4o", "429",
                                                         "throttling_error")
    assert e.response_headers["retry-after"] == "3" and e.response_body == "{}"
    nf = llmrelay.NotFoundError("gone", "gpt-4o", "openai")
    assert (nf.model, nf.llm_provider, nf.status_code) == ("gpt-4o", "openai", 404)
    cw = llmrelay.ContextWindowExceededError(message="long", model="m", llm_provider="p",
                                             response=httpx.Response(400))
    assert isinstance(cw, llmrelay.BadRequestError) and cw.status_code == 400
    t = llmrelay.Timeout("slow", "m", "p")
    assert (t.model, t.llm_provider, t.status_code) == ("m", "p", 408)
    api = llmrelay.APIError(503, "down", "p", "m")
    assert (api.status_code, api.message, api.model) == (503, "down", "m")
    b = llmrelay.BudgetExceededError(current_cost=2.0, max_budget=1.0)
    assert "Budget has been exceeded" in str(b) and b.status_code == 400


# ---- import paths ---------------------------------------------------------------------------

@pytest.mark.parametrize("path, names", [
    ("llmrelay.types.utils", ["ModelResponse", "Usage", "Message", "Choices", "CallTypes",
                              "EmbeddingResponse", "ChatCompletionMessageToolCall"]),
    ("llmrelay.types.router", ["RetryPolicy", "AllowedFailsPolicy", "Deployment"]),
    ("llmrelay.utils", ["ModelResponse", "get_model_info", "token_counter",
                        "supports_function_calling", "completion_cost"]),
    ("llmrelay.caching.caching", ["Cache", "DualCache"]),
    ("llmrelay.caching.dual_cache", ["DualCache"]),
    ("llmrelay.proxy.proxy_server", ["UserAPIKeyAuth", "DualCache"]),
    ("llmrelay.proxy._types", ["UserAPIKeyAuth", "LitellmUserRoles"]),
    ("llmrelay.integrations.custom_logger", ["CustomLogger"]),
])
def test_import_paths(path: str, names: list[str]) -> None:
    module = importlib.import_module(path)
    for name in names:
        assert getattr(module, name) is not None
    from llmrelay.types import ModelResponse

    assert importlib.import_module("llmrelay.utils").ModelResponse is ModelResponse


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = ("import sys, llmrelay; heavy = [m for m in ('httpx', 'aiohttp', 'llmrelay.proxy',"
            " 'tiktoken', 'yaml') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


# ---- DualCache ------------------------------------------------------------------------------

def test_dual_cache_local_and_shared() -> None:
    shared = llmrelay.DualCache()
    cache = llmrelay.DualCache(redis_cache=shared, default_in_memory_ttl=60)
    cache.set_cache("k", {"v": 1})
    assert cache.get_cache("k") == {"v": 1} and shared.get_cache("k") == {"v": 1}
    cache.set_cache("only-here", 1, local_only=True)
    assert shared.get_cache("only-here") is None
    shared.set_cache("there", "x")
    assert cache.get_cache("there") == "x"  # a local miss reads the shared store
    assert cache.increment_cache("n", 2) == 2 and cache.increment_cache("n", 3) == 5
    assert cache.batch_get_cache(["k", "missing"]) == [{"v": 1}, None]
    cache.delete_cache("k")
    assert cache.get_cache("k") is None and shared.get_cache("k") is None
    cache.set_cache("short", 1, ttl=-1)
    assert cache.get_cache("short", local_only=True) is None

    async def run() -> None:
        await cache.async_set_cache("a", 1)
        assert await cache.async_get_cache("a") == 1
        assert await cache.async_increment_cache("c", 4) == 4
        await cache.async_delete_cache("a")
        assert await cache.async_get_cache("a") is None

    asyncio.run(run())


def test_exceptions_module_names() -> None:
    assert exceptions.BudgetExceededError is llmrelay.BudgetExceededError


# ---- Cache by hand ---------------------------------------------------------------------------

def test_cache_key_and_add_cache_match_calls() -> None:
    cache = llmrelay.Cache()
    llmrelay.cache = cache
    try:
        k1 = cache.get_cache_key(model="gpt-4o-mini", messages=MSG, temperature=0.7)
        k2 = cache.get_cache_key(model="gpt-4o-mini", messages=MSG, max_completion_tokens=9)
        assert k1 != k2 and k2 == cache.get_cache_key(model="gpt-4o-mini", messages=MSG,
                                                      max_completion_tokens=9)
        assert cache.get_cache_key(model="text-embedding-3-small", input=["a"]) != k1
        stored = llmrelay.completion(model="gpt-4o-mini", messages=[{"role": "user",
                                                                     "content": "other"}],
                                     mock_response="kept", caching=False)
        cache.add_cache(result=stored, model="gpt-4o-mini", messages=MSG)
        assert cache.get_cache(model="gpt-4o-mini", messages=MSG)["id"] == stored.id
        hit = llmrelay.completion(model="gpt-4o-mini", messages=MSG, api_key="unused")
        assert hit.choices[0].message.content == "kept" and hit._hidden_params["cache_hit"]
        assert asyncio.run(cache.async_get_cache(cache_key=k1)) is None
    finally:
        llmrelay.cache = None
