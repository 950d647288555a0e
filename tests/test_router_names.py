"""Router model names as LiteLLM configs use them: wildcard groups, model_group_alias,
fallbacks to aliases and wildcards, max_fallbacks, routing_strategy_args, pre-call
context-window checks, and fallbacks on any exception a deployment raises."""

from __future__ import annotations

from typing import Any

import pytest

import llmrelay
from llmrelay.exceptions import BadRequestError, ContextWindowExceededError
from llmrelay.router import Router, RouterConfigError
from llmrelay.router.names import MAX_DERIVED

MSG = [{"role": "user", "content": "hi"}]


def mock(group: str, reply: Any = "ok", model: str = "mock/mock", **extra: Any
         ) -> dict[str, Any]:
    return {"model_name": group, "litellm_params": {"model": model, "mock_response": reply,
                                                     **extra}}


def text(r: Any) -> str:
    return str(r.choices[0].message.content)


def test_star_sends_any_model_to_the_provider_its_name_implies() -> None:
    router = Router(model_list=[mock("*", "wild", model="*")])
    r = router.completion("mock/anything", MSG)
    assert text(r) == "wild" and r.model == "anything"
    assert router.model_names == ["*"]
    with pytest.raises(BadRequestError, match="matches the wildcard model group '\\*', but "
                                              "cannot tell which provider"):
        router.completion("no-provider-knows-this", MSG)


def test_most_specific_wildcard_wins_and_exact_groups_win_over_wildcards() -> None:
    router = Router(model_list=[
        mock("*", "star", model="*"), mock("mock/*", "prefix", model="mock/*"),
        mock("team-a/*", "team", model="mock/*"), mock("mock/exact", "exact")])
    assert text(router.completion("mock/other", MSG)) == "prefix"
    assert text(router.completion("mock/exact", MSG)) == "exact"
    r = router.completion("team-a/m1", MSG)  # the * of the name fills the * of the model
    assert text(r) == "team" and r.model == "m1"
    dep = router.get_available_deployment("team-a/m2")
    assert dep is not None and dep.model == "mock/m2" and dep.model_name == "team-a/m2"


def test_wildcard_groups_are_bounded() -> None:
    router = Router(model_list=[mock("mock/*", model="mock/*")])
    for i in range(MAX_DERIVED + 5):
        router.resolve(f"mock/m{i}")
    assert len(router._derived) == MAX_DERIVED
    assert "mock/m0" not in router.groups and "mock/m4" not in router.groups
    assert text(router.completion("mock/m0", MSG)) == "ok"  # made again on demand


def test_model_group_alias() -> None:
    with pytest.warns(UserWarning, match="'gpt-4' is also a model group"):
        router = Router(model_list=[mock("gpt-4o", "real"), mock("gpt-4", "own group")],
                        model_group_alias={"gpt-4": "gpt-4o", "fast": "gpt-4o",
                                           "secret": {"model": "gpt-4o", "hidden": True}})
    assert text(router.completion("fast", MSG)) == "real"
    assert text(router.completion("secret", MSG)) == "real"
    assert text(router.completion("gpt-4", MSG)) == "own group"  # a group is not shadowed
    assert router.aliases["secret"].hidden and not router.aliases["fast"].hidden
    with pytest.raises(RouterConfigError, match="model_group_alias"):
        Router(model_list=[mock("a")], model_group_alias={"b": 5})


def test_alias_to_a_missing_group_warns() -> None:
    with pytest.warns(UserWarning, match="no such model group"):
        router = Router(model_list=[mock("a")], model_group_alias={"b": "nowhere"})
    with pytest.raises(BadRequestError, match="unknown model group 'b'"):
        router.completion("b", MSG)


