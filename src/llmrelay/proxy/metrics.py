"""Prometheus metrics of the proxy, written in the text exposition format by hand (a few
dict updates per request; no client library on the request path of a single process).

Exposed at ``GET /metrics``:

* ``llmrelay_requests_total{route,model,status}`` counter
* ``llmrelay_tokens_total{model,type="prompt"|"completion"}`` counter
* ``llmrelay_spend_usd_total{model}`` counter
* ``llmrelay_request_duration_seconds{model}`` histogram (whole request, stream included)
* ``llmrelay_requests_in_flight`` gauge
* ``llmrelay_callback_failures_total{callback,kind="failed"|"timed_out"|"dropped"}``
  counter, from :func:`llmrelay.callback_stats`
* the accounting series: the spend writer and its spool, the database, the limiter
  (``metrics_accounting.py``: ``llmrelay_spend_*``, ``llmrelay_database_up``,
  ``llmrelay_limits_*``, ``llmrelay_limit_refusals_total{limit}``)

followed, when the ``prometheus`` integration is among the callbacks, by its
``llmrelay_llm_*`` series (:func:`integration_text`).

Several worker processes (``llmrelay serve --workers N``) share their numbers through
``prometheus_client``'s multiprocess mode: ``serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at
a fresh directory before the workers start, every worker then also writes each update to
its memory-mapped files there, and a scrape, whichever worker answers it, adds up all
workers (the integration's series included). The callback failures and the accounting
series are copied there once a second (:meth:`Metrics.sync`) and by the worker that
answers the scrape, so other workers' values can be a second old. Without
``prometheus_client`` installed each worker reports only its own numbers.
"""

from __future__ import annotations

import bisect
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["MULTIPROC_ENV", "Metrics", "integration_text", "mark_process_dead"]

