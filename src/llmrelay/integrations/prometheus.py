"""Prometheus metrics (name ``prometheus``): requests, failures, tokens, spend, latency.

    llmrelay.callbacks = ["prometheus"]
    prometheus_client.start_http_server(9000)     # or serve metrics_text() yourself

Metrics, all labelled by ``model`` and ``provider``, and (on the proxy, from the call's
metadata) ``key_alias`` (``user_api_key_alias``) and ``team`` (``user_api_key_team_id``).
They are named ``llmrelay_llm_*`` so that they never clash with the proxy's own
``llmrelay_*`` request metrics in one exposition:

==============================================  ==========================================
``llmrelay_llm_requests_total``                 finished calls, by ``status``
                                                (success/failure)
``llmrelay_llm_request_failures_total``         failed calls, by ``error_type``
``llmrelay_llm_tokens_total``                   tokens, by ``type``: input, output, cached
                                                (cache hits of llmrelay's own cache spend
                                                no tokens and are not counted here)
``llmrelay_llm_cache_hits_total``               calls answered by llmrelay's response cache
``llmrelay_llm_spend_usd_total``                cost in USD of priced calls
``llmrelay_llm_request_latency_seconds``        histogram: start to end of the call
``llmrelay_llm_time_to_first_token_seconds``    histogram: start to first chunk (streams)
``llmrelay_llm_in_flight_requests``             gauge: calls between request and outcome
``llmrelay_llm_label_overflow_total``           label values folded into ``"other"``
==============================================  ==========================================

Label cardinality is bounded: each label keeps at most ``max_label_values`` distinct values
per process; later new values are reported as ``"other"`` (so a series count is bounded by
the product of the caps, times the number of worker processes in multiprocess mode).

The metrics live in ``prometheus_client``'s default registry (:data:`REGISTRY`).
Multiprocess mode (the proxy's worker processes): ``PROMETHEUS_MULTIPROC_DIR`` must name an
empty directory *before* ``prometheus_client`` is first imported in each worker (set it in
the parent process); ``prometheus_client`` then writes every worker's values there and
:func:`metrics_text` aggregates them, and :func:`mark_process_dead` drops a finished
worker's live gauges. The in-flight gauge rises in ``log_pre_api_call`` (so it needs the
logger in ``callbacks``; cache hits never send a request) and falls at the call's outcome.
"""

from __future__ import annotations

import logging
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
from prometheus_client import values as _values

from .custom_logger import CustomLogger

__all__ = ["REGISTRY", "PrometheusLogger", "mark_process_dead", "metrics_text"]

log = logging.getLogger("llmrelay")

OTHER = "other"
LABELS = ("model", "provider", "key_alias", "team")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
_MAX_IN_FLIGHT_TRACKED = 100_000


class _Metrics:
    """The metric families, created once per process in the default registry."""

    def __init__(self) -> None:
        self.requests = Counter("llmrelay_llm_requests", "Finished LLM calls.",
                                (*LABELS, "status"))
        self.failures = Counter("llmrelay_llm_request_failures", "Failed LLM calls.",
                                (*LABELS, "error_type"))
        self.tokens = Counter("llmrelay_llm_tokens",
                              "Tokens used, by type (input, output, cached).",
                              (*LABELS, "type"))
        self.cache_hits = Counter("llmrelay_llm_cache_hits",
                                  "LLM calls answered by llmrelay's response cache.", LABELS)
        self.spend = Counter("llmrelay_llm_spend_usd", "Cost of LLM calls in USD.", LABELS)
        self.latency = Histogram("llmrelay_llm_request_latency_seconds",
                                 "Time from the start of a call to its outcome.", LABELS,
                                 buckets=LATENCY_BUCKETS)
        self.ttft = Histogram("llmrelay_llm_time_to_first_token_seconds",
                              "Time from the start of a streamed call to its first chunk.",
                              LABELS, buckets=TTFT_BUCKETS)
        self.in_flight = Gauge("llmrelay_llm_in_flight_requests",
                               "Calls sent and not finished yet.", ("model", "provider"),
                               multiprocess_mode="livesum")
        self.overflow = Counter("llmrelay_llm_label_overflow",
                                "Label values reported as 'other' by the cardinality cap.",
                                ("label",))


_metrics: _Metrics | None = None
_metrics_lock = threading.Lock()


def _get_metrics() -> _Metrics:
    global _metrics
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                _check_multiprocess()
                _metrics = _Metrics()
    return _metrics


def _check_multiprocess() -> None:
    """Warn when PROMETHEUS_MULTIPROC_DIR was set too late to take effect."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    if getattr(_values.ValueClass, "__name__", "") != "MmapedValue":
        log.warning("llmrelay: PROMETHEUS_MULTIPROC_DIR is set, but prometheus_client was "
                    "imported before it was: this process's metrics stay in memory and "
                    "metrics_text() will not include them (set it before starting the "
                    "workers)")


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
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: ``labels()`` costs microseconds, a dict
        lookup does not. Bounded like the registry itself (label values are capped)."""
        key = (metric._name, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

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
        evicted = None
        with self._lock:
            # A router retry or fallback sends the same call again: it stays one call.
            previous = self._in_flight.get(call_id)
            self._in_flight[call_id] = labels
            if previous is None and len(self._in_flight) > _MAX_IN_FLIGHT_TRACKED:
                evicted = self._in_flight.popitem(last=False)[1]  # an outcome never came
        if previous == labels:
            return
        self._child(self.metrics.in_flight, *labels).inc()
        if previous is not None:
            self._child(self.metrics.in_flight, *previous).dec()
        if evicted is not None:
            self._child(self.metrics.in_flight, *evicted).dec()

    def _call_ended(self, kwargs: dict[str, Any]) -> None:
        with self._lock:
            labels = self._in_flight.pop(kwargs.get("litellm_call_id") or "", None)
        if labels is not None:
            self._child(self.metrics.in_flight, *labels).dec()

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
        self._child(m.requests, *labels, status).inc()
        payload = kwargs.get("standard_logging_object") or {}
        if status == "failure":
            exc = kwargs.get("exception")
            self._child(m.failures, *labels,
                        self._cap("error_type", type(exc).__name__)).inc()
        if kwargs.get("cache_hit"):
            self._child(m.cache_hits, *labels).inc()
        else:
            for kind, key in (("input", "prompt_tokens"), ("output", "completion_tokens"),
                              ("cached", "cache_read_input_tokens")):
                n = payload.get(key) or 0
                if n > 0:
                    self._child(m.tokens, *labels, kind).inc(n)
        cost = kwargs.get("response_cost")
        if isinstance(cost, (int, float)) and cost > 0:
            self._child(m.spend, *labels).inc(cost)
        start, end = kwargs.get("start_time"), kwargs.get("end_time")
        if start is not None and end is not None:
            seconds = max(0.0, (end - start).total_seconds())
            self._child(m.latency, *labels).observe(seconds)
        first = kwargs.get("completion_start_time")
        if kwargs.get("stream") and status == "success" and start is not None and first:
            # Without streaming the first token arrives with the last: that is latency.
            self._child(m.ttft, *labels).observe(max(0.0, (first - start).total_seconds()))

    def close(self, timeout: float | None = None) -> bool:
        """Nothing to flush: metrics are read when scraped."""
        return True
