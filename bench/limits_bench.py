"""What accounting costs per request: global limits in Redis against limits in the
process, and the spend spool's write, in one run.

    python bench/limits_bench.py [--rounds 5] [--seconds 5] [--connections 20]
                                 [--redis redis://127.0.0.1:6379/0]

Two ``llmrelay serve`` processes (1 worker each, the same config and fake upstream,
bench/proxy_upstream.py), one with limits in its memory and one with ``router_settings.
redis_url`` (limits in Redis); each gets a virtual key with every limit set (rpm, tpm,
max_parallel_requests, a budget: so every check and the worst-case reservation run) but
far above what the load reaches. Rounds alternate between them (the machine is shared and
noisy: interleaving spreads the noise), measuring latency at concurrency 1 (p50) and
requests/s at ``--connections``. Then, in this process, the cost of
``SpendWriter.record`` (text made storable, one JSON line, one ``write()``) per record,
with the fsync policies ``interval`` and ``always``.

Reported: the p50 latency Redis limits add per request, Redis rps / in-process rps, and
the spool's cost as a share of the proxy's CPU time per request (measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

from proxy_load import generator_name, run_load  # noqa: E402
from proxy_procs import Server, free_port, post_json  # noqa: E402

MASTER = "sk-bench-master-key-0123456789"
MODEL = "gpt-4o-mini"
LIMITS = {"rpm_limit": 10**9, "tpm_limit": 2**31 - 1, "max_parallel_requests": 10**6,
          "max_budget": 10**6, "models": [MODEL]}


def _config(path: Path, upstream: int, redis: str | None) -> Path:
    lines = ["model_list:", f"  - model_name: {MODEL}", "    litellm_params:",
             f"      model: openai/{MODEL}", f"      api_base: http://127.0.0.1:{upstream}/v1",
             "      api_key: sk-bench-upstream",
             "    model_info: {input_cost_per_token: 0.0000001, output_cost_per_token: 0.0000002}",
             "general_settings:", f"  master_key: {MASTER}"]
    if redis:
        lines += ["router_settings:", f"  redis_url: {redis}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _serve(name: str, tmp: Path, config: Path) -> Server:
    port = free_port()
    data = tmp / name
    data.mkdir()
    srv = Server(name=name, cmd=[sys.executable, "-m", "llmrelay.cli", "serve", "--config",
                                 str(config), "--port", str(port)],
                 port=port, log=tmp / f"{name}.log", cwd=str(data),
                 env={**{k: v for k, v in os.environ.items()
                         if not k.startswith(("LLMRELAY_", "REDIS_"))},
                      "PYTHONPATH": str(ROOT / "src"), "LLMRELAY_DATA_DIR": str(data),
                      "PYTHONUNBUFFERED": "1"})
    srv.start()
    srv.wait_ready("/health/liveliness")
    return srv


def _key(port: int) -> str:
    status, raw = post_json(port, "/key/generate", {"key_alias": "bench", **LIMITS}, MASTER)
    if status != 200:
        raise RuntimeError(f"/key/generate answered {status}: {raw[:300]!r}")
    return str(json.loads(raw)["key"])


def _spool_cost(tmp: Path, fsync: str, n: int = 20000) -> float:
    """Microseconds per ``SpendWriter.record`` with the ``fsync`` policy."""
    from llmrelay.proxy.keys import SpendRecord, SpendWriter, Spool

    writer = SpendWriter(None, Spool(str(tmp / f"spool-{fsync}"), fsync=fsync))
    recs = [SpendRecord(call_id=str(uuid.uuid4()), key_hash="a" * 64, key_alias="bench",
                        model="openai/gpt-4o-mini", model_group=MODEL, deployment="d1",
                        prompt_tokens=12, completion_tokens=7, total_tokens=19,
                        cost=0.0000026, latency_ms=3.2, request_tags=["team-a", "batch"])
            for _ in range(n)]
    start = time.perf_counter()
    for rec in recs:
        writer.record(rec)
    took = time.perf_counter() - start
    writer.spool.close()
    return took / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmrelay-limits-bench-"))
    up_port = free_port()
    upstream = Server(name="upstream", cmd=[sys.executable, str(HERE / "proxy_upstream.py"),
                                            "--port", str(up_port)], port=up_port,
                      log=tmp / "upstream.log", keep_stdin=True)
    upstream.start()
    upstream.wait_ready("/v1/models", timeout=30)
    servers = {"memory": _serve("memory", tmp, _config(tmp / "memory.yaml", up_port, None)),
               "redis": _serve("redis", tmp, _config(tmp / "redis.yaml", up_port,
                                                     args.redis))}
    results: dict[str, dict[str, list[float]]] = {n: {"p50": [], "rps": [], "cpu": []}
                                                  for n in servers}
    try:
        keys = {name: _key(srv.port) for name, srv in servers.items()}
        for name, srv in servers.items():  # warm up (and check the key works)
            run_load(f"http://127.0.0.1:{srv.port}/v1/chat/completions", 4, 1.0, False,
                     keys[name])
        for r in range(args.rounds):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            for name in order:
                srv, url = servers[name], f"http://127.0.0.1:{servers[name].port}"
                one = run_load(url + "/v1/chat/completions", 1, args.seconds, False, keys[name])
                cpu0 = srv.cpu()
                many = run_load(url + "/v1/chat/completions", args.connections, args.seconds,
                                False, keys[name])
                cpu = (srv.cpu() - cpu0) / max(many.requests, 1)
                if one.errors or many.errors:
                    print(f"  {name}: {one.errors + many.errors} errors", flush=True)
                results[name]["p50"].append(one.p50_ms)
                results[name]["rps"].append(many.rps)
                results[name]["cpu"].append(cpu * 1e6)
                print(f"round {r + 1} {name:6s}: p50 {one.p50_ms:.3f} ms  "
                      f"{many.rps:.0f} req/s  {cpu * 1e6:.0f} us CPU/req", flush=True)
    finally:
        for srv in servers.values():
            srv.stop()
        upstream.stop()
    spool = {policy: _spool_cost(tmp, policy) for policy in ("interval", "always")}
    med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in results.items()}
    # Paired per round (the two servers measured back to back): the machine's swings
    # between rounds cancel out of each difference and ratio.
    added = [r - m for r, m in zip(results["redis"]["p50"], results["memory"]["p50"],
                                    strict=True)]
    ratio = [r / m for r, m in zip(results["redis"]["rps"], results["memory"]["rps"],
                                   strict=True)]
    report: dict[str, Any] = {
        "load": generator_name(), "rounds": args.rounds, "seconds": args.seconds,
        "connections": args.connections, "median": med,
        "redis_added_p50_ms_per_round": [round(a, 3) for a in added],
        "redis_added_p50_ms": statistics.median(added),
        "redis_rps_ratio_per_round": [round(r, 3) for r in ratio],
        "redis_rps_ratio": statistics.median(ratio),
        "spool_us_per_record": spool,
        "spool_share_of_proxy_cpu": spool["interval"] / med["memory"]["cpu"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
