"""Surfaces benchmark: what ``llmrelay serve`` adds to a stream of Anthropic's Messages API
(``/v1/messages``) and OpenAI's Responses API (``/v1/responses``), against the same fake
upstream asked directly, with chat completions streamed through the same proxy as the
reference.

    python bench/surfaces_bench.py [--rounds 8] [--requests 150] [--json F]

Everything runs on 127.0.0.1 and stops by itself (about a minute with the defaults):
bench/surfaces_upstream.py (uvloop + httptools; chat, Messages and Responses streams) in
its own process, and ``llmrelay serve`` (1 worker, no master key, no callbacks; turns of
translated Responses calls kept in its SQLite database, as by default) with two models:
``gpt`` (``openai/gpt-4o-mini``) and ``claude`` (``anthropic/claude-3-5-sonnet-20241022``),
both at the fake.

Scenarios (each a stream, one request at a time on a keep-alive connection, read to its
last byte):

* chat: ``/v1/chat/completions`` through the proxy vs the upstream's chat stream;
* messages, pass-through: ``/v1/messages`` to ``claude`` (Anthropic's wire, events
  relayed) vs the upstream's ``/v1/messages`` stream;
* messages over chat: ``/v1/messages`` to ``gpt`` (translated to chat and back) vs the
  upstream's chat stream (the work the upstream does for it);
* responses, native: ``/v1/responses`` to ``gpt`` (OpenAI's wire, events relayed) vs the
  upstream's ``/v1/responses`` stream;
* responses over Messages: ``/v1/responses`` to ``claude`` (translated, the turn stored)
  vs the upstream's ``/v1/messages`` stream.

Rounds are interleaved: every round runs each scenario through the proxy and directly, the
order flipping from round to round, so drift on this shared machine lands on both sides.
Reported per scenario: p50/p99 latency direct and through the proxy, the difference and
the ratio; CPU per request of the proxy's process tree (utime + stime from /proc) and of
the upstream's, and their ratio; the proxy's CPU per request as a ratio to its chat figure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
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

from proxy_procs import Server, free_port  # noqa: E402

GPT = "gpt-4o-mini"
CLAUDE = "claude-3-5-sonnet-20241022"
HI = [{"role": "user", "content": "Hello"}]
CHAT_BODY = {"model": GPT, "messages": HI, "stream": True}
MESSAGES_BODY = {"model": CLAUDE, "max_tokens": 64, "messages": HI, "stream": True}
RESPONSES_BODY = {"model": GPT, "input": "Hello", "stream": True}


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str  # through the proxy
    body: dict[str, Any]
    direct_path: str  # the upstream alone
    direct_body: dict[str, Any]
    last: bytes  # what the stream's last event carries


_ROWS = (  # name, path, (body, model alias), direct path, direct body, last event
    ("chat (reference)", "/v1/chat/completions", (CHAT_BODY, "gpt"),
     "/v1/chat/completions", CHAT_BODY, b"[DONE]"),
    ("messages, pass-through (Anthropic upstream)", "/v1/messages", (MESSAGES_BODY, "claude"),
     "/v1/messages", MESSAGES_BODY, b"message_stop"),
    ("messages over chat (OpenAI upstream)", "/v1/messages", (MESSAGES_BODY, "gpt"),
     "/v1/chat/completions", CHAT_BODY, b"message_stop"),
    ("responses, native (OpenAI upstream)", "/v1/responses", (RESPONSES_BODY, "gpt"),
     "/v1/responses", RESPONSES_BODY, b"response.completed"),
    ("responses over Messages (Anthropic upstream)", "/v1/responses", (RESPONSES_BODY, "claude"),
     "/v1/messages", MESSAGES_BODY, b"response.completed"),
)
SCENARIOS = [Scenario(name, path, {**body, "model": alias}, dpath, dbody, last)
             for name, path, (body, alias), dpath, dbody, last in _ROWS]


@dataclass
class Side:
    latencies_ms: list[float] = field(default_factory=list)
    proxy_cpu_s: float = 0.0
    upstream_cpu_s: float = 0.0

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


class Client:
    """One keep-alive connection; ``post`` returns (status, body, seconds to last byte)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, payload: bytes) -> tuple[int, bytes, float]:
        t0 = time.perf_counter()
        self.conn.request("POST", path, body=payload,
                          headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, data, time.perf_counter() - t0

    def close(self) -> None:
        self.conn.close()


def _config(upstream: str) -> str:
    root = upstream.rsplit("/v1", 1)[0]
    return json.dumps({"model_list": [
        {"model_name": "gpt", "litellm_params": {"model": "openai/" + GPT, "api_base": upstream,
                                                 "api_key": "sk-bench-0123456789"}},
        {"model_name": "claude", "litellm_params": {"model": "anthropic/" + CLAUDE,
                                                    "api_base": root,
                                                    "api_key": "sk-ant-bench-0123456789"}}]})


def _env() -> dict[str, str]:
    drop = {"LLMRELAY_MASTER_KEY", "DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY", "LLMRELAY_CONFIG"}
    env = {k: v for k, v in os.environ.items()
           if k not in drop and not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["LLMRELAY_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY"] = "true"  # no auth: 127.0.0.1
    return env


def _phase(client: Client, sc: Scenario, direct: bool, n: int, side: Side,
           proxy: Server, upstream: Server) -> None:
    path, body = (sc.direct_path, sc.direct_body) if direct else (sc.path, sc.body)
    payload = json.dumps(body).encode()
    cpu0, up0 = proxy.cpu(), upstream.cpu()
    for _ in range(n):
        status, data, dt = client.post(path, payload)
        if status != 200 or (sc.last not in data and not direct):
            raise RuntimeError(f"{sc.name} ({'direct' if direct else 'proxy'}): {status} "
                               f"{data[:300]!r}")
        side.latencies_ms.append(dt * 1000)
    side.proxy_cpu_s += proxy.cpu() - cpu0
    side.upstream_cpu_s += upstream.cpu() - up0


def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="surfaces-bench-"))
    env = _env()
    up = Server("upstream", [sys.executable, str(HERE / "surfaces_upstream.py")], 0,
                tmp / "upstream.log", env=env, keep_stdin=True)
    up.start()
    servers = [up]
    try:
        assert up.proc is not None and up.proc.stdout is None
        url = _wait_url(up)
        up.port = int(url.split(":")[2].split("/")[0])
        cfg = tmp / "config.yaml"
        cfg.write_text(_config(url))  # JSON is YAML
        port = free_port()
        proxy = Server("proxy", [str(Path(sys.executable).parent / "llmrelay"), "serve",
                                 "--config", str(cfg), "--port", str(port)], port,
                       tmp / "proxy.log", env={**env, "LLMRELAY_DATA_DIR": str(tmp)},
                       cwd=str(tmp))
        proxy.start()
        servers.append(proxy)
        proxy.wait_ready("/health/liveliness")
        via, direct = Client(port), Client(up.port)
        sides = {(sc.name, d): Side() for sc in SCENARIOS for d in (True, False)}
        for sc in SCENARIOS:  # warm-up, and a check that every path answers
            _phase(via, sc, False, args.warmup, Side(), proxy, up)
            _phase(direct, sc, True, args.warmup, Side(), proxy, up)
        for r in range(args.rounds):
            for sc in SCENARIOS:
                for d in ((True, False) if r % 2 == 0 else (False, True)):
                    _phase(direct if d else via, sc, d, args.requests, sides[(sc.name, d)],
                           proxy, up)
            print(f"  round {r + 1}/{args.rounds} done", flush=True)
        via.close()
        direct.close()
        return _results(args, sides)
    finally:
        for srv in reversed(servers):
            srv.stop()


