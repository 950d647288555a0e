"""Amazon Bedrock: Converse translation on recorded payloads, the event-stream decoder, and
whole calls (SigV4-signed, checked by the fake) through the SDK and the router."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmrelay
from fakes.bedrock_server import (
    FakeBedrock,
    encode_frame,
    event_frame,
    exception_frame,
    sigv4_signature,
)
from llmrelay.exceptions import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from llmrelay.providers.base import Call
from llmrelay.providers.bedrock import auth as bedrock_auth
from llmrelay.providers.bedrock.converse import build_converse
from llmrelay.providers.bedrock.stream import BedrockStreamDecoder
from llmrelay.providers.registry import get_provider, resolve_model, spec_for
from llmrelay.router import Router

CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
MSGS = [{"role": "user", "content": "Hello"}]
AK, SK = "AKIDLLMRELAYTEST", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SPEC = spec_for("bedrock")
PROVIDER = get_provider(SPEC)


def make_call(messages: Any = MSGS, *, model: str = CLAUDE, stream: bool = False,
              **params: Any) -> Call:
    return Call("completion", model, SPEC, messages, None, params, stream)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBedrock]:
    with FakeBedrock() as srv:
        yield srv


@pytest.fixture
def brk(server: FakeBedrock, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> Iterator[FakeBedrock]:
    srv = server
    srv.reset()
    srv.credentials = {AK: (SK, None)}
    srv.api_keys = set()
    srv.default_content = "Hello from Bedrock"
    srv.tool_call = srv.reasoning = srv.stream_exception = None
    srv.corrupt_crc = srv.cut_stream = False
    srv.not_ready = set()
    srv.usage = {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}
    srv.region = "us-east-1"
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_BEARER_TOKEN_BEDROCK",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(var, raising=False)
    # no shared files or instance metadata from the machine running the tests
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bedrock_auth.reset()
    yield srv
    bedrock_auth.reset()


@pytest.fixture
def args(brk: FakeBedrock) -> dict[str, Any]:
    return {"aws_access_key_id": AK, "aws_secret_access_key": SK,
            "aws_region_name": "us-east-1", "aws_bedrock_runtime_endpoint": brk.url}


def capture() -> list[tuple[dict[str, Any], Any]]:
    seen: list[tuple[dict[str, Any], Any]] = []
    llmrelay.success_callback = [lambda kw, resp, start, end: seen.append((kw, resp))]
    return seen


def price(model: str, prompt: int, completion: int) -> float:
    row = llmrelay.cost.lookup(model, "bedrock")
    assert row is not None
    return float(prompt * row["input_cost_per_token"] + completion * row["output_cost_per_token"])


# ---- translation ---------------------------------------------------------------------------
def test_model_strings_and_urls() -> None:
    for model in (f"bedrock/{CLAUDE}", f"bedrock/converse/{CLAUDE}", f"bedrock/invoke/{CLAUDE}"):
        spec, name = resolve_model(model)
        assert (spec.name, name) == ("bedrock", CLAUDE)
    assert resolve_model(CLAUDE)[0].name == "bedrock"  # bare id known to the price table
    call = make_call()
    call.auth = {"aws_region_name": "eu-west-3"}
    req = PROVIDER.build_request(call)
    assert req.url == ("https://bedrock-runtime.eu-west-3.amazonaws.com/model/"
                       "anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse")
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-x"
    call = make_call(model=arn, stream=True)
    call.auth = {"aws_region_name": "us-east-1"}
    req = PROVIDER.build_request(call)
    assert req.url.endswith("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
                            "inference-profile%2Fus.anthropic.claude-x/converse-stream")
    assert req.headers["Accept"] == "application/vnd.amazon.eventstream"


def test_converse_body_system_tools_images_cache_and_params() -> None:
    messages = [
        {"role": "system", "content": "Be brief.", "cache_control": {"type": "ephemeral"}},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "t1", "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "found"},
        {"role": "user", "content": "thanks"},
    ]
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Find",
                                               "parameters": {"type": "object"}}}]
    body = build_converse(make_call(messages, max_tokens=200, temperature=0.2, top_p=0.9,
                                    stop="END", tools=tools, tool_choice="required", top_k=7))
    assert body["system"] == [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}]
    assert body["messages"] == [
        {"role": "user", "content": [
            {"text": "What is this?"},
            {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
            {"text": "long context"}, {"cachePoint": {"type": "default"}}]},
        {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": "x"}}}]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "t1", "content": [{"text": "found"}]}},
            {"text": "thanks"}]},
    ]
    assert body["inferenceConfig"] == {"maxTokens": 200, "temperature": 0.2, "topP": 0.9,
                                       "stopSequences": ["END"]}
    assert body["toolConfig"] == {"tools": [{"toolSpec": {
        "name": "lookup", "description": "Find", "inputSchema": {"json": {"type": "object"}}}}],
        "toolChoice": {"any": {}}}
    assert body["additionalModelRequestFields"] == {"top_k": 7}


def test_reasoning_and_response_format() -> None:
    body = build_converse(make_call(reasoning_effort="low", max_tokens=4000))
    assert body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048}}
    nova = build_converse(make_call(model="us.amazon.nova-pro-v1:0", reasoning_effort="high"))
    assert nova["additionalModelRequestFields"]["reasoningConfig"]["maxReasoningEffort"] == "high"
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    body = build_converse(make_call(response_format=fmt))
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "json_response"}}
    with pytest.raises(BadRequestError, match="does not fetch"):
        build_converse(make_call([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]))


def test_unsupported_params_and_text_completion_refused(args: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError):
        llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, logit_bias={"1": 1}, **args)
    with pytest.raises(BadRequestError, match="not text completions"):
        llmrelay.text_completion(f"bedrock/{CLAUDE}", "hi", **args)


# ---- event stream --------------------------------------------------------------------------
def _frames() -> bytes:
    return b"".join([
        event_frame("messageStart", {"role": "assistant"}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame("contentBlockStart", {"contentBlockIndex": 1, "start": {
            "toolUse": {"toolUseId": "tu1", "name": "f"}}}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {
            "toolUse": {"input": '{"a":'}}}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {
            "toolUse": {"input": " 1}"}}}),
        event_frame("messageStop", {"stopReason": "tool_use"}),
        event_frame("metadata", {"usage": {"inputTokens": 3, "outputTokens": 4,
                                           "cacheReadInputTokens": 2}}),
    ])


def test_stream_decoder_reassembles_frames_byte_by_byte() -> None:
    decoder = BedrockStreamDecoder(make_call(stream=True))
    chunks: list[Any] = []
    for byte in _frames():
        chunks += decoder.feed(bytes([byte]))
    chunks += decoder.finish()
    built = llmrelay.stream_chunk_builder(chunks)
    msg = built.choices[0].message
    assert msg.content == "Hi" and built.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls[0].id == "tu1" and json.loads(msg.tool_calls[0].function.arguments) \
        == {"a": 1}
    assert (built.usage.prompt_tokens, built.usage.completion_tokens) == (5, 4)


def test_stream_decoder_crc_exception_and_cut() -> None:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[-1] ^= 0x01
    with pytest.raises(APIConnectionError, match="corrupt"):
        BedrockStreamDecoder(make_call()).feed(bytes(frame))
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[9] ^= 0x01  # inside the prelude CRC
    with pytest.raises(APIConnectionError, match="corrupt"):
        BedrockStreamDecoder(make_call()).feed(bytes(frame))
    with pytest.raises(RateLimitError, match="slow down"):
        BedrockStreamDecoder(make_call()).feed(exception_frame("throttlingException",
                                                               "slow down"))
    unmodelled = encode_frame({":message-type": "error", ":error-code": "InternalFailure",
                               ":error-message": "boom"}, b"")
    with pytest.raises(llmrelay.exceptions.InternalServerError, match="boom"):
        BedrockStreamDecoder(make_call()).feed(unmodelled)
    decoder = BedrockStreamDecoder(make_call())
    decoder.feed(event_frame("messageStart", {"role": "assistant"}))
    with pytest.raises(APIConnectionError, match="cut"):
        decoder.finish()


def test_fake_signature_matches_the_aws_test_suite_vector() -> None:
    # AWS's published SigV4 example (IAM ListUsers, GET, 20150830T123600Z)
    sig = sigv4_signature(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "GET", "/", "Action=ListUsers&Version=2010-05-08",
        {"content-type": "application/x-www-form-urlencoded; charset=utf-8",
         "host": "iam.amazonaws.com", "x-amz-date": "20150830T123600Z"},
        ["content-type", "host", "x-amz-date"], b"", "20150830T123600Z", "us-east-1", "iam")
    assert sig == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


# ---- whole calls ---------------------------------------------------------------------------
def test_sync_call_signed_priced_and_logged(brk: FakeBedrock, args: dict[str, Any]) -> None:
    seen = capture()
    resp = llmrelay.completion(f"bedrock/us.{CLAUDE}", MSGS, max_tokens=50, **args)
    llmrelay.flush()
    assert resp.choices[0].message.content == "Hello from Bedrock"
    assert resp.choices[0].finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (10, 5)
    expected = price(f"us.{CLAUDE}", 10, 5)
    assert resp._hidden_params["response_cost"] == pytest.approx(expected)
    rec = brk.last
    assert rec is not None and rec.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={AK}/")
    kw, _ = seen[0]
    assert kw["response_cost"] == pytest.approx(expected)
    assert kw["additional_args"]["complete_input_dict"] == json.loads(rec.raw)
    dumped = json.dumps(kw, default=str)
    assert SK not in dumped  # the secret never reaches a callback
    llmrelay.success_callback = []


def test_wrong_secret_and_missing_credentials(brk: FakeBedrock, args: dict[str, Any]) -> None:
    with pytest.raises(AuthenticationError, match="signature"):
        llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, **{**args,
                                                          "aws_secret_access_key": "nope"})
    bare = {k: v for k, v in args.items() if not k.startswith("aws_access")
            and k != "aws_secret_access_key"}
    with pytest.raises(AuthenticationError, match="no AWS credentials"):
        llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, **bare)


def test_streams_sync_and_async(brk: FakeBedrock, args: dict[str, Any]) -> None:
    brk.reasoning = "Let me think."
    seen = capture()
    chunks = list(llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, stream=True,
                                      stream_options={"include_usage": True}, **args))
    built = llmrelay.stream_chunk_builder(chunks)
    assert built.choices[0].message.content == "Hello from Bedrock"
    assert built.choices[0].message.reasoning_content == "Let me think."
    assert chunks[-1].usage.total_tokens == 15

    async def run() -> list[Any]:
        stream = await llmrelay.acompletion(f"bedrock/{CLAUDE}", MSGS, stream=True, **args)
        return [c async for c in stream]

    achunks = asyncio.run(run())
    assert "".join(c.choices[0].delta.content or "" for c in achunks if c.choices) == \
        "Hello from Bedrock"
    llmrelay.flush()
    assert len(seen) == 2
    assert all(kw["response_cost"] == pytest.approx(price(CLAUDE, 10, 5)) for kw, _ in seen)
    llmrelay.success_callback = []


def test_async_tool_call(brk: FakeBedrock, args: dict[str, Any]) -> None:
    brk.tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    resp = asyncio.run(llmrelay.acompletion(f"bedrock/{CLAUDE}", MSGS, tools=tools, **args))
    call = resp.choices[0].message.tool_calls[0]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_stream_damage_is_an_error(brk: FakeBedrock, args: dict[str, Any]) -> None:
    brk.stream_exception = ("throttlingException", "Too many tokens, please wait.")
    with pytest.raises(RateLimitError):
        list(llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, stream=True, **args))
    brk.stream_exception = None
    brk.corrupt_crc = True
    with pytest.raises(APIConnectionError, match="corrupt"):
        list(llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, stream=True, **args))
    brk.corrupt_crc = False
    brk.cut_stream = True
    with pytest.raises(APIConnectionError):
        list(llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, stream=True, **args))


@pytest.mark.parametrize(("name", "message", "expected"), [
    ("ThrottlingException", "Too many requests, please wait before trying again.",
     RateLimitError),
    ("ValidationException", "The provided model identifier is invalid.", BadRequestError),
    ("AccessDeniedException", "You don't have access to the model with the specified model "
                              "ID.", PermissionDeniedError),
    ("ModelNotReadyException", "Model is not ready to serve inference requests.",
     ServiceUnavailableError),
    ("ValidationException", "Input is too long for requested model.",
     ContextWindowExceededError),
    ("ResourceNotFoundException", "Model not found.", NotFoundError),
])
def test_error_mapping(brk: FakeBedrock, args: dict[str, Any], name: str, message: str,
                       expected: type[Exception]) -> None:
    from fakes.bedrock_server import _STATUS
    from fakes.openai_server import Reply

    brk.enqueue(Reply(status=_STATUS.get(name, 400), json={"message": message},
                      headers={"x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/"}))
    with pytest.raises(expected) as info:
        llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, **args)
    assert message in str(info.value)
    assert type(info.value) is expected


def test_real_validation_and_context_errors_from_the_fake(brk: FakeBedrock,
                                                          args: dict[str, Any]) -> None:
    brk.context_limit = 200
    with pytest.raises(ContextWindowExceededError):
        llmrelay.completion(f"bedrock/{CLAUDE}", [{"role": "user", "content": "x" * 500}],
                            **args)
    brk.context_limit = 100_000
    brk.not_ready = {CLAUDE}
    with pytest.raises(ServiceUnavailableError):
        llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, **args)


def test_embeddings_titan_and_cohere(brk: FakeBedrock, args: dict[str, Any]) -> None:
    titan = llmrelay.embedding("bedrock/amazon.titan-embed-text-v2:0", "hello world",
                               dimensions=16, **args)
    assert len(titan.data[0]["embedding"]) == 16 and titan.usage.prompt_tokens == 2
    assert titan._hidden_params["response_cost"] == pytest.approx(2 * 0.02e-6)
    cohere = llmrelay.embedding("bedrock/cohere.embed-english-v3", ["a b", "c"],
                                input_type="search_query", **args)
    assert [len(d["embedding"]) for d in cohere.data] == [8, 8]
    assert brk.last is not None and brk.last.body == {"texts": ["a b", "c"],
                                                      "input_type": "search_query"}
    assert cohere.usage.prompt_tokens == 3
    v4 = asyncio.run(llmrelay.aembedding("bedrock/cohere.embed-v4:0", ["x"], **args))
    assert len(v4.data) == 1
    with pytest.raises(BadRequestError, match="one text per request"):
        llmrelay.embedding("bedrock/amazon.titan-embed-text-v1", ["a", "b"], **args)


# ---- credential chain ----------------------------------------------------------------------
def test_env_vars_and_session_token(brk: FakeBedrock, monkeypatch: pytest.MonkeyPatch) -> None:
    brk.credentials = {"ASIATEMP": ("tempsecret", "the-session-token")}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIATEMP")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "tempsecret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "the-session-token")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    resp = llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, api_base=brk.url)
    assert resp.choices[0].message.content == "Hello from Bedrock"
    assert brk.last is not None
    assert brk.last.headers["x-amz-security-token"] == "the-session-token"


def test_shared_files_and_profiles(brk: FakeBedrock, monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = WRONG\naws_secret_access_key = x\n\n"
                     f"[team]\naws_access_key_id = {AK}\naws_secret_access_key = {SK}\n")
    config = tmp_path / "config"
    config.write_text("[profile team]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    bedrock_auth.reset()
    brk.region = "eu-central-1"  # the region comes from the profile
    resp = llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, aws_profile_name="team",
                               aws_bedrock_runtime_endpoint=brk.url)
    assert resp.choices[0].message.content == "Hello from Bedrock"
    assert "/eu-central-1/bedrock/" in brk.last.headers["authorization"]  # type: ignore[union-attr]


def test_assume_role_through_sts(brk: FakeBedrock, args: dict[str, Any]) -> None:
    role = "arn:aws:iam::123456789012:role/bedrock-caller"
    resp = llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, aws_role_name=role,
                               aws_session_name="relay-test", aws_sts_endpoint=brk.url, **args)
    assert resp.choices[0].message.content == "Hello from Bedrock"
    assert brk.assumed[-1]["RoleArn"] == role
    assert brk.assumed[-1]["RoleSessionName"] == "relay-test"
    sts, call = brk.requests[-2], brk.requests[-1]
    assert f"Credential={AK}/" in sts.headers["authorization"]  # signed with the base keys
    assert call.headers["authorization"].split("Credential=")[1].startswith("ASIA")
    # the temporary credentials are cached: a second call does not assume the role again
    llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, aws_role_name=role,
                        aws_session_name="relay-test", aws_sts_endpoint=brk.url, **args)
    assert len(brk.assumed) == 1


def test_web_identity(brk: FakeBedrock) -> None:
    role = "arn:aws:iam::123456789012:role/web"
    resp = llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, aws_role_name=role,
                               aws_web_identity_token="oidc-token-123",
                               aws_sts_endpoint=brk.url, aws_region_name="us-east-1",
                               aws_bedrock_runtime_endpoint=brk.url)
    assert resp.choices[0].message.content == "Hello from Bedrock"
    assert brk.assumed[-1]["WebIdentityToken"] == "oidc-token-123"


def test_bedrock_api_key(brk: FakeBedrock, monkeypatch: pytest.MonkeyPatch) -> None:
    brk.api_keys = {"ABSK-test-key"}
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSK-test-key")
    resp = llmrelay.completion(f"bedrock/{CLAUDE}", MSGS, api_base=brk.url)
    assert resp.choices[0].message.content == "Hello from Bedrock"
    assert brk.last is not None and brk.last.headers["authorization"] == "Bearer ABSK-test-key"


def test_router_with_bedrock_deployments(brk: FakeBedrock, args: dict[str, Any]) -> None:
    seen = capture()
    router = Router(model_list=[{"model_name": "claude", "litellm_params": {
        "model": f"bedrock/converse/{CLAUDE}", **args}}])
    resp = router.completion(model="claude", messages=MSGS)
    chunks = list(router.completion(model="claude", messages=MSGS, stream=True))
    aresp = asyncio.run(router.acompletion(model="claude", messages=MSGS))
    assert resp.choices[0].message.content == aresp.choices[0].message.content == \
        "Hello from Bedrock"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "Hello from Bedrock"
    llmrelay.flush()
    assert len(seen) == 3 and all(kw["response_cost"] for kw, _ in seen)
    assert all(SK not in json.dumps(kw, default=str) for kw, _ in seen)
    llmrelay.success_callback = []


def test_no_botocore_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def fake_import(name: str, *a: Any, **k: Any) -> Any:
        if name == "botocore" or name.startswith("botocore."):
            raise ImportError("no botocore")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    call = make_call()
    req = PROVIDER.build_request(Call("completion", CLAUDE, SPEC, MSGS, None, {}, False,
                                      auth={"aws_region_name": "us-east-1"}))
    with pytest.raises(BadRequestError, match=r"llmrelay\[bedrock\]"):
        PROVIDER.authorize(call, req)
