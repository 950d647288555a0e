"""Google Vertex AI: URLs and bodies on recorded payloads, then whole calls against FakeVertex
with OAuth2 tokens issued by its token endpoint for a service-account key made in the test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmrelay
from fakes.gemini_server import gemini_error
from fakes.openai_server import Reply
from fakes.vertex_server import FakeVertex, service_account_key
from llmrelay.exceptions import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from llmrelay.providers.base import Call
from llmrelay.providers.registry import get_provider, spec_for
from llmrelay.providers.vertex_ai import auth as vertex_auth
from llmrelay.router import Router

GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4@20250514"
MSGS = [{"role": "user", "content": "Hello"}]
SPEC = spec_for("vertex_ai")
PROVIDER = get_provider(SPEC)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeVertex]:
    with FakeVertex() as srv:
        yield srv


@pytest.fixture(scope="module")
def account(server: FakeVertex) -> dict[str, Any]:
    info, public = service_account_key(server.token_uri)
    server.add_service_account(info["client_email"], public)
    return info


@pytest.fixture
def vtx(server: FakeVertex, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVertex]:
    server.reset()
    server.token_lifetime = 3600
    server.tokens_issued = 0
    server.default_content = "Hello from Gemini"
    server.usage = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
    server.claude.configure_defaults()
    for var in ("GOOGLE_APPLICATION_CREDENTIALS", "VERTEXAI_PROJECT", "VERTEXAI_LOCATION",
                "GOOGLE_CLOUD_PROJECT", "VERTEXAI_CREDENTIALS", "VERTEX_AI_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    vertex_auth.reset()
    yield server
    vertex_auth.reset()


@pytest.fixture
def args(vtx: FakeVertex, account: dict[str, Any]) -> dict[str, Any]:
    return {"vertex_credentials": json.dumps(account), "vertex_location": "us-central1",
            "api_base": vtx.base}


def make_call(model: str = GEMINI, *, stream: bool = False, call_type: str = "completion",
              inp: Any = None, **params: Any) -> Call:
    return Call(call_type, model, SPEC, MSGS if call_type == "completion" else None, inp,
                params, stream, auth={"vertex_project": "proj-1",
                                      "vertex_location": "europe-west1"})


def capture() -> list[tuple[dict[str, Any], Any]]:
    seen: list[tuple[dict[str, Any], Any]] = []
    llmrelay.success_callback = [lambda kw, resp, start, end: seen.append((kw, resp))]
    return seen


def price(model: str, prompt: int, completion: int) -> float:
    row = llmrelay.cost.lookup(model, "vertex_ai")
    assert row is not None
    return float(prompt * row["input_cost_per_token"] + completion * row["output_cost_per_token"])


# ---- translation ---------------------------------------------------------------------------
def test_urls_regional_global_and_publishers() -> None:
    req = PROVIDER.build_request(make_call())
    assert req.url == ("https://europe-west1-aiplatform.googleapis.com/v1/projects/proj-1/"
                       f"locations/europe-west1/publishers/google/models/{GEMINI}:generateContent")
    call = make_call(CLAUDE, stream=True)
    call.auth["vertex_location"] = "global"
    req = PROVIDER.build_request(call)
    assert req.url == ("https://aiplatform.googleapis.com/v1/projects/proj-1/locations/global/"
                       f"publishers/anthropic/models/{CLAUDE}:streamRawPredict")
    assert req.body is not None and "model" not in req.body
    assert req.body["anthropic_version"] == "vertex-2023-10-16" and req.body["stream"] is True
    stream = PROVIDER.build_request(make_call(stream=True))
    assert stream.url.endswith(":streamGenerateContent?alt=sse")
    assert "Authorization" not in stream.headers  # added per attempt by authorize()


def test_embedding_body_and_project_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    req = PROVIDER.build_request(make_call("text-embedding-005", call_type="embedding",
                                           inp=["a", "b"], dimensions=64,
                                           input_type="RETRIEVAL_QUERY"))
    assert req.url.endswith("/publishers/google/models/text-embedding-005:predict")
    assert req.body == {"instances": [{"content": "a", "task_type": "RETRIEVAL_QUERY"},
                                      {"content": "b", "task_type": "RETRIEVAL_QUERY"}],
                        "parameters": {"outputDimensionality": 64}}
    for var in ("VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(BadRequestError, match="vertex_project"):
        PROVIDER.build_request(Call("completion", GEMINI, SPEC, MSGS, None, {}, False))
    with pytest.raises(BadRequestError, match="not text completions"):
        PROVIDER.build_request(make_call(call_type="text_completion", inp="x"))


# ---- whole calls ---------------------------------------------------------------------------
def test_gemini_and_claude_calls_priced_and_logged(vtx: FakeVertex,
                                                   args: dict[str, Any]) -> None:
    seen = capture()
    g = llmrelay.completion(f"vertex_ai/{GEMINI}", MSGS, **args)
    c = llmrelay.completion(f"vertex_ai/{CLAUDE}", MSGS, max_tokens=100, **args)
    llmrelay.flush()
    assert g.choices[0].message.content == "Hello from Gemini"
    assert c.choices[0].message.content == "Hello from fake Claude"
    assert g._hidden_params["response_cost"] == pytest.approx(price(GEMINI, 10, 5))
    assert c._hidden_params["response_cost"] == pytest.approx(price(CLAUDE, 10, 5))
    assert vtx.tokens_issued == 1  # one token, cached for both calls
    paths = [r.path for r in vtx.requests if r.path != "/token"]
    assert paths == [
        f"/v1/projects/test-project/locations/us-central1/publishers/google/models/{GEMINI}"
        ":generateContent",
        f"/v1/projects/test-project/locations/us-central1/publishers/anthropic/models/{CLAUDE}"
        ":rawPredict"]
    assert [kw["response_cost"] for kw, _ in seen] == [g._hidden_params["response_cost"],
                                                       c._hidden_params["response_cost"]]
    assert all("PRIVATE KEY" not in json.dumps(kw, default=str) for kw, _ in seen)
    llmrelay.success_callback = []


def test_streams_sync_and_async(vtx: FakeVertex, args: dict[str, Any]) -> None:
    chunks = list(llmrelay.completion(f"vertex_ai/{CLAUDE}", MSGS, stream=True,
                                      stream_options={"include_usage": True}, **args))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "Hello from fake Claude"
    assert chunks[-1].usage.total_tokens == 15

    async def run(model: str) -> str:
        stream = await llmrelay.acompletion(model, MSGS, stream=True, **args)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(run(f"vertex_ai/{GEMINI}")) == "Hello from Gemini"
    assert asyncio.run(run(f"vertex_ai/{CLAUDE}")) == "Hello from fake Claude"
    assert vtx.tokens_issued == 1


def test_embeddings(vtx: FakeVertex, args: dict[str, Any]) -> None:
    resp = llmrelay.embedding("vertex_ai/gemini-embedding-001", ["a b", "c"], dimensions=12,
                              **args)
    assert [len(d["embedding"]) for d in resp.data] == [12, 12]
    assert resp.usage.prompt_tokens == 3
    assert resp._hidden_params["response_cost"] == pytest.approx(3 * 0.15e-6)


def test_credentials_from_file_and_adc(vtx: FakeVertex, account: dict[str, Any],
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(account))
    resp = llmrelay.completion(f"vertex_ai/{GEMINI}", MSGS, vertex_credentials=str(key_file),
                               api_base=vtx.base)
    assert resp.choices[0].message.content == "Hello from Gemini"
    vertex_auth.reset()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("VERTEXAI_LOCATION", "global")
    resp = llmrelay.completion(f"vertex_ai/{GEMINI}", MSGS, api_base=vtx.base)
    assert resp.choices[0].message.content == "Hello from Gemini"
    assert "/locations/global/" in vtx.requests[-1].path
    dict_resp = llmrelay.completion(f"vertex_ai/{GEMINI}", MSGS, vertex_credentials=account,
                                    vertex_project="test-project", api_base=vtx.base)
    assert dict_resp.choices[0].message.content == "Hello from Gemini"


def test_token_refreshed_before_expiry(vtx: FakeVertex, args: dict[str, Any]) -> None:
    vtx.token_lifetime = 120  # inside google-auth's refresh margin: every call refreshes
    for _ in range(2):
        llmrelay.completion(f"vertex_ai/{GEMINI}", MSGS, **args)
    assert vtx.tokens_issued == 2
    vtx.token_lifetime = 3600
    for _ in range(2):
        llmrelay.completion(f"vertex_ai/{GEMINI}", MSGS, **args)
    assert vtx.tokens_issued == 3


def test_authorize_never_blocks_the_event_loop(vtx: FakeVertex, args: dict[str, Any]) -> None:
    call = Call("completion", GEMINI, SPEC, MSGS, None, {}, False, api_base=vtx.base,
                auth={k: v for k, v in args.items() if k.startswith("vertex")})
    req = PROVIDER.build_request(call)
    assert PROVIDER.authorize(call, req, may_block=False) is False  # would need the network
    assert vtx.tokens_issued == 0
    assert PROVIDER.authorize(call, req) is True and vtx.tokens_issued == 1
    assert PROVIDER.authorize(call, req, may_block=False) is True  # cached and valid
    assert req.headers["Authorization"].startswith("Bearer ya29.fake-")


def test_wrong_key_and_rejected_token(vtx: FakeVertex, args: dict[str, Any]) -> None:
    stranger, _ = service_account_key(vtx.token_uri)  # its public key is unknown to Google
    with pytest.raises(AuthenticationError, match="invalid_grant"):
        llmrelay.completion(f"vertex_ai/{GEMINI}", MSGS,
                            **{**args, "vertex_credentials": json.dumps(stranger)})
    vtx.enqueue(gemini_error(401, "Request had invalid authentication credentials.",
                             "UNAUTHENTICATED"))
    with pytest.raises(AuthenticationError):
        llmrelay.completion(f"vertex_ai/{GEMINI}", MSGS, **args)


@pytest.mark.parametrize(("reply", "expected"), [
    (gemini_error(429, "Quota exceeded for aiplatform.googleapis.com/"
                       "generate_content_requests_per_minute", "RESOURCE_EXHAUSTED"),
     RateLimitError),
    (gemini_error(403, "Permission 'aiplatform.endpoints.predict' denied", "PERMISSION_DENIED"),
     PermissionDeniedError),
    (gemini_error(400, "The input token count (1200000) exceeds the maximum number of tokens "
                       "allowed (1048576).", "INVALID_ARGUMENT"), ContextWindowExceededError),
    (gemini_error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"),
     ServiceUnavailableError),
    (gemini_error(400, "Request contains an invalid argument.", "INVALID_ARGUMENT"),
     BadRequestError),
])
def test_gemini_error_mapping(vtx: FakeVertex, args: dict[str, Any], reply: Reply,
                              expected: type[Exception]) -> None:
    vtx.enqueue(reply)
    with pytest.raises(expected) as info:
        llmrelay.completion(f"vertex_ai/{GEMINI}", MSGS, **args)
    assert type(info.value) is expected


@pytest.mark.parametrize(("status", "body", "expected"), [
    (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
     ServiceUnavailableError),
    (400, {"type": "error", "error": {"type": "invalid_request_error",
                                      "message": "prompt is too long: 210000 tokens > 200000 "
                                                 "maximum"}}, ContextWindowExceededError),
    (429, [{"error": {"code": 429, "message": "Quota exceeded for online_prediction_requests"
                                              "_per_base_model", "status": "RESOURCE_EXHAUSTED"}}],
     RateLimitError),
])
def test_claude_error_mapping(vtx: FakeVertex, args: dict[str, Any], status: int, body: Any,
                              expected: type[Exception]) -> None:
    vtx.enqueue(Reply(status=status, json=body))
    with pytest.raises(expected):
        llmrelay.completion(f"vertex_ai/{CLAUDE}", MSGS, **args)


def test_router_with_vertex_deployments(vtx: FakeVertex, args: dict[str, Any]) -> None:
    seen = capture()
    router = Router(model_list=[
        {"model_name": "claude", "litellm_params": {"model": f"vertex_ai/{CLAUDE}", **args}},
        {"model_name": "gemini", "litellm_params": {"model": f"vertex_ai/{GEMINI}", **args}}])
    assert router.completion(model="claude", messages=MSGS).choices[0].message.content == \
        "Hello from fake Claude"
    resp = asyncio.run(router.acompletion(model="gemini", messages=MSGS))
    assert resp.choices[0].message.content == "Hello from Gemini"
    llmrelay.flush()
    assert len(seen) == 2 and all(kw["response_cost"] for kw, _ in seen)
    llmrelay.success_callback = []
