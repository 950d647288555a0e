"""Proxy benchmark: llmrelay's proxy beside LiteLLM's proxy and the bare upstream, in one run.

    python bench/proxy_bench.py [--duration 10] [--warmup 2] [--connections 50]
                                [--no-litellm] [--out bench/PROXY.md] [--from-json F]

Everything runs on 127.0.0.1 and stops by itself (about 4-5 minutes with the defaults):

1. a fake OpenAI upstream (bench/proxy_upstream.py) in its own process;
2. load from ``wrk`` (Debian's package; without it a slower aiohttp client, labelled in
   the report) POSTing chat completions, non-stream and ``"stream": true``;
3. targets, one at a time, each with the same model list: the upstream directly (the
   ceiling), ``llmrelay serve`` (1 worker, no master key, no callbacks), ``llmrelay serve``
   with a master key and requests made with a virtual key (auth + key cache + spend
   records), ``llmrelay serve --workers 2``, and LiteLLM's proxy (``litellm --config ...
   --num_workers 1``, no database and no master key) from bench/.venv-litellm, created or
   completed with LiteLLM's proxy extra when missing.

Measured per target: requests/s at ``--connections`` (non-stream, stream); the server's
CPU seconds (utime + stime of its process tree, /proc) per completed request during the
measured window; latency at concurrency 1 (p50/p99, non-stream and stream) and what the
proxy adds over the direct figures; start-up time (spawn until ``GET /health/liveliness``
answers 200); RSS of the process tree after start and after the load. Every figure sits
next to the same run's baselines, since the machine is small, shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
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

from proxy_load import WRK_INSTALL, LoadResult, generator_name, run_load  # noqa: E402
from proxy_procs import Server, free_port, post_json  # noqa: E402
from proxy_report import render  # noqa: E402

LITELLM_VENV = HERE / ".venv-litellm"
MASTER_KEY = "sk-bench-master-key-0123456789"
MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"
HEALTH = "/health/liveliness"
# LiteLLM's proxy without a master key: recent releases refuse to start unless told this;
# the bundled price map instead of a download at start (there is no network here)
LITELLM_ENV = {"LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
               "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
# scenario name -> (stream, connections; 0 = the --connections option)
SCENARIOS = {"ns": (False, 0), "s": (True, 0), "ns1": (False, 1), "s1": (True, 1)}


@dataclass
class Run:
    load: LoadResult
    server_cpu_s: float  # CPU seconds of the target's process tree in the window
    upstream_cpu_s: float
    loadgen_cpu_s: float

    @property
    def cpu_ms_per_req(self) -> float:
        return self.server_cpu_s * 1000 / self.load.requests if self.load.requests else 0.0


@dataclass
class Target:
    name: str
    startup_s: float | None = None
    rss_start_mb: float | None = None
    rss_end_mb: float | None = None
    runs: dict[str, Run] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "startup_s": self.startup_s,
                "rss_start_mb": self.rss_start_mb, "rss_end_mb": self.rss_end_mb,
                "notes": self.notes,
                "runs": {k: {**r.load.as_dict(), "server_cpu_s": r.server_cpu_s,
                             "cpu_ms_per_req": r.cpu_ms_per_req,
                             "upstream_cpu_s": r.upstream_cpu_s,
                             "loadgen_cpu_s": r.loadgen_cpu_s} for k, r in self.runs.items()}}


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Bench:
    """Runs the scenarios against one target at a time; keeps every started server so
    :meth:`stop_all` can end them whatever happened."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.servers: list[Server] = []
        self.upstream: Server | None = None
        self.env = self._base_env()

    @staticmethod
    def _base_env() -> dict[str, str]:
        drop = {"LLMRELAY_MASTER_KEY", "DATABASE_URL", "LITELLM_MASTER_KEY", "REDIS_URL",
                "REDIS_HOST", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"}
        env = {k: v for k, v in os.environ.items()
               if k not in drop and not k.lower().endswith("_proxy")}
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def spawn(self, name: str, cmd: list[str], port: int, extra_env: dict[str, str],
              keep_stdin: bool = False) -> Server:
        srv = Server(name=name, cmd=cmd, port=port, log=self.tmp / f"{name}.log",
                     env={**self.env, **extra_env}, cwd=str(self.tmp), keep_stdin=keep_stdin)
        self.servers.append(srv)
        srv.start()
        return srv

    def stop(self, srv: Server) -> None:
        srv.stop()
        if srv in self.servers:
            self.servers.remove(srv)

    def stop_all(self) -> None:
        for srv in reversed(list(self.servers)):
            self.stop(srv)

    # ---- measuring ----------------------------------------------------------------------
    def measure(self, target: Target, srv: Server, scenarios: list[str],
                key: str | None = None) -> None:
        url = f"http://127.0.0.1:{srv.port}{CHAT}"
        for name in scenarios:
            stream, conns = SCENARIOS[name]
            conns = conns or self.args.connections
            label = f"{target.name} / {'stream' if stream else 'non-stream'} / c{conns}"
            print(f"  {label}: warm-up {self.args.warmup:.0f} s, measure "
                  f"{self.args.duration:.0f} s", flush=True)
            run_load(url, conns, self.args.warmup, stream, key)
            assert self.upstream is not None
            cpu0, up0, lg0 = srv.cpu(), self.upstream.cpu(), _children_cpu()
            load = run_load(url, conns, self.args.duration, stream, key)
            run = Run(load, srv.cpu() - cpu0, self.upstream.cpu() - up0,
                      _children_cpu() - lg0)
            target.runs[name] = run
            print(f"    {load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, p99 "
                  f"{load.p99_ms:.2f} ms, {run.cpu_ms_per_req:.3f} ms CPU/req, "
                  f"{load.errors} errors", flush=True)
            if load.errors:
                target.notes.append(f"{label}: {load.errors} failed requests")

    def check_answers(self, port: int, key: str | None) -> str | None:
        """None when the proxy answers both kinds of request correctly, else what is wrong
        (a target that answers errors fast must not be measured as fast)."""
        body = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}
        status, raw = post_json(port, CHAT, body, key)
        try:
            text = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            text = None
        if status != 200 or text != "Hello from the fake upstream":
            return f"non-stream answer {status}: {raw[:300]!r}"
        status, raw = post_json(port, CHAT, {**body, "stream": True}, key)
        if status != 200 or b"[DONE]" not in raw or b"upstream" not in raw:
            return f"stream answer {status}: {raw[:300]!r}"
        return None

    def start_target(self, target: Target, name: str, cmd: list[str], port: int,
                     extra_env: dict[str, str]) -> Server | None:
        print(f"starting {target.name} ...", flush=True)
        srv = self.spawn(name, cmd, port, extra_env)
        try:
            target.startup_s = srv.wait_ready(HEALTH)
        except RuntimeError as exc:
            last = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][-4:]
            target.notes.append("did not start: " + " | ".join(last)[:600])
            print(f"  {target.name} did not start:\n{exc}", file=sys.stderr, flush=True)
            self.stop(srv)
            return None
        time.sleep(0.5)  # let start-up work settle before reading RSS
        target.rss_start_mb = srv.rss_mb()
        print(f"  up in {target.startup_s:.2f} s, RSS {target.rss_start_mb:.0f} MB", flush=True)
        return srv

    def run_target(self, target: Target, name: str, cmd: list[str], port: int,
                   extra_env: dict[str, str], scenarios: list[str],
                   key_from: Any = None) -> None:
        srv = self.start_target(target, name, cmd, port, extra_env)
        if srv is None:
            return
        try:
            key = key_from(port) if key_from else None
            problem = self.check_answers(port, key)
            if problem:
                target.notes.append(f"wrong answer, not measured: {problem}")
                print(f"  {target.name}: {problem}", file=sys.stderr, flush=True)
                return
            self.measure(target, srv, scenarios, key)
            target.rss_end_mb = srv.rss_mb()
        finally:
            self.stop(srv)


