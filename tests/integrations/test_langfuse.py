"""The Langfuse logger against a local server implementing the ingestion endpoint."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import llmrelay
from fakes.langfuse_server import LangfuseServer
from fakes.webhook_server import Scripted
from llmrelay.integrations.langfuse import LangfuseLogger
from llmrelay.integrations.registry import IntegrationError, get_integration

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


def test_generation_with_usage_cost_latency_and_ids(
        lf: LangfuseServer, make_logger: Callable[..., LangfuseLogger]) -> None:
    logger = make_logger()
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
    # The request itself: one POST, basic auth, SDK metadata alongside the batch.
    [req] = lf.received
    assert req.headers["authorization"] == "Basic " + base64.b64encode(
        f"{PK}:{SK}".encode()).decode()
    body = req.json()
    assert body["metadata"]["sdk_name"] == "llmrelay" and body["metadata"]["public_key"] == PK
    assert logger.stats()["rejected"] == 0


def test_own_trace_per_call_without_metadata(lf: LangfuseServer,
                                             make_logger: Callable[..., LangfuseLogger]
                                             ) -> None:
    logger = make_logger()
    llmrelay.callbacks = [logger]
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="hi there")
    assert llmrelay.flush(5) and logger.flush(5)
    [trace] = lf.events("trace-create")
    [gen] = lf.events("generation-create")
    call_id = r._hidden_params["litellm_call_id"]
    assert trace["body"]["id"] == gen["body"]["traceId"] == call_id
    assert trace["body"]["input"] == MSGS and trace["body"]["output"]["content"] == "hi there"
    assert gen["body"]["name"] == "llmrelay-completion"


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
    [gen] = lf.events("generation-create")
    g = gen["body"]
    assert g["level"] == "ERROR" and "too long" in g["statusMessage"]
    assert "usage" not in g and "output" not in g


def test_retries_without_duplicates_and_counts_rejections(
        lf: LangfuseServer, make_logger: Callable[..., LangfuseLogger]) -> None:
    lf.enqueue(Scripted(503), Scripted(500))
    lf.reject_types = {"trace-create"}
    logger = make_logger()
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


def test_redaction_holds(lf: LangfuseServer,
                         make_logger: Callable[..., LangfuseLogger]) -> None:
    logger = make_logger()
    llmrelay.callbacks = [logger]
    llmrelay.turn_off_message_logging = True
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="private reply 12")
    assert llmrelay.flush(5) and logger.flush(5)
    raw = lf.received[0].body.decode()
    assert SECRET not in raw and "private reply 12" not in raw
    assert len(lf.events("generation-create")) == 1


def test_by_name_with_keys_from_environment(lf: LangfuseServer, builtin: Callable[..., None],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    builtin("langfuse")
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PK)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SK)
    monkeypatch.setenv("LANGFUSE_HOST", lf.host + "/")
    llmrelay.success_callback = ["langfuse"]
    logger = get_integration("langfuse")
    assert isinstance(logger, LangfuseLogger)
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    assert llmrelay.flush(5) and logger.flush(5)
    assert len(lf.events("generation-create")) == 1
    assert lf.received[0].path == "/api/public/ingestion"


def test_missing_keys_raise_at_registration(builtin: Callable[..., None],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    builtin("langfuse")
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SK)
    with pytest.raises(IntegrationError, match="LANGFUSE_PUBLIC_KEY") as info:
        llmrelay.success_callback = ["langfuse"]
    assert "LANGFUSE_SECRET_KEY" not in str(info.value).split("needs")[1].split("(")[0]
    assert llmrelay.success_callback == []


def test_wrong_keys_are_not_retried(lf: LangfuseServer) -> None:
    logger = LangfuseLogger(PK, "wrong", lf.host, flush_interval=60)
    try:
        llmrelay.callbacks = [logger]
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
        assert llmrelay.flush(5) and logger.flush(5)
        assert [r.status for r in lf.received] == [401]
        assert logger.stats()["failed"] == 1 and lf.events() == []
    finally:
        logger.close(1)


def test_events_are_json_with_iso_timestamps(lf: LangfuseServer,
                                             make_logger: Callable[..., LangfuseLogger]) -> None:
    logger = make_logger()
    llmrelay.callbacks = [logger]
    llmrelay.embedding(model="text-embedding-3-small", input=["a"], mock_response=None)
    assert llmrelay.flush(5) and logger.flush(5)
    for event in lf.events():
        assert event["timestamp"].endswith("Z")
        json.dumps(event)  # plain JSON all the way down
    [gen] = lf.events("generation-create")
    assert gen["body"]["name"] == "llmrelay-embedding" and "output" not in gen["body"]
