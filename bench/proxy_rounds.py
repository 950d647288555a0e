"""Gateways side by side in interleaved rounds: llmrelay, Portkey's gateway, LiteLLM's proxy
and the bare upstream, all running at once, measured one after another round by round.

    python bench/proxy_rounds.py [--rounds 5] [--duration 6] [--warmup 1] [--connections 50]
        [--no-litellm] [--no-portkey] [--litellm-venv /tmp/venv-litellm-proxy]
        [--portkey-dir /tmp/portkey-gw] [--relay NAME=SRC_DIR[:ENV=VALUE,...]] [--json F]

Why rounds: the machine has 2 cores shared with other work, so a figure taken at one
moment cannot be compared with another taken a minute later. Every round measures every
target in turn (the order rotates), and a target's figure is the median over rounds; each
ratio is taken within a round and then its median reported. CPU per request (utime +
stime of the target's whole process tree over the measured window, divided by completed
requests) is the stable figure; requests/s follow whatever else runs on the machine.

Scenarios per target and round: non-stream and stream (7 chunks + usage + ``[DONE]``) at
``--connections`` connections; non-stream at one connection (latency: p50 and p99, and
what the gateway adds over the upstream's p50/p99 of the same round).

Targets:
- ``upstream``: bench/proxy_upstream.py itself (the ceiling; every gateway calls it).
- ``llmrelay``: ``llmrelay serve`` from this checkout, one worker, no master key, no
  callbacks. ``--relay NAME=DIR`` adds another llmrelay (``DIR/src`` on PYTHONPATH, e.g. a
  worktree of main: a before/after in one run), optionally with environment variables.
- ``portkey``: Portkey's open-source gateway (``@portkey-ai/gateway``, version
  ``PORTKEY_VERSION``) from npm, installed into ``--portkey-dir`` (not in the repository)
  when missing, run by Node bound to 127.0.0.1 (a preloaded module pins ``listen`` to the
  loopback address: the gateway's start script listens on every interface), with
  ``NODE_ENV=production`` and ``--headless`` (no UI, no log streaming), its dependencies
  pinned to the releases current when it was published (``PORTKEY_OVERRIDES``) and one shim
  (Node's ``fetch`` responses given mutable headers: without it every stream fails with
  "TypeError: immutable" on Node 20; one header copy per request); requests carry its
  routing headers (``x-portkey-provider: openai``, ``x-portkey-custom-host``). Skipped
  with a message when ``npm``/``node`` are missing or the install fails.
- ``litellm``: LiteLLM's proxy from ``--litellm-venv`` (created with ``pip install
  'litellm[proxy]'`` when missing), one worker, no database, no master key, bundled price
  map. Skipped with a message when it cannot be installed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from proxy_load import generator_name, run_load  # noqa: E402
from proxy_procs import Server, free_port  # noqa: E402

PORTKEY_VERSION = "1.15.2"
MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"
UPSTREAM_KEY = "sk-bench-upstream"
LITELLM_ENV = {"LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
               "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
# the gateway's start script calls listen(port) (every interface): pin it to loopback
BIND_LOCAL = """import net from "node:net";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number") {
    const [port, ...rest] = args;
    const cb = rest.find((a) => typeof a === "function");
    return listen.call(this, { port, host: "127.0.0.1" }, cb);
  }
  if (args[0] && typeof args[0] === "object" && args[0].port !== undefined) {
    args[0] = { ...args[0], host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
// Node 20's fetch hands back responses whose headers are immutable; the gateway appends
// its own headers to a streamed upstream response and fails every stream without this
const fetch0 = globalThis.fetch;
globalThis.fetch = async (...args) => {
  const r = await fetch0(...args);
  return new Response(r.body, { status: r.status, statusText: r.statusText,
                                headers: new Headers(r.headers) });
};
"""
# the gateway's dependencies as they were when PORTKEY_VERSION was published (2026-08-23)
PORTKEY_OVERRIDES = {"@hono/node-server": "1.19.17", "hono": "4.13.3"}
# scenario -> (stream, connections; 0 = --connections)
SCENARIOS = {"ns": (False, 0), "s": (True, 0), "ns1": (False, 1)}


@dataclass
class Target:
    name: str
    url: str = ""
    server: Server | None = None
    headers: dict[str, str] = field(default_factory=dict)
    startup_s: float | None = None
    rss_start_mb: float | None = None
    rss_end_mb: float | None = None
    # scenario -> one dict per round (rps, cpu_ms, p50_ms, p99_ms, errors)
    rounds: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _check(port: int, headers: dict[str, str]) -> str | None:
    """None when the gateway answers a chat completion and a stream correctly."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}
    for stream in (False, True):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", CHAT, body=json.dumps({**body, "stream": stream}),
                         headers={"Content-Type": "application/json", **headers})
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        ok = resp.status == 200 and b"upstream" in raw and (b"[DONE]" in raw or not stream)
        if not ok:
            return f"{'stream' if stream else 'non-stream'} answer {resp.status}: {raw[:300]!r}"
    return None


def _config(path: Path, up_port: int) -> Path:
    path.write_text("\n".join([
        "model_list:", f"  - model_name: {MODEL}", "    litellm_params:",
        f"      model: openai/{MODEL}", f"      api_base: http://127.0.0.1:{up_port}/v1",
        f"      api_key: {UPSTREAM_KEY}"]) + "\n")
    return path


def _portkey(args: argparse.Namespace, notes: list[str]) -> Path | None:
    """The gateway's start script, installed into --portkey-dir when missing."""
    if not (shutil.which("npm") and shutil.which("node")):
        notes.append("Portkey's gateway skipped: npm/node are not installed")
        return None
    home = Path(args.portkey_dir)
    script = home / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if not script.exists():
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "package.json").exists():
            (home / "package.json").write_text(json.dumps(
                {"name": "portkey-bench", "private": True, "overrides": PORTKEY_OVERRIDES}))
        print(f"installing @portkey-ai/gateway@{PORTKEY_VERSION} into {home} ...", flush=True)
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--save-exact",
                               f"@portkey-ai/gateway@{PORTKEY_VERSION}"], cwd=home,
                              capture_output=True, text=True)
        if done.returncode != 0 or not script.exists():
            notes.append(f"Portkey's gateway skipped: npm install failed: "
                         f"{done.stderr.strip()[-300:]}")
            return None
    (home / "bind-local.mjs").write_text(BIND_LOCAL)
    return script