def _write_config(path: Path, upstream_port: int, master_key: str | None) -> Path:
    lines = ["model_list:", f"  - model_name: {MODEL}", "    litellm_params:",
             f"      model: openai/{MODEL}",
             f"      api_base: http://127.0.0.1:{upstream_port}/v1",
             "      api_key: sk-bench-upstream"]
    if master_key:
        lines += ["general_settings:", f"  master_key: {master_key}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _virtual_key(port: int) -> str:
    status, raw = post_json(port, "/key/generate", {"key_alias": "bench", "models": [MODEL]},
                            MASTER_KEY)
    if status != 200:
        raise RuntimeError(f"/key/generate answered {status}: {raw[:300]!r}")
    return str(json.loads(raw)["key"])


def _litellm_ready(log: list[str]) -> Path | None:
    """bench/.venv-litellm/bin/litellm with the proxy's dependencies, installing what is
    missing; None (with the reason in ``log``) when that cannot be done."""
    py, exe = LITELLM_VENV / "bin" / "python", LITELLM_VENV / "bin" / "litellm"
    pip = [str(py), "-m", "pip", "install", "-q"]
    if not py.exists():
        print("creating", LITELLM_VENV, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run([*pip, "litellm"], check=True)
    probe = "import fastapi, uvicorn, backoff, orjson, apscheduler, litellm.proxy.proxy_server"
    env = {**os.environ, **LITELLM_ENV}
    if subprocess.run([str(py), "-c", probe], capture_output=True, env=env).returncode == 0:
        return exe
    version = subprocess.run([str(py), "-c", "import importlib.metadata as m; "
                              "print(m.version('litellm'))"], capture_output=True,
                             text=True, check=True).stdout.strip()
    print(f"installing litellm[proxy]=={version} into {LITELLM_VENV} ...", flush=True)
    if subprocess.run([*pip, f"litellm[proxy]=={version}"]).returncode != 0:
        # some releases pin companion packages (litellm-proxy, exact builds of
        # litellm-proxy-extras / litellm-enterprise) that the registry does not serve: install
        # the extra's other requirements (the proxy code itself ships inside litellm)
        reqs = subprocess.run([str(py), str(HERE / "proxy_extra_reqs.py"), "--relax"],
                              capture_output=True, text=True, check=True).stdout.split()
        log.append(f"`pip install 'litellm[proxy]=={version}'` could not be resolved here; "
                   "installed the proxy extra's requirements instead, without the "
                   "`litellm-proxy` package and with the newest available "
                   "litellm-proxy-extras / litellm-enterprise")
        if subprocess.run([*pip, *reqs]).returncode != 0:
            log.append("installing LiteLLM's proxy requirements failed")
            return None
    if subprocess.run([str(py), "-c", probe], capture_output=True, env=env).returncode != 0:
        log.append("LiteLLM's proxy still does not import after the install")
        return None
    return exe


def run_all(args: argparse.Namespace, tmp: Path, bench: Bench) -> dict[str, Any]:
    py = sys.executable
    up_port = free_port()
    up = bench.spawn("upstream", [py, str(HERE / "proxy_upstream.py"), "--port", str(up_port)],
                     up_port, {}, keep_stdin=True)
    up.wait_ready("/v1/models", timeout=30)
    bench.upstream = up
    plain = _write_config(tmp / "config.yaml", up_port, None)
    authed = _write_config(tmp / "config-auth.yaml", up_port, MASTER_KEY)
    relay_env = {"PYTHONPATH": str(ROOT / "src"), "LLMRELAY_DATA_DIR": str(tmp),
                 "LLMRELAY_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true"}
    all4 = ["ns", "s", "ns1", "s1"]
    targets: dict[str, Target] = {}

    def relay(config: Path, port: int, workers: int) -> list[str]:
        return [py, "-m", "llmrelay.cli", "serve", "--config", str(config), "--port",
                str(port), "--workers", str(workers)]

    t = targets["upstream"] = Target("upstream direct")
    print("measuring the upstream directly ...", flush=True)
    bench.measure(t, up, all4)

    t = targets["llmrelay"] = Target("llmrelay, 1 worker")
    p = free_port()
    bench.run_target(t, "llmrelay", relay(plain, p, 1), p, relay_env, all4)

    t = targets["llmrelay_auth"] = Target("llmrelay, 1 worker, virtual key")
    p = free_port()
    (tmp / "llmrelay.db").unlink(missing_ok=True)
    bench.run_target(t, "llmrelay-auth", relay(authed, p, 1), p, relay_env, ["ns", "s", "ns1"],
                     key_from=_virtual_key)

    t = targets["llmrelay_w2"] = Target("llmrelay, 2 workers")
    p = free_port()
    bench.run_target(t, "llmrelay-w2", relay(plain, p, 2), p, relay_env, ["ns", "s"])

    litellm_notes: list[str] = []
    if not args.no_litellm:
        t = targets["litellm"] = Target("LiteLLM proxy, 1 worker")
        exe = _litellm_ready(litellm_notes)
        t.notes += litellm_notes
        if exe is not None:
            p = free_port()
            # no database_url and no master key: LiteLLM's proxy runs without a DB then
            bench.run_target(t, "litellm", [str(exe), "--config", str(plain), "--host",
                                            "127.0.0.1", "--port", str(p), "--num_workers",
                                            "1"], p,
                             LITELLM_ENV, all4)
    return {k: v.as_dict() for k, v in targets.items()}


def _machine() -> dict[str, Any]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                                  cwd=ROOT).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    lit = LITELLM_VENV / "bin" / "python"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": out(["git", "rev-parse", "--short", "HEAD"]),
        "dirty": bool(out(["git", "status", "--porcelain", "--untracked-files=no"])),
        "litellm": out([str(lit), "-c", "import importlib.metadata as m; "
                        "print(m.version('litellm'))"]) if lit.exists() else "",
        "litellm_extras": out([str(lit), "-c", LITELLM_EXTRAS_PROBE]) if lit.exists() else "",
        "wrk": out(["wrk", "--version"]).splitlines()[0] if shutil.which("wrk") else "",
    }


