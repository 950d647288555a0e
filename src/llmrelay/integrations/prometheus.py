"""Prometheus metrics (name ``prometheus``): requests, failures, tokens, spend, latency.

    llmrelay.callbacks = ["prometheus"]
    prometheus_client.start_http_server(9000)     # or serve metrics_text() yourself

Metrics, all labelled by ``model`` and ``provider``, and (on the proxy, from the call's
metadata) ``key_alias`` (``user_api_key_alias``) and ``team`` (``user_api_key_team_id``):

==========================================  ==========================================
``llmrelay_requests_total``                 finished calls, by ``status`` (success/failure)
``llmrelay_request_failures_total``         failed calls, by ``error_type``
``llmrelay_tokens_total``                   tokens, by ``type``: input, output, cached
``llmrelay_spend_usd_total``                cost in USD of priced calls
``llmrelay_request_latency_seconds``        histogram: start to end of the call
``llmrelay_time_to_first_token_seconds``    histogram: start to first chunk (streams)
``llmrelay_in_flight_requests``             gauge: calls between request and outcome
``llmrelay_label_overflow_total``           label values folded into ``"other"``
==========================================  ==========================================

Label cardinality is bounded: each label keeps at most ``max_label_values`` distinct values
(per logger); later new values are reported as ``"other"``. The metrics live in
``prometheus_client``'s default registry (:data:`REGISTRY`). With ``PROMETHEUS_MULTIPROC_DIR``
set (the proxy's worker processes), ``prometheus_client`` writes them to that directory and
:func:`metrics_text` aggregates every process; call :func:`mark_process_dead` when a worker
exits. The in-flight gauge rises in ``log_pre_api_call`` (so it needs the logger in
``callbacks``; cache hits never send a request) and falls at the call's outcome.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from .custom_logger import CustomLogger

__all__ = ["REGISTRY", "PrometheusLogger", "mark_process_dead", "metrics_text"]

OTHER = "other"
LABELS = ("model", "provider", "key_alias", "team")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
_MAX_IN_FLIGHT_TRACKED = 100_000


class _Metrics:
    """The metric families, created once per process in the default registry."""

    def __init__(self) -> None:
        self.requests = Counter("llmrelay_requests", "Finished LLM calls.",
                                (*LABELS, "status"))
        self.failures = Counter("llmrelay_request_failures", "Failed LLM calls.",
                                (*LABELS, "error_type"))
        self.tokens = Counter("llmrelay_tokens", "Tokens used, by type (input, output, cached).",
                              (*LABELS, "type"))
        self.spend = Counter("llmrelay_spend_usd", "Cost of LLM calls in USD.", LABELS)
        self.latency = Histogram("llmrelay_request_latency_seconds",
                                 "Time from the start of a call to its outcome.", LABELS,
                                 buckets=LATENCY_BUCKETS)
        self.ttft = Histogram("llmrelay_time_to_first_token_seconds",
                              "Time from the start of a streamed call to its first chunk.",
                              LABELS, buckets=TTFT_BUCKETS)
        self.in_flight = Gauge("llmrelay_in_flight_requests",
                               "Calls sent and not finished yet.", ("model", "provider"),
                               multiprocess_mode="livesum")
        self.overflow = Counter("llmrelay_label_overflow",
                                "Label values reported as 'other' by the cardinality cap.",
                                ("label",))


_metrics: _Metrics | None = None
_metrics_lock = threading.Lock()


def _get_metrics() -> _Metrics:
    global _metrics
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                _metrics = _Metrics()
    return _metrics


def metrics_text() -> tuple[bytes, str]:
    """The exposition text and its content type; in multiprocess mode, every process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Multiprocess mode: drop a finished worker's live gauges (in-flight)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class _LabelCap:
    """At most ``limit`` distinct values per label; later new values become ``"other"``."""

    def __init__(self, limit: int, overflow: Counter) -> None:
        self.limit = limit
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._overflow = overflow

    def __call__(self, label: str, value: Any) -> str:
        text = "" if value is None else str(value)
        seen = self._seen.get(label)
        if seen is not None and text in seen:
            return text
        with self._lock:
            seen = self._seen.setdefault(label, set())
            if text in seen or len(seen) < self.limit:
                seen.add(text)
                return text
        self._overflow.labels(label).inc()
        return OTHER


class PrometheusLogger(CustomLogger):
    """Records every call's outcome in the ``llmrelay_*`` metrics (see the module doc).

    ``max_label_values`` bounds the distinct values of each label. Raises nothing at call
    time; a missing ``prometheus_client`` fails at registration (``llmrelay[prometheus]``).
    """

    def __init__(self, max_label_values: int = 100, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = _get_metrics()
        self._cap = _LabelCap(max_label_values, self.metrics.overflow)
        self._in_flight: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def _labels(self, kwargs: dict[str, Any]) -> tuple[str, str, str, str]:
        lp = kwargs.get("litellm_params") or {}
        md = lp.get("metadata") or {}
        cap = self._cap
        return (cap("model", kwargs.get("model")),
                cap("provider", kwargs.get("custom_llm_provider") or lp.get("custom_llm_provider")),
                cap("key_alias", md.get("user_api_key_alias")),
                cap("team", md.get("user_api_key_team_id")))

    # ---- in-band: the request is about to go out ---------------------------------------
    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        call_id = kwargs.get("litellm_call_id")
        if not call_id:
            return
        labels = self._labels(kwargs)[:2]
        self.metrics.in_flight.labels(*labels).inc()
        evicted = None
        with self._lock:
            self._in_flight[call_id] = labels
            if len(self._in_flight) > _MAX_IN_FLIGHT_TRACKED:  # an outcome never came
                evicted = self._in_flight.popitem(last=False)[1]
        if evicted is not None:
            self.metrics.in_flight.labels(*evicted).dec()

    def _call_ended(self, kwargs: dict[str, Any]) -> None:
        with self._lock:
            labels = self._in_flight.pop(kwargs.get("litellm_call_id") or "", None)
        if labels is not None:
            self.metrics.in_flight.labels(*labels).dec()

    # ---- outcomes (async hooks: a few counter updates on the dispatcher's loop) ----------
    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._record(kwargs, "success")

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._record(kwargs, "failure")

    def _record(self, kwargs: dict[str, Any], status: str) -> None:
        self._call_ended(kwargs)
        m = self.metrics
        labels = self._labels(kwargs)
        m.requests.labels(*labels, status).inc()
        payload = kwargs.get("standard_logging_object") or {}
        if status == "failure":
            exc = kwargs.get("exception")
            m.failures.labels(*labels, self._cap("error_type", type(exc).__name__)).inc()
        for kind, key in (("input", "prompt_tokens"), ("output", "completion_tokens"),
                          ("cached", "cache_read_input_tokens")):
            n = payload.get(key) or 0
            if n > 0:
                m.tokens.labels(*labels, kind).inc(n)
        cost = kwargs.get("response_cost")
        if isinstance(cost, (int, float)) and cost > 0:
            m.spend.labels(*labels).inc(cost)
        start, end = kwargs.get("start_time"), kwargs.get("end_time")
        if start is not None and end is not None:
            m.latency.labels(*labels).observe(max(0.0, (end - start).total_seconds()))
        first = kwargs.get("completion_start_time")
        if kwargs.get("stream") and status == "success" and start is not None and first:
            # Without streaming the first token arrives with the last: that is latency.
            m.ttft.labels(*labels).observe(max(0.0, (first - start).total_seconds()))

    def close(self, timeout: float | None = None) -> bool:
        """Nothing to flush: metrics are read when scraped."""
        return True
