"""Langfuse (name ``langfuse``): one trace and one generation per call, via the ingestion API.

    export LANGFUSE_PUBLIC_KEY=pk-lf-... LANGFUSE_SECRET_KEY=sk-lf-...
    export LANGFUSE_HOST=https://cloud.langfuse.com            # or your own deployment
    llmrelay.success_callback = ["langfuse"]
    llmrelay.completion(..., metadata={"trace_id": "t-1", "session_id": "s-1",
                                       "generation_name": "summarise", "tags": ["prod"]})

Events go to ``POST {host}/api/public/ingestion`` (basic auth ``public:secret``) in batches
of ``trace-create`` + ``generation-create`` events, sent from a background thread with the
batching, retries and exit flush of :mod:`llmrelay.integrations.batching`. No ``langfuse``
package is needed.

A generation carries model, parameters, input and output (already redacted when
``turn_off_message_logging`` is on), usage, cost, start / first-token / end times, level
``ERROR`` and the error for failures, and the call's metadata. Metadata keys understood:
``trace_id`` (group calls in one trace; the trace's input/output are then left alone),
``session_id``, ``trace_name``, ``trace_user_id``, ``trace_metadata``, ``generation_name``,
``generation_id``, ``tags``, ``version``, ``release``.
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

from .batching import BatchingLogger, BatchSender
from .registry import IntegrationError

__all__ = ["LangfuseLogger"]

log = logging.getLogger("llmrelay")

DEFAULT_HOST = "https://cloud.langfuse.com"
INGESTION_PATH = "/api/public/ingestion"
_CONTROL_KEYS = frozenset({"trace_id", "session_id", "trace_name", "trace_user_id",
                           "trace_metadata", "generation_name", "generation_id", "tags",
                           "version", "release", "existing_trace_id"})
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
    if payload.get("reasoning_tokens"):
        usage["output_reasoning"] = int(payload["reasoning_tokens"])
    return usage


def _event(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "timestamp": _now(),
            "body": {k: v for k, v in body.items() if v is not None}}


def build_events(payload: dict[str, Any], release: str | None = None) -> list[dict[str, Any]]:
    """The ``trace-create`` and ``generation-create`` events for one standard payload."""
    raw_md = payload.get("metadata")
    md: dict[str, Any] = raw_md if isinstance(raw_md, dict) else {}
    own_trace = not (md.get("trace_id") or md.get("existing_trace_id"))
    trace_id = str(md.get("trace_id") or md.get("existing_trace_id") or payload.get("id")
                   or uuid.uuid4())
    call_type = str(payload.get("call_type") or "completion")
    if call_type[1:] in _CALL_TYPES:  # acompletion, aembedding, atext_completion
        call_type = call_type[1:]
    name = md.get("generation_name") or f"llmrelay-{call_type}"
    failed = payload.get("status") == "failure"
    output = _output(payload)
    extra = {k: v for k, v in md.items() if k not in _CONTROL_KEYS}
    trace = _event("trace-create", {
        "id": trace_id, "name": md.get("trace_name") or name, "timestamp": _iso(
            payload.get("startTime")),
        "userId": md.get("trace_user_id") or payload.get("end_user"),
        "sessionId": md.get("session_id"), "tags": payload.get("request_tags") or None,
        "metadata": md.get("trace_metadata"), "release": md.get("release") or release,
        "version": md.get("version"),
        "input": payload.get("messages") if own_trace else None,
        "output": output if own_trace else None,
    })
    cost = payload.get("response_cost")
    generation = _event("generation-create", {
        "id": str(md.get("generation_id") or payload.get("id") or uuid.uuid4()),
        "traceId": trace_id, "name": name, "model": payload.get("model"),
        "modelParameters": _model_parameters(payload.get("model_parameters")),
        "input": payload.get("messages"), "output": output,
        "startTime": _iso(payload.get("startTime")), "endTime": _iso(payload.get("endTime")),
        "completionStartTime": _iso(payload.get("completionStartTime")),
        "usage": {**_usage(payload), "unit": "TOKENS"} if not failed else None,
        "usageDetails": _usage(payload) if not failed else None,
        "costDetails": {"total": float(cost)} if isinstance(cost, (int, float)) else None,
        "metadata": {**extra, "llmrelay_call_id": payload.get("id"),
                     "cache_hit": payload.get("cache_hit"),
                     "provider": payload.get("custom_llm_provider"),
                     "stream_status": payload.get("stream_status")},
        "level": "ERROR" if failed else "DEFAULT",
        "statusMessage": payload.get("error_str") if failed else None,
        "version": md.get("version"),
    })
    return [trace, generation]


class LangfuseLogger(BatchingLogger):
    """Sends every finished call to Langfuse as a trace and a generation.

    Keys and host come from the arguments, else ``LANGFUSE_PUBLIC_KEY`` /
    ``LANGFUSE_SECRET_KEY`` / ``LANGFUSE_HOST`` (default ``https://cloud.langfuse.com``).
    Raises :class:`~llmrelay.integrations.registry.IntegrationError` at registration when a
    key is missing. ``flush(timeout)`` sends what is queued now; ``stats()`` counts calls
    sent, retried, dropped and failed, and ``rejected`` events (refused one by one by
    Langfuse). ``batch_size`` counts calls (two events each).
    """

    def __init__(self, public_key: str | None = None, secret_key: str | None = None,
                 host: str | None = None, *, release: str | None = None,
                 batch_size: int = 100, flush_interval: float = 1.0, max_queue: int = 10000,
                 max_retries: int = 5, backoff_base: float = 0.5, timeout: float = 10.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        public_key = public_key or os.environ.get("LANGFUSE_PUBLIC_KEY")
        secret_key = secret_key or os.environ.get("LANGFUSE_SECRET_KEY")
        missing = [name for name, value in (("LANGFUSE_PUBLIC_KEY", public_key),
                                            ("LANGFUSE_SECRET_KEY", secret_key)) if not value]
        if missing:
            raise IntegrationError(
                f"the langfuse logger needs {' and '.join(missing)} (and LANGFUSE_HOST for a "
                f"self-hosted Langfuse), or LangfuseLogger(public_key=..., secret_key=...)")
        self.public_key = str(public_key)
        host = host or os.environ.get("LANGFUSE_HOST") or os.environ.get(
            "LANGFUSE_BASE_URL") or DEFAULT_HOST
        self.host = host.rstrip("/")
        self.release = release or os.environ.get("LANGFUSE_RELEASE")
        token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
        self.rejected = 0
        self._warned_rejection = False
        self.sender = BatchSender(
            "langfuse", self.host + INGESTION_PATH,
            headers={"Authorization": f"Basic {token}"}, encode=self._encode,
            on_success=self._check_reply, batch_size=batch_size, flush_interval=flush_interval,
            max_queue=max_queue, max_retries=max_retries, backoff_base=backoff_base,
            timeout=timeout)

    def _encode(self, payloads: list[Any]) -> bytes:
        """One request body for a batch of calls (built once: retries resend the same
        event ids, which Langfuse deduplicates)."""
        from .. import __version__

        events = [e for p in payloads for e in build_events(p, self.release)]
        body = {"batch": events, "metadata": {"sdk_name": "llmrelay",
                                              "sdk_version": __version__,
                                              "public_key": self.public_key,
                                              "batch_size": len(events)}}
        return json.dumps(body, separators=(",", ":"), default=str).encode()

    def _check_reply(self, response: httpx.Response, events: list[Any]) -> None:
        """A 207 lists events Langfuse refused (bad input): counted and logged once."""
        try:
            errors = response.json().get("errors") or []
        except (ValueError, AttributeError):
            return
        if errors:
            self.rejected += len(errors)
            if not self._warned_rejection:
                self._warned_rejection = True
                log.error("llmrelay: Langfuse refused %d event(s), e.g. %s", len(errors),
                          str(errors[0])[:300])

    def stats(self) -> dict[str, int]:
        return {**self.sender.stats(), "rejected": self.rejected}