def _wait_url(up: Server) -> str:
    """The upstream prints its URL as its first line (into its log)."""
    deadline = time.time() + 20
    while time.time() < deadline:
        text = up.tail()
        if text.startswith("http://"):
            return text.splitlines()[0].strip()
        time.sleep(0.05)
    raise RuntimeError(f"upstream did not start: {up.tail()}")


def _results(args: argparse.Namespace, sides: dict[tuple[str, bool], Side]) -> dict[str, Any]:
    rows = []
    n = args.rounds * args.requests
    chat_cpu = sides[(SCENARIOS[0].name, False)].proxy_cpu_s / n * 1000
    for sc in SCENARIOS:
        d, p = sides[(sc.name, True)], sides[(sc.name, False)]
        proxy_cpu = p.proxy_cpu_s / n * 1000
        up_cpu = d.upstream_cpu_s / n * 1000
        rows.append({
            "scenario": sc.name, "requests_each": n,
            "direct_p50_ms": d.pct(0.5), "direct_p99_ms": d.pct(0.99),
            "proxy_p50_ms": p.pct(0.5), "proxy_p99_ms": p.pct(0.99),
            "added_p50_ms": p.pct(0.5) - d.pct(0.5), "added_p99_ms": p.pct(0.99) - d.pct(0.99),
            "ratio_p50": p.pct(0.5) / d.pct(0.5), "ratio_p99": p.pct(0.99) / d.pct(0.99),
            "proxy_cpu_ms_per_req": proxy_cpu, "upstream_cpu_ms_per_req": up_cpu,
            "cpu_ratio_proxy_to_upstream": proxy_cpu / up_cpu if up_cpu else None,
            "cpu_ratio_to_chat": proxy_cpu / chat_cpu if chat_cpu else None})
    return {"when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                       f"Python {platform.python_version()}",
            "commit": _commit(), "rounds": args.rounds, "requests": args.requests,
            "rows": rows}


def _commit() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               check=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _x(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}x"


def render(res: dict[str, Any]) -> str:
    out = [f"Run {res['when']} by `python bench/surfaces_bench.py` ({res['machine']}, "
           f"llmrelay at {res['commit']}): {res['rounds']} interleaved rounds x "
           f"{res['requests']} streams per side and scenario, one at a time.", "",
           "| scenario | direct p50 / p99 ms | proxy p50 / p99 ms | added p50 / p99 ms "
           "| proxy ÷ direct p50 / p99 | proxy CPU ms/req | upstream CPU ms/req "
           "| proxy CPU ÷ upstream CPU | proxy CPU ÷ chat's |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        out.append(
            f"| {r['scenario']} | {r['direct_p50_ms']:.2f} / {r['direct_p99_ms']:.2f} "
            f"| {r['proxy_p50_ms']:.2f} / {r['proxy_p99_ms']:.2f} "
            f"| {r['added_p50_ms']:+.2f} / {r['added_p99_ms']:+.2f} "
            f"| {r['ratio_p50']:.1f}x / {r['ratio_p99']:.1f}x "
            f"| {r['proxy_cpu_ms_per_req']:.2f} | {r['upstream_cpu_ms_per_req']:.3f} "
            f"| {_x(r['cpu_ratio_proxy_to_upstream'], 0)} | {_x(r['cpu_ratio_to_chat'], 2)} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--requests", type=int, default=150, help="streams per side, scenario "
                    "and round (default 150)")
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--json", help="also write the results as JSON to this file")
    args = ap.parse_args()
    res = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    print(render(res))


if __name__ == "__main__":
    main()