def _litellm(args: argparse.Namespace, notes: list[str]) -> Path | None:
    venv = Path(args.litellm_venv)
    exe = venv / "bin" / "litellm"
    if not exe.exists():
        print(f"creating {venv} with litellm[proxy] ...", flush=True)
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
        if not made or subprocess.run([str(venv / "bin" / "pip"), "install", "-q",
                                       "litellm[proxy]"]).returncode != 0:
            notes.append("LiteLLM skipped: installing litellm[proxy] failed")
            return None
    return exe


def _version(py: Path, dist: str) -> str:
    out = subprocess.run([str(py), "-c", f"import importlib.metadata as m; "
                          f"print(m.version('{dist}'))"], capture_output=True, text=True)
    return out.stdout.strip()


class Rounds:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.servers: list[Server] = []
        self.targets: list[Target] = []
        self.notes: list[str] = []
        self.versions: dict[str, str] = {}
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")
               and k not in ("LLMRELAY_MASTER_KEY", "DATABASE_URL", "LITELLM_MASTER_KEY",
                             "OPENAI_API_KEY", "OPENAI_BASE_URL", "REDIS_URL")}
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env

    def spawn(self, name: str, cmd: list[str], port: int, env: dict[str, str],
              keep_stdin: bool = False) -> Server:
        srv = Server(name=name, cmd=cmd, port=port, log=self.tmp / f"{name}.log",
                     env={**self.env, **env}, cwd=str(self.tmp), keep_stdin=keep_stdin)
        self.servers.append(srv)
        srv.start()
        return srv

    def add(self, target: Target, cmd: list[str], port: int, env: dict[str, str],
            ready: str) -> None:
        print(f"starting {target.name} ...", flush=True)
        srv = self.spawn(target.name, cmd, port, env)
        try:
            target.startup_s = srv.wait_ready(ready, timeout=120)
        except RuntimeError as exc:
            self.notes.append(f"{target.name} did not start: {str(exc)[-400:]}")
            print(f"  {target.name} did not start:\n{exc}", file=sys.stderr, flush=True)
            srv.stop()
            return
        time.sleep(0.5)
        problem = _check(port, target.headers)
        if problem:
            self.notes.append(f"{target.name} answers wrongly, not measured: {problem}")
            print(f"  {target.name}: {problem}", file=sys.stderr, flush=True)
            srv.stop()
            return
        target.server, target.url = srv, f"http://127.0.0.1:{port}{CHAT}"
        target.rss_start_mb = srv.rss_mb()
        self.targets.append(target)
        print(f"  up in {target.startup_s:.2f} s, RSS {target.rss_start_mb:.0f} MB", flush=True)

    def start(self) -> None:
        a, py = self.args, sys.executable
        up_port = free_port()
        up = self.spawn("upstream", [py, str(HERE / "proxy_upstream.py"), "--port",
                                     str(up_port)], up_port, {}, keep_stdin=True)
        up.wait_ready("/v1/models", timeout=30)
        upstream = Target("upstream", server=up, url=f"http://127.0.0.1:{up_port}{CHAT}")
        self.targets.append(upstream)
        cfg = _config(self.tmp / "config.yaml", up_port)
        relays = [("llmrelay", str(ROOT), {})] + [_relay_spec(s) for s in a.relay]
        for name, src, extra in relays:
            port = free_port()
            data = self.tmp / name
            data.mkdir(exist_ok=True)
            env = {"PYTHONPATH": str(Path(src) / "src"), "LLMRELAY_DATA_DIR": str(data),
                   "LLMRELAY_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
                   **extra}
            self.add(Target(name), [py, "-m", "llmrelay.cli", "serve", "--config", str(cfg),
                                    "--port", str(port)], port, env, "/health/liveliness")
        if not a.no_portkey:
            script = _portkey(a, self.notes)
            if script is not None:
                port = free_port()
                self.versions["portkey"] = PORTKEY_VERSION
                bind = Path(a.portkey_dir) / "bind-local.mjs"
                headers = {"x-portkey-provider": "openai", "Authorization":
                           f"Bearer {UPSTREAM_KEY}",
                           "x-portkey-custom-host": f"http://127.0.0.1:{up_port}/v1"}
                self.add(Target("portkey", headers=headers),
                         ["node", "--import", bind.as_uri(), str(script), f"--port={port}",
                          "--headless"], port, {"NODE_ENV": "production"}, "/")
        if not a.no_litellm:
            exe = _litellm(a, self.notes)
            if exe is not None:
                port = free_port()
                self.versions["litellm"] = _version(exe.parent / "python", "litellm")
                self.add(Target("litellm"), [str(exe), "--config", str(cfg), "--host",
                                             "127.0.0.1", "--port", str(port),
                                             "--num_workers", "1"], port, LITELLM_ENV,
                         "/health/liveliness")
        for t in self.targets:
            if t.name == "upstream":
                continue
            for s in SCENARIOS:  # warm every gateway once before the first round
                stream, conns = SCENARIOS[s]
                run_load(t.url, conns or a.connections, a.warmup, stream, None, t.headers)

    def round(self, i: int) -> None:
        a = self.args
        order = self.targets[i % len(self.targets):] + self.targets[:i % len(self.targets)]
        for t in order:
            assert t.server is not None
            slow = t.name == "litellm"
            for s, (stream, conns) in SCENARIOS.items():
                conns = conns or a.connections
                if a.warmup:
                    run_load(t.url, conns, a.warmup, stream, None, t.headers)
                cpu0 = t.server.cpu()
                load = run_load(t.url, conns, a.duration * (2 if slow else 1), stream, None,
                                t.headers)
                cpu = t.server.cpu() - cpu0
                row = {"rps": load.rps, "requests": load.requests, "errors": load.errors,
                       "cpu_ms": cpu * 1000 / load.requests if load.requests else 0.0,
                       "p50_ms": load.p50_ms, "p99_ms": load.p99_ms}
                t.rounds.setdefault(s, []).append(row)
                print(f"  round {i + 1} {t.name:>10} {s:>3}: {load.rps:8,.0f} req/s "
                      f"{row['cpu_ms']:.3f} ms CPU/req p50 {load.p50_ms:.2f} p99 "
                      f"{load.p99_ms:.2f} ms errors {load.errors}", flush=True)

    def stop_all(self) -> None:
        for srv in reversed(self.servers):
            srv.stop()


