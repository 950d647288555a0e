"""Markdown report of bench/proxy_bench.py: absolute figures, then ratios against the same
run's baselines (LiteLLM's proxy, the bare upstream) next to issue 6's targets."""

from __future__ import annotations

from typing import Any

__all__ = ["render"]

COLUMNS = ["upstream", "llmrelay", "llmrelay_auth", "llmrelay_w2", "litellm"]


def _run(t: dict[str, Any] | None, scenario: str) -> dict[str, Any] | None:
    if not t:
        return None
    r = t["runs"].get(scenario)
    return r if r and r["requests"] else None


def _rps(t: dict[str, Any] | None, s: str) -> float | None:
    r = _run(t, s)
    return r["rps"] if r else None


def _num(v: float | None, fmt: str, unit: str = "") -> str:
    return "-" if v is None else f"{v:{fmt}}{unit}"


def _pair(a: float | None, b: float | None, fmt: str = ".2f") -> str:
    return "-" if a is None or b is None else f"{a:{fmt}} / {b:{fmt}}"


def _ratio(a: float | None, b: float | None, fmt: str = ".1f") -> str:
    return "-" if a is None or not b else f"{a / b:{fmt}}x"


def _absolute(meta: dict[str, Any], ts: dict[str, Any]) -> list[str]:
    cols = [k for k in COLUMNS if k in ts]
    c = meta["connections"]
    up = ts.get("upstream")

    def row(label: str, cell: Any) -> str:
        return f"| {label} | " + " | ".join(cell(ts[k], k) for k in cols) + " |"

    def lat(s: str) -> Any:
        def cell(t: dict[str, Any], k: str) -> str:
            r = _run(t, s)
            return _pair(r["p50_ms"], r["p99_ms"]) if r else "-"
        return cell

    def added(s: str) -> Any:
        def cell(t: dict[str, Any], k: str) -> str:
            r, base = _run(t, s), _run(up, s)
            if k == "upstream" or r is None or base is None:
                return "-"
            return f"{r['p50_ms'] - base['p50_ms']:+.2f} / {r['p99_ms'] - base['p99_ms']:+.2f}"
        return cell

    def cpu(s: str) -> Any:
        def cell(t: dict[str, Any], k: str) -> str:
            r = _run(t, s)
            return _num(r["cpu_ms_per_req"], ".3f") if r else "-"
        return cell

    def errors(t: dict[str, Any], k: str) -> str:
        return str(sum(r["errors"] for r in t["runs"].values())) if t["runs"] else "-"

    return [
        "| | " + " | ".join(ts[k]["name"] for k in cols) + " |",
        "|---|" + "---|" * len(cols),
        row(f"requests/s, non-stream, {c} conns", lambda t, k: _num(_rps(t, "ns"), ",.0f")),
        row(f"requests/s, stream, {c} conns", lambda t, k: _num(_rps(t, "s"), ",.0f")),
        row("server CPU ms / request, non-stream", cpu("ns")),
        row("server CPU ms / request, stream", cpu("s")),
        row("latency ms at 1 conn, non-stream, p50 / p99", lat("ns1")),
        row("latency ms at 1 conn, stream, p50 / p99", lat("s1")),
        row("added over direct, non-stream, p50 / p99 ms", added("ns1")),
        row("added over direct, stream, p50 / p99 ms", added("s1")),
        row("start-up s (spawn to /health/liveliness 200)",
            lambda t, k: "-" if k == "upstream" else _num(t["startup_s"], ".2f")),
        row("RSS MB after start / after load", lambda t, k: "-" if k == "upstream" else
            _pair(t["rss_start_mb"], t["rss_end_mb"], ".0f")),
        row("failed requests (all runs)", errors),
    ]


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def _ratios(ts: dict[str, Any]) -> list[str]:
    up, us, auth = ts.get("upstream"), ts.get("llmrelay"), ts.get("llmrelay_auth")
    w2, lit = ts.get("llmrelay_w2"), ts.get("litellm")
    out = ["| measure | value | target | met |", "|---|---|---|---|"]

    def add(label: str, value: str, target: str, ok: bool | None) -> None:
        out.append(f"| {label} | {value} | {target} | {_verdict(ok)} |")

    for s, kind in (("ns", "non-stream"), ("s", "stream")):
        a, b = _rps(us, s), _rps(lit, s)
        add(f"llmrelay ÷ LiteLLM requests/s, {kind}", _ratio(a, b), ">= 20x",
            None if a is None or not b else a / b >= 20)
    for s, kind in (("ns", "non-stream"), ("s", "stream")):
        a, b = _rps(us, s), _rps(up, s)
        add(f"llmrelay requests/s as a share of the upstream's (ceiling), {kind}",
            "-" if a is None or not b else f"{a / b:.1%}", "-", None)
    ns = _run(us, "ns")
    cpu = ns["cpu_ms_per_req"] if ns else None
    add("llmrelay CPU per non-stream request", _num(cpu, ".3f", " ms"), "< 0.5 ms",
        None if cpu is None else cpu < 0.5)
    lns = _run(lit, "ns")
    add("LiteLLM CPU ÷ llmrelay CPU per request, non-stream",
        _ratio(lns["cpu_ms_per_req"] if lns else None, cpu), "-", None)
    via, direct = _run(us, "ns1"), _run(up, "ns1")
    if via and direct:
        p50, p99 = via["p50_ms"] - direct["p50_ms"], via["p99_ms"] - direct["p99_ms"]
        add("latency added at 1 conn, non-stream, p50", f"{p50:.2f} ms", "< 1 ms", p50 < 1)
        add("latency added at 1 conn, non-stream, p99", f"{p99:.2f} ms", "< 3 ms", p99 < 3)
    if us:
        st, rss = us["startup_s"], us["rss_start_mb"]
        add("llmrelay start-up", _num(st, ".2f", " s"), "< 2 s", None if st is None else st < 2)
        add("llmrelay RSS after start", _num(rss, ".0f", " MB"), "< 100 MB",
            None if rss is None else rss < 100)
        add("llmrelay RSS after load", _num(us["rss_end_mb"], ".0f", " MB"),
            "flat (10-min soak: bench/proxy_soak.py)", None)
    if lit:
        add("LiteLLM start-up / RSS after start",
            f"{_num(lit['startup_s'], '.2f', ' s')} / {_num(lit['rss_start_mb'], '.0f', ' MB')}",
            "-", None)
    for s, kind in (("ns", "non-stream"), ("s", "stream")):
        a, b = _rps(w2, s), _rps(us, s)
        add(f"2 workers ÷ 1 worker requests/s, {kind}", _ratio(a, b, ".2f"),
            "> 1.2x (scales)", None if a is None or not b else a / b > 1.2)
    for s, kind in (("ns", "non-stream"), ("s", "stream")):
        add(f"with a virtual key ÷ without, requests/s, {kind}",
            _ratio(_rps(auth, s), _rps(us, s), ".2f"), "-", None)
    with_key, without = _run(auth, "ns"), _run(us, "ns")
    if with_key and without:
        add("CPU added by auth + key cache + spend record, non-stream",
            f"{with_key['cpu_ms_per_req'] - without['cpu_ms_per_req']:+.3f} ms", "-", None)
    return out


