"""The OpenTelemetry logger: GenAI spans and metrics, with in-memory exporters and over OTLP."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from integration_helpers import finish, start_python
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply
from fakes.otlp_receiver import OTLPReceiver
from llmrelay.caching import Cache
from llmrelay.integrations._genai import (
    input_messages,
    operation_name,
    output_messages,
    provider_name,
    request_attributes,
    response_attributes,
)
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay.integrations.otel import DURATION_BUCKETS, TOKEN_BUCKETS, OTelLogger
from llmrelay.integrations.registry import IntegrationError, get_integration

SECRET = "the secret prompt 5150"
MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": SECRET}]


class Telemetry:
    """In-memory tracer and meter providers, as an application would configure them."""

    def __init__(self) -> None:
        self.spans_out = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_out))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def logger(self, **kw: Any) -> OTelLogger:
        return OTelLogger(self.tracer_provider, self.meter_provider, **kw)

    def spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans_out.get_finished_spans()
                if s.instrumentation_scope and s.instrumentation_scope.name == "llmrelay"]

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        out = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        out.extend(m.data.data_points)
        return out

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def tel() -> Iterator[Telemetry]:
    t = Telemetry()
    yield t
    llmrelay.flush(5)
    t.close()


def test_chat_span_follows_genai_conventions(tel: Telemetry, fake: FakeOpenAI,
                                             openai_args: dict[str, str]) -> None:
    llmrelay.callbacks = [tel.logger()]
    before = time.time_ns()
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, temperature=0.2, top_p=0.9,
                            max_tokens=50, stop=["END"], seed=7, **openai_args)
    after = time.time_ns()
    assert llmrelay.flush(5)
    [span] = tel.spans()
    assert span.name == "chat gpt-4o-mini" and span.kind is SpanKind.CLIENT
    a = dict(span.attributes or {})
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.system"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.request.temperature"] == 0.2 and a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.max_tokens"] == 50 and a["gen_ai.request.seed"] == 7
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["gen_ai.response.id"] == r.id and a["gen_ai.response.model"] == r.model
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == r.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == r.usage.completion_tokens
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == fake.port
    assert a["llmrelay.response_cost"] == r._hidden_params["response_cost"]
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
    assert "error.type" not in a and span.status.status_code is StatusCode.UNSET
    # The span covers the call itself, not the later moment it was built on the dispatcher.
    assert span.start_time is not None and span.end_time is not None
    assert before <= span.start_time <= span.end_time <= after
    assert span.parent is None


def test_failure_span_and_metrics_carry_error_type(tel: Telemetry, fake: FakeOpenAI,
                                                   openai_args: dict[str, str]) -> None:
    llmrelay.callbacks = [tel.logger()]
    fake.enqueue(Reply.error(429, "slow down", type="rate_limit_error"))
    with pytest.raises(llmrelay.RateLimitError):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
    assert llmrelay.flush(5)
    [span] = tel.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes and span.attributes["error.type"] == "RateLimitError"
    assert any(e.name == "exception" for e in span.events)
    [duration] = tel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "RateLimitError" and duration.count == 1
    assert tel.points("gen_ai.client.token.usage") == []


def test_metrics_use_the_conventions_buckets(tel: Telemetry) -> None:
    llmrelay.callbacks = [tel.logger()]
    rs = [llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="one two")
          for _ in range(2)]
    assert llmrelay.flush(5)
    tokens = {p.attributes["gen_ai.token.type"]: p
              for p in tel.points("gen_ai.client.token.usage")}
    assert tokens["input"].sum == sum(r.usage.prompt_tokens for r in rs)
    assert tokens["output"].sum == sum(r.usage.completion_tokens for r in rs)
    assert tokens["input"].count == 2
    assert tuple(tokens["input"].explicit_bounds) == TOKEN_BUCKETS
    assert tokens["input"].attributes["gen_ai.operation.name"] == "chat"
    assert tokens["input"].attributes["gen_ai.request.model"] == "gpt-4o-mini"
    [duration] = tel.points("gen_ai.client.operation.duration")
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS and duration.count == 2
    assert "error.type" not in duration.attributes


def test_bucket_boundaries_are_the_conventions_ones() -> None:
    # The conventions: token usage in powers of 4 from 1 to 4**13, durations doubling from
    # 10 ms to 81.92 s (also used for time to first chunk).
    assert list(TOKEN_BUCKETS) == [4 ** i for i in range(14)]
    assert list(DURATION_BUCKETS) == pytest.approx([0.01 * 2 ** i for i in range(14)])


def test_spans_nest_under_the_callers_current_span(tel: Telemetry) -> None:
    llmrelay.callbacks = [tel.logger()]
    app = tel.tracer_provider.get_tracer("app")
    with app.start_as_current_span("handle-request") as parent:
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    assert llmrelay.flush(5)
    inner, outer = tel.spans()
    ctx = parent.get_span_context()
    assert inner.parent is not None and inner.parent.span_id == ctx.span_id
    assert inner.context is not None and inner.context.trace_id == ctx.trace_id
    assert outer.parent is None


def test_outcome_in_the_callers_context_nests_without_the_pre_call_hook(
        tel: Telemetry) -> None:
    # The outcome hook running in the caller's context (a dispatcher that carries contextvars
    # over) is enough: no log_pre_api_call capture is needed.
    got: list[tuple[dict[str, Any], Any]] = []

    class Capture(CustomLogger):
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            got.append((kwargs, response_obj))

    llmrelay.success_callback = [Capture()]
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    assert llmrelay.flush(5)
    [(kwargs, response)] = got
    logger = tel.logger()
    app = tel.tracer_provider.get_tracer("app")
    with app.start_as_current_span("handler") as parent:
        logger.log_success_event(kwargs, response, kwargs["start_time"], kwargs["end_time"])
    logger.log_success_event(kwargs, response, kwargs["start_time"], kwargs["end_time"])
    inner, outer = tel.spans()
    assert inner.parent is not None
    assert inner.parent.span_id == parent.get_span_context().span_id
    assert outer.parent is None


@pytest.mark.parametrize("where", ["callbacks", "success_callback"])
def test_cache_hits_nest_under_the_callers_current_span(tel: Telemetry, where: str) -> None:
    # A cache hit sends no request (no log_pre_api_call): the dispatcher's carrying the
    # caller's context over is what nests it, wherever the logger is registered.
    llmrelay.cache = Cache()
    setattr(llmrelay, where, [tel.logger()])
    app = tel.tracer_provider.get_tracer("app")
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="cached")
    with app.start_as_current_span("handler") as parent:
        r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="cached")
    assert r._hidden_params.get("cache_hit")
    assert llmrelay.flush(5)
    _, hit = tel.spans()
    assert hit.attributes and hit.attributes["llmrelay.cache_hit"] is True
    assert hit.parent is not None and hit.parent.span_id == parent.get_span_context().span_id


def test_cache_hits_record_no_token_usage(tel: Telemetry) -> None:
    llmrelay.cache = Cache()
    llmrelay.callbacks = [tel.logger()]
    rs = [llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="cached")
          for _ in range(2)]
    assert llmrelay.flush(5)
    assert [bool(r._hidden_params.get("cache_hit")) for r in rs] == [False, True]
    tokens = {p.attributes["gen_ai.token.type"]: p
              for p in tel.points("gen_ai.client.token.usage")}
    assert tokens["input"].count == 1 and tokens["input"].sum == rs[0].usage.prompt_tokens
    [duration] = tel.points("gen_ai.client.operation.duration")
    assert duration.count == 2  # the operation still happened, and took time
    assert [bool((s.attributes or {}).get("llmrelay.cache_hit")) for s in tel.spans()] == [
        False, True]


async def test_async_calls_nest_per_task(tel: Telemetry) -> None:
    llmrelay.callbacks = [tel.logger()]
    app = tel.tracer_provider.get_tracer("app")

    async def one(name: str) -> tuple[int, str]:
        with app.start_as_current_span(name) as sp:
            r = await llmrelay.acompletion(model="gpt-4o-mini", messages=MSGS,
                                           mock_response="ok", metadata={"task": name})
            return sp.get_span_context().span_id, r.id

    pairs = await asyncio.gather(one("a"), one("b"), one("c"))
    assert await llmrelay.aflush(5)
    by_response = {s.attributes["gen_ai.response.id"]: s for s in tel.spans() if s.attributes}
    for parent_id, response_id in pairs:
        child = by_response[response_id]
        assert child.parent is not None and child.parent.span_id == parent_id


def test_other_operations_and_streams(tel: Telemetry) -> None:
    llmrelay.callbacks = [tel.logger()]
    llmrelay.embedding(model="text-embedding-3-small", input=["a", "b"], mock_response=None)
    llmrelay.text_completion(model="gpt-3.5-turbo-instruct", prompt="say hi", mock_response="hi")
    for _ in llmrelay.completion(model="gpt-4o-mini", messages=MSGS, stream=True,
                                 mock_response="one two three"):
        pass
    assert llmrelay.flush(5)
    names = [s.name for s in tel.spans()]
    assert names == ["embeddings text-embedding-3-small",
                     "text_completion gpt-3.5-turbo-instruct", "chat gpt-4o-mini"]
    stream_span = tel.spans()[2]
    assert stream_span.attributes and stream_span.attributes["gen_ai.request.stream"] is True
    assert stream_span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    [first] = tel.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1


def test_message_content_only_when_opted_in(tel: Telemetry) -> None:
    llmrelay.callbacks = [tel.logger(capture_message_content=True)]
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="the answer 88")
    assert llmrelay.flush(5)
    [span] = tel.spans()
    assert span.attributes is not None
    inputs = json.loads(str(span.attributes["gen_ai.input.messages"]))
    assert inputs == [{"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
                      {"role": "user", "parts": [{"type": "text", "content": SECRET}]}]
    outputs = json.loads(str(span.attributes["gen_ai.output.messages"]))
    assert outputs == [{"role": "assistant", "finish_reason": "stop",
                        "parts": [{"type": "text", "content": "the answer 88"}]}]


def test_content_opt_in_from_environment(tel: Telemetry, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    llmrelay.callbacks = [tel.logger()]
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    assert llmrelay.flush(5)
    [span] = tel.spans()
    assert span.attributes and SECRET in str(span.attributes["gen_ai.input.messages"])


@pytest.mark.parametrize("how", ["global", "per_call", "per_logger"])
def test_redaction_wins_over_the_opt_in(tel: Telemetry, how: str) -> None:
    llmrelay.callbacks = [tel.logger(capture_message_content=True,
                                     turn_off_message_logging=how == "per_logger")]
    extra: dict[str, Any] = {}
    if how == "per_call":
        extra["turn_off_message_logging"] = True
    elif how == "global":
        llmrelay.turn_off_message_logging = True
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="answer 77",
                        **extra)
    assert llmrelay.flush(5)
    [span] = tel.spans()
    text = json.dumps(dict(span.attributes or {}), default=str)
    assert SECRET not in text and "answer 77" not in text
    assert "gen_ai.input.messages" not in text


def test_by_name_uses_the_applications_providers(tel: Telemetry, builtin: Callable[..., None],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: tel.tracer_provider)
    monkeypatch.setattr(otel_metrics, "get_meter_provider", lambda: tel.meter_provider)
    builtin("otel")
    llmrelay.callbacks = ["otel"]
    assert isinstance(get_integration("otel"), OTelLogger)
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    assert llmrelay.flush(5)
    assert [s.name for s in tel.spans()] == ["chat gpt-4o-mini"]
    assert len(tel.points("gen_ai.client.operation.duration")) == 1
    assert get_integration("otel")._owned == []  # it built no providers of its own


def test_exports_over_otlp_http_when_the_app_set_no_provider(
        monkeypatch: pytest.MonkeyPatch, fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    with OTLPReceiver() as rx:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rx.endpoint)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "relay-test")
        logger = OTelLogger()
        try:
            llmrelay.callbacks = [logger]
            r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
            assert llmrelay.flush(5)
            assert logger.flush(10)
            [span] = rx.spans()
            assert span["name"] == "chat gpt-4o-mini" and span["scope"] == "llmrelay"
            assert span["kind"] == 3  # SPAN_KIND_CLIENT
            assert span["resource"]["service.name"] == "relay-test"
            a = span["attributes"]
            assert a["gen_ai.response.id"] == r.id
            assert a["gen_ai.usage.output_tokens"] == r.usage.completion_tokens
            assert a["server.port"] == fake.port
            tokens = rx.metric_points("gen_ai.client.token.usage")
            assert {p["attributes"]["gen_ai.token.type"] for p in tokens} == {"input", "output"}
            assert tokens[0]["explicit_bounds"] == list(map(float, TOKEN_BUCKETS))
            assert all(r_.path in {"/v1/traces", "/v1/metrics"} for r_ in rx.received)
        finally:
            logger.close(5)


def test_a_script_that_exits_right_after_its_call_still_exports() -> None:
    # The only event is delivered by the exit flush: the exporters must exist by then.
    with OTLPReceiver() as rx:
        proc = start_python("""
            import llmrelay
            llmrelay.callbacks = ["otel"]
            llmrelay.completion(model="gpt-4o-mini", messages=[{"role": "user",
                                "content": "hi"}], mock_response="ok")
        """, OTEL_EXPORTER_OTLP_ENDPOINT=rx.endpoint)
        finish(proc)
        assert [s["name"] for s in rx.spans()] == ["chat gpt-4o-mini"]
        points = rx.metric_points("gen_ai.client.operation.duration")
        assert points and points[-1]["count"] == 1  # cumulative: exported at flush and stop


def test_providers_the_app_installs_after_registration_win(
        tel: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    with OTLPReceiver() as rx:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rx.endpoint)
        logger = OTelLogger()  # no application provider yet: builds its own exporters
        assert len(logger._owned) == 2
        monkeypatch.setattr(trace, "get_tracer_provider", lambda: tel.tracer_provider)
        monkeypatch.setattr(otel_metrics, "get_meter_provider", lambda: tel.meter_provider)
        llmrelay.callbacks = [logger]
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
        assert llmrelay.flush(5)
        assert [s.name for s in tel.spans()] == ["chat gpt-4o-mini"]
        assert logger._owned == []  # ours were shut down, unused
        logger.close(5)
        assert rx.spans() == []


def test_missing_dependency_names_the_extra(builtin: Callable[..., None],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    builtin("otel")
    monkeypatch.delitem(sys.modules, "llmrelay.integrations.otel")
    # As if the OTLP exporter package were not installed:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.metric_exporter",
                        None)
    import llmrelay.integrations.otel as otel

    # no provider set by the application (other tests here set global ones)
    monkeypatch.setattr(otel, "_default_provider", lambda kind: True)
    with pytest.raises(IntegrationError, match=r"pip install 'llmrelay\[otel\]'"):
        llmrelay.callbacks = ["otel"]


def test_semantic_convention_mapping() -> None:
    kwargs = {"model": "claude-x", "call_type": "acompletion", "stream": False,
              "optional_params": {"max_completion_tokens": 9, "n": 2, "stop": "###",
                                  "response_format": {"type": "json_schema"},
                                  "temperature": None},
              "litellm_params": {"api_base": "https://api.example.com/v1"},
              "messages": [{"role": "assistant", "content": None,
                            "tool_calls": [{"id": "c1", "type": "function", "function": {
                                "name": "f", "arguments": "{}"}}]},
                           {"role": "tool", "tool_call_id": "c1", "content": "42"}]}
    op = operation_name(kwargs["call_type"])
    assert (op, operation_name("aembedding"), operation_name("atext_completion")) == (
        "chat", "embeddings", "text_completion")
    assert provider_name("azure") == "azure.ai.openai" and provider_name("groq") == "groq"
    a = request_attributes(kwargs, op, "anthropic")
    assert a["server.address"] == "api.example.com" and a["server.port"] == 443
    assert a["gen_ai.request.max_tokens"] == 9 and a["gen_ai.request.choice.count"] == 2
    assert a["gen_ai.request.stop_sequences"] == ["###"] and a["gen_ai.output.type"] == "json"
    assert "gen_ai.request.temperature" not in a and "gen_ai.request.stream" not in a
    assert input_messages(kwargs, op) == [
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "f",
                                         "arguments": {}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1",
                                    "response": "42"}]}]


def test_content_parts_usage_details_and_conversation() -> None:
    kwargs = {"model": "m", "call_type": "completion",
              "litellm_params": {"metadata": {"session_id": "conv-7"}},
              "messages": [{"role": "user", "content": [
                  {"type": "text", "text": "what is this?"},
                  {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}},
                  {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                  {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
              ]}]}
    assert request_attributes(kwargs, "chat", "openai")["gen_ai.conversation.id"] == "conv-7"
    [msg] = input_messages(kwargs, "chat")
    assert msg["parts"] == [
        {"type": "text", "content": "what is this?"},
        {"type": "uri", "modality": "image", "uri": "https://x.test/cat.png"},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBO"},
        {"type": "blob", "modality": "audio", "mime_type": "audio/wav", "content": "UklG"}]
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    r.choices[0].message.tool_calls = [{"id": "c9", "type": "function", "function": {
        "name": "lookup", "arguments": '{"city": "Paris"}'}}]
    [out] = output_messages(r)
    assert out["parts"][-1] == {"type": "tool_call", "id": "c9", "name": "lookup",
                                "arguments": {"city": "Paris"}}
    a = response_attributes(r, {"cache_read_input_tokens": 5, "cache_creation_input_tokens": 7,
                                "reasoning_tokens": 3})
    assert a["gen_ai.usage.cache_read.input_tokens"] == 5
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 7
    assert a["gen_ai.usage.reasoning.output_tokens"] == 3


def test_works_without_the_otlp_exporter_when_the_app_set_its_providers() -> None:
    """Only opentelemetry-api/-sdk installed: an application with its own providers gets
    its spans; without them, registering otel says which package is missing."""
    proc = start_python("""
        import sys
        sys.modules["opentelemetry.exporter.otlp.proto.http"] = None  # not installed
        sys.modules["opentelemetry.exporter.otlp.proto.http.trace_exporter"] = None
        sys.modules["opentelemetry.exporter.otlp.proto.http.metric_exporter"] = None
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter)
        import llmrelay
        from llmrelay.integrations.registry import IntegrationError, get_integration
        from llmrelay.integrations.otel import OTelLogger
        try:
            OTelLogger()
        except IntegrationError as exc:
            print("refused:", "opentelemetry.exporter" in str(exc))
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        llmrelay.callbacks = ["otel"]
        llmrelay.completion(model="mock/mock", messages=[{"role": "user", "content": "hi"}])
        llmrelay.flush(10)
        print("spans:", [s.name for s in exporter.get_finished_spans()])
    """)
    out = finish(proc)
    assert "refused: True" in out
    assert "spans: ['chat mock']" in out
