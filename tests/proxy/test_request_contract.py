"""The request contract: every parameter the official openai SDK can send is forwarded
(or deliberately refused), values are range-checked with OpenAI's error shape, SDK options,
mocks, credentials and unknown fields are refused unless an admin allows them (config-wide
or per key)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from asgi_support import MOCK, QUIET, InProcess, in_process, upstream

from fakes.openai_server import Reply
from llmrelay.proxy.contract import ENDPOINTS
from llmrelay.proxy.contract.policy import CREDENTIALS, GATEWAY, MOCKS, OPTIONS

MESSAGES = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"


@pytest.fixture
async def proxy(tmp_path: Path, fake: Any) -> AsyncIterator[InProcess]:
    config = {"model_list": [upstream(fake), upstream(fake, "text-embedding-3-small"),
                             upstream(fake, "gpt-3.5-turbo-instruct"), MOCK], **QUIET}
    async with in_process(tmp_path, config) as p:
        yield p


def _error(r: Any, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    return dict(err)


# ---- every parameter of the installed openai SDK is accounted for ------------------------
def _sdk_params(method: Any) -> set[str]:
    skip = {"self", "extra_headers", "extra_query", "extra_body", "timeout"}  # client-side
    return {p for p in inspect.signature(method).parameters if p not in skip}


@pytest.mark.parametrize(("call_type", "method"), [
    ("completion", openai.resources.chat.completions.Completions.create),
    ("text_completion", openai.resources.completions.Completions.create),
    ("embeddings", openai.resources.embeddings.Embeddings.create),
])
def test_every_openai_sdk_parameter_is_in_the_contract(call_type: str, method: Any) -> None:
    endpoint = ENDPOINTS[call_type]
    known = set(endpoint.required) | set(endpoint.params) | set(GATEWAY)
    missing = _sdk_params(method) - known
    assert not missing, f"openai SDK parameters the {call_type} contract does not cover"


async def test_all_chat_parameters_from_the_sdk_are_accepted(proxy: InProcess,
                                                              fake: Any) -> None:
    client = proxy.openai()
    r = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "ann"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"}],
        frequency_penalty=0.5, presence_penalty=-0.5, logit_bias={"50256": -100},
        logprobs=True, top_logprobs=3, max_completion_tokens=50, max_tokens=50, n=2,
        metadata={"trace": "t1"}, modalities=["text"], parallel_tool_calls=False,
        prediction={"type": "content", "content": "x"}, reasoning_effort="low",
        response_format={"type": "json_object"}, seed=7, service_tier="auto", stop=["\n"],
        store=False, stream=False, temperature=0.3, top_p=0.9, user="u-1",
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        tool_choice="auto", verbosity="low", prompt_cache_key="k", safety_identifier="s",
        web_search_options={})
    assert r.choices[0].message.content
    sent = fake.last.body
    for name, value in (("temperature", 0.3), ("seed", 7), ("user", "u-1"), ("n", 2),
                        ("reasoning_effort", "low"), ("prompt_cache_key", "k"),
                        ("logit_bias", {"50256": -100}), ("stop", ["\n"])):
        assert sent[name] == value, name
    assert "metadata" not in sent  # LiteLLM's meaning: for the proxy and its callbacks


async def test_text_and_embedding_parameters(proxy: InProcess, fake: Any) -> None:
    client = proxy.openai()
    await client.completions.create(model="gpt-3.5-turbo-instruct", prompt=["a", "b"],
                                    best_of=1, echo=False, logprobs=2, suffix="!",
                                    max_tokens=5, temperature=1.5)
    assert fake.last.body["logprobs"] == 2
    await client.embeddings.create(model="text-embedding-3-small", input=[[1, 2], [3]],
                                   dimensions=8, encoding_format="float", user="u")
    assert fake.last.body["dimensions"] == 8


# ---- values are range-checked, in OpenAI's error shape --------------------------------------
@pytest.mark.parametrize(("extra", "param", "code"), [
    ({"temperature": 2.5}, "temperature", "decimal_above_max_value"),
    ({"temperature": -0.1}, "temperature", "decimal_below_min_value"),
    ({"temperature": "hot"}, "temperature", "invalid_type"),
    ({"top_p": 1.5}, "top_p", "decimal_above_max_value"),
    ({"presence_penalty": 3}, "presence_penalty", "decimal_above_max_value"),
    ({"frequency_penalty": -2.5}, "frequency_penalty", "decimal_below_min_value"),
    ({"n": 0}, "n", "integer_below_min_value"),
    ({"n": 129}, "n", "integer_above_max_value"),
    ({"n": 200000}, "n", "integer_above_max_value"),
    ({"n": 1.5}, "n", "invalid_type"),
    ({"max_tokens": 0}, "max_tokens", "integer_below_min_value"),
    ({"max_tokens": 10**30}, "max_tokens", "integer_above_max_value"),
    ({"top_logprobs": 21}, "top_logprobs", "integer_above_max_value"),
    ({"logit_bias": {"1": 101}}, "logit_bias.1", "decimal_above_max_value"),
    ({"stream": "yes"}, "stream", "invalid_type"),
    ({"stop": [1]}, "stop", "invalid_type"),
    ({"tools": [{"type": "function"}] * 129}, "tools", "array_above_max_length"),
    ({"tools": [{"function": {}}]}, "tools[0].type", "missing_required_parameter"),
    ({"tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
    ({"response_format": {"type": "yaml"}}, "response_format.type", "invalid_value"),
    ({"stream_options": {"include_usage": "yes"}}, "stream_options.include_usage",
     "invalid_type"),
    ({"messages": []}, "messages", "array_below_min_length"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role",
     "invalid_value"),
    ({"messages": [{"content": "x"}]}, "messages[0].role", "missing_required_parameter"),
    ({"messages": [{"role": "user"}]}, "messages[0].content", "missing_required_parameter"),
    ({"messages": [{"role": "user", "content": [{"text": "x"}]}]},
     "messages[0].content[0].type", "missing_required_parameter"),
    ({"messages": [{"role": "user", "content": {"a": 1}}]}, "messages[0].content",
     "invalid_type"),
    ({"model": ""}, "model", "string_below_min_length"),
    ({"metadata": "x"}, "metadata", "invalid_type"),
    ({"tags": "x"}, "tags", "invalid_type"),
    ({"cache": {"no-cache": "yes"}}, "cache.no-cache", "invalid_type"),
    ({"cache": {"bogus": 1}}, "cache.bogus", "unknown_parameter"),
])
async def test_values_out_of_range(proxy: InProcess, fake: Any, extra: dict[str, Any],
                                   param: str, code: str) -> None:
    r = await proxy.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES, **extra})
    err = _error(r)
    assert (err["param"], err["code"]) == (param, code), err
    assert param.split(".")[0].split("[")[0] in err["message"]
    assert fake.request_count == 0


@pytest.mark.parametrize(("path", "body", "param", "code"), [
    ("/v1/embeddings", {"input": ["x"] * 2049}, "input", "array_above_max_length"),
    ("/v1/embeddings", {"input": []}, "input", "array_below_min_length"),
    ("/v1/embeddings", {"input": 5}, "input", "invalid_type"),
    ("/v1/embeddings", {"input": "x", "encoding_format": "hex"}, "encoding_format",
     "invalid_value"),
    ("/v1/embeddings", {"input": "x", "dimensions": 0}, "dimensions",
     "integer_below_min_value"),
    ("/v1/embeddings", {"input": "x", "stream": True}, "stream", "unknown_parameter"),
    ("/v1/completions", {"prompt": {"a": 1}}, "prompt", "invalid_type"),
    ("/v1/completions", {"prompt": "x", "best_of": 21}, "best_of",
     "integer_above_max_value"),
    ("/v1/completions", {"prompt": "x", "logprobs": True}, "logprobs", "invalid_type"),
])
async def test_other_endpoints_check_their_fields(proxy: InProcess, path: str,
                                                  body: dict[str, Any], param: str,
                                                  code: str) -> None:
    r = await proxy.post(path, {"model": "mock", **body})
    err = _error(r)
    assert (err["param"], err["code"]) == (param, code), err


async def test_big_n_and_many_inputs_are_refused_before_any_work(proxy: InProcess) -> None:
    r = await proxy.post(CHAT, {"model": "mock", "messages": MESSAGES, "n": 200000})
    assert "128" in _error(r)["message"]
    r = await proxy.post("/v1/embeddings", {"model": "mock", "input": ["x"] * 100000})
    assert "2048" in _error(r)["message"]
    r = await proxy.post(CHAT, {"model": "mock", "messages": MESSAGES, "n": 128})
    assert r.status_code == 200 and len(r.json()["choices"]) == 128


# ---- what a caller may set beyond OpenAI's parameters -----------------------------------------
@pytest.mark.parametrize("name", sorted({*OPTIONS, *MOCKS}))
async def test_sdk_options_and_mocks_are_refused_by_default(proxy: InProcess, fake: Any,
                                                            name: str) -> None:
    value = {"fallbacks": ["mock"], "context_window_fallbacks": ["mock"],
             "extra_body": {}, "mock_tool_calls": []}.get(name, 1)
    r = await proxy.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES, name: value})
    err = _error(r)
    assert (err["param"], err["code"]) == (name, "param_not_allowed")
    assert "allowed_request_params" in err["message"]
    assert fake.request_count == 0


@pytest.mark.parametrize("name", [*sorted(CREDENTIALS), "aws_secret_access_key",
                                  "vertex_credentials"])
async def test_credentials_are_refused_by_default(proxy: InProcess, name: str) -> None:
    r = await proxy.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES, name: "x"})
    err = _error(r)
    assert (err["param"], err["code"]) == (name, "param_not_allowed")
    assert "allow_client_side_credentials" in err["message"]


@pytest.mark.parametrize("name", ["callbacks", "litellm_logging_obj", "litellm_call_id",
                                  "custom_llm_provider", "proxy_server_request",
                                  "turn_off_message_logging", "model_list"])
async def test_internal_fields_are_always_refused(proxy: InProcess, name: str) -> None:
    r = await proxy.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES, name: "x"})
    assert (_error(r)["param"], r.json()["error"]["code"]) == (name, "param_not_allowed")


async def test_unknown_fields_are_refused_and_nulls_ignored(proxy: InProcess,
                                                            fake: Any) -> None:
    r = await proxy.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES, "tempreature": 1})
    err = _error(r)
    assert (err["param"], err["code"]) == ("tempreature", "unknown_parameter")
    assert "'tempreature'" in err["message"]
    r = await proxy.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES,
                                "something_new": None, "guardrails": None})
    assert r.status_code == 200, r.text


async def test_gateway_fields_and_provider_extras_are_accepted(proxy: InProcess,
                                                               fake: Any) -> None:
    r = await proxy.post(CHAT, {
        "model": "gpt-4o-mini", "messages": MESSAGES, "metadata": {"a": {"b": [1, 2]}},
        "litellm_metadata": {"c": 1}, "tags": ["t1", "t2"], "cache": {"no-cache": True},
        "caching": False, "top_k": 5, "user": "end-user"})
    assert r.status_code == 200, r.text
    assert fake.last.body["top_k"] == 5 and fake.last.body["user"] == "end-user"


async def test_metadata_depth_and_size_are_bounded(proxy: InProcess) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(20):
        node["a"] = {}
        node = node["a"]
    r = await proxy.post(CHAT, {"model": "mock", "messages": MESSAGES, "metadata": deep})
    assert (_error(r)["param"], r.json()["error"]["code"]) == ("metadata", "too_deep")
    r = await proxy.post(CHAT, {"model": "mock", "messages": MESSAGES,
                                "metadata": {"x": "y" * 70000}})
    assert _error(r)["code"] == "too_large"


async def test_sdk_can_still_send_extra_body_fields_when_allowed(tmp_path: Path,
                                                                 fake: Any) -> None:
    config = {"model_list": [upstream(fake)], **QUIET,
              "general_settings": {"allowed_request_params": ["repetition_penalty"]}}
    async with in_process(tmp_path, config) as p:
        r = await p.openai().chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_body={"repetition_penalty": 1.1})
        assert r.choices[0].message.content
        assert fake.last.body["repetition_penalty"] == 1.1
        with pytest.raises(openai.BadRequestError) as info:
            await p.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                     extra_body={"min_p": 0.1})
        assert info.value.body["param"] == "min_p"  # type: ignore[index]


async def test_config_allow_list_enables_options_and_mocks(tmp_path: Path, fake: Any) -> None:
    config = {"model_list": [upstream(fake)], **QUIET, "general_settings": {
        "allowed_request_params": ["num_retries", "mock_response"]}}
    async with in_process(tmp_path, config) as p:
        fake.enqueue(Reply.error(500, "down", headers={"Retry-After": "0"}),
                     Reply.error(500, "down", headers={"Retry-After": "0"}))
        r = await p.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES,
                                "num_retries": 2})
        assert r.status_code == 200 and fake.request_count == 3
        r = await p.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES,
                                "num_retries": 50})
        assert _error(r)["code"] == "integer_above_max_value"
        r = await p.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES,
                                "mock_response": "canned"})
        assert r.json()["choices"][0]["message"]["content"] == "canned"
        r = await p.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES, "timeout": 5})
        assert _error(r)["param"] == "timeout"  # not on this list


async def test_key_allow_list_widens_one_key_only(proxy: InProcess, fake: Any) -> None:
    wide = await proxy.new_key(metadata={"allowed_request_params": ["mock_response"]})
    narrow = await proxy.new_key()
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "mock_response": "free lunch"}
    r = await proxy.post(CHAT, body, key=wide)
    assert r.json()["choices"][0]["message"]["content"] == "free lunch"
    assert _error(await proxy.post(CHAT, body, key=narrow))["param"] == "mock_response"
    assert _error(await proxy.post(CHAT, body))["param"] == "mock_response"  # master too
    r = await proxy.post("/key/generate", {"metadata": {"allowed_request_params": ["api_key"]}})
    assert _error(r)["param"] == "metadata.allowed_request_params"


async def test_client_side_credentials_when_allowed(tmp_path: Path, fake: Any) -> None:
    config = {"model_list": [{"model_name": "gpt-4o-mini", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:9/v1",
        "api_key": "sk-config"}}], **QUIET,
        "general_settings": {"allow_client_side_credentials": True}}
    async with in_process(tmp_path, config) as p:
        r = await p.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES,
                                "api_base": fake.url, "api_key": "sk-callers-own"})
        assert r.status_code == 200, r.text
        assert fake.last.headers["authorization"] == "Bearer sk-callers-own"
        r = await p.post(CHAT, {"model": "gpt-4o-mini", "messages": MESSAGES,
                                "callbacks": ["x"]})
        assert _error(r)["param"] == "callbacks"


@pytest.mark.parametrize(("general", "problem"), [
    ({"allowed_request_params": "num_retries"}, "allowed_request_params"),
    ({"allowed_request_params": ["callbacks"]}, "internal"),
    ({"allowed_request_params": ["api_base"]}, "allow_client_side_credentials"),
    ({"allow_client_side_credentials": "yes"}, "allow_client_side_credentials"),
    ({"max_n": 0}, "max_n"),
    ({"max_embedding_inputs": 1.5}, "max_embedding_inputs"),
    ({"request_header_timeout": -1}, "request_header_timeout"),
    ({"require_auth_for_metrics_endpoint": "sometimes"}, "require_auth_for_metrics"),
])
def test_bad_contract_settings_stop_the_config(tmp_path: Path, general: dict[str, Any],
                                               problem: str) -> None:
    import yaml

    from llmrelay.proxy.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"model_list": [MOCK], "general_settings": general}))
    with pytest.raises(ConfigError, match=problem):
        load_config(str(path))


async def test_limits_come_from_the_config(tmp_path: Path) -> None:
    config = {"model_list": [MOCK], **QUIET, "general_settings": {
        "max_n": 2, "max_embedding_inputs": 3, "max_messages": 2}}
    async with in_process(tmp_path, config) as p:
        r = await p.post(CHAT, {"model": "mock", "messages": MESSAGES, "n": 3})
        assert "general_settings.max_n" in _error(r)["message"]
        r = await p.post("/v1/embeddings", {"model": "mock", "input": ["a"] * 4})
        assert _error(r)["code"] == "array_above_max_length"
        r = await p.post(CHAT, {"model": "mock", "messages": MESSAGES * 3})
        assert _error(r)["param"] == "messages"
        r = await p.post(CHAT, {"model": "mock", "messages": MESSAGES * 2, "n": 2})
        assert r.status_code == 200
