"""Azure OpenAI: deployment URLs, api-version and auth on top of the OpenAI wire."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply
from llmrelay.exceptions import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    RateLimitError,
    UnsupportedParamsError,
)
from llmrelay.providers.azure import AZURE_API_VERSION
from llmrelay.providers.base import Call
from llmrelay.providers.registry import get_provider, spec_for

MSGS = [{"role": "user", "content": "Hello"}]
KEY = "azure-key-0123456789abcdef"
PROVIDER = get_provider(spec_for("azure"))
FILTERED = {"error": {
    "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
               "management policy.", "type": None, "param": "prompt", "code": "content_filter",
    "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation",
                                  "content_filter_result": {"hate": {"filtered": True,
                                                                     "severity": "high"}}}}}


def make_call(messages: Any = MSGS, *, call_type: str = "completion", model: str = "my-gpt4o",
              api_base: str | None = "https://res.openai.azure.com", api_key: str | None = KEY,
              api_version: str | None = None, inp: Any = None, stream: bool = False,
              extra_headers: dict[str, str] | None = None, azure_ad_token: str | None = None,
              **params: Any) -> Call:
    return Call(call_type, model, spec_for("azure"), messages, inp, params, stream, api_base,
                api_key, api_version, extra_headers, azure_ad_token=azure_ad_token)


@pytest.fixture
def azure_args(fake: FakeOpenAI) -> dict[str, str]:
    return {"api_base": fake.base, "api_key": KEY}


def capture() -> list[tuple[dict[str, Any], Any]]:
    seen: list[tuple[dict[str, Any], Any]] = []
    llmrelay.success_callback = [lambda kw, resp, start, end: seen.append((kw, resp))]
    return seen


def price(model: str, prompt: int, completion: int) -> float:
    row = llmrelay.cost.lookup(model)
    assert row is not None
    return float(prompt * row["input_cost_per_token"] + completion * row["output_cost_per_token"])


# ---- translation -----------------------------------------------------------------------------
@pytest.mark.parametrize(("call_type", "path"), [
    ("completion", "chat/completions"), ("text_completion", "completions"),
    ("embedding", "embeddings")])
def test_urls_per_call_type(call_type: str, path: str) -> None:
    req = PROVIDER.build_request(make_call(call_type=call_type, inp="x"))
    assert req.url == (f"https://res.openai.azure.com/openai/deployments/my-gpt4o/{path}"
                       f"?api-version={AZURE_API_VERSION}")


def test_headers_body_and_version() -> None:
    req = PROVIDER.build_request(make_call(api_base="https://res.openai.azure.com/openai/",
                                           api_version="2025-01-01-preview", temperature=0.2,
                                           extra_headers={"X-Trace": "t"}))
    assert req.url.endswith("/openai/deployments/my-gpt4o/chat/completions"
                            "?api-version=2025-01-01-preview")
    assert req.headers["api-key"] == KEY and "Authorization" not in req.headers
    assert req.headers["X-Trace"] == "t"
    assert req.body == {"model": "my-gpt4o", "messages": MSGS, "temperature": 0.2}


def test_ad_token_is_a_bearer_header_never_a_body_field() -> None:
    call = make_call(api_key=None, azure_ad_token="eyJ0eXAi.token")
    req = PROVIDER.build_request(call)
    assert req.headers["Authorization"] == "Bearer eyJ0eXAi.token"
    assert "api-key" not in req.headers
    assert req.body is not None and "azure_ad_token" not in req.body
    assert "azure_ad_token" not in call.params  # what callbacks see as optional_params
    again = PROVIDER.build_request(call)  # a retried or re-routed call builds again
    assert again.headers["Authorization"] == "Bearer eyJ0eXAi.token"


def test_env_configuration_for_translation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://env.openai.azure.com/")
    monkeypatch.setenv("AZURE_API_VERSION", "2024-06-01")
    req = PROVIDER.build_request(make_call(api_base=None))
    assert req.url == ("https://env.openai.azure.com/openai/deployments/my-gpt4o/"
                       "chat/completions?api-version=2024-06-01")
    monkeypatch.setenv("AZURE_AD_TOKEN", "env-token")
    keyless = PROVIDER.build_request(make_call(api_key=None))
    assert keyless.headers["Authorization"] == "Bearer env-token"


def test_missing_endpoint_or_credentials_fail_before_io(fake: FakeOpenAI) -> None:
    with pytest.raises(BadRequestError, match="AZURE_API_BASE"):
        llmrelay.completion(model="azure/my-gpt4o", messages=MSGS, api_key=KEY)
    with pytest.raises(AuthenticationError, match="azure_ad_token"):
        llmrelay.completion(model="azure/my-gpt4o", messages=MSGS, api_base=fake.base)
    assert fake.request_count == 0


@pytest.mark.parametrize(("status", "body"), [
    (400, FILTERED),
    (403, {"error": {"message": "blocked", "code": "content_filter"}}),
    (400, {"error": {"message": "refused", "code": "bad", "innererror": {
        "code": "ResponsibleAIPolicyViolation"}}}),
])
def test_content_filter_errors(status: int, body: dict[str, Any]) -> None:
    exc = PROVIDER.map_error(make_call(), status, {}, json.dumps(body).encode())
    assert isinstance(exc, ContentPolicyViolationError)
    assert exc.status_code == status and exc.llm_provider == "azure"


def test_other_errors_keep_openai_mapping() -> None:
    exc = PROVIDER.map_error(make_call(), 429, {"retry-after": "1"}, json.dumps(
        {"error": {"message": "Rate limit is exceeded.", "code": "429"}}).encode())
    assert type(exc) is RateLimitError and exc.message == "Rate limit is exceeded."
    bad = PROVIDER.map_error(make_call(), 400, {}, b'{"error": {"message": "nope"}}')
    assert type(bad) is BadRequestError


# ---- end to end ------------------------------------------------------------------------------
def test_completion_end_to_end(fake: FakeOpenAI, azure_args: dict[str, str]) -> None:
    seen = capture()
    r = llmrelay.completion(model="azure/gpt-4o-mini", messages=MSGS, **azure_args)
    assert r.choices[0].message.content == "Hello from fake"
    rec = fake.last
    assert rec is not None
    assert rec.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert rec.query == {"api-version": AZURE_API_VERSION}
    assert rec.headers["api-key"] == KEY and "authorization" not in rec.headers
    assert llmrelay.flush(5)
    kw, resp = seen[0]
    assert kw["additional_args"]["complete_input_dict"] == rec.body
    assert kw["response_cost"] == pytest.approx(price("gpt-4o-mini", 10, 5))
    assert resp._hidden_params["custom_llm_provider"] == "azure"


def test_acompletion_with_ad_token(fake: FakeOpenAI) -> None:
    seen = capture()
    r = asyncio.run(llmrelay.acompletion(model="azure/gpt-4o", messages=MSGS,
                                         api_base=fake.base, azure_ad_token="tok-123456789",
                                         api_version="2024-08-01-preview"))
    assert r.choices[0].message.content == "Hello from fake"
    rec = fake.last
    assert rec is not None and rec.query["api-version"] == "2024-08-01-preview"
    assert rec.headers["authorization"] == "Bearer tok-123456789"
    assert rec.body is not None and "azure_ad_token" not in rec.body
    assert llmrelay.flush(5)
    kw = seen[0][0]
    assert kw["additional_args"]["complete_input_dict"] == rec.body
    assert kw["response_cost"] == pytest.approx(price("gpt-4o", 10, 5))
    assert "tok-123456789" not in json.dumps(kw["standard_logging_object"], default=str)
    assert "azure_ad_token" not in kw["optional_params"]


def test_streams_sync_and_async(fake: FakeOpenAI, azure_args: dict[str, str]) -> None:
    seen = capture()
    chunks = list(llmrelay.completion(model="azure/gpt-4o-mini", messages=MSGS, stream=True,
                                      **azure_args))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "Hello from fake"
    assert fake.last is not None and fake.last.body is not None
    assert fake.last.body["stream_options"] == {"include_usage": True}

    async def main() -> list[Any]:
        stream = await llmrelay.acompletion(model="azure/gpt-4o-mini", messages=MSGS,
                                            stream=True, **azure_args)
        return [c async for c in stream]

    achunks = asyncio.run(main())
    assert "".join(c.choices[0].delta.content or "" for c in achunks if c.choices) == \
        "Hello from fake"
    assert fake.last.path.endswith("/deployments/gpt-4o-mini/chat/completions")
    assert llmrelay.flush(5)
    assert len(seen) == 2
    for kw, _ in seen:
        assert kw["response_cost"] == pytest.approx(price("gpt-4o-mini", 10, 5))
        assert kw["additional_args"]["complete_input_dict"]["stream"] is True


def test_embedding_and_text_completion(fake: FakeOpenAI, azure_args: dict[str, str]) -> None:
    seen = capture()
    e = llmrelay.embedding(model="azure/text-embedding-3-small", input=["a b", "c"],
                           dimensions=4, **azure_args)
    assert [len(d.embedding) for d in e.data] == [4, 4]
    assert fake.last is not None
    assert fake.last.path == "/openai/deployments/text-embedding-3-small/embeddings"
    t = asyncio.run(llmrelay.atext_completion(model="azure/gpt-35-turbo-instruct", prompt="Hi",
                                              **azure_args))
    assert t.choices[0].text == "Hello from fake"
    assert fake.last.path == "/openai/deployments/gpt-35-turbo-instruct/completions"
    assert llmrelay.flush(5)
    row = llmrelay.cost.lookup("text-embedding-3-small")
    assert row is not None
    assert seen[0][0]["response_cost"] == pytest.approx(3 * row["input_cost_per_token"])


def test_unsupported_params(fake: FakeOpenAI, azure_args: dict[str, str]) -> None:
    with pytest.raises(UnsupportedParamsError, match="temperature"):
        llmrelay.embedding(model="azure/text-embedding-3-small", input="x", temperature=0.1,
                           **azure_args)
    assert fake.request_count == 0
    llmrelay.embedding(model="azure/text-embedding-3-small", input="x", temperature=0.1,
                       drop_params=True, **azure_args)
    assert fake.last is not None and "temperature" not in fake.last.body  # type: ignore[operator]


def test_content_filter_over_http(fake: FakeOpenAI, azure_args: dict[str, str]) -> None:
    fake.enqueue(Reply(status=400, json=FILTERED))
    with pytest.raises(ContentPolicyViolationError, match="content management policy"):
        llmrelay.completion(model="azure/gpt-4o", messages=MSGS, **azure_args)
    fake.enqueue(Reply(status=400, json=FILTERED))
    with pytest.raises(ContentPolicyViolationError):
        list(llmrelay.completion(model="azure/gpt-4o", messages=MSGS, stream=True,
                                 **azure_args))


def test_env_endpoint_and_key(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_API_BASE", fake.base)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-env-key-000000")
    r = llmrelay.completion(model="azure/gpt-4o", messages=MSGS)
    assert r.choices[0].message.content == "Hello from fake"
    assert fake.last is not None and fake.last.headers["api-key"] == "azure-env-key-000000"
