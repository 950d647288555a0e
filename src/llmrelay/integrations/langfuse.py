"""Langfuse (name ``langfuse``): one generation per call, with its trace.

    export LANGFUSE_PUBLIC_KEY=pk-lf-... LANGFUSE_SECRET_KEY=sk-lf-...
    export LANGFUSE_HOST=https://cloud.langfuse.com            # or your own deployment
    llmrelay.success_callback = ["langfuse"]
    llmrelay.completion(..., metadata={"trace_id": "t-1", "session_id": "s-1",
                                       "generation_name": "summarise", "tags": ["prod"]})

Two public Langfuse APIs can receive the calls; no ``langfuse`` package is needed for either:

* ``api="otel"`` (the default): ``POST {host}/api/public/otel/v1/traces``, OTLP/JSON with the
  ``x-langfuse-ingestion-version: 4`` header: Langfuse v4's ingestion path, and the only one
  Langfuse Cloud accepts traces on since 2026-11-16. Each call is one complete span carrying
  the ``langfuse.*`` attributes (observation type ``generation``, or ``embedding``), with the
  trace attributes (name, user, session, tags) on the span itself. Langfuse trace ids are
  then 32 hex digits: a ``trace_id`` in ``metadata`` that is not one is hashed (SHA-256,
  first 16 bytes), so the same ``trace_id`` always lands in the same trace.
* ``api="ingestion"``: the legacy ``POST {host}/api/public/ingestion`` batch API
  (``trace-create`` + ``generation-create`` events), for self-hosted Langfuse v3 servers.

Pick one with ``LangfuseLogger(api=...)`` or ``LLMRELAY_LANGFUSE_API``. Either way requests
use basic auth ``public:secret`` and go out in batches from a background thread, with the
retries and exit flush of :mod:`llmrelay.integrations.batching`.

A generation carries model, parameters, input and output (already redacted when
``turn_off_message_logging`` is on), usage, cost, start / first-token / end times, level
``ERROR`` and the error for failures, and the call's metadata. Metadata keys understood:
``trace_id`` (group calls in one trace; the trace's input/output are then left alone),
``session_id``, ``trace_name``, ``trace_user_id``, ``trace_metadata``, ``generation_name``,
``generation_id``, ``parent_observation_id`` (OTel API: a 16-hex-digit span id), ``tags``,
``version``, ``release``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import uuid
from typing import Any

import httpx

from . import _otlp_json as otlp
from .batching import BatchingLogger, BatchSender
from .registry import IntegrationError, MissingCredentialsError

__all__ = ["LangfuseLogger", "build_events", "build_span"]

log = logging.getLogger("llmrelay")

DEFAULT_HOST = "https://cloud.langfuse.com"
INGESTION_PATH = "/api/public/ingestion"
OTEL_PATH = "/api/public/otel/v1/traces"
API_ENV = "LLMRELAY_LANGFUSE_API"
APIS = ("otel", "ingestion")
_CONTROL_KEYS = frozenset({"trace_id", "session_id", "trace_name", "trace_user_id",
                           "trace_metadata", "generation_name", "generation_id", "tags",
                           "version", "release", "existing_trace_id", "parent_observation_id"})
_CALL_TYPES = frozenset({"completion", "embedding", "text_completion"})


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, (int, float)):
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _model_parameters(params: Any) -> dict[str, Any]:
    """Langfuse accepts scalar parameter values; anything else is sent as JSON text."""
    out: dict[str, Any] = {}
    for key, value in (params or {}).items() if isinstance(params, dict) else ():
        if value is None:
            continue
        out[key] = value if isinstance(value, (str, int, float, bool)) else json.dumps(
            value, default=str)
    return out


def _output(payload: dict[str, Any]) -> Any:
    response = payload.get("response")
    if not isinstance(response, dict):
        return None
    choices = response.get("choices") or []
    if not choices:
        return None  # embeddings: the vectors are not worth storing in a trace
    first = choices[0]
    if isinstance(first, dict) and first.get("message") is not None:
        return first["message"]
    return first.get("text") if isinstance(first, dict) else None


def _usage(payload: dict[str, Any]) -> dict[str, int]:
    usage = {"input": int(payload.get("prompt_tokens") or 0),
             "output": int(payload.get("completion_tokens") or 0),
             "total": int(payload.get("total_tokens") or 0)}
    if payload.get("cache_read_input_tokens"):
        usage["input_cache_read"] = int(payload["cache_read_input_tokens"])
    if payload.get("cache_creation_input_tokens"):
        usage["input_cache_creation"] = int(payload["cache_creation_input_tokens"])
    if payload.get("reasoning_tokens"):
        usage["output_reasoning"] = int(payload["reasoning_tokens"])
    return usage


class _Call:
    """What both APIs need from one standard payload."""

    def __init__(self, payload: dict[str, Any]) -> None:
        raw_md = payload.get("metadata")
        md: dict[str, Any] = raw_md if isinstance(raw_md, dict) else {}
        self.md = md
        self.call_id = payload.get("id")
        self.trace_seed = md.get("trace_id") or md.get("existing_trace_id")
        self.own_trace = not self.trace_seed
        call_type = str(payload.get("call_type") or "completion")
        if call_type[1:] in _CALL_TYPES:  # acompletion, aembedding, atext_completion
            call_type = call_type[1:]
        self.call_type = call_type
        self.name = str(md.get("generation_name") or f"llmrelay-{call_type}")
        self.failed = payload.get("status") == "failure"
        self.output = _output(payload)
        self.usage = None if self.failed else _usage(payload)
        cost = payload.get("response_cost")
        self.cost = float(cost) if isinstance(cost, (int, float)) else None
        self.extra = {k: v for k, v in md.items() if k not in _CONTROL_KEYS}
        self.details = {"llmrelay_call_id": self.call_id, "cache_hit": payload.get("cache_hit"),
                        "provider": payload.get("custom_llm_provider"),
                        "stream_status": payload.get("stream_status")}
        self.error = payload.get("error_str") if self.failed else None
        self.tags = payload.get("request_tags") or None
        self.user = md.get("trace_user_id") or payload.get("end_user")


def _event(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "timestamp": _now(),
            "body": {k: v for k, v in body.items() if v is not None}}


def build_events(payload: dict[str, Any], release: str | None = None) -> list[dict[str, Any]]:
    """Legacy ingestion API: the ``trace-create`` and ``generation-create`` events."""
    c = _Call(payload)
    md = c.md
    trace_id = str(c.trace_seed or c.call_id or uuid.uuid4())
    trace = _event("trace-create", {
        "id": trace_id, "name": md.get("trace_name") or c.name,
        "timestamp": _iso(payload.get("startTime")), "userId": c.user,
        "sessionId": md.get("session_id"), "tags": c.tags,
        "metadata": md.get("trace_metadata"), "release": md.get("release") or release,
        "version": md.get("version"),
        "input": payload.get("messages") if c.own_trace else None,
        "output": c.output if c.own_trace else None,
    })
    generation = _event("generation-create", {
        "id": str(md.get("generation_id") or c.call_id or uuid.uuid4()),
        "traceId": trace_id, "name": c.name, "model": payload.get("model"),
        "parentObservationId": md.get("parent_observation_id"),
        "modelParameters": _model_parameters(payload.get("model_parameters")),
        "input": payload.get("messages"), "output": c.output,
        "startTime": _iso(payload.get("startTime")), "endTime": _iso(payload.get("endTime")),
        "completionStartTime": _iso(payload.get("completionStartTime")),
        "usage": {**c.usage, "unit": "TOKENS"} if c.usage is not None else None,
        "usageDetails": c.usage,
        "costDetails": {"total": c.cost} if c.cost is not None else None,
        "metadata": {**c.extra, **c.details},
        "level": "ERROR" if c.failed else "DEFAULT", "statusMessage": c.error,
        "version": md.get("version"),
    })
    return [trace, generation]


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str,
                                                           ensure_ascii=False)


def _flat(prefix: str, values: Any) -> dict[str, Any]:
    """Metadata as ``prefix.key`` attributes (strings and integers kept, the rest JSON)."""
    if not isinstance(values, dict):
        return {prefix: _json(values)} if values is not None else {}
    return {f"{prefix}.{k}": v if isinstance(v, (str, int)) and not isinstance(v, bool)
            else _json(v) for k, v in values.items() if v is not None}


def build_span(payload: dict[str, Any], *, release: str | None = None,
               environment: str | None = None) -> dict[str, Any]:
    """OTel API: the call as one complete OTLP/JSON span with Langfuse's attributes."""
    c = _Call(payload)
    md = c.md
    trace_id = otlp.hex_id(c.trace_seed or c.call_id or uuid.uuid4(), 16)
    span_seed = md.get("generation_id") or f"llmrelay-generation:{c.call_id or uuid.uuid4()}"
    parent = md.get("parent_observation_id")
    first = _iso(payload.get("completionStartTime"))
    attrs: dict[str, Any] = {
        "langfuse.observation.type": "embedding" if c.call_type == "embedding"
        else "generation",
        "langfuse.observation.model.name": payload.get("model"),
        "langfuse.observation.model.parameters": _json(
            _model_parameters(payload.get("model_parameters")) or None),
        "langfuse.observation.input": _json(payload.get("messages")),
        "langfuse.observation.output": _json(c.output),
        "langfuse.observation.usage_details": _json(c.usage),
        "langfuse.observation.cost_details": _json(
            {"total": c.cost} if c.cost is not None else None),
        # A JSON-encoded timestamp string, as Langfuse's own SDKs send it.
        "langfuse.observation.completion_start_time": json.dumps(first) if first else None,
        "langfuse.observation.level": "ERROR" if c.failed else None,
        "langfuse.observation.status_message": c.error,
        **_flat("langfuse.observation.metadata", {**c.extra, **c.details}),
        "langfuse.version": md.get("version"),
        "langfuse.release": md.get("release") or release,
        "langfuse.environment": environment,
        # Trace attributes travel on every span (Langfuse v4); a caller's trace keeps its
        # name unless one is given.
        "langfuse.trace.name": md.get("trace_name") or (c.name if c.own_trace else None),
        "user.id": str(c.user) if c.user is not None else None,
        "session.id": str(md["session_id"]) if md.get("session_id") is not None else None,
        "langfuse.trace.tags": [str(t) for t in c.tags] if c.tags else None,
        **_flat("langfuse.trace.metadata", md.get("trace_metadata")),
    }
    span: dict[str, Any] = {
        "traceId": trace_id, "spanId": otlp.hex_id(span_seed, 8), "name": c.name,
        "kind": otlp.SPAN_KIND_CLIENT,
        "startTimeUnixNano": otlp.unix_nanos(payload.get("startTime")),
        "endTimeUnixNano": otlp.unix_nanos(payload.get("endTime")),
        "attributes": otlp.attributes(attrs),
        "status": {"code": otlp.STATUS_ERROR, "message": c.error or ""} if c.failed else {},
    }
    if parent:
        span["parentSpanId"] = otlp.hex_id(parent, 8)
    return {k: v for k, v in span.items() if v is not None}


