"""watsonx.ai: the IAM token exchange, chat, streams, embeddings and errors against
FakeWatsonx over HTTP, sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import llmrelay
from fakes.openai_server import Reply
from fakes.watsonx_server import FakeWatsonx
from llmrelay.exceptions import AuthenticationError, BadRequestError, RateLimitError
from llmrelay.providers.watsonx import auth

MODEL = "watsonx/ibm/granite-3-8b-instruct"
MSGS = [{"role": "user", "content": "Hello watsonx"}]
KEY = "ibm-cloud-key-0123"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeWatsonx]:
    with FakeWatsonx(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def wx(server: FakeWatsonx, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWatsonx]:
    server.reset()
    server.token_requests = 0
    auth.reset()
    monkeypatch.setenv("WATSONX_IAM_URL", server.iam_url)
    monkeypatch.setenv("WATSONX_URL", server.url)
    for var in ("WATSONX_APIKEY", "WATSONX_API_KEY", "WATSONX_TOKEN", "WATSONX_PROJECT_ID",
                "WATSONX_ZENAPIKEY"):
        monkeypatch.delenv(var, raising=False)
    yield server
    auth.reset()


def test_chat_exchanges_the_key_once_and_sends_the_token(wx: FakeWatsonx) -> None:
    r = llmrelay.completion(model=MODEL, messages=MSGS, api_key=KEY, project_id="p-1",
                            max_tokens=50, temperature=0.2)
    assert r.choices[0].message.content == "Hello from watsonx"
    assert r.model == "ibm/granite-3-8b-instruct"
    assert r.usage.completion_tokens == 3 and r.usage.prompt_tokens == 2
    token_req, chat = wx.requests
    assert token_req.path == "/identity/token" and KEY in token_req.raw.decode()
    assert chat.path == "/ml/v1/text/chat" and chat.query["version"]
    assert chat.body == {"messages": MSGS, "model_id": "ibm/granite-3-8b-instruct",
                         "project_id": "p-1", "max_tokens": 50, "temperature": 0.2}
    assert chat.headers["authorization"].startswith("Bearer wx-token-")
    llmrelay.completion(model=MODEL, messages=MSGS, api_key=KEY, project_id="p-1")
    assert wx.token_requests == 1  # the token is kept until it is about to expire


def test_an_expiring_token_is_exchanged_again(wx: FakeWatsonx) -> None:
    wx.token_lifetime = 30  # less than the renewal margin
    try:
        for _ in range(2):
            llmrelay.completion(model=MODEL, messages=MSGS, api_key=KEY, project_id="p")
    finally:
        wx.token_lifetime = 3600
    assert wx.token_requests == 2


def test_stream_and_max_tokens(wx: FakeWatsonx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATSONX_APIKEY", KEY)
    monkeypatch.setenv("WATSONX_PROJECT_ID", "p-env")
    chunks = list(llmrelay.completion(model=MODEL, messages=MSGS, stream=True,
                                      max_completion_tokens=2))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert wx.last.path == "/ml/v1/text/chat_stream"
    assert wx.last.body["project_id"] == "p-env" and wx.last.body["max_tokens"] == 2


def test_async_chat_stream_and_embedding(wx: FakeWatsonx) -> None:
    async def run() -> tuple[str, str, int]:
        r = await llmrelay.acompletion(model=MODEL, messages=MSGS, api_key=KEY,
                                       space_id="s-1")
        s = await llmrelay.acompletion(model=MODEL, messages=MSGS, api_key=KEY,
                                       space_id="s-1", stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
        e = await llmrelay.aembedding(model="watsonx/ibm/slate-30m-english-rtrvr",
                                      input=["one", "two words"], api_key=KEY,
                                      project_id="p-1")
        return r.choices[0].message.content, text, len(e.data)

    content, text, n = asyncio.run(run())
    assert content == text == "Hello from watsonx" and n == 2
    assert wx.token_requests == 1
    assert wx.last.body == {"inputs": ["one", "two words"],
                            "model_id": "ibm/slate-30m-english-rtrvr", "project_id": "p-1"}


def test_embedding_usage_and_base64(wx: FakeWatsonx) -> None:
    e = llmrelay.embedding(model="watsonx/ibm/slate-30m-english-rtrvr", input="a b c",
                           api_key=KEY, project_id="p", encoding_format="base64")
    assert isinstance(e.data[0]["embedding"], str)
    assert e.usage.prompt_tokens == 3


def test_a_given_token_and_a_deployment(wx: FakeWatsonx) -> None:
    llmrelay.completion(model=MODEL, messages=MSGS, api_key=KEY, project_id="p")
    issued = wx.last.headers["authorization"][7:]
    wx.reset()
    auth.reset()
    r = llmrelay.completion(model="watsonx/deployment/dep-42", messages=MSGS, token=issued)
    assert r.choices[0].message.content
    (only,) = wx.requests  # no exchange: the token is used as given
    assert only.path == "/ml/v1/deployments/dep-42/text/chat"
    assert "model_id" not in only.body and "project_id" not in only.body


def test_errors(wx: FakeWatsonx) -> None:
    with pytest.raises(AuthenticationError, match="refused the API key"):
        llmrelay.completion(model=MODEL, messages=MSGS, api_key="wrong", project_id="p")
    with pytest.raises(AuthenticationError, match="missing credentials"):
        llmrelay.completion(model=MODEL, messages=MSGS, project_id="p")
    n = wx.request_count
    with pytest.raises(BadRequestError, match="project"):
        llmrelay.completion(model=MODEL, messages=MSGS, api_key=KEY)
    assert wx.request_count == n  # refused before anything was sent
    llmrelay.completion(model=MODEL, messages=MSGS, api_key=KEY, project_id="p")  # a token
    wx.enqueue(Reply(status=429, json={"errors": [{"code": "too_many_requests",
                                                   "message": "Rate limit reached"}],
                                       "status_code": 429}))
    with pytest.raises(RateLimitError, match="Rate limit reached"):
        llmrelay.completion(model=MODEL, messages=MSGS, api_key=KEY, project_id="p",
                            num_retries=0)
    with pytest.raises(BadRequestError, match="not allowed"):
        llmrelay.completion(model=MODEL, messages=MSGS, api_key=KEY, project_id="p",
                            extra_body={"bogus": 1})


def test_an_unreachable_or_failing_token_endpoint(wx: FakeWatsonx) -> None:
    wx.enqueue(Reply(status=503, json={"errorMessage": "down"}))
    with pytest.raises(llmrelay.ServiceUnavailableError, match="IAM token endpoint"):
        llmrelay.completion(model=MODEL, messages=MSGS, api_key=KEY, project_id="p",
                            num_retries=0)


def test_router_falls_back_from_an_unconfigured_watsonx(wx: FakeWatsonx,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.delenv("WATSONX_URL")
    router = llmrelay.Router(model_list=[
        {"model_name": "llama", "litellm_params": {"model": "watsonx/meta-llama/x"}},
        {"model_name": "backup", "litellm_params": {"model": "mock/m",
                                                    "mock_response": "from backup"}},
    ], fallbacks=[{"llama": ["backup"]}])
    r = router.completion(model="llama", messages=MSGS)
    assert r.choices[0].message.content == "from backup"
