"""LiteLLM's environment and setup helpers: validate_environment, check_valid_key,
get_secret, get_valid_models, enable/update/disable_cache, trim_messages,
model_alias_map and organization (against the fake OpenAI server on 127.0.0.1)."""

from __future__ import annotations

from typing import Any

import pytest

import llmrelay
import llmrelay.utils
from fakes.openai_server import FakeOpenAI, Reply

MSGS = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_API_KEY", "AZURE_API_BASE",
                "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "VERTEXAI_PROJECT",
                "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT", "VERTEXAI_LOCATION",
                "VERTEX_LOCATION", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY",
                "OPENAI_ORGANIZATION", "OPENAI_ORG_ID"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


# ---- validate_environment ----------------------------------------------------------------
@pytest.mark.parametrize(("model", "missing"), [
    ("gpt-4o", ["OPENAI_API_KEY"]),
    ("openai/gpt-4o", ["OPENAI_API_KEY"]),
    ("anthropic/claude-3-5-haiku-latest", ["ANTHROPIC_API_KEY"]),
    ("azure/my-deployment", ["AZURE_API_BASE", "AZURE_API_KEY"]),
    ("bedrock/anthropic.claude-v2", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]),
    ("vertex_ai/gemini-1.5-pro", ["VERTEXAI_PROJECT", "VERTEXAI_LOCATION"]),
    ("gemini/gemini-2.0-flash", ["GEMINI_API_KEY"]),
    ("groq/llama-3.1-8b-instant", ["GROQ_API_KEY"]),
    ("ollama/llama3", []),
    ("mock/anything", []),
])
def test_validate_environment_names_what_is_missing(no_env: pytest.MonkeyPatch, model: str,
                                                     missing: list[str]) -> None:
    assert llmrelay.validate_environment(model=model) == {
        "keys_in_environment": not missing, "missing_keys": missing}


def test_validate_environment_counts_the_environment_and_arguments(
        no_env: pytest.MonkeyPatch) -> None:
    no_env.setenv("OPENAI_API_KEY", "sk-from-env")
    assert llmrelay.validate_environment("gpt-4o") == {"keys_in_environment": True,
                                                       "missing_keys": []}
    assert llmrelay.validate_environment("anthropic/claude-3-5-haiku-latest",
                                         api_key="sk-ant-x")["keys_in_environment"]
    only_base = llmrelay.validate_environment("azure/dep", api_base="https://x.example")
    assert only_base == {"keys_in_environment": False, "missing_keys": ["AZURE_API_KEY"]}
    no_env.setenv("AWS_PROFILE", "dev")  # the credential chain has other sources
    assert llmrelay.validate_environment("bedrock/amazon.titan-text-express-v1")[
        "keys_in_environment"]


def test_validate_environment_without_or_with_an_unknown_model() -> None:
    assert llmrelay.validate_environment() == {"keys_in_environment": False,
                                               "missing_keys": []}
    assert llmrelay.validate_environment("nosuchprovider/x") == {
        "keys_in_environment": False, "missing_keys": []}


# ---- check_valid_key ---------------------------------------------------------------------
def test_check_valid_key_makes_one_small_call(fake: FakeOpenAI) -> None:
    assert llmrelay.check_valid_key(model="openai/gpt-4o-mini",
                                    api_key="sk-test-0123456789abcdef") is False  # no base
    llmrelay.api_base = fake.url
    try:
        assert llmrelay.check_valid_key("openai/gpt-4o-mini", "sk-test-0123456789abcdef")
        sent = fake.last
        assert sent is not None and sent.body is not None
        assert sent.body["max_tokens"] == 10
        assert sent.headers["authorization"] == "Bearer sk-test-0123456789abcdef"
        fake.enqueue(Reply.error(401, "Incorrect API key provided", "invalid_request_error",
                                 "invalid_api_key"))
        assert llmrelay.check_valid_key("openai/gpt-4o-mini", "sk-wrong") is False
    finally:
        llmrelay.api_base = None