class LangfuseLogger(BatchingLogger):
    """Sends every finished call to Langfuse as a generation in a trace.

    Keys and host come from the arguments, else ``LANGFUSE_PUBLIC_KEY`` /
    ``LANGFUSE_SECRET_KEY`` / ``LANGFUSE_HOST`` (default ``https://cloud.langfuse.com``);
    ``api`` from the argument, else ``LLMRELAY_LANGFUSE_API``, else ``"otel"``; the
    environment label from ``LANGFUSE_TRACING_ENVIRONMENT``. Raises
    :class:`~llmrelay.integrations.registry.IntegrationError` when ``api`` is unknown and
    its subclass ``MissingCredentialsError`` when a key is missing; registered by name
    (``"langfuse"``) without keys it warns instead and drops what it would send
    (:class:`~llmrelay.integrations.registry.UnconfiguredIntegration`), as LiteLLM fails
    only when it sends. ``flush(timeout)`` sends what is queued now; ``stats()``
    counts calls sent, retried, dropped and failed, and ``rejected`` events or spans
    (refused one by one by Langfuse). ``batch_size`` counts calls.
    """

    def __init__(self, public_key: str | None = None, secret_key: str | None = None,
                 host: str | None = None, *, api: str | None = None,
                 release: str | None = None, environment: str | None = None,
                 batch_size: int = 100, flush_interval: float = 1.0, max_queue: int = 10000,
                 max_retries: int = 5, backoff_base: float = 0.5, timeout: float = 10.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        public_key = public_key or os.environ.get("LANGFUSE_PUBLIC_KEY")
        secret_key = secret_key or os.environ.get("LANGFUSE_SECRET_KEY")
        missing = [name for name, value in (("LANGFUSE_PUBLIC_KEY", public_key),
                                            ("LANGFUSE_SECRET_KEY", secret_key)) if not value]
        if missing:
            raise MissingCredentialsError(
                f"the langfuse logger needs {' and '.join(missing)} (and LANGFUSE_HOST for a "
                f"self-hosted Langfuse), or LangfuseLogger(public_key=..., secret_key=...)")
        api = (api or os.environ.get(API_ENV) or "otel").strip().lower()
        if api not in APIS:
            raise IntegrationError(f"the langfuse logger's api must be one of {APIS}, "
                                   f"not {api!r} (LangfuseLogger(api=...) or {API_ENV})")
        self.api = api
        self.public_key = str(public_key)
        host = host or os.environ.get("LANGFUSE_HOST") or os.environ.get(
            "LANGFUSE_BASE_URL") or DEFAULT_HOST
        self.host = host.rstrip("/")
        self.release = release or os.environ.get("LANGFUSE_RELEASE")
        self.environment = environment or os.environ.get("LANGFUSE_TRACING_ENVIRONMENT")
        token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        if api == "otel":
            headers["x-langfuse-ingestion-version"] = "4"
        self.rejected = 0
        self._warned_rejection = False
        self.sender = BatchSender(
            "langfuse", self.host + (OTEL_PATH if api == "otel" else INGESTION_PATH),
            headers=headers, encode=self._encode, on_success=self._check_reply,
            batch_size=batch_size, flush_interval=flush_interval, max_queue=max_queue,
            max_retries=max_retries, backoff_base=backoff_base, timeout=timeout)

    def _encode(self, payloads: list[Any]) -> bytes:
        """One request body for a batch of calls, built once: retries resend the same event
        and span ids, which Langfuse deduplicates."""
        from .. import __version__

        if self.api == "otel":
            spans = [build_span(p, release=self.release, environment=self.environment)
                     for p in payloads]
            body: dict[str, Any] = otlp.export_request(
                spans, {"service.name": "llmrelay", "telemetry.sdk.name": "llmrelay",
                        "telemetry.sdk.version": __version__}, "llmrelay", __version__)
        else:
            events = [e for p in payloads for e in build_events(p, self.release)]
            body = {"batch": events, "metadata": {"sdk_name": "llmrelay",
                                                  "sdk_version": __version__,
                                                  "public_key": self.public_key,
                                                  "batch_size": len(events)}}
        return json.dumps(body, separators=(",", ":"), default=str).encode()

    def _check_reply(self, response: httpx.Response, payloads: list[Any]) -> None:
        """Count what Langfuse refused one by one: a 207's ``errors`` (ingestion API) or an
        OTLP ``partialSuccess.rejectedSpans`` (OTel API); logged once."""
        try:
            reply = response.json()
        except ValueError:
            return
        if not isinstance(reply, dict):
            return
        if self.api == "otel":
            partial = reply.get("partialSuccess") or {}
            count = int(partial.get("rejectedSpans") or 0) if isinstance(partial, dict) else 0
            example = partial.get("errorMessage") if isinstance(partial, dict) else None
        else:
            errors = reply.get("errors") or []
            count, example = len(errors), errors[0] if errors else None
        if count:
            self.rejected += count
            if not self._warned_rejection:
                self._warned_rejection = True
                log.error("llmrelay: Langfuse refused %d %s, e.g. %s", count,
                          "span(s)" if self.api == "otel" else "event(s)", str(example)[:300])

    def stats(self) -> dict[str, int]:
        return {**self.sender.stats(), "rejected": self.rejected}
