"""The accounting series of ``GET /metrics``: the spend writer and its spool, the database,
and the limiter (see :data:`SERIES` for names and meanings).

:func:`accounting_values` reads them from a process's state; :func:`render` writes them in
the text format (one process), and :class:`SharedAccounting` copies them into
``prometheus_client``'s multiprocess files (``--workers N``): counters as increments since
the last copy (summed over workers), gauges with the mode that makes sense for each
(records pending: summed over live workers; spool bytes, measured over the whole folder
by every worker: the largest; "up" gauges: the smallest, so one worker that cannot reach
the database shows as 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SERIES", "Series", "SharedAccounting", "accounting_values", "render"]

Values = Mapping[str, "float | Mapping[str, float]"]


@dataclass(frozen=True)
class Series:
    name: str
    kind: str  # "gauge" or "counter" (the exposed counter name gets "_total")
    help: str
    mode: str = "livesum"  # prometheus_client multiprocess mode of a gauge
    label: str | None = None  # one label, for a series with a value per label value


SERIES: tuple[Series, ...] = (
    Series("llmrelay_spend_writer_pending", "gauge",
           "Usage records not yet written to the database."),
    Series("llmrelay_spend_spool_bytes", "gauge", "Bytes of usage records in the spool "
           "folder not yet in the database (every process on this machine).", "max"),
    Series("llmrelay_spend_writer_seconds_behind", "gauge", "Seconds since the spend "
           "writer last wrote while records waited (0: nothing waits).", "max"),
    Series("llmrelay_spend_rows_written", "counter", "Usage rows written to the database."),
    Series("llmrelay_spend_rows_duplicate", "counter", "Usage rows not written because "
           "their call id was stored already (replays after a crash or a lost answer)."),
    Series("llmrelay_spend_rows_dead_lettered", "counter", "Usage rows the database "
           "refused, written to the dead-letter file."),
    Series("llmrelay_spend_write_failures", "counter", "Batches that failed to reach the "
           "database (kept and retried)."),
    Series("llmrelay_spend_rows_dropped", "counter", "Usage records lost (neither spooled "
           "nor written: after shutdown)."),
    Series("llmrelay_database_up", "gauge", "1 when the database answered the last poll.",
           "min"),
    Series("llmrelay_limits_backend_up", "gauge", "1 when the limits backend (Redis, or "
           "the machine's limits file) answers.", "min"),
    Series("llmrelay_limits_backend_errors", "counter", "Calls to the limits backend that "
           "failed or timed out."),
    Series("llmrelay_limits_unchecked", "counter", "Requests admitted by the fail_open "
           "policy without their limits checked (limits backend unreachable)."),
    Series("llmrelay_limit_refusals", "counter", "Requests refused by a limit.",
           label="limit"),
)


def _stat(obj: Any) -> dict[str, Any]:
    stats = getattr(obj, "stats", None)
    return dict(stats()) if callable(stats) else {}


def accounting_values(state: Any) -> dict[str, Any]:
    """The current values of :data:`SERIES` for one process's state (a series whose
    source is absent is left out)."""
    out: dict[str, Any] = {}
    writer = getattr(state, "spend", None)
    if writer is not None:
        w = _stat(writer)
        out.update({
            "llmrelay_spend_writer_pending": w.get("pending", 0),
            "llmrelay_spend_spool_bytes": w.get("spool_bytes", 0),
            "llmrelay_spend_writer_seconds_behind": w.get("seconds_behind", 0.0),
            "llmrelay_spend_rows_written": w.get("written", 0),
            "llmrelay_spend_rows_duplicate": w.get("duplicates_skipped", 0),
            "llmrelay_spend_rows_dead_lettered": w.get("dead_lettered", 0),
            "llmrelay_spend_write_failures": w.get("failures", 0),
            "llmrelay_spend_rows_dropped": w.get("dropped", 0),
        })
    cache = getattr(state, "key_cache", None)
    if cache is not None:
        out["llmrelay_database_up"] = 0 if _stat(cache).get("store_down") else 1
    limiter = getattr(state, "limiter", None)
    if limiter is not None:
        lim = _stat(limiter)
        if "backend_up" in lim:
            out["llmrelay_limits_backend_up"] = 1 if lim["backend_up"] else 0
            out["llmrelay_limits_backend_errors"] = lim.get("backend_errors", 0)
            out["llmrelay_limits_unchecked"] = lim.get("unchecked", 0)
        if "refusals" in lim:
            out["llmrelay_limit_refusals"] = dict(lim["refusals"])
    return out


def _esc(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(values: Values) -> list[str]:
    """Text-format lines for the series present in ``values``."""
    lines: list[str] = []
    for s in SERIES:
        if s.name not in values:
            continue
        name = s.name + ("_total" if s.kind == "counter" else "")
        lines += [f"# HELP {name} {s.help}", f"# TYPE {name} {s.kind}"]
        value = values[s.name]
        if isinstance(value, Mapping):
            for label, v in sorted(value.items()):
                lines.append(f'{name}{{{s.label}="{_esc(label)}"}} {float(v)!r}')
        else:
            lines.append(f"{name} {float(value)!r}")
    return lines


class SharedAccounting:
    """The series as ``prometheus_client`` multiprocess families (see the module
    docstring); :meth:`sync` copies one process's values there."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        self._metrics: dict[str, Any] = {}
        for s in SERIES:
            labels = (s.label,) if s.label else ()
            if s.kind == "counter":
                self._metrics[s.name] = Counter(s.name, s.help, labels, registry=None)
            else:
                self._metrics[s.name] = Gauge(s.name, s.help, labels, registry=None,
                                              multiprocess_mode=s.mode)  # type: ignore[arg-type]
        self._synced: dict[tuple[str, str], float] = {}

    def sync(self, values: Values) -> None:
        for s in SERIES:
            if s.name not in values:
                continue
            value = values[s.name]
            items = value.items() if isinstance(value, Mapping) else [("", value)]
            metric = self._metrics[s.name]
            for label, v in items:
                child = metric.labels(label) if s.label else metric
                if s.kind == "gauge":
                    child.set(float(v))
                    continue
                before = self._synced.get((s.name, label), 0.0)
                if float(v) > before:
                    child.inc(float(v) - before)
                    self._synced[(s.name, label)] = float(v)