# ---- get_secret / get_valid_models -------------------------------------------------------
def test_get_secret_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMRELAY_TEST_SECRET", "s3cret")
    assert llmrelay.get_secret("LLMRELAY_TEST_SECRET") == "s3cret"
    assert llmrelay.get_secret("os.environ/LLMRELAY_TEST_SECRET") == "s3cret"
    assert llmrelay.get_secret("LLMRELAY_TEST_UNSET_X") is None
    assert llmrelay.get_secret("LLMRELAY_TEST_UNSET_X", "fallback") == "fallback"


def test_get_valid_models_lists_models_of_providers_with_keys(
        no_env: pytest.MonkeyPatch) -> None:
    assert not any(llmrelay.model_cost[m]["provider"] == "openai"
                   for m in llmrelay.get_valid_models())
    no_env.setenv("OPENAI_API_KEY", "sk-from-env")
    found = llmrelay.get_valid_models()
    assert "gpt-4o" in found and "gpt-4o-mini" in found
    assert {llmrelay.model_cost[m]["provider"] for m in found} <= {
        "openai", "text-completion-openai", "ollama", "ollama_chat", "lm_studio",
        "hosted_vllm", "openai_like", "vertex_ai", "bedrock", "watsonx"}
    anthropic = llmrelay.get_valid_models(custom_llm_provider="anthropic",
                                          api_key="sk-ant-x")
    assert anthropic and all(llmrelay.model_cost[m]["provider"] == "anthropic"
                             for m in anthropic)


def test_get_valid_models_can_ask_the_provider(fake: FakeOpenAI) -> None:
    fake.models = ["gpt-4o-mini", "my-fine-tune"]
    found = llmrelay.get_valid_models(check_provider_endpoint=True,
                                      custom_llm_provider="openai",
                                      api_key="sk-test-0123456789abcdef", api_base=fake.url)
    assert found == ["openai/gpt-4o-mini", "openai/my-fine-tune"]
    assert fake.last is not None and fake.last.path.endswith("/models")
    dead = llmrelay.get_valid_models(check_provider_endpoint=True,
                                     custom_llm_provider="openai", api_key="sk-x",
                                     api_base="http://127.0.0.1:9/v1")
    assert dead == []