def _relay_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """``NAME=DIR[:ENV=VALUE,...]``."""
    name, _, rest = spec.partition("=")
    src, _, envs = rest.partition(":")
    extra = dict(e.split("=", 1) for e in envs.split(",") if "=" in e)
    return name, src, extra


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarize(targets: list[Target]) -> dict[str, Any]:
    """Per target: medians over rounds, and per-round ratios (medians) against the upstream
    and the other gateways."""
    by = {t.name: t for t in targets}
    up = by.get("upstream")
    out: dict[str, Any] = {}
    for t in targets:
        d: dict[str, Any] = {"startup_s": t.startup_s, "rss_start_mb": t.rss_start_mb,
                             "rss_end_mb": t.rss_end_mb, "rounds": t.rounds}
        for s, rows in t.rounds.items():
            d[f"{s}_rps"] = _median([r["rps"] for r in rows])
            d[f"{s}_cpu_ms"] = _median([r["cpu_ms"] for r in rows])
            d[f"{s}_p50_ms"] = _median([r["p50_ms"] for r in rows])
            d[f"{s}_p99_ms"] = _median([r["p99_ms"] for r in rows])
            d[f"{s}_errors"] = sum(int(r["errors"]) for r in rows)
        if up is not None and t is not up and "ns1" in t.rounds:
            pairs = list(zip(t.rounds["ns1"], up.rounds.get("ns1", []), strict=False))
            d["added_p50_ms"] = _median([a["p50_ms"] - b["p50_ms"] for a, b in pairs])
            d["added_p99_ms"] = _median([a["p99_ms"] - b["p99_ms"] for a, b in pairs])
        for other in targets:
            if other is t:
                continue
            for s in ("ns", "s"):
                pairs = list(zip(t.rounds.get(s, []), other.rounds.get(s, []), strict=False))
                if pairs:
                    d[f"{s}_rps_x_{other.name}"] = _median([a["rps"] / b["rps"] for a, b in pairs
                                                            if b["rps"]])
                    d[f"{s}_cpu_x_{other.name}"] = _median([a["cpu_ms"] / b["cpu_ms"]
                                                            for a, b in pairs if b["cpu_ms"]])
        out[t.name] = d
    return out


