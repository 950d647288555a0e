"""Prometheus metrics of one proxy process, written in the text exposition format by hand
(a few dict updates per request; no client library on the request path).

Exposed at ``GET /metrics``:

* ``llmrelay_requests_total{route,model,status}`` counter
* ``llmrelay_tokens_total{model,type="prompt"|"completion"}`` counter
* ``llmrelay_spend_usd_total{model}`` counter
* ``llmrelay_request_duration_seconds{model}`` histogram (whole request, stream included)
* ``llmrelay_requests_in_flight`` gauge
* ``llmrelay_callback_failures_total{callback,kind="failed"|"timed_out"|"dropped"}``
  counter, from :func:`llmrelay.callback_stats`
* ``llmrelay_spend_writer_pending`` gauge (usage records not yet in the database)

With ``--workers N`` each worker process keeps its own numbers (a scrape reaches one).
"""

from __future__ import annotations

import bisect
from typing import Any

__all__ = ["Metrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _esc(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class Metrics:
    """Counters for one process; :meth:`observe` is called once per finished request."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.tokens: dict[tuple[str, str], int] = {}
        self.spend: dict[str, float] = {}
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.in_flight = 0

    def observe(self, route: str, model: str, status: int, prompt_tokens: int,
                completion_tokens: int, cost: float | None, seconds: float) -> None:
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

    def render(self, callback_stats: dict[str, dict[str, Any]] | None = None,
               spend_pending: int | None = None) -> str:
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
        if spend_pending is not None:
            add("# HELP llmrelay_spend_writer_pending Usage records not yet written.")
            add("# TYPE llmrelay_spend_writer_pending gauge")
            add(f"llmrelay_spend_writer_pending {spend_pending}")
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