LITELLM_EXTRAS_PROBE = (
    "import importlib.metadata as m\n"
    "for n in ('litellm-proxy', 'litellm-proxy-extras', 'litellm-enterprise', 'fastapi', "
    "'uvicorn'):\n"
    "    try: print(f'{n} {m.version(n)}', end='; ')\n"
    "    except m.PackageNotFoundError: print(f'{n} not installed', end='; ')\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each")
    ap.add_argument("--connections", type=int, default=50, help="connections for throughput")
    ap.add_argument("--no-litellm", action="store_true", help="skip LiteLLM's proxy")
    ap.add_argument("--out", default=str(HERE / "PROXY.md"), help="markdown report")
    ap.add_argument("--json", default=str(HERE / "results" / "proxy_latest.json"),
                    help="raw figures as JSON")
    ap.add_argument("--from-json", metavar="JSON",
                    help="only re-render --out from a saved JSON (no measurement)")
    args = ap.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        Path(args.out).write_text(render(saved["meta"], saved["targets"]))
        print(f"wrote {args.out}")
        return
    if not shutil.which("wrk"):
        print(f"wrk is not installed; install it with:  {WRK_INSTALL}\n"
              "falling back to the (slower, labelled) Python load generator", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="proxy-bench-"))
    bench = Bench(args, tmp)
    t0 = time.perf_counter()
    try:
        results = run_all(args, tmp, bench)
    finally:
        bench.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    meta = {**_machine(), "loadgen": generator_name(), "connections": args.connections,
            "duration_s": args.duration, "warmup_s": args.warmup,
            "wall_s": round(time.perf_counter() - t0)}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"meta": meta, "targets": results}, indent=2))
    md = render(meta, results)
    Path(args.out).write_text(md)
    print()
    print(md)
    print(f"wrote {args.out} and {args.json}")


if __name__ == "__main__":
    main()
