"""Markdown for the proxy benchmark: absolute figures and ratios against the same run."""

from __future__ import annotations

from typing import Any


def _f(value: Any, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def _run(t: dict[str, Any], key: str) -> dict[str, Any]:
    return t.get("runs", {}).get(key) or {}


def _short(note: str) -> str:
    """One line per note: a failed start's traceback is cut to its first and last lines."""
    rows = [r.strip() for r in str(note).splitlines() if r.strip()]
    if len(rows) <= 1:
        return rows[0] if rows else ""
    return f"{rows[0]} ... {rows[-1]}"[:400]


def render(meta: dict[str, Any], results: dict[str, Any]) -> str:
    up = results.get("upstream", {})
    lit = results.get("litellm", {})
    lines = ["# Proxy benchmark", "",
             f"{meta.get('date')}, {meta.get('cores')} cores ({meta.get('cpu')}), Python "
             f"{meta.get('python')}, commit {meta.get('commit')}; load: {meta.get('loadgen')}, "
             f"{meta.get('connections')} connections, {meta.get('duration_s')} s per "
             f"measurement after {meta.get('warmup_s')} s warm-up; LiteLLM "
             f"{meta.get('litellm') or '(not installed)'}.", "",
             "| target | req/s non-stream | req/s stream | CPU ms/req non-stream | "
             "CPU ms/req stream | p50/p99 ms c=1 | start s | RSS MB start/end |",
             "|---|---|---|---|---|---|---|---|"]
    for t in results.values():
        ns, s, ns1 = _run(t, "ns"), _run(t, "s"), _run(t, "ns1")
        lines.append(
            f"| {t['name']} | {_f(ns.get('rps'))} | {_f(s.get('rps'))} | "
            f"{_f(ns.get('cpu_ms_per_req'), '{:.2f}')} | {_f(s.get('cpu_ms_per_req'), '{:.2f}')}"
            f" | {_f(ns1.get('p50_ms'), '{:.2f}')}/{_f(ns1.get('p99_ms'), '{:.2f}')} | "
            f"{_f(t.get('startup_s'), '{:.2f}')} | {_f(t.get('rss_start_mb'), '{:.0f}')}/"
            f"{_f(t.get('rss_end_mb'), '{:.0f}')} |")
    lines += ["", "## Ratios (same run)", ""]
    for key in ("llmrelay", "llmrelay_auth", "llmrelay_w2"):
        t = results.get(key)
        if not t:
            continue
        for scen, label in (("ns", "non-stream"), ("s", "stream")):
            mine = _run(t, scen).get("rps")
            if not mine:
                continue
            parts = [f"{t['name']}, {label}: {mine:,.0f} req/s"]
            ceiling = _run(up, scen).get("rps")
            if ceiling:
                parts.append(f"{mine / ceiling:.0%} of the upstream alone")
            theirs = _run(lit, scen).get("rps")
            if theirs:
                parts.append(f"{mine / theirs:.1f}x LiteLLM's proxy")
            lines.append("- " + "; ".join(parts))
        mine1, direct1 = _run(t, "ns1"), _run(up, "ns1")
        if mine1.get("p50_ms") is not None and direct1.get("p50_ms") is not None:
            lines.append(f"- {t['name']}: added latency at c=1 p50 "
                         f"{mine1['p50_ms'] - direct1['p50_ms']:.2f} ms, p99 "
                         f"{mine1['p99_ms'] - direct1['p99_ms']:.2f} ms")
    notes = [n for t in results.values() for n in t.get("notes", [])]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {_short(n)}" for n in notes]
    return "\n".join(lines) + "\n"
