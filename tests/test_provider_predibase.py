"""Predibase through its OpenAI-compatible endpoint: the per-tenant, per-deployment URL,
the adapter as the request's model, streams and errors, against FakeOpenAI over HTTP."""

from __future__ import annotations

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply

MSGS = [{"role": "user", "content": "Hello"}]
KEY = "pb_test_key_0123"


def test_chat_goes_to_the_tenants_deployment(fake: FakeOpenAI) -> None:
    # the base model is asked for with an empty model, which Predibase accepts
    fake.enqueue(Reply(json={"id": "c1", "object": "chat.completion", "created": 1,
                             "model": "llama-3-8b-instruct", "choices": [{
                                 "index": 0, "finish_reason": "stop", "message": {
                                     "role": "assistant", "content": "Hi from Predibase"}}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 3,
                                       "total_tokens": 4}}))
    r = llmrelay.completion(model="predibase/llama-3-8b-instruct", messages=MSGS,
                            api_base=fake.base, api_key=KEY, tenant_id="t-42",
                            max_tokens=20)
    assert r.choices[0].message.content == "Hi from Predibase"
    assert fake.last.path == "/t-42/deployments/v2/llms/llama-3-8b-instruct/v1/chat/completions"
    assert fake.last.headers["authorization"] == f"Bearer {KEY}"
    assert fake.last.body["model"] == "" and fake.last.body["max_tokens"] == 20
    assert "tenant_id" not in fake.last.body


def test_adapter_env_and_stream(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDIBASE_API_KEY", KEY)
    monkeypatch.setenv("PREDIBASE_TENANT_ID", "t-env")
    monkeypatch.setenv("PREDIBASE_API_BASE", fake.base)
    chunks = list(llmrelay.completion(model="predibase/qwen3-8b", messages=MSGS, stream=True,
                                      adapter_id="sentiment/3"))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert fake.last.path.startswith("/t-env/deployments/v2/llms/qwen3-8b/v1/")
    assert fake.last.body["model"] == "sentiment/3"


def test_what_is_missing_is_named_before_sending(fake: FakeOpenAI,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PREDIBASE_API_KEY", "PREDIBASE_API_TOKEN", "PREDIBASE_TENANT_ID"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(llmrelay.BadRequestError, match="tenant"):
        llmrelay.completion(model="predibase/m", messages=MSGS, api_key=KEY,
                            api_base=fake.base)
    with pytest.raises(llmrelay.AuthenticationError, match="PREDIBASE_API_KEY"):
        llmrelay.completion(model="predibase/m", messages=MSGS, tenant_id="t",
                            api_base=fake.base)
    assert fake.request_count == 0
    fake.enqueue(Reply.error(429, "slow down", type="rate_limit_error"))
    with pytest.raises(llmrelay.RateLimitError, match="slow down"):
        llmrelay.completion(model="predibase/m", messages=MSGS, api_key=KEY, tenant_id="t",
                            api_base=fake.base, num_retries=0)
