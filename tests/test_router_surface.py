"""Router public methods LiteLLM users call, retry policies, fallback variants and the
deployments a router accepts (all with mock replies: no network)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import llmrelay
from llmrelay import Router
from llmrelay.router import RetryPolicy

MSG = [{"role": "user", "content": "Hi"}]


def _router(**kw: Any) -> Router:
    return Router(model_list=[
        {"model_name": "gpt", "litellm_params": {"model": "gpt-4o-mini", "api_key": "k1"},
         "model_info": {"id": "a", "access_groups": ["team"]}},
        {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o", "rpm": 10},
         "model_info": {"id": "b"}},
        {"model_name": "claude", "litellm_params": {"model": "claude-3-5-haiku-latest"},
         "model_info": {"id": "c", "access_groups": ["team"]}},
        {"model_name": "dalle", "litellm_params": {"model": "dall-e-3"}},
        {"model_name": "whisper", "litellm_params": {"model": "whisper-1"}},
        {"model_name": "far", "litellm_params": {"model": "sagemaker/some-llama"},
         "model_info": {"id": "w"}},
    ], **kw)


def test_router_accepts_what_litellm_accepts() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = _router(set_verbose=False)
    assert r.get_model_ids() == ["a", "b", "c", r.get_model_ids()[3], r.get_model_ids()[4],
                                 "w"]
    assert Router(model_list=[]).get_model_ids() == []
    # a provider llmrelay does not serve fails when called, naming it
    with pytest.raises(llmrelay.BadRequestError, match="sagemaker"):
        r.completion(model="far", messages=MSG, mock_response="x")


def test_queries() -> None:
    r = _router()
    dep = r.get_deployment("a")
    assert dep is not None and dep.litellm_params.api_key == "k1"
    assert dep["litellm_params"]["model"] == "gpt-4o-mini" and dep.to_json()["model_name"] == "gpt"
    assert r.get_model_info("a")["model_info"]["id"] == "a"  # type: ignore[index]
    assert r.get_model_info("nope") is None
    info = r.get_deployment_model_info("a")
    assert info is not None and info["max_input_tokens"] > 0 and info["provider"] == "openai"
    group = r.get_model_group_info("gpt")
    assert group is not None and group["providers"] == ["openai"] and group["rpm"] == 10
    assert group["supports_function_calling"] is True
    assert r.get_model_group_info("missing") is None
    assert r.get_model_access_groups() == {"team": ["gpt", "claude"]}
    assert r.get_deployment_credentials("a") == {"api_key": "k1"}
    assert r.get_router_model_info(r.get_model_list("claude")[0])["provider"] == "anthropic"
    assert len(r.model_list) == 6 and r.get_settings()["routing_strategy"] == "simple-shuffle"
    picked = r.get_available_deployment("gpt", messages=MSG)
    assert picked is not None and picked["model_name"] == "gpt"


def test_model_list_changes() -> None:
    r = Router(model_list=[])
    dep = r.add_deployment({"model_name": "g", "litellm_params": {"model": "gpt-4o"},
                            "model_info": {"id": "x"}})
    assert dep is not None and r.get_model_ids() == ["x"]
    assert r.add_deployment({"model_name": "g", "litellm_params": {"model": "gpt-4o"},
                             "model_info": {"id": "x"}}) is None
    r.upsert_deployment({"model_name": "g", "litellm_params": {"model": "gpt-4o-mini"},
                         "model_info": {"id": "x"}})
    assert r.get_deployment("x").model == "gpt-4o-mini"  # type: ignore[union-attr]
    assert r.completion(model="g", messages=MSG, mock_response="ok").model == "gpt-4o-mini"
    assert r.delete_deployment("x") is not None and r.model_names == []


def test_reset_forgets_cooldowns() -> None:
    r = _router(allowed_fails=0, num_retries=0)
    with pytest.raises(llmrelay.ServiceUnavailableError):
        r.completion(model="gpt", messages=MSG,
                     mock_response=llmrelay.ServiceUnavailableError("down"))
    assert r.cooldowns()
    r.reset()
    assert r.cooldowns() == {}


async def test_batch_methods() -> None:
    r = _router()
    two = await r.abatch_completion(models=["gpt", "claude"], messages=MSG,
                                    mock_response="hi")
    assert [x.choices[0].message.content for x in two] == ["hi", "hi"]
    grid = await r.abatch_completion(models=["gpt", "far"], messages=[MSG, MSG],
                                     mock_response="hi")
    assert len(grid) == 2 and len(grid[0]) == 2
    assert isinstance(grid[1][0], llmrelay.BadRequestError)
    fast = await r.abatch_completion_fastest_response(model="far, claude", messages=MSG,
                                                      mock_response="quick")
    assert fast._hidden_params["fastest_response_batch_completion"] is True
    assert fast._hidden_params["model_group"] == "claude"
    assert (await r.async_get_available_deployment("claude")).id == "c"  # type: ignore[union-attr]


def test_retry_policy_counts_per_error_type() -> None:
    calls: list[Any] = []

    def count(kwargs: dict[str, Any], *_: Any) -> None:
        calls.append(kwargs)

    r = Router(model_list=[{"model_name": "g", "litellm_params": {"model": "gpt-4o"}}],
               num_retries=0, retry_after=0,
               retry_policy=RetryPolicy(ContentPolicyViolationErrorRetries=2))
    with pytest.raises(llmrelay.ContentPolicyViolationError):
        r.completion(model="g", messages=MSG, success_callback=[count],
                     failure_callback=[count],
                     mock_response="Exception: content_filter_policy")
    llmrelay.flush(5)
    assert len(calls[0]["attempts"]) == 3
    assert r.policy_retries(llmrelay.RateLimitError("x"), "g") is None


@pytest.mark.parametrize("switch, cls", [
    ("mock_testing_fallbacks", llmrelay.InternalServerError),
    ("mock_testing_context_fallbacks", llmrelay.ContextWindowExceededError),
])
def test_mock_testing_fallbacks_and_defaults(switch: str, cls: type) -> None:
    r = _router(default_fallbacks=["claude"], num_retries=0)
    out = r.completion(model="gpt", messages=MSG, mock_response="ok", **{switch: True})
    assert out._hidden_params["model_group"] == "claude"
    llmrelay.default_fallbacks = ["claude"]
    try:
        out = _router(num_retries=0).completion(model="gpt", messages=MSG, mock_response="ok",
                                                **{switch: True})
        assert out._hidden_params["model_group"] == "claude"
    finally:
        llmrelay.default_fallbacks = []
    with pytest.raises(cls):
        _router(num_retries=0).completion(model="gpt", messages=MSG, mock_response="ok",
                                          **{switch: True})


def test_content_filter_reply_uses_content_policy_fallbacks() -> None:
    filtered = llmrelay.ModelResponse(choices=[llmrelay.Choices(finish_reason="content_filter")])
    r = Router(model_list=[
        {"model_name": "main", "litellm_params": {"model": "gpt-4o", "mock_response": filtered}},
        {"model_name": "backup", "litellm_params": {"model": "gpt-4o-mini",
                                                    "mock_response": "clean"}}],
        content_policy_fallbacks=[{"main": ["backup"]}])
    out = r.completion(model="main", messages=MSG)
    assert out.choices[0].message.content == "clean"
    plain = Router(model_list=[{"model_name": "main", "litellm_params": {
        "model": "gpt-4o", "mock_response": filtered}}])
    assert plain.completion(model="main", messages=MSG).choices[0].finish_reason == (
        "content_filter")


def test_per_call_list_fallbacks() -> None:
    r = _router(num_retries=0)
    out = r.completion(model="gpt", messages=MSG, mock_response="ok",
                       mock_testing_fallbacks=True, fallbacks=["claude"])
    assert out._hidden_params["model_group"] == "claude"


def _failing_gpt_router(**kwargs: Any) -> Router:
    """A group "gpt" whose deployment always fails, and a group "claude" that answers."""
    return Router(model_list=[
        {"model_name": "gpt", "litellm_params": {"model": "gpt-4o-mini",
                                                 "mock_response": "llmrelay.InternalServerError"}},
        {"model_name": "claude", "litellm_params": {"model": "claude-3-5-haiku-latest",
                                                    "mock_response": "ok"}}], **kwargs)


def test_previous_models_in_callback_metadata() -> None:
    seen: list[dict[str, Any]] = []
    r = _failing_gpt_router(num_retries=1, retry_after=0)
    r.completion(model="gpt", messages=MSG, fallbacks=["claude"],
                 success_callback=[lambda kw, *a: seen.append(kw)])
    llmrelay.flush(5)
    previous = seen[0]["litellm_params"]["metadata"]["previous_models"]
    # as LiteLLM's: each failed attempt, then the group's error again on the move to "claude"
    assert len(previous) == 3 and {p["model_group"] for p in previous} == {"gpt"}
    assert previous[0]["exception_type"] == "InternalServerError"


def test_mock_testing_fallbacks_ask_no_deployment() -> None:
    # LiteLLM: the group fails once, straight to its fallbacks; no deployment is asked,
    # so none is counted against its rpm (a fallback to the same deployment by id works).
    seen: list[dict[str, Any]] = []
    r = Router(model_list=[{"model_name": "gpt", "litellm_params": {
        "model": "gpt-4o-mini", "rpm": 1, "mock_response": "ok"}, "model_info": {"id": "123"}}],
        fallbacks=[{"gpt": ["123"]}], num_retries=3)
    out = r.completion(model="gpt", messages=MSG, mock_testing_fallbacks=True,
                       success_callback=[lambda kw, *a: seen.append(kw)])
    assert out.choices[0].message.content == "ok"
    llmrelay.flush(5)
    previous = seen[0]["litellm_params"]["metadata"]["previous_models"]
    assert len(previous) == 1 and previous[0]["model"] is None


def test_deployment_by_id_and_disable_fallbacks() -> None:
    r = Router(model_list=[
        {"model_name": "gpt", "litellm_params": {"model": "gpt-4o", "mock_response": "one"},
         "model_info": {"id": "d1"}},
        {"model_name": "gpt", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "two"},
         "model_info": {"id": "d2"}},
        {"model_name": "backup", "litellm_params": {"model": "gpt-4o", "mock_response": "b"}}],
        fallbacks=[{"gpt": ["backup"]}], num_retries=0)
    assert {r.completion(model="d2", messages=MSG).choices[0].message.content
            for _ in range(10)} == {"two"}
    with pytest.raises(llmrelay.InternalServerError):
        r.completion(model="gpt", messages=MSG, mock_testing_fallbacks=True,
                     disable_fallbacks=True)
    assert r.completion(model="gpt", messages=MSG, mock_testing_fallbacks=True
                        ).choices[0].message.content == "b"


def test_allowed_fails_policy_per_error_type() -> None:
    from llmrelay.router import AllowedFailsPolicy

    r = _router(num_retries=0, allowed_fails=100,
                allowed_fails_policy=AllowedFailsPolicy(InternalServerErrorAllowedFails=0))
    with pytest.raises(llmrelay.InternalServerError):
        r.completion(model="gpt", messages=MSG,
                     mock_response=llmrelay.InternalServerError("boom"))
    assert len(r.cooldowns()) == 1  # cooled after its first failure, not its 101st
    r2 = _router(num_retries=0, allowed_fails=100)
    with pytest.raises(llmrelay.InternalServerError):
        r2.completion(model="gpt", messages=MSG,
                      mock_response=llmrelay.InternalServerError("boom"))
    assert r2.cooldowns() == {}


def test_mock_timeout_holds_for_the_requested_group_only() -> None:
    # LiteLLM tests timeout fallbacks with mock_timeout: the fallback group answers.
    import time

    r = Router(model_list=[
        {"model_name": "main", "litellm_params": {"model": "gpt-4o", "mock_response": "a"}},
        {"model_name": "backup", "litellm_params": {"model": "gpt-4o-mini",
                                                    "mock_response": "b"}}],
        fallbacks=[{"main": ["backup"]}])
    started = time.monotonic()
    out = r.completion(model="main", messages=MSG, timeout=0.2, num_retries=1,
                       mock_timeout=True)
    assert out.choices[0].message.content == "b"
    assert time.monotonic() - started >= 0.2
    with pytest.raises(llmrelay.Timeout):
        r.completion(model="backup", messages=MSG, timeout=0.05, mock_timeout=True)


@pytest.mark.parametrize("where", ["litellm_params", "model_info"])
def test_deployment_prices_and_base_model_price_its_calls(where: str) -> None:
    # LiteLLM: input_cost_per_token / output_cost_per_token / base_model in a deployment's
    # litellm_params or model_info price the calls it serves (and are never sent upstream).
    entry: dict[str, Any] = {"model_name": "mine", "litellm_params": {
        "model": "openai/my-own-model", "mock_response": "hello there"}, "model_info": {}}
    entry[where].update(input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    out = Router(model_list=[entry]).completion(model="mine", messages=MSG)
    expected = out.usage.prompt_tokens * 1e-6 + out.usage.completion_tokens * 2e-6
    assert out._hidden_params["response_cost"] == pytest.approx(expected)
    emb: dict[str, Any] = {"model_name": "emb", "litellm_params": {"model": "bedrock/x"},
                           "model_info": {}}
    emb[where]["base_model"] = "cohere.embed-english-v3"
    r = Router(model_list=[emb]).embedding(model="emb", input="hi", mock_response=[1, 2])
    assert r._hidden_params["response_cost"] > 0


def test_a_calls_own_prices_win_over_its_deployments() -> None:
    entry: dict[str, Any] = {"model_name": "mine", "litellm_params": {
        "model": "openai/my-own-model", "mock_response": "hello there",
        "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}}
    r = Router(model_list=[entry])
    before = r.completion(model="mine", messages=MSG)
    own = r.completion(model="mine", messages=MSG, input_cost_per_token=5e-6,
                       output_cost_per_token=7e-6)
    after = r.completion(model="mine", messages=MSG)
    usage = own.usage
    assert own._hidden_params["response_cost"] == pytest.approx(
        usage.prompt_tokens * 5e-6 + usage.completion_tokens * 7e-6)
    assert after._hidden_params["response_cost"] == pytest.approx(
        before._hidden_params["response_cost"])
    assert before._hidden_params["response_cost"] == pytest.approx(
        usage.prompt_tokens * 1e-6 + usage.completion_tokens * 2e-6)


def test_a_misconfigured_deployment_hands_over_to_another(monkeypatch: Any) -> None:
    # An Azure deployment with no endpoint cannot be called: a 400 for a direct call, but
    # in a Router the deployment's problem, so another deployment serves (as in LiteLLM).
    for name in ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(llmrelay.ProviderConfigError, match="api_base"):
        llmrelay.completion(model="azure/gpt-4o", messages=MSG, api_key="k")
    r = Router(model_list=[
        {"model_name": "g", "litellm_params": {"model": "azure/gpt-4o", "api_key": "k"}},
        {"model_name": "g", "litellm_params": {"model": "gpt-4o", "mock_response": "ok"}}])
    assert {r.completion(model="g", messages=MSG).choices[0].message.content
            for _ in range(8)} == {"ok"}
    assert r.cooldowns() == {}  # a setup problem is not a health problem


def test_a_callers_own_credentials_make_their_own_deployment_id() -> None:
    # LiteLLM: per-call api_key= makes a dynamic deployment (its own model_id), so one
    # caller's bad key neither cools down nor is counted against the shared deployment.
    r = Router(model_list=[
        {"model_name": "g", "litellm_params": {"model": "gpt-4o", "api_key": "k0",
                                               "mock_response": "ok"}, "model_info": {"id": "d"}},
        {"model_name": "g", "litellm_params": {"model": "gpt-4o-mini", "api_key": "k0",
                                               "mock_response": "ok"}, "model_info": {"id": "e"}}],
        num_retries=0)
    a = r.completion(model="d", messages=MSG, api_key="k1")._hidden_params["model_id"]
    b = r.completion(model="d", messages=MSG, api_key="k2")._hidden_params["model_id"]
    same = r.completion(model="d", messages=MSG, api_key="k0")._hidden_params["model_id"]
    assert a != b and a.startswith("d-") and same == "d"
    assert r.get_deployment(a) is r.get_deployment("d")
    with pytest.raises(llmrelay.RateLimitError):
        r.completion(model="d", messages=MSG, api_key="bad",
                     mock_response="llmrelay.RateLimitError")
    assert r.cooldowns() == {}


def test_num_retries_per_request_caps_retries_and_fallbacks(monkeypatch: Any) -> None:
    # LiteLLM's litellm.num_retries_per_request: once a request has failed that many times,
    # no further retry or fallback is attempted (0 and 1 both allow none).
    seen: list[dict[str, Any]] = []
    r = Router(model_list=[
        {"model_name": "gpt", "litellm_params": {"model": "gpt-4o-mini",
                                                 "mock_response": "llmrelay.InternalServerError"}},
        {"model_name": "claude", "litellm_params": {"model": "claude-3-5-haiku-latest",
                                                    "mock_response": "ok"}}],
        num_retries=1, retry_after=0, fallbacks=[{"gpt": ["claude"]}])
    monkeypatch.setattr(llmrelay, "num_retries_per_request", 0)
    with pytest.raises(llmrelay.InternalServerError):
        r.completion(model="gpt", messages=MSG, failure_callback=[
            lambda kw, *a: seen.append(kw)])
    llmrelay.flush(5)
    assert len(seen[0]["attempts"]) == 1
    # 2 failed attempts and the move to the fallback count 3: a cap of 4 allows it, 3 not
    monkeypatch.setattr(llmrelay, "num_retries_per_request", 4)
    out = r.completion(model="gpt", messages=MSG)
    assert out.choices[0].message.content == "ok"
    assert out._hidden_params["attempted_fallbacks"] == 1
    monkeypatch.setattr(llmrelay, "num_retries_per_request", 3)
    with pytest.raises(llmrelay.InternalServerError):
        r.completion(model="gpt", messages=MSG)


def test_a_misconfigured_deployment_is_retried_without_waiting(monkeypatch: Any) -> None:
    # LiteLLM retries a deployment that cannot be called like any other failure; nothing
    # was sent, so no backoff applies.
    import time

    for name in ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    seen: list[dict[str, Any]] = []
    r = Router(model_list=[
        {"model_name": "g", "litellm_params": {"model": "azure/gpt-4o", "api_key": "k"}},
        {"model_name": "b", "litellm_params": {"model": "gpt-4o", "mock_response": "ok"}}],
        num_retries=2, fallbacks=[{"g": ["b"]}])
    started = time.monotonic()
    r.completion(model="g", messages=MSG, success_callback=[lambda kw, *a: seen.append(kw)])
    assert time.monotonic() - started < 5
    llmrelay.flush(5)
    assert len(seen[0]["litellm_params"]["metadata"]["previous_models"]) == 4


def test_a_deployment_with_its_own_prices_is_in_the_model_table_by_id() -> None:
    # LiteLLM: get_model_info(<deployment id>) answers for a deployment priced in its config.
    Router(model_list=[{"model_name": "mine", "litellm_params": {
        "model": "openai/my-served-llama", "api_base": "http://127.0.0.1:9/v1",
        "input_cost_per_token": 2e-6, "output_cost_per_token": 3e-6},
        "model_info": {"id": "priced-deployment-1"}}])
    info = llmrelay.get_model_info("priced-deployment-1")
    assert info["input_cost_per_token"] == 2e-6 and info["litellm_provider"] == "openai"
    assert llmrelay.completion_cost(model="priced-deployment-1", prompt="a b",
                                    completion="c") > 0



def test_previous_models_without_retries_hold_the_move_to_the_fallback() -> None:
    # LiteLLM (observed on 1.108.7): num_retries=0, the group fails, its fallback serves:
    # previous_models has one entry, the move to the fallback.
    seen: list[dict[str, Any]] = []
    r = _failing_gpt_router(num_retries=0, fallbacks=[{"gpt": ["claude"]}])
    r.completion(model="gpt", messages=MSG, success_callback=[lambda kw, *a: seen.append(kw)])
    llmrelay.flush(5)
    previous = seen[0]["litellm_params"]["metadata"]["previous_models"]
    assert [p["model_group"] for p in previous] == ["gpt"]


def test_should_retry_this_error() -> None:
    r = _router()
    limited = llmrelay.RateLimitError("slow down", model="gpt")
    assert r.should_retry_this_error(limited, healthy_deployments=["a", "b"]) is True
    assert r.should_retry_this_error(limited) is True  # healthy ones not known: retry
    with pytest.raises(llmrelay.RateLimitError):  # nothing left to try
        r.should_retry_this_error(limited, healthy_deployments=[])
    for own_fault in (llmrelay.BadRequestError("bad"), llmrelay.NotFoundError("no model")):
        with pytest.raises(type(own_fault)):
            r.should_retry_this_error(own_fault, healthy_deployments=["a"])
    policy = llmrelay.ContentPolicyViolationError("refused", model="gpt")
    with pytest.raises(llmrelay.ContentPolicyViolationError):
        r.should_retry_this_error(policy, healthy_deployments=["a"],
                                  content_policy_fallbacks=[{"gpt": ["claude"]}])
    window = llmrelay.ContextWindowExceededError("too long", model="gpt")
    with pytest.raises(llmrelay.ContextWindowExceededError):
        r.should_retry_this_error(window, context_window_fallbacks=[{"gpt": ["claude"]}])


def test_log_retry_records_each_failed_attempt() -> None:
    kwargs: dict[str, Any] = {"model": "gpt-4o"}
    r = _router()
    assert r.log_retry(kwargs, llmrelay.RateLimitError("slow", model="gpt")) is kwargs
    r.log_retry(kwargs, ValueError("odd"))
    assert [(p["model"], p["exception_type"]) for p in kwargs["metadata"]["previous_models"]
            ] == [("gpt-4o", "RateLimitError"), ("gpt-4o", "ValueError")]
    # the router records its own failed attempts through it (a user's patch sees them)
    failing = _failing_gpt_router(num_retries=1, retry_after=0)
    calls: list[str] = []
    real = failing.log_retry
    failing.log_retry = lambda kw, e: (calls.append(type(e).__name__), real(kw, e))[1]
    failing.completion(model="gpt", messages=MSG, fallbacks=["claude"])
    assert calls == ["InternalServerError"] * 3
    calls.clear()
    with pytest.raises(llmrelay.InternalServerError):
        failing.completion(model="gpt", messages=MSG, num_retries=0, disable_fallbacks=True)
    assert calls == []  # nothing retried, no fallback: no attempt to record


def test_refused_credentials_in_a_group_of_one_are_not_retried() -> None:
    # LiteLLM: a 401/403 is retried only when another deployment of the group may accept
    # the request; with one deployment nothing is retried, so no retry is recorded
    r = Router(model_list=[
        {"model_name": "bad", "litellm_params": {
            "model": "gpt-4o-mini", "mock_response": "llmrelay.AuthenticationError"}}],
        num_retries=2, retry_after=0)
    calls: list[str] = []
    real = r.log_retry
    r.log_retry = lambda kw, e: (calls.append(type(e).__name__), real(kw, e))[1]
    with pytest.raises(llmrelay.AuthenticationError):
        r.completion(model="bad", messages=MSG, disable_fallbacks=True)
    assert calls == []
    # two deployments: the other one is asked, and the move is recorded
    two = Router(model_list=[
        {"model_name": "g", "litellm_params": {
            "model": "gpt-4o-mini", "mock_response": "llmrelay.AuthenticationError"},
         "model_info": {"id": "refuses"}},
        {"model_name": "g", "litellm_params": {"model": "gpt-4o", "mock_response": "ok"},
         "model_info": {"id": "answers"}}],
        num_retries=2, retry_after=0, routing_strategy="simple-shuffle")
    for _ in range(4):
        assert two.completion(model="g", messages=MSG).choices[0].message.content == "ok"


def test_should_retry_this_error_refused_credentials() -> None:
    r = _router()
    denied = llmrelay.AuthenticationError("bad key", model="gpt")
    with pytest.raises(llmrelay.AuthenticationError):
        r.should_retry_this_error(denied, healthy_deployments=["a"], all_deployments=["a"])
    assert r.should_retry_this_error(denied, healthy_deployments=["a", "b"],
                                     all_deployments=["a", "b"]) is True
    forbidden = llmrelay.PermissionDeniedError("no", model="gpt")
    with pytest.raises(llmrelay.PermissionDeniedError):
        r.should_retry_this_error(forbidden, healthy_deployments=["a"], all_deployments=["a"])


def test_add_deployment_takes_litellm_deployment_objects() -> None:
    from llmrelay.router import Deployment, LiteLLM_Params
    from llmrelay.types.router import ModelInfo

    r = Router(model_list=[{"model_name": "gpt", "litellm_params": {
        "model": "gpt-4o-mini", "mock_response": "first"}}])
    before = r.get_model_ids()
    added = r.add_deployment(Deployment(
        model_name="instruct",
        litellm_params=LiteLLM_Params(model="gpt-3.5-turbo-instruct", mock_response="second",
                                      api_key=None),
        model_info=ModelInfo()))
    assert added is not None and added.model_name == "instruct"
    assert added.params == {"mock_response": "second"}  # None values are not settings
    after = r.get_model_ids()
    assert len(after) == 2 and after[0] == before[0] and after[1] != after[0]
    assert r.completion(model="instruct", messages=MSG).choices[0].message.content == "second"
    # an id given in ModelInfo is kept; the same deployment again is not added twice
    named = Deployment(model_name="gpt", litellm_params={"model": "gpt-4o"},
                       model_info=ModelInfo(id="mine", base_model="gpt-4o"))
    assert r.add_deployment(named) is not None and r.add_deployment(named) is None
    assert r.get_deployment("mine").model_info["base_model"] == "gpt-4o"


def test_add_deployment_takes_pydantic_models() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Params(pydantic.BaseModel):
        model: str
        api_key: str | None = None
        mock_response: str | None = None

    class Entry(pydantic.BaseModel):
        model_name: str
        litellm_params: Params
        model_info: dict[str, Any] = {}

    r = Router(model_list=[])
    dep = r.add_deployment(Entry(model_name="g", litellm_params=Params(
        model="gpt-4o-mini", mock_response="from pydantic")))
    assert dep is not None and "api_key" not in dep.params
    assert r.completion(model="g", messages=MSG).choices[0].message.content == "from pydantic"
    r.upsert_deployment(Entry(model_name="g", litellm_params=Params(
        model="gpt-4o-mini", mock_response="replaced"), model_info={"id": dep.id}))
    assert r.completion(model="g", messages=MSG).choices[0].message.content == "replaced"


def test_a_litellm_deployment_without_a_model_is_a_config_error() -> None:
    from llmrelay.router import Deployment, RouterConfigError

    with pytest.raises(RouterConfigError, match="needs litellm_params with a 'model'"):
        Deployment(model_name="g", litellm_params={"api_key": "k"})