def _cores_used(ts: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    out = ["| run | target | upstream | load generator |", "|---|---|---|---|"]
    for k in COLUMNS:
        t = ts.get(k)
        for s, kind in (("ns", "non-stream"), ("s", "stream")):
            r = _run(t, s)
            if t is None or r is None:
                continue
            secs = r["seconds"] or meta["duration_s"]
            target = "(same)" if k == "upstream" else f"{r['server_cpu_s'] / secs:.2f}"
            out.append(f"| {t['name']}, {kind} | {target} | {r['upstream_cpu_s'] / secs:.2f} | "
                       f"{r['loadgen_cpu_s'] / secs:.2f} |")
    return out


def _short_version(banner: str) -> str:
    """``wrk debian/4.1.0-3+b2 [epoll] Copyright ...`` -> ``wrk debian/4.1.0-3+b2``."""
    return " ".join(banner.split()[:2]) or "version unknown"


def render(meta: dict[str, Any], ts: dict[str, Any]) -> str:
    """The PROXY.md text for one run (``ts``: targets as saved in the JSON)."""
    dirty = " + uncommitted changes" if meta.get("dirty") else ""
    lg = meta["loadgen"]
    lines = [
        "## Proxy benchmark", "",
        f"Run {meta['date']} by `python bench/proxy_bench.py` on {meta['cpu']}, "
        f"{meta['cores']} cores, Linux {meta['kernel']}, Python {meta['python']}, llmrelay at "
        f"{meta['commit']}{dirty}; LiteLLM {meta.get('litellm') or 'not installed'}. "
        f"Load: {lg}{' (' + _short_version(meta.get('wrk', '')) + ')' if lg == 'wrk' else ''}, "
        f"one thread, {meta['connections']} keep-alive connections (1 for latency), "
        f"{meta['warmup_s']:.0f} s warm-up then {meta['duration_s']:.0f} s measured per "
        f"figure; whole run {meta['wall_s']} s.", "",
        "Everything on 127.0.0.1. The upstream is bench/proxy_upstream.py (uvloop + httptools, "
        "fixed `chat.completion` JSON or 7 SSE chunks + `[DONE]`). Each proxy gets the same "
        "model list (`gpt-4o-mini` -> `openai/gpt-4o-mini` at the fake). llmrelay: "
        "`llmrelay serve --config ... --workers N`, no callbacks; \"virtual key\" = master key "
        "configured, requests carry a key made by `/key/generate` (auth, key cache, spend "
        "records to SQLite). LiteLLM: `litellm --config ... --num_workers 1`, no database, no "
        "master key (1.110 refuses to start without one unless "
        "`LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true`, which the script sets), "
        "`LITELLM_LOCAL_MODEL_COST_MAP=True` (no price-map download at start), its default "
        "logging (uvicorn access log on).", "",
    ]
    if meta.get("litellm_extras"):
        lines += [f"LiteLLM's proxy packages: {meta['litellm_extras'].strip().rstrip(';')}.", ""]
    if lg != "wrk":
        lines += ["**Load generator: the Python fallback (wrk not installed).** Its own CPU "
                  "use caps what it can measure: treat the fast rows as lower bounds.", ""]
    lines += ["### Figures", "", *_absolute(meta, ts), "",
              "Server CPU = utime + stime of the target's whole process tree during the "
              "measured window, divided by completed requests. RSS = sum of VmRSS over the "
              "tree (forked workers count their shared pages twice).", "",
              "### Against the baselines and issue 6's targets", "", *_ratios(ts), "",
              "### CPU cores in use during the throughput runs", "",
              "The machine has 2 cores shared by the target, the upstream and wrk; a row "
              "adding up to ~2 means the machine, not the target alone, was the limit.", "",
              *_cores_used(ts, meta), ""]
    notes = [f"- {t['name']}: {n}" for t in ts.values() for n in t["notes"]]
    if notes:
        lines += ["### Notes from the run", "", *notes, ""]
    return "\n".join(lines)
