"""``llmrelay.ahealth_check``: one small real call, ``{}`` (plus rate-limit headers) or
``{"error": ...}``, never an exception; no callbacks, no cache (fake OpenAI on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply

KEY = "sk-test-0123456789abcdef"


def check(params: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return asyncio.run(llmrelay.ahealth_check(params, **kw))


def test_a_model_that_answers(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(headers={"x-ratelimit-remaining-requests": "99",
                                "x-ratelimit-limit-tokens": "1000", "x-other": "no"}))
    out = check({"model": "openai/gpt-4o-mini", "api_base": fake.url, "api_key": KEY})
    assert out == {"x-ratelimit-remaining-requests": "99", "x-ratelimit-limit-tokens": "1000"}
    sent = fake.last
    assert sent is not None and sent.path.endswith("/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"


def test_failures_are_reported_not_raised(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply.error(401, "Incorrect API key provided", code="invalid_api_key"))
    out = check({"model": "openai/gpt-4o-mini", "api_base": fake.url, "api_key": "sk-bad"})
    assert out["error"].startswith("AuthenticationError: ") and "Incorrect API key" in out[
        "error"]
    assert "error" in check({"model": "openai/gpt-4o-mini", "api_key": KEY,
                             "api_base": "http://127.0.0.1:9/v1"})
    assert check({}) == {"error": "model_params has no 'model'"}
    assert "wildcard" in check({"model": "openai/*"})["error"]
    assert "no health check for mode 'video'" in check({"model": "mock/x"}, mode="video")[
        "error"]


def test_timeout() -> None:
    out = check({"model": "mock/slow", "mock_response": "hi", "mock_delay": 2},
                default_timeout=0.2)
    assert out == {"error": "no answer within 0.2 s"}


def test_mode_from_the_table_or_given(fake: FakeOpenAI) -> None:
    params = {"api_base": fake.url, "api_key": KEY}
    assert check({"model": "openai/text-embedding-3-small", **params}) == {}
    assert fake.last is not None and fake.last.path.endswith("/embeddings")
    assert check({"model": "openai/my-embedder", **params}, mode="embedding") == {}
    assert fake.last.path.endswith("/embeddings")
    assert check({"model": "openai/gpt-3.5-turbo-instruct", **params},
                 mode="completion") == {}
    assert fake.last.path.endswith("/completions")
    assert check({"model": "openai/dall-e-3", **params}, mode="image_generation") == {}
    assert fake.last.path.endswith("/images/generations")


def test_no_callbacks_and_no_cache(fake: FakeOpenAI) -> None:
    seen: list[Any] = []
    llmrelay.success_callback = [lambda *a: seen.append(a)]
    llmrelay.cache = llmrelay.Cache()
    params = {"model": "openai/gpt-4o-mini", "api_base": fake.url, "api_key": KEY}
    assert check(params) == {} and check(params) == {}
    llmrelay.flush(5)
    assert fake.request_count == 2 and seen == []


@pytest.mark.parametrize("name", ["api_key", "aws_secret_access_key", "vertex_credentials",
                                  "azure_ad_token", "password", "messages",
                                  "langfuse_secret", "aws_session_token"])
def test_display_params_hide_secrets(name: str) -> None:
    from llmrelay.health_check import display_params

    shown = display_params({"model": "openai/x", "api_base": "https://b", name: "secret",
                            "max_tokens": 5})
    assert shown == {"model": "openai/x", "api_base": "https://b", "max_tokens": 5}