def render(meta: dict[str, Any], ts: dict[str, Any]) -> str:
    """Markdown tables of one run: medians per target, then ratios (per-round medians)."""
    names = list(ts)

    def cell(name: str, key: str, fmt: str) -> str:
        v = ts[name].get(key)
        return "-" if v is None else format(v, fmt)

    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    rows = [("CPU ms / request, non-stream", "ns_cpu_ms", ".3f"),
            ("CPU ms / request, stream", "s_cpu_ms", ".3f"),
            ("requests/s, non-stream", "ns_rps", ",.0f"), ("requests/s, stream", "s_rps", ",.0f"),
            ("latency at 1 connection p50 ms", "ns1_p50_ms", ".2f"),
            ("latency at 1 connection p99 ms", "ns1_p99_ms", ".2f"),
            ("added over the upstream, p50 ms", "added_p50_ms", "+.2f"),
            ("added over the upstream, p99 ms", "added_p99_ms", "+.2f"),
            ("RSS MB after start / after load", None, ""),
            ("failed requests", None, "")]
    for label, key, fmt in rows:
        if key is not None:
            vals = [cell(n, key, fmt) for n in names]
        elif label.startswith("RSS"):
            vals = [f"{cell(n, 'rss_start_mb', '.0f')} / {cell(n, 'rss_end_mb', '.0f')}"
                    for n in names]
        else:
            vals = [str(sum(int(ts[n].get(f"{s}_errors") or 0) for s in SCENARIOS))
                    for n in names]
        lines.append(f"| {label} | " + " | ".join(vals) + " |")
    lines += ["", "| ratio (median of per-round ratios) | non-stream | stream |", "|---|---|---|"]
    def x(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}x"

    for a in names:  # each llmrelay against every other target
        for b in names:
            if a == b or a in ("upstream", "portkey", "litellm"):
                continue
            for kind, what in (("cpu", "CPU per request"), ("rps", "requests/s")):
                ns, st = ts[a].get(f"ns_{kind}_x_{b}"), ts[a].get(f"s_{kind}_x_{b}")
                if ns is not None or st is not None:
                    lines.append(f"| {a} {what} / {b}'s | {x(ns)} | {x(st)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=6.0, help="seconds per figure")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds before each figure")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument("--no-portkey", action="store_true")
    ap.add_argument("--litellm-venv", default="/tmp/venv-litellm-proxy")
    ap.add_argument("--portkey-dir", default=str(Path(tempfile.gettempdir()) / "portkey-gw"))
    ap.add_argument("--relay", action="append", default=[], metavar="NAME=DIR[:ENV=V,...]",
                    help="another llmrelay checkout to measure beside this one")
    ap.add_argument("--json", default=str(HERE / "results" / "proxy_rounds.json"))
    ap.add_argument("--from-json", metavar="JSON", help="print the tables of a saved run")
    args = ap.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        print(render(saved["meta"], saved["targets"]))
        return
    if not shutil.which("wrk"):
        print("wrk is not installed (sudo apt-get install -y wrk): using the slower Python "
              "load generator", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="proxy-rounds-"))
    run = Rounds(args, tmp)
    t0 = time.perf_counter()
    try:
        run.start()
        for i in range(args.rounds):
            run.round(i)
        for t in run.targets:
            if t.server is not None:
                t.rss_end_mb = t.server.rss_mb()
    finally:
        run.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "python": platform.python_version(), "cores": os.cpu_count(),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                     capture_output=True, text=True).stdout.strip(),
            "loadgen": generator_name(), "rounds": args.rounds, "duration_s": args.duration,
            "connections": args.connections, "versions": run.versions,
            "wall_s": round(time.perf_counter() - t0), "notes": run.notes}
    summary = summarize(run.targets)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"meta": meta, "targets": summary}, indent=1))
    for note in run.notes:
        print("note:", note)
    for name, d in summary.items():
        print(f"{name:>10}: ns {d.get('ns_rps') or 0:8,.0f} req/s {d.get('ns_cpu_ms') or 0:.3f}"
              f" ms | s {d.get('s_rps') or 0:8,.0f} req/s {d.get('s_cpu_ms') or 0:.3f} ms | "
              f"c1 p50 {d.get('ns1_p50_ms') or 0:.2f} p99 {d.get('ns1_p99_ms') or 0:.2f} "
              f"(+{d.get('added_p50_ms') or 0:.2f} / +{d.get('added_p99_ms') or 0:.2f}) | RSS "
              f"{d.get('rss_end_mb') or 0:.0f} MB")
    print(render(meta, summary))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