# ---- the module cache switches -----------------------------------------------------------
def test_enable_update_disable_cache(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    cache = llmrelay.enable_cache()
    assert llmrelay.cache is cache and cache.type == "local"
    assert llmrelay.enable_cache(type="local") is cache  # kept while one is set
    first = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    again = llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    assert fake.request_count == 1 and again.choices[0].message.content == (
        first.choices[0].message.content)
    newer = llmrelay.update_cache(type="local", supported_call_types=["embedding"])
    assert llmrelay.cache is newer and newer is not cache
    llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    assert fake.request_count == 2  # chat is no longer cached
    llmrelay.disable_cache()
    assert llmrelay.cache is None
    with pytest.raises(ValueError, match="unknown cache type 'bogus'"):
        llmrelay.update_cache(type="bogus")
    assert llmrelay.cache is None


# ---- trim_messages -----------------------------------------------------------------------
def _conversation() -> list[dict[str, Any]]:
    turns = [{"role": "user" if i % 2 == 0 else "assistant",
              "content": " ".join(f"w{i}_{j}" for j in range(60))} for i in range(10)]
    return [{"role": "system", "content": "You are a helpful assistant."}, *turns]


def test_trim_messages_keeps_system_and_newest_within_budget() -> None:
    msgs = _conversation()
    before = [dict(m) for m in msgs]
    out = llmrelay.utils.trim_messages(msgs, model="gpt-4o", max_tokens=300)
    assert msgs == before  # the input is not changed
    assert llmrelay.token_counter(model="gpt-4o", messages=out) <= 300
    assert out[0] == msgs[0] and out[-1] == msgs[-1]
    assert out[-3:] == msgs[-3:]
    cut = out[1]
    assert ".." in cut["content"] and cut["role"] == "user"
    assert cut["content"].startswith("w6_0 ") and cut["content"].endswith(" w6_59")
    trimmed, left = llmrelay.utils.trim_messages(msgs, model="gpt-4o", max_tokens=300,
                                                 return_response_tokens=True)
    assert trimmed == out and left == 300 - llmrelay.token_counter(model="gpt-4o",
                                                                   messages=out)


def test_trim_messages_budget_from_the_model() -> None:
    msgs = _conversation()
    assert llmrelay.utils.trim_messages(msgs, model="gpt-4o") == msgs  # 0.75 of 128k
    assert llmrelay.utils.trim_messages(msgs, model="no-such-model-x") == msgs
    small = llmrelay.utils.trim_messages(msgs, max_tokens=100, trim_ratio=0.5)
    assert llmrelay.token_counter(messages=small) <= 100
    with pytest.raises(ValueError, match="trim_ratio"):
        llmrelay.utils.trim_messages(msgs, model="gpt-4o", trim_ratio=0)


def test_trim_messages_shortens_one_long_message_or_system_prompt() -> None:
    long = [{"role": "user", "content": " ".join(f"x{j}" for j in range(300))}]
    out = llmrelay.utils.trim_messages(long, model="gpt-4o", max_tokens=50)
    assert len(out) == 1 and llmrelay.token_counter(model="gpt-4o", messages=out) <= 50
    assert out[0]["content"].startswith("x0 x1 ") and out[0]["content"].endswith(" x299")
    system = [{"role": "system", "content": " ".join(f"s{j}" for j in range(300))},
              {"role": "user", "content": "hi"}]
    out = llmrelay.utils.trim_messages(system, model="gpt-4o", max_tokens=50)
    assert [m["role"] for m in out] == ["system"]
    assert llmrelay.token_counter(model="gpt-4o", messages=out) <= 50


# ---- model_alias_map and organization ----------------------------------------------------
def test_model_alias_map(fake: FakeOpenAI, openai_args: dict[str, str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llmrelay, "model_alias_map", {"house-model": "openai/gpt-4o-mini"})
    r = llmrelay.completion(model="house-model", messages=MSGS, **openai_args)
    assert fake.last is not None and fake.last.body is not None
    assert fake.last.body["model"] == "gpt-4o-mini"
    assert r.model.endswith("gpt-4o-mini")
    client = llmrelay.Client(model_alias_map={"mine": "mock/echo"})
    assert client.completion(model="mine", messages=MSGS).choices[0].message.content
    with pytest.raises(llmrelay.BadRequestError):  # the alias is the client's only
        llmrelay.Client().completion(model="mine", messages=MSGS)


def test_organization_header(fake: FakeOpenAI, openai_args: dict[str, str],
                             no_env: pytest.MonkeyPatch) -> None:
    def sent_org() -> str | None:
        assert fake.last is not None
        return fake.last.headers.get("openai-organization")

    llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    assert sent_org() is None
    llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, organization="org-call",
                        **openai_args)
    assert sent_org() == "org-call"
    no_env.setenv("OPENAI_ORGANIZATION", "org-env")
    llmrelay.embedding(model="openai/text-embedding-3-small", input=["a"], **openai_args)
    assert sent_org() == "org-env"
    no_env.setattr(llmrelay, "organization", "org-module")
    llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args)
    assert sent_org() == "org-module"
    llmrelay.completion(model="openai/gpt-4o-mini", messages=MSGS, **openai_args,
                        extra_headers={"OpenAI-Organization": "org-header"})
    assert sent_org() == "org-header"
    llmrelay.completion(model="groq/llama-3.1-8b-instant", messages=MSGS, **openai_args)
    assert sent_org() is None  # only OpenAI's own API bills organizations


def test_router_deployment_organization(fake: FakeOpenAI) -> None:
    router = llmrelay.Router(model_list=[{
        "model_name": "gpt", "litellm_params": {
            "model": "openai/gpt-4o-mini", "api_base": fake.url,
            "api_key": "sk-test-0123456789abcdef", "organization": "org-deployment"}}])
    router.completion(model="gpt", messages=MSGS)
    assert fake.last is not None
    assert fake.last.headers.get("openai-organization") == "org-deployment"


def test_litellm_names_at_the_top_level() -> None:
    import logging

    chunk: llmrelay.GenericStreamingChunk = {"text": "x", "is_finished": False}
    assert chunk["text"] == "x"
    assert llmrelay.Function(name="f", arguments="{}").name == "f"
    assert llmrelay.ChatCompletionMessageToolCall is llmrelay.utils.ChatCompletionMessageToolCall
    assert isinstance(llmrelay.verbose_logger, logging.Logger)
    assert llmrelay.suppress_debug_info is False
