"""The Langfuse logger against a local server implementing both ingestion endpoints: the
OTel one (Langfuse v4, the default) and the legacy batch ingestion API."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import llmrelay
from fakes.langfuse_server import INGESTION_PATH, OTEL_PATH, LangfuseServer
from fakes.webhook_server import Scripted
from llmrelay.integrations.langfuse import LangfuseLogger
from llmrelay.integrations.registry import (
    IntegrationError,
    UnconfiguredIntegration,
    get_integration,
)

SECRET = "the secret prompt 6061"
MSGS = [{"role": "user", "content": SECRET}]
PK, SK = "pk-lf-test", "sk-lf-test"


@pytest.fixture
def lf() -> Iterator[LangfuseServer]:
    with LangfuseServer(PK, SK) as srv:
        yield srv


@pytest.fixture
def make_logger(lf: LangfuseServer) -> Iterator[Callable[..., LangfuseLogger]]:
    made: list[LangfuseLogger] = []

    def make(**kw: Any) -> LangfuseLogger:
        kw.setdefault("flush_interval", 60)
        kw.setdefault("backoff_base", 0.01)
        logger = LangfuseLogger(PK, SK, lf.host, **kw)
        made.append(logger)
        return logger

    yield make
    llmrelay.flush(5)
    for logger in made:
        logger.close(2)


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _loads(attrs: dict[str, Any], key: str) -> Any:
    return json.loads(attrs[key])


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()


# ---- OTel API (the default) ---------------------------------------------------------------
def test_generation_span_with_usage_cost_latency_and_ids(
        lf: LangfuseServer, make_logger: Callable[..., LangfuseLogger]) -> None:
    logger = make_logger()
    assert logger.api == "otel"
    llmrelay.success_callback = [logger]
    md = {"trace_id": "trace-42", "session_id": "sess-7", "generation_name": "summarise",
          "tags": ["prod", "eu"], "trace_user_id": "user-1", "customer": "acme",
          "trace_metadata": {"tenant": "t9"}}
    before = dt.datetime.now(dt.timezone.utc).timestamp()
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="short answer",
                            temperature=0.3, max_tokens=20, metadata=md)
    after = dt.datetime.now(dt.timezone.utc).timestamp()
    assert llmrelay.flush(5) and logger.flush(5)
    [req] = lf.received
    assert req.path == OTEL_PATH and req.status == 200
    assert req.headers["authorization"] == _basic()
    assert req.headers["x-langfuse-ingestion-version"] == "4"
    [span] = lf.spans()
    # A trace id that is not 32 hex digits is hashed, the same way every time.
    assert span["traceId"] == hashlib.sha256(b"trace-42").digest()[:16].hex()
    assert span["name"] == "summarise" and "parentSpanId" not in span
    a = span["attributes"]
    call_id = r._hidden_params["litellm_call_id"]
    assert a["langfuse.observation.type"] == "generation"
    assert a["langfuse.observation.model.name"] == "gpt-4o-mini"
    assert _loads(a, "langfuse.observation.model.parameters") == {"temperature": 0.3,
                                                                  "max_tokens": 20}
    assert _loads(a, "langfuse.observation.input") == MSGS
    out = _loads(a, "langfuse.observation.output")
    assert out["content"] == "short answer" and out["role"] == "assistant"
    usage = r.usage
    assert _loads(a, "langfuse.observation.usage_details") == {
        "input": usage.prompt_tokens, "output": usage.completion_tokens,
        "total": usage.total_tokens}
    assert _loads(a, "langfuse.observation.cost_details") == {
        "total": pytest.approx(r._hidden_params["response_cost"])}
    assert "langfuse.observation.level" not in a
    assert a["langfuse.observation.metadata.customer"] == "acme"
    assert a["langfuse.observation.metadata.llmrelay_call_id"] == call_id
    assert not any(k.endswith((".trace_id", ".session_id")) for k in a)
    # Trace attributes ride on the span; the caller's trace keeps its own name.
    assert a["session.id"] == "sess-7" and a["user.id"] == "user-1"
    assert a["langfuse.trace.tags"] == ["prod", "eu"]
    assert a["langfuse.trace.metadata.tenant"] == "t9"
    assert "langfuse.trace.name" not in a
    start, end = int(span["startTimeUnixNano"]) / 1e9, int(span["endTimeUnixNano"]) / 1e9
    first = _epoch(json.loads(a["langfuse.observation.completion_start_time"]))
    # ISO timestamps and nanosecond integers round differently: allow a microsecond
    assert before - 0.001 <= start <= first + 1e-6 and first <= end + 1e-6 <= after + 0.001
    assert span["resource"]["service.name"] == "llmrelay"
    assert logger.stats()["rejected"] == 0


def test_own_trace_per_call_without_metadata(lf: LangfuseServer,
                                             make_logger: Callable[..., LangfuseLogger]
                                             ) -> None:
    logger = make_logger()
    llmrelay.callbacks = [logger]
    rs = [llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi there")
          for _ in range(2)]
    assert llmrelay.flush(5) and logger.flush(5)
    spans = lf.spans()
    ids = [r._hidden_params["litellm_call_id"].replace("-", "") for r in rs]
    assert [s["traceId"] for s in spans] == ids  # the call id is the trace id
    assert all(s["attributes"]["langfuse.trace.name"] == "llmrelay-completion" for s in spans)
    assert len({s["spanId"] for s in spans}) == 2


def test_parent_observation_and_hex_trace_ids_are_kept(
        lf: LangfuseServer, make_logger: Callable[..., LangfuseLogger]) -> None:
    logger = make_logger()
    llmrelay.callbacks = [logger]
    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok",
                        metadata={"trace_id": trace_id, "parent_observation_id": parent,
                                  "trace_name": "pipeline"})
    assert llmrelay.flush(5) and logger.flush(5)
    [span] = lf.spans()
    assert span["traceId"] == trace_id and span["parentSpanId"] == parent
    assert span["attributes"]["langfuse.trace.name"] == "pipeline"


async def test_failures_are_error_generations(lf: LangfuseServer,
                                              make_logger: Callable[..., LangfuseLogger]
                                              ) -> None:
    logger = make_logger()
    llmrelay.callbacks = [logger]
    with pytest.raises(llmrelay.ContextWindowExceededError):
        await llmrelay.acompletion(model="gpt-4o-mini", messages=MSGS,
                                   mock_response=llmrelay.ContextWindowExceededError("too long"))
    assert await llmrelay.aflush(5)
    assert logger.flush(5)
    [span] = lf.spans()
    a = span["attributes"]
    assert span["status"]["code"] == 2 and "too long" in span["status"]["message"]
    assert a["langfuse.observation.level"] == "ERROR"
    assert "too long" in a["langfuse.observation.status_message"]
    assert "langfuse.observation.usage_details" not in a
    assert "langfuse.observation.output" not in a


def test_retries_without_duplicates_and_counts_rejected_spans(
        lf: LangfuseServer, make_logger: Callable[..., LangfuseLogger]) -> None:
    lf.enqueue(Scripted(503), Scripted(drop=True))
    lf.reject_observation_types = {"embedding"}
    logger = make_logger()
    llmrelay.callbacks = [logger]
    for _ in range(2):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="x")
    llmrelay.embedding(model="text-embedding-3-small", input=["a"], mock_response=None)
    assert llmrelay.flush(5) and logger.flush(10)
    assert [r.status for r in lf.received] == [503, 0, 200]
    assert len({r.body for r in lf.received}) == 1  # the same spans every attempt
    assert [s["attributes"]["langfuse.observation.type"] for s in lf.spans()] == [
        "generation", "generation"]
    stats = logger.stats()
    assert stats["rejected"] == 1 and stats["retries"] == 2 and stats["sent_items"] == 3


def test_embeddings_are_embedding_observations(lf: LangfuseServer,
                                               make_logger: Callable[..., LangfuseLogger]
                                               ) -> None:
    logger = make_logger()
    llmrelay.callbacks = [logger]
    llmrelay.embedding(model="text-embedding-3-small", input=["a"], mock_response=None)
    assert llmrelay.flush(5) and logger.flush(5)
    [span] = lf.spans()
    a = span["attributes"]
    assert a["langfuse.observation.type"] == "embedding" and span["name"] == (
        "llmrelay-embedding")
    assert "langfuse.observation.output" not in a


@pytest.mark.parametrize("api", ["otel", "ingestion"])
@pytest.mark.parametrize("how", ["global", "per_call", "per_logger"])
def test_redaction_holds(lf: LangfuseServer, make_logger: Callable[..., LangfuseLogger],
                         api: str, how: str) -> None:
    logger = make_logger(api=api, turn_off_message_logging=how == "per_logger")
    llmrelay.callbacks = [logger]
    extra: dict[str, Any] = {}
    if how == "global":
        llmrelay.turn_off_message_logging = True
    elif how == "per_call":
        extra["turn_off_message_logging"] = True
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="private reply 12",
                            **extra)
    assert r.choices[0].message.content == "private reply 12"  # the caller is unaffected
    assert llmrelay.flush(5) and logger.flush(5)
    [req] = lf.received
    raw = req.body.decode()
    assert SECRET not in raw and "private reply 12" not in raw
    assert r._hidden_params["litellm_call_id"] in raw  # the call was still logged
    assert len(lf.spans() if api == "otel" else lf.events("generation-create")) == 1


def test_by_name_with_keys_from_environment(lf: LangfuseServer, builtin: Callable[..., None],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    builtin("langfuse")
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PK)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SK)
    monkeypatch.setenv("LANGFUSE_HOST", lf.host + "/")
    monkeypatch.setenv("LANGFUSE_TRACING_ENVIRONMENT", "staging")
    llmrelay.success_callback = ["langfuse"]
    logger = get_integration("langfuse")
    assert isinstance(logger, LangfuseLogger)
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    assert llmrelay.flush(5) and logger.flush(5)
    [span] = lf.spans()
    assert span["attributes"]["langfuse.environment"] == "staging"
    assert lf.received[0].path == OTEL_PATH


def test_api_from_environment_and_unknown_api(lf: LangfuseServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMRELAY_LANGFUSE_API", "ingestion")
    logger = LangfuseLogger(PK, SK, lf.host)
    try:
        assert logger.api == "ingestion" and logger.sender.url == lf.host + INGESTION_PATH
    finally:
        logger.close(1)
    with pytest.raises(IntegrationError, match="api must be one of"):
        LangfuseLogger(PK, SK, lf.host, api="grpc")


def test_missing_keys_warn_at_registration_and_drop_at_send(
        lf: LangfuseServer, builtin: Callable[..., None], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # as LiteLLM: the name is accepted without keys; sending is what fails
    builtin("langfuse")
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SK)
    with pytest.raises(IntegrationError, match="LANGFUSE_PUBLIC_KEY") as info:
        LangfuseLogger()  # built directly, a logger without keys is refused
    assert "LANGFUSE_SECRET_KEY" not in str(info.value).split("needs")[1].split("(")[0]
    with pytest.warns(UserWarning, match="LANGFUSE_PUBLIC_KEY"):
        llmrelay.success_callback = ["langfuse"]
    assert llmrelay.success_callback == ["langfuse"]
    placeholder = get_integration("langfuse")
    assert isinstance(placeholder, UnconfiguredIntegration)
    with caplog.at_level("ERROR", logger="llmrelay.integrations"):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
        assert llmrelay.flush(5)
    assert placeholder.dropped == 1 and "dropped an event" in caplog.text
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PK)  # configured: the name gets the logger
    monkeypatch.setenv("LANGFUSE_HOST", lf.host)
    llmrelay.success_callback = ["langfuse"]
    real = get_integration("langfuse")
    try:
        assert isinstance(real, LangfuseLogger)
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
        assert llmrelay.flush(5) and real.flush(5)
        assert len(lf.spans()) == 1 and placeholder.dropped == 1
    finally:
        real.close(1)


@pytest.mark.parametrize("api", ["otel", "ingestion"])
def test_wrong_keys_are_not_retried(lf: LangfuseServer, api: str) -> None:
    logger = LangfuseLogger(PK, "wrong", lf.host, api=api, flush_interval=60)
    try:
        llmrelay.callbacks = [logger]
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
        assert llmrelay.flush(5) and logger.flush(5)
        assert [r.status for r in lf.received] == [401]
        assert logger.stats()["failed"] == 1 and lf.events() == [] and lf.spans() == []
    finally:
        logger.close(1)


# ---- legacy ingestion API ------------------------------------------------------------------
def test_ingestion_api_generation_with_usage_cost_latency_and_ids(
        lf: LangfuseServer, make_logger: Callable[..., LangfuseLogger]) -> None:
    logger = make_logger(api="ingestion")
    llmrelay.success_callback = [logger]
    md = {"trace_id": "trace-42", "session_id": "sess-7", "generation_name": "summarise",
          "tags": ["prod", "eu"], "trace_user_id": "user-1", "customer": "acme"}
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="short answer",
                            temperature=0.3, max_tokens=20, metadata=md)
    assert llmrelay.flush(5) and logger.flush(5)
    [trace] = lf.events("trace-create")
    [gen] = lf.events("generation-create")
    t = trace["body"]
    assert t["id"] == "trace-42" and t["sessionId"] == "sess-7" and t["userId"] == "user-1"
    assert t["tags"] == ["prod", "eu"] and t["name"] == "summarise"
    assert "input" not in t and "output" not in t  # a trace of the caller's: left alone
    g = gen["body"]
    call_id = r._hidden_params["litellm_call_id"]
    assert g["id"] == call_id and g["traceId"] == "trace-42" and g["name"] == "summarise"
    assert g["model"] == "gpt-4o-mini"
    assert g["modelParameters"] == {"temperature": 0.3, "max_tokens": 20}
    assert g["input"] == MSGS
    assert g["output"]["content"] == "short answer" and g["output"]["role"] == "assistant"
    usage = r.usage
    assert g["usageDetails"] == {"input": usage.prompt_tokens, "output": usage.completion_tokens,
                                 "total": usage.total_tokens}
    assert g["usage"]["unit"] == "TOKENS" and g["usage"]["input"] == usage.prompt_tokens
    assert g["costDetails"] == {"total": pytest.approx(r._hidden_params["response_cost"])}
    assert g["level"] == "DEFAULT" and "statusMessage" not in g
    assert g["metadata"]["customer"] == "acme" and g["metadata"]["llmrelay_call_id"] == call_id
    assert "trace_id" not in g["metadata"] and "session_id" not in g["metadata"]
    assert _epoch(g["startTime"]) <= _epoch(g["completionStartTime"]) <= _epoch(g["endTime"])
    [req] = lf.received
    assert req.path == INGESTION_PATH and req.headers["authorization"] == _basic()
    assert "x-langfuse-ingestion-version" not in req.headers
    body = req.json()
    assert body["metadata"]["sdk_name"] == "llmrelay" and body["metadata"]["public_key"] == PK
    assert logger.stats()["rejected"] == 0


def test_ingestion_api_own_trace_and_failures(lf: LangfuseServer,
                                              make_logger: Callable[..., LangfuseLogger]
                                              ) -> None:
    logger = make_logger(api="ingestion")
    llmrelay.callbacks = [logger]
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi there")
    with pytest.raises(llmrelay.ContextWindowExceededError):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS,
                            mock_response=llmrelay.ContextWindowExceededError("too long"))
    assert llmrelay.flush(5) and logger.flush(5)
    trace, _ = lf.events("trace-create")
    ok, failed = lf.events("generation-create")
    call_id = r._hidden_params["litellm_call_id"]
    assert trace["body"]["id"] == ok["body"]["traceId"] == call_id
    assert trace["body"]["input"] == MSGS and trace["body"]["output"]["content"] == "hi there"
    assert ok["body"]["name"] == "llmrelay-completion"
    g = failed["body"]
    assert g["level"] == "ERROR" and "too long" in g["statusMessage"]
    assert "usage" not in g and "output" not in g


def test_ingestion_api_retries_without_duplicates_and_counts_rejections(
        lf: LangfuseServer, make_logger: Callable[..., LangfuseLogger]) -> None:
    lf.enqueue(Scripted(503), Scripted(500))
    lf.reject_types = {"trace-create"}
    logger = make_logger(api="ingestion")
    llmrelay.callbacks = [logger]
    for _ in range(3):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="x")
    assert llmrelay.flush(5) and logger.flush(10)
    assert [r.status for r in lf.received] == [503, 500, 207]
    # Every attempt carried the same events (same ids), so the server could deduplicate.
    ids = [[e["id"] for e in r.json()["batch"]] for r in lf.received]
    assert ids[0] == ids[1] == ids[2] and len(ids[0]) == 6
    assert len(lf.events("generation-create")) == 3
    assert logger.stats()["rejected"] == 3 and logger.stats()["retries"] == 2


def test_ingestion_api_events_are_json_with_iso_timestamps(
        lf: LangfuseServer, make_logger: Callable[..., LangfuseLogger]) -> None:
    logger = make_logger(api="ingestion")
    llmrelay.callbacks = [logger]
    llmrelay.embedding(model="text-embedding-3-small", input=["a"], mock_response=None)
    assert llmrelay.flush(5) and logger.flush(5)
    for event in lf.events():
        assert event["timestamp"].endswith("Z")
        json.dumps(event)  # plain JSON all the way down
    [gen] = lf.events("generation-create")
    assert gen["body"]["name"] == "llmrelay-embedding" and "output" not in gen["body"]
