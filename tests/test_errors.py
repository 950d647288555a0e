"""Error mapping, retries, timeouts and bad input."""

from __future__ import annotations

import asyncio

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply
from llmrelay import exceptions as ex
from llmrelay._retry import backoff_delay, is_retryable

MSGS = [{"role": "user", "content": "Hello"}]


@pytest.mark.parametrize(("status", "cls"), [
    (400, ex.BadRequestError), (401, ex.AuthenticationError), (403, ex.PermissionDeniedError),
    (404, ex.NotFoundError), (422, ex.UnprocessableEntityError), (429, ex.RateLimitError),
    (500, ex.InternalServerError), (503, ex.ServiceUnavailableError),
])
def test_status_maps_to_class(fake: FakeOpenAI, openai_args: dict[str, str], status: int,
                              cls: type[Exception]) -> None:
    fake.enqueue(Reply.error(status, f"upstream says {status}"))
    with pytest.raises(cls) as info:
        llmrelay.completion(model="gpt-4o", messages=MSGS, **openai_args)
    err = info.value
    assert isinstance(err, llmrelay.LLMRelayError)
    assert err.status_code == status
    assert err.message == f"upstream says {status}"
    assert err.llm_provider == "openai" and err.model == "gpt-4o"


def test_async_status_mapping(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    fake.enqueue(Reply.error(401, "bad key", type="invalid_api_key"))
    with pytest.raises(llmrelay.AuthenticationError):
        asyncio.run(llmrelay.acompletion(model="gpt-4o", messages=MSGS, **openai_args))


def test_context_window_and_content_policy(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    fake.enqueue(Reply.error(400, "This model's maximum context length is 8192 tokens",
                             code="context_length_exceeded"))
    with pytest.raises(llmrelay.ContextWindowExceededError):
        llmrelay.completion(model="gpt-4o", messages=MSGS, **openai_args)
    fake.enqueue(Reply.error(400, "blocked", code="content_policy_violation"))
    with pytest.raises(llmrelay.ContentPolicyViolationError):
        llmrelay.completion(model="gpt-4o", messages=MSGS, **openai_args)


def test_html_error_page_and_invalid_json(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    fake.enqueue(Reply(status=502, body=b"<html><body>Bad Gateway</body></html>",
                       headers={"Content-Type": "text/html"}))
    with pytest.raises(llmrelay.ServiceUnavailableError) as info:
        llmrelay.completion(model="gpt-4o", messages=MSGS, **openai_args)
    assert "Bad Gateway" in str(info.value)
    fake.enqueue(Reply(status=200, body=b"{not json", headers={"Content-Type": "application/json"}))
    with pytest.raises(llmrelay.APIConnectionError) as info2:
        llmrelay.completion(model="gpt-4o", messages=MSGS, **openai_args)
    assert "{not json" in str(info2.value) and info2.value.status_code == 200
    fake.enqueue(Reply(status=200, json={"unexpected": True}))
    with pytest.raises(llmrelay.APIConnectionError):
        llmrelay.completion(model="gpt-4o", messages=MSGS, **openai_args)


def test_truncated_stream_raises(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    chunk = ('{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
             '"choices":[{"index":0,"delta":{"content":"par"},"finish_reason":null}]}')
    fake.enqueue(Reply(stream_lines=[f"data: {chunk}"], truncate=True))
    stream = llmrelay.completion(model="gpt-4o", messages=MSGS, stream=True, **openai_args)
    with pytest.raises(llmrelay.APIConnectionError):
        list(stream)
    fake.enqueue(Reply(stream_lines=[f"data: {chunk}"], done=False))
    with pytest.raises(llmrelay.APIConnectionError, match="before its final event"):
        list(llmrelay.completion(model="gpt-4o", messages=MSGS, stream=True, **openai_args))

    async def main() -> None:
        s = await llmrelay.acompletion(model="gpt-4o", messages=MSGS, stream=True,
                                       **openai_args)
        async for _ in s:
            pass

    fake.enqueue(Reply(stream_lines=[f"data: {chunk}"], truncate=True))
    with pytest.raises(llmrelay.APIConnectionError):
        asyncio.run(main())


def test_stream_error_status(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    fake.enqueue(Reply.error(429, "slow"))
    with pytest.raises(llmrelay.RateLimitError):
        llmrelay.completion(model="gpt-4o", messages=MSGS, stream=True, **openai_args)


def test_retries_happen_and_stop(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    fake.enqueue(Reply.error(500, "a"), Reply.error(429, "b", headers={"Retry-After": "0"}))
    r = llmrelay.completion(model="gpt-4o", messages=MSGS, num_retries=2, **openai_args)
    assert r.choices[0].message.content == "Hello from fake"
    assert fake.request_count == 3
    fake.reset()
    fake.enqueue(*[Reply.error(503, "down")] * 3)
    with pytest.raises(llmrelay.ServiceUnavailableError) as info:
        llmrelay.completion(model="gpt-4o", messages=MSGS, num_retries=2, **openai_args)
    assert fake.request_count == 3 and info.value.num_retries == 2
    fake.reset()
    fake.enqueue(Reply.error(400, "bad"))
    with pytest.raises(llmrelay.BadRequestError):
        llmrelay.completion(model="gpt-4o", messages=MSGS, num_retries=3, **openai_args)
    assert fake.request_count == 1  # a 400 is not retried


def test_exhausted_quota_is_not_retried(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    fake.enqueue(Reply.error(429, "You exceeded your current quota, please check your plan "
                             "and billing details.", type="insufficient_quota",
                             code="insufficient_quota", headers={"Retry-After": "0"}))
    with pytest.raises(llmrelay.RateLimitError) as info:
        llmrelay.completion(model="gpt-4o", messages=MSGS, num_retries=3, **openai_args)
    assert fake.request_count == 1 and info.value.num_retries == 0
    assert info.value.code == "insufficient_quota"


def test_async_retries(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    fake.enqueue(Reply.error(502, "a"))
    r = asyncio.run(llmrelay.acompletion(model="gpt-4o", messages=MSGS, num_retries=1,
                                         **openai_args))
    assert r.choices[0].message.content == "Hello from fake" and fake.request_count == 2


def test_backoff_and_retry_after() -> None:
    e = llmrelay.RateLimitError("x", response_headers={"retry-after": "3"})
    assert backoff_delay(0, e) == 3.0
    e2 = llmrelay.RateLimitError("x", response_headers={"retry-after-ms": "250"})
    assert backoff_delay(5, e2) == 0.25
    delays = [backoff_delay(i, None, 0.5) for i in range(6)]
    for i, d in enumerate(delays):
        assert min(0.5 * 2 ** i, 8.0) * 0.5 * 0.999 <= d <= min(0.5 * 2 ** i, 8.0) * 1.001
    assert is_retryable(llmrelay.Timeout("t")) and not is_retryable(llmrelay.BadRequestError("b"))


def test_timeout_fires(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    fake.enqueue(Reply(delay=2.0))
    with pytest.raises(llmrelay.Timeout):
        llmrelay.completion(model="gpt-4o", messages=MSGS, timeout=0.2, **openai_args)
    fake.enqueue(Reply(delay=2.0))
    with pytest.raises(llmrelay.Timeout):
        asyncio.run(llmrelay.acompletion(model="gpt-4o", messages=MSGS, timeout=0.2,
                                         **openai_args))
    import httpx

    fake.enqueue(Reply(delay=2.0))
    with pytest.raises(llmrelay.Timeout):
        llmrelay.completion(model="gpt-4o", messages=MSGS, timeout=httpx.Timeout(0.2),
                            **openai_args)


def test_connection_refused_maps() -> None:
    with pytest.raises(llmrelay.APIConnectionError):
        llmrelay.completion(model="gpt-4o", messages=MSGS, api_base="http://127.0.0.1:9/v1",
                            api_key="sk-x-1234567890")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"model": "", "messages": MSGS}, "`model` is required"),
    ({"model": "gpt-4o"}, "`messages` is required"),
    ({"model": "gpt-4o", "messages": "hi"}, "must be a list"),
    ({"model": "gpt-4o", "messages": [{"content": "x"}]}, "has no 'role'"),
    ({"model": "gpt-4o", "messages": ["x"]}, r"messages\[0\] must be a dict"),
    ({"model": "gpt-4o", "messages": [{"role": "user"}]}, "has no 'content'"),
    ({"model": "nosuch/model", "messages": MSGS}, "unknown provider prefix 'nosuch'"),
    ({"model": "mystery-model", "messages": MSGS}, "cannot tell which provider"),
])
def test_bad_input_is_named_before_io(fake: FakeOpenAI, kwargs: dict[str, object],
                                      match: str) -> None:
    with pytest.raises(llmrelay.BadRequestError, match=match):
        llmrelay.completion(api_base=fake.url, api_key="sk-1234567890ab", **kwargs)  # type: ignore[arg-type]
    assert fake.request_count == 0


def test_missing_api_key(fake: FakeOpenAI) -> None:
    with pytest.raises(llmrelay.AuthenticationError, match="OPENAI_API_KEY"):
        llmrelay.completion(model="gpt-4o", messages=MSGS)
    with pytest.raises(llmrelay.AuthenticationError, match="GROQ_API_KEY"):
        llmrelay.completion(model="groq/llama3", messages=MSGS)
    assert fake.request_count == 0


def test_unsupported_params(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    with pytest.raises(llmrelay.UnsupportedParamsError, match="tools"):
        llmrelay.embedding(model="text-embedding-3-small", input="x", tools=[], **openai_args)
    llmrelay.embedding(model="text-embedding-3-small", input="x", tools=[], drop_params=True,
                       **openai_args)
    assert fake.last.body is not None and "tools" not in fake.last.body
    llmrelay.drop_params = True
    llmrelay.embedding(model="text-embedding-3-small", input="x", temperature=1, **openai_args)
    assert "temperature" not in fake.last.body


def test_openai_error_body() -> None:
    err = llmrelay.RateLimitError("slow down", code="rate_limit")
    # LiteLLM's error type for a 429 (its proxy and clients reading `e.type` expect it)
    assert err.to_openai_error() == {"error": {"message": "slow down",
                                               "type": "throttling_error", "param": None,
                                               "code": "rate_limit"}}


def test_every_error_has_a_response_and_debug_info() -> None:
    # LiteLLM's (the OpenAI SDK's) errors carry .response; code reads its status and headers
    err = llmrelay.RateLimitError("slow down", llm_provider="openai", model="gpt-4o",
                                  response_headers={"retry-after": "3"},
                                  response_body='{"error": "slow"}')
    assert err.response.status_code == 429
    assert err.response.headers["retry-after"] == "3"
    assert "slow" in err.response.text
    assert llmrelay.APIConnectionError("cut").response.status_code == 500
    assert "gpt-4o" in err.litellm_debug_info and "openai" in err.litellm_debug_info
    given = llmrelay.BadRequestError("x", litellm_debug_info="mine")
    assert given.litellm_debug_info == "mine"
    with pytest.raises(llmrelay.ContentPolicyViolationError) as info:
        llmrelay.completion(model="azure/gpt-4o", messages=[{"role": "user", "content": "x"}],
                            mock_response="Exception: content_filter_policy")
    assert info.value.response.status_code == 400


def test_errors_are_the_openai_sdks_once_openai_is_loaded() -> None:
    # LiteLLM documents that its errors inherit from the OpenAI SDK's, so existing
    # `except openai.RateLimitError:` handlers keep working.
    openai = pytest.importorskip("openai")
    with pytest.raises(openai.RateLimitError) as info:
        llmrelay.completion(model="gpt-4o", messages=[{"role": "user", "content": "x"}],
                            mock_response="llmrelay.RateLimitError")
    assert isinstance(info.value, llmrelay.RateLimitError)
    assert info.value.status_code == 429 and info.value.response.status_code == 429
    for ours, theirs in ((ex.Timeout, openai.APITimeoutError),
                         (ex.ContextWindowExceededError, openai.BadRequestError),
                         (ex.ServiceUnavailableError, openai.InternalServerError),
                         (ex.AuthenticationError, openai.AuthenticationError),
                         (ex.APIError, openai.APIError)):
        assert issubclass(ours, theirs), ours
    assert not issubclass(ex.BudgetExceededError, openai.OpenAIError)
    err = ex.NotFoundError("gone", llm_provider="openai", response_headers={"x-request-id": "r1"})
    assert err.request_id == "r1" and err.request is not None


def test_a_parameter_that_is_not_json_is_a_bad_request(fake: FakeOpenAI,
                                                       openai_args: dict[str, str]) -> None:
    with pytest.raises(llmrelay.BadRequestError, match="cannot be sent as JSON"):
        llmrelay.completion(model="openai/gpt-4o", messages=[{"role": "user", "content": "x"}],
                            my_option=object(), **openai_args)