log = logging.getLogger("llmrelay.proxy")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_FAILURE_KINDS = ("failed", "timed_out", "dropped")

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _esc(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class _Shared:
    """The same metrics as ``prometheus_client`` families kept in memory-mapped files (its
    multiprocess mode), so that every worker's updates reach every scrape. One per
    process; the families are in no registry (the multiprocess collector reads the files)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter("llmrelay_requests", "Requests served, by route, model "
                                "group and status.", ("route", "model", "status"),
                                registry=None)
        self.tokens = Counter("llmrelay_tokens", "Tokens used, by model group and type.",
                              ("model", "type"), registry=None)
        self.spend = Counter("llmrelay_spend_usd", "Cost of the requests served, in USD.",
                             ("model",), registry=None)
        self.latency = Histogram("llmrelay_request_duration_seconds", "Request duration, "
                                 "streams included.", ("model",), buckets=_BUCKETS,
                                 registry=None)
        self.in_flight = Gauge("llmrelay_requests_in_flight", "Requests being served right "
                               "now.", registry=None, multiprocess_mode="livesum")
        self.failures = Counter("llmrelay_callback_failures", "Callback deliveries that "
                                "failed, timed out or were dropped.", ("callback", "kind"),
                                registry=None)
        from .metrics_accounting import SharedAccounting

        self.accounting = SharedAccounting()
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered (label values are bounded by the config's
        model groups and routes)."""
        key = (metric._name, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    @staticmethod
    def text() -> str:
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry).decode("utf-8")


_shared: _Shared | None = None


def _families() -> _Shared:
    global _shared
    if _shared is None:
        _shared = _Shared()
    return _shared


def _multiprocess() -> bool:
    """True when ``$PROMETHEUS_MULTIPROC_DIR`` is set and ``prometheus_client`` (imported
    after it was set) writes there."""
    if not os.environ.get(MULTIPROC_ENV):
        return False
    try:
        from prometheus_client import values
    except ImportError:
        log.warning("llmrelay proxy: %s is set but prometheus_client is not installed: "
                    "/metrics shows this worker's numbers only (pip install "
                    "'llmrelay[prometheus]')", MULTIPROC_ENV)
        return False
    if getattr(values.ValueClass, "__name__", "") != "MmapedValue":
        log.warning("llmrelay proxy: %s was set after prometheus_client was imported: "
                    "/metrics shows this worker's numbers only", MULTIPROC_ENV)
        return False
    return True


def mark_process_dead(pid: int) -> None:
    """Multiprocess mode: drop a finished worker's live gauges (in-flight, pending) and
    the integration's. Never raises."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path or "prometheus_client" not in sys.modules:
        return
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
    except Exception:
        log.warning("llmrelay proxy: cleaning up worker %s's metrics failed", pid,
                    exc_info=True)


def _integration_configured(settings: Any) -> bool:
    module = sys.modules.get("llmrelay.integrations.prometheus")
    logger_type = getattr(module, "PrometheusLogger", None)
    for name in ("callbacks", "success_callback", "failure_callback", "input_callback"):
        for cb in getattr(settings, name, None) or ():
            if cb == "prometheus" or (logger_type is not None
                                      and isinstance(cb, logger_type)):
                return True
    return False


def integration_text(settings: Any) -> str:
    """The ``prometheus`` integration's exposition (``llmrelay_llm_*``, and the default
    registry's other collectors), or "" when it is not among the callbacks of
    ``settings`` (the proxy client's)."""
    if not _integration_configured(settings):
        return ""
    try:
        from ..integrations.prometheus import metrics_text

        body, _ = metrics_text()
    except Exception:
        log.warning("llmrelay proxy: reading the prometheus integration's metrics failed",
                    exc_info=True)
        return ""
    return body.decode("utf-8")


class Metrics:
    """Counters for one process; :meth:`observe` is called once per finished request.

    ``shared``: also write every update to ``prometheus_client``'s multiprocess files
    (default: when ``$PROMETHEUS_MULTIPROC_DIR`` is set); :meth:`render` then reports
    every process's numbers."""

    def __init__(self, shared: bool | None = None) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.tokens: dict[tuple[str, str], int] = {}
        self.spend: dict[str, float] = {}
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self._in_flight = 0
        # Families (and so files) are made at first use: a process that only builds the
        # app to check the config (``serve``'s parent) leaves none behind.
        self._multi = shared is not False and _multiprocess()
        self._shared: _Shared | None = None
        self._synced: dict[tuple[str, str], int] = {}

    @property
    def shared(self) -> bool:
        """True when the numbers are every process's (multiprocess mode)."""
        return self._multi

    def _sh(self) -> _Shared | None:
        if self._shared is None and self._multi:
            self._shared = _families()
        return self._shared

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        sh = self._sh()
        if sh is not None and value != self._in_flight:
            sh.in_flight.inc(value - self._in_flight)
        self._in_flight = value

    def observe(self, route: str, model: str, status: int, prompt_tokens: int,
                completion_tokens: int, cost: float | None, seconds: float) -> None:
        sh = self._sh()
        if sh is not None:
            self._observe_shared(sh, route, model, status, prompt_tokens,
                                 completion_tokens, cost, seconds)
        key = (route, model, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        if prompt_tokens:
            k = (model, "prompt")
            self.tokens[k] = self.tokens.get(k, 0) + prompt_tokens
        if completion_tokens:
            k = (model, "completion")
            self.tokens[k] = self.tokens.get(k, 0) + completion_tokens
        if cost:
            self.spend[model] = self.spend.get(model, 0.0) + cost
        counts = self.latency.get(model)
        if counts is None:
            counts = self.latency[model] = [0] * (len(_BUCKETS) + 1)
            self.latency_sum[model] = 0.0
        counts[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.latency_sum[model] += seconds

    @staticmethod
    def _observe_shared(sh: _Shared, route: str, model: str, status: int, prompt: int,
                        completion: int, cost: float | None, seconds: float) -> None:
        sh.child(sh.requests, route, model, str(status)).inc()
        if prompt:
            sh.child(sh.tokens, model, "prompt").inc(prompt)
        if completion:
            sh.child(sh.tokens, model, "completion").inc(completion)
        if cost:
            sh.child(sh.spend, model).inc(cost)
        sh.child(sh.latency, model).observe(seconds)

    def sync(self, callback_stats: dict[str, dict[str, Any]] | None,
             accounting: Mapping[str, Any] | None) -> None:
        """Multiprocess mode: copy this process's callback failures (as increments since
        the last sync) and accounting values to the shared files."""
        sh = self._sh()
        if sh is None:
            return
        for name, stats in (callback_stats or {}).items():
            for kind in _FAILURE_KINDS:
                now = int(stats.get(kind, 0) or 0)
                before = self._synced.get((name, kind), 0)
                child = sh.child(sh.failures, name, kind)  # 0 until a failure: listed
                if now > before:
                    child.inc(now - before)
                    self._synced[(name, kind)] = now
        sh.accounting.sync(accounting or {})

    def render(self, callback_stats: dict[str, dict[str, Any]] | None = None,
               accounting: Mapping[str, Any] | None = None) -> str:
        """The exposition text: this process's numbers, or in multiprocess mode every
        process's (and the integration's, which share the files)."""
        if self._multi:
            self.sync(callback_stats, accounting)
            return _Shared.text()
        out: list[str] = []
        add = out.append
        add("# HELP llmrelay_requests_total Requests served, by route, model group and status.")
        add("# TYPE llmrelay_requests_total counter")
        for (route, model, status), n in sorted(self.requests.items()):
            add(f'llmrelay_requests_total{{route="{_esc(route)}",model="{_esc(model)}",'
                f'status="{status}"}} {n}')
        add("# HELP llmrelay_tokens_total Tokens used, by model group and type.")
        add("# TYPE llmrelay_tokens_total counter")
        for (model, kind), n in sorted(self.tokens.items()):
            add(f'llmrelay_tokens_total{{model="{_esc(model)}",type="{kind}"}} {n}')
        add("# HELP llmrelay_spend_usd_total Cost of the requests served, in USD.")
        add("# TYPE llmrelay_spend_usd_total counter")
        for model, usd in sorted(self.spend.items()):
            add(f'llmrelay_spend_usd_total{{model="{_esc(model)}"}} {_num(usd)}')
        self._render_latency(add)
        add("# HELP llmrelay_requests_in_flight Requests being served right now.")
        add("# TYPE llmrelay_requests_in_flight gauge")
        add(f"llmrelay_requests_in_flight {self.in_flight}")
        add("# HELP llmrelay_callback_failures_total Callback deliveries that failed, timed "
            "out or were dropped.")
        add("# TYPE llmrelay_callback_failures_total counter")
        for name, stats in sorted((callback_stats or {}).items()):
            for kind in ("failed", "timed_out", "dropped"):
                add(f'llmrelay_callback_failures_total{{callback="{_esc(name)}",'
                    f'kind="{kind}"}} {int(stats.get(kind, 0) or 0)}')
        if accounting:
            from .metrics_accounting import render

            out.extend(render(accounting))
        return "\n".join(out) + "\n"

    def _render_latency(self, add: Any) -> None:
        add("# HELP llmrelay_request_duration_seconds Request duration, streams included.")
        add("# TYPE llmrelay_request_duration_seconds histogram")
        for model, counts in sorted(self.latency.items()):
            m = _esc(model)
            total = 0
            for bound, n in zip(_BUCKETS, counts, strict=False):
                total += n
                add(f'llmrelay_request_duration_seconds_bucket{{model="{m}",le="{bound}"}} '
                    f'{total}')
            total += counts[-1]
            add(f'llmrelay_request_duration_seconds_bucket{{model="{m}",le="+Inf"}} {total}')
            add(f'llmrelay_request_duration_seconds_sum{{model="{m}"}} '
                f'{_num(self.latency_sum[model])}')
            add(f'llmrelay_request_duration_seconds_count{{model="{m}"}} {total}')