def test_plain_exception_falls_back_and_is_retried() -> None:
    """A deployment whose call raises a plain Exception (here its transport) is retried
    and then falls back, as LiteLLM's router does; without fallbacks it reaches the caller."""
    import json

    from llmrelay import Client
    from llmrelay.transport import MockTransport, Reply

    class Boom(Exception):
        pass

    def handler(req: Any) -> Reply:
        if "broken" in req.url:
            raise Boom("deployment broke")
        body = {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "from b"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        return Reply(200, {"content-type": "application/json"}, json.dumps(body).encode())

    transport = MockTransport(handler)
    client = Client(transport=transport)
    model_list = [
        {"model_name": "a", "litellm_params": {"model": "openai/x", "api_key": "k",
                                               "api_base": "http://broken.invalid/v1"}},
        {"model_name": "b", "litellm_params": {"model": "openai/y", "api_key": "k",
                                               "api_base": "http://fine.invalid/v1"}}]
    router = Router(model_list=model_list, fallbacks=[{"a": ["b"]}], num_retries=1,
                    client=client)
    assert text(router.completion("a", MSG)) == "from b"
    assert [r.url.split("/")[2] for r in transport.requests] == [
        "broken.invalid", "broken.invalid", "fine.invalid"]
    router = Router(model_list=model_list[:1], num_retries=0, client=client)
    with pytest.raises(Boom):
        router.completion("a", MSG)


async def test_fallbacks_to_aliases_and_wildcards_async() -> None:
    router = Router(model_list=[mock("a", Exception("down")), mock("mock/*", "wild",
                                                                   model="mock/*")],
                    model_group_alias={"backup": "mock/b"}, fallbacks=[{"a": ["backup"]}],
                    num_retries=0)
    assert text(await router.acompletion("a", MSG)) == "wild"
    with pytest.raises(RouterConfigError, match="unknown model group"):
        Router(model_list=[mock("a")], fallbacks=[{"a": ["nope"]}])


def test_max_fallbacks() -> None:
    boom = Exception("down")
    model_list = [mock("a", boom), mock("b", boom), mock("c", boom), mock("d", "from d")]
    chain = [{"a": ["b", "c", "d"]}]
    assert text(Router(model_list=model_list, fallbacks=chain, num_retries=0)
                .completion("a", MSG)) == "from d"
    router = Router(model_list=model_list, fallbacks=chain, num_retries=0, max_fallbacks=2)
    with pytest.raises(Exception, match="down"):
        router.completion("a", MSG)


def test_routing_strategy_args() -> None:
    router = Router(model_list=[mock("a"), mock("a", "two")],
                    routing_strategy="latency-based-routing",
                    routing_strategy_args={"ttl": 30, "lowest_latency_buffer": 0.5})
    assert router.health.latency_ttl == 30.0
    assert text(router.completion("a", MSG)) in ("ok", "two")
    for bad, match in (({"tll": 3}, "tll"), ({"ttl": -1}, "ttl"),
                       ({"lowest_latency_buffer": "x"}, "lowest_latency_buffer")):
        with pytest.raises(RouterConfigError, match=match):
            Router(model_list=[mock("a")], routing_strategy="latency-based-routing",
                   routing_strategy_args=bad)
    with pytest.raises(RouterConfigError, match="do not apply to simple-shuffle"):
        Router(model_list=[mock("a")], routing_strategy_args={"ttl": 5})


def test_latency_ttl_forgets_old_measurements() -> None:
    router = Router(model_list=[mock("a")], routing_strategy="latency-based-routing",
                    routing_strategy_args={"ttl": 10})
    now = [100.0]
    router.health.clock = lambda: now[0]
    dep = router.groups["a"][0]
    router.health.add_latency(dep, 2.0)
    assert router.health.latency(dep.id) == 2.0
    now[0] += 11
    assert router.health.latency(dep.id) is None


def test_pre_call_checks_skip_small_windows_then_fall_back() -> None:
    long_prompt = [{"role": "user", "content": "word " * 400}]
    small = mock("a", "small")
    small["model_info"] = {"max_input_tokens": 50}
    big = mock("a", "big")
    big["model_info"] = {"max_input_tokens": 100000}
    router = Router(model_list=[small, big], enable_pre_call_checks=True)
    for _ in range(5):
        assert text(router.completion("a", long_prompt)) == "big"
    assert text(router.completion("a", MSG)) in ("small", "big")
    only_small = Router(model_list=[small, mock("c", "from c")], enable_pre_call_checks=True,
                        context_window_fallbacks=[{"a": ["c"]}])
    assert text(only_small.completion("a", long_prompt)) == "from c"
    no_fallback = Router(model_list=[small], enable_pre_call_checks=True)
    with pytest.raises(ContextWindowExceededError, match="context window"):
        no_fallback.completion("a", long_prompt)
    assert text(Router(model_list=[small]).completion("a", long_prompt)) == "small"


def test_pre_call_checks_read_the_base_models_window() -> None:
    # a deployment under a custom name is checked against its base_model's window
    long_prompt = [{"role": "user", "content": "word " * 12000}]
    custom = mock("a", "custom", model="openai/my-deployment")
    custom["model_info"] = {"base_model": "gpt-4"}  # 8192 tokens
    big = mock("a", "big", model="openai/other")
    big["model_info"] = {"max_input_tokens": 100000}
    router = Router(model_list=[custom, big], enable_pre_call_checks=True)
    assert {text(router.completion("a", long_prompt)) for _ in range(5)} == {"big"}


def test_azures_gpt_35_turbo_has_its_own_4k_window() -> None:
    # Azure's gpt-35-turbo (0301/0613) holds 4k tokens, OpenAI's gpt-3.5-turbo 16k
    assert llmrelay.get_model_info("azure/gpt-35-turbo")["max_input_tokens"] == 4097
    assert llmrelay.get_model_info("gpt-3.5-turbo")["max_input_tokens"] == 16385
    prompt = [{"role": "user", "content": "word " * 6000}]
    small = mock("a", "small", model="azure/my-deployment")
    small["litellm_params"]["base_model"] = "azure/gpt-35-turbo"
    router = Router(model_list=[small, mock("a", "large", model="gpt-3.5-turbo-1106")],
                    enable_pre_call_checks=True)
    assert {text(router.completion("a", prompt)) for _ in range(5)} == {"large"}


def test_order_prefers_the_lowest_ready_order() -> None:
    first = mock("a", "first")
    first["litellm_params"]["order"] = 1
    second = mock("a", "second")
    second["litellm_params"]["order"] = 2
    router = Router(model_list=[second, first], num_retries=0)
    assert {text(router.completion("a", MSG)) for _ in range(10)} == {"first"}
    router.health.failed(router.groups["a"][1], Exception("down"), 0.1, 0)  # cools "first"
    assert text(router.completion("a", MSG)) == "second"
