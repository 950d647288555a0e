"""OpenTelemetry (name ``otel``): one GenAI CLIENT span and the GenAI client metrics per call.

    llmrelay.callbacks = ["otel"]

Follows the OpenTelemetry semantic conventions for generative AI clients:

* a span named ``"{gen_ai.operation.name} {gen_ai.request.model}"`` (``chat``,
  ``text_completion`` or ``embeddings``) with ``gen_ai.provider.name`` (and the older
  ``gen_ai.system``), ``gen_ai.request.*``, ``gen_ai.response.id`` / ``.model`` /
  ``.finish_reasons``, ``gen_ai.usage.input_tokens`` / ``.output_tokens``,
  ``server.address`` / ``server.port``; on failure status ERROR and ``error.type``. Its start
  and end are the call's own times, and it is a child of the span that was current when the
  call was made: the callback dispatcher runs the outcome hook in (a copy of) the caller's
  ``contextvars`` context, which holds it, for every call including cache hits; the context
  seen by ``log_pre_api_call`` is kept too, as a fallback when the logger is in ``callbacks``;
  with no current span the span is a root;
* histograms ``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration`` (and
  ``gen_ai.client.operation.time_to_first_chunk`` for streams) with the conventions' bucket
  boundaries; answers from llmrelay's own cache spent no tokens, so they record no token
  usage (their span says ``llmrelay.cache_hit``);
* prompts and completions (``gen_ai.input.messages`` / ``gen_ai.output.messages``) only when
  opted in, with ``capture_message_content=True`` or
  ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``, and never when message
  logging is turned off.

The application's tracer and meter providers are used when it has set them (checked at the
first event; then only ``opentelemetry-api`` and ``-sdk`` are needed); otherwise this logger
uses its own, built when it is created (which needs ``opentelemetry-exporter-otlp-proto-http``:
without it, registering ``otel`` fails naming the package) and exporting
OTLP over HTTP/protobuf as the standard ``OTEL_*`` variables say
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``..._HEADERS``, ``OTEL_SERVICE_NAME``,
``OTEL_TRACES_EXPORTER=none`` ...), in batches off the caller's path.
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import os
import sys
import threading
from collections import OrderedDict
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..callbacks.payload import REDACTED
from ._genai import (
    DURATION_BUCKETS,
    TOKEN_BUCKETS,
    input_messages,
    operation_name,
    output_messages,
    provider_name,
    request_attributes,
    response_attributes,
)
from .custom_logger import CustomLogger

__all__ = ["DURATION_BUCKETS", "TOKEN_BUCKETS", "OTelLogger"]

log = logging.getLogger("llmrelay")

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CAPTURE_ON = frozenset({"true", "1", "yes", "on", "span_only", "span_and_event"})
_MAX_PARENTS = 10_000


def _ns(when: Any) -> int | None:
    ts = getattr(when, "timestamp", None)
    return int(ts() * 1e9) if callable(ts) else None


def _default_provider(kind: str) -> bool:
    """True when the application has not installed a real provider of this kind."""
    provider = trace.get_tracer_provider() if kind == "trace" else metrics.get_meter_provider()
    return type(provider).__name__ in {"ProxyTracerProvider", "_ProxyMeterProvider"}


def _env_off(var: str) -> bool:
    return "none" in os.environ.get(var, "otlp").lower()


_EXPORTER = "opentelemetry-exporter-otlp-proto-http"
_OWN_MODULES = ("exporter.otlp.proto.http.trace_exporter",
                "exporter.otlp.proto.http.metric_exporter", "sdk.trace", "sdk.trace.export",
                "sdk.metrics", "sdk.metrics.export", "sdk.resources")


def _own_parts() -> Any:
    """The SDK and OTLP exporter classes, needed only when llmrelay builds its own
    providers (an application that set its own needs just opentelemetry-api/-sdk)."""
    from .registry import IntegrationError

    try:
        # import_module, not ``from ... import``: it honours a module known to be missing
        (trace_exporter, metric_exporter, sdk_trace, trace_export, sdk_metrics,
         metrics_export, resources) = (importlib.import_module(f"opentelemetry.{name}")
                                       for name in _OWN_MODULES)
    except ImportError as exc:
        raise IntegrationError(
            f"otel: the application has set no OpenTelemetry tracer/meter provider, so "
            f"llmrelay would export with its own, which needs {exc.name or _EXPORTER} "
            f"(pip install 'llmrelay[otel]'); or set your providers before registering "
            f"otel, or pass tracer_provider=/meter_provider=") from exc
    return (trace_exporter.OTLPSpanExporter, metric_exporter.OTLPMetricExporter,
            sdk_trace.TracerProvider, trace_export.BatchSpanProcessor,
            sdk_metrics.MeterProvider, metrics_export.PeriodicExportingMetricReader,
            resources.Resource)


def _resource() -> Any:
    Resource = _own_parts()[6]
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "llmrelay"}))
    return resource


def _check_protocol(signal: str) -> None:
    protocol = (os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
    if protocol.strip().lower() != "http/protobuf":
        log.warning("llmrelay: otel exports %s over OTLP http/protobuf only; %r is not "
                    "supported (install your own provider to use it)", signal.lower(), protocol)


def _own_tracer_provider() -> Any:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true" or _env_off(
            "OTEL_TRACES_EXPORTER"):
        return trace.NoOpTracerProvider()
    _check_protocol("TRACES")
    span_exporter, _, tracer_provider, batch, _, _, _ = _own_parts()
    provider = tracer_provider(resource=_resource(), shutdown_on_exit=False)
    provider.add_span_processor(batch(span_exporter()))
    return provider


def _own_meter_provider() -> Any:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true" or _env_off(
            "OTEL_METRICS_EXPORTER"):
        return metrics.NoOpMeterProvider()
    _check_protocol("METRICS")
    _, metric_exporter, _, _, meter_provider, periodic, _ = _own_parts()
    reader = periodic(metric_exporter())
    return meter_provider(metric_readers=[reader], resource=_resource(),
                          shutdown_on_exit=False)


class OTelLogger(CustomLogger):
    """Emits a GenAI span and GenAI metrics for every call (see the module doc).

    ``tracer_provider`` / ``meter_provider`` override the application's or the
    environment-configured ones (given one, the other is the global provider, maybe a
    no-op); ``capture_message_content`` overrides
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``. Raises nothing at call time; a
    missing ``opentelemetry`` package fails at registration (``llmrelay[otel]``).
    """

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None, *,
                 capture_message_content: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        if capture_message_content is None:
            capture_message_content = os.environ.get(CAPTURE_ENV, "").lower() in _CAPTURE_ON
        self.capture_message_content = capture_message_content
        self._owned: list[Any] = []
        self._parents: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._ready = False
        # Our own exporters are built now, at registration: the first event may come too
        # late to start their threads (a script's only call, delivered at interpreter exit).
        # If the application installs its providers before that event, they win (below).
        self._own_tp: Any = None
        self._own_mp: Any = None
        if tracer_provider is None and meter_provider is None:
            if _default_provider("trace"):
                self._own_tp = self._own_kind("trace")
            if _default_provider("metrics"):
                self._own_mp = self._own_kind("metrics")

    def _own_kind(self, kind: str) -> Any:
        """Our own provider of ``kind``; None (the global, a no-op) when the OTLP exporter
        is missing but the application set up the other kind itself: it did configure
        OpenTelemetry, just not this signal. Raises IntegrationError when it set up
        neither (nothing would ever be exported)."""
        from .registry import IntegrationError

        build = _own_tracer_provider if kind == "trace" else _own_meter_provider
        try:
            return self._own(build())
        except IntegrationError:
            if _default_provider("metrics" if kind == "trace" else "trace"):
                raise
            log.info("llmrelay: otel: no %s provider set and no OTLP exporter installed; "
                     "%s are not recorded", kind, "spans" if kind == "trace" else "metrics")
            return None

    # ---- providers and instruments, resolved at the first event ----------------------------
    def _setup(self) -> None:
        with self._lock:
            if self._ready:
                return
            # Passing either provider means "configured by hand": the other one is then the
            # global one (perhaps a no-op), never an exporter of our own.
            explicit = self._tracer_provider is not None or self._meter_provider is not None
            tp = self._tracer_provider
            if tp is None:
                if not explicit and _default_provider("trace"):
                    if self._own_tp is None:
                        self._own_tp = self._own_kind("trace")
                    tp = self._own_tp or trace.get_tracer_provider()
                else:
                    tp = trace.get_tracer_provider()
                    self._disown(self._own_tp)
                    self._own_tp = None
            mp = self._meter_provider
            if mp is None:
                if not explicit and _default_provider("metrics"):
                    if self._own_mp is None:
                        self._own_mp = self._own_kind("metrics")
                    mp = self._own_mp or metrics.get_meter_provider()
                else:
                    mp = metrics.get_meter_provider()
                    self._disown(self._own_mp)
                    self._own_mp = None
            from .. import __version__

            self._tracer = tp.get_tracer("llmrelay", __version__)
            meter = mp.get_meter("llmrelay", __version__)
            self._tokens = meter.create_histogram(
                "gen_ai.client.token.usage", unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
            self._duration = meter.create_histogram(
                "gen_ai.client.operation.duration", unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
            self._first_chunk = meter.create_histogram(
                "gen_ai.client.operation.time_to_first_chunk", unit="s",
                description="Time to receive the first chunk of a streamed response.",
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
            self._ready = True

    def _own(self, provider: Any) -> Any:
        if hasattr(provider, "shutdown"):
            self._owned.append(provider)
            _owning.add(self)
        return provider

    def _disown(self, provider: Any) -> None:
        """Shut down an exporter of ours that the application's provider replaced."""
        if provider is not None and provider in self._owned:
            self._owned.remove(provider)
            try:
                provider.shutdown()
            except Exception:  # it exported nothing yet; failing to stop it is harmless
                log.debug("llmrelay: otel provider shutdown failed", exc_info=True)

    # ---- in-band: remember the caller's span (the span itself is made later, elsewhere) -----
    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        ctx = otel_context.get_current()
        if not trace.get_current_span(ctx).get_span_context().is_valid:
            return
        call_id = kwargs.get("litellm_call_id")
        if call_id:
            parents = self._parents
            parents[call_id] = ctx
            if len(parents) > _MAX_PARENTS:  # outcomes that never reach us (input_callback)
                with self._lock:
                    while len(parents) > _MAX_PARENTS:
                        parents.popitem(last=False)

    # ---- outcomes (sync hooks: on this logger's own worker thread, so a blocking span
    # processor configured by the application never stalls the dispatcher's loop) -----------
    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._emit(kwargs, response_obj, None)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._emit(kwargs, None, kwargs.get("exception"))

    def _emit(self, kwargs: dict[str, Any], response: Any, exc: BaseException | None) -> None:
        if not self._ready:
            self._setup()
        op = operation_name(kwargs.get("call_type"))
        provider = provider_name(kwargs.get("custom_llm_provider"))
        attrs = request_attributes(kwargs, op, provider)
        payload = kwargs.get("standard_logging_object") or {}
        if response is not None:
            attrs.update(response_attributes(response, payload))
        if kwargs.get("cache_hit"):
            attrs["llmrelay.cache_hit"] = True
        cost = kwargs.get("response_cost")
        if isinstance(cost, (int, float)):
            attrs["llmrelay.response_cost"] = float(cost)
        start, end = kwargs.get("start_time"), kwargs.get("end_time")
        first = kwargs.get("completion_start_time")
        if kwargs.get("stream") and first is not None and start is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = (first - start).total_seconds()
        if exc is not None:
            attrs["error.type"] = type(exc).__name__
        if self.capture_message_content:
            attrs.update(self._content(kwargs, response, op))
        span = self._tracer.start_span(
            f"{op} {kwargs.get('model') or ''}".strip(), context=self._parent(kwargs),
            kind=SpanKind.CLIENT, attributes=attrs, start_time=_ns(start))
        if exc is not None:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:1000]))
        span.end(end_time=_ns(end))
        self._record_metrics(attrs, start, end, first, exc, bool(kwargs.get("cache_hit")))

    def _parent(self, kwargs: dict[str, Any]) -> Any:
        """The caller's context: captured before the request, else the one this hook runs
        in if it holds a span (the caller's, carried over by the dispatcher); else none."""
        parent = self._parents.pop(kwargs.get("litellm_call_id") or "", None)
        if parent is not None:
            return parent
        current = otel_context.get_current()
        if trace.get_current_span(current).get_span_context().is_valid:
            return current
        return otel_context.Context()

    def _record_metrics(self, attrs: dict[str, Any], start: Any, end: Any, first: Any,
                        exc: BaseException | None, cache_hit: bool) -> None:
        keys = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
                "gen_ai.response.model", "server.address", "server.port", "error.type")
        common = {k: attrs[k] for k in keys if k in attrs}
        if start is not None and end is not None:
            self._duration.record(max(0.0, (end - start).total_seconds()), common)
        if "gen_ai.response.time_to_first_chunk" in attrs:
            self._first_chunk.record(max(0.0, attrs["gen_ai.response.time_to_first_chunk"]),
                                     common)
        if exc is None and not cache_hit and "gen_ai.usage.input_tokens" in attrs:
            self._tokens.record(attrs["gen_ai.usage.input_tokens"],
                                {**common, "gen_ai.token.type": "input"})
            if attrs["gen_ai.operation.name"] != "embeddings":
                self._tokens.record(attrs["gen_ai.usage.output_tokens"],
                                    {**common, "gen_ai.token.type": "output"})

    def _content(self, kwargs: dict[str, Any], response: Any, op: str) -> dict[str, str]:
        """Opt-in prompt/completion attributes; nothing when message logging is off."""
        settings = sys.modules.get("llmrelay")
        if self.turn_off_message_logging or getattr(settings, "turn_off_message_logging", False):
            return {}
        out = {"gen_ai.input.messages": json.dumps(input_messages(kwargs, op), default=str)}
        if response is not None and op != "embeddings":
            out["gen_ai.output.messages"] = json.dumps(output_messages(response), default=str)
        if any(REDACTED in value for value in out.values()):  # redacted for this call
            return {}
        return out

    # ---- lifecycle ---------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Export what the providers buffer now (call ``llmrelay.flush()`` first)."""
        if not self._ready:
            return True
        millis = int((timeout if timeout is not None else 30.0) * 1000)
        done = True
        for provider in (self._tracer_provider, self._meter_provider, *self._owned):
            force = getattr(provider, "force_flush", None)
            if callable(force):
                done = bool(force(millis)) and done
        return done

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush, then shut down the providers this logger created (not the application's)."""
        done = self.flush(timeout)
        owned, self._owned = self._owned, []
        for provider in owned:
            try:
                provider.shutdown()
            except Exception:  # exporting at shutdown must not break the caller
                log.debug("llmrelay: otel provider shutdown failed", exc_info=True)
        _owning.discard(self)
        return done


_owning: set[OTelLogger] = set()


def _close_at_exit() -> None:
    """Deliver pending events first, then export and stop the providers we created."""
    if not _owning:
        return
    from ..callbacks.dispatcher import dispatcher

    module = sys.modules.get("llmrelay")
    deadline = getattr(module, "callback_exit_timeout", 10.0)
    dispatcher.flush(float(deadline))
    for logger in list(_owning):
        logger.close(float(deadline))


atexit.register(_close_at_exit)
