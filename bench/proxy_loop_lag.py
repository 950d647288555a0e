"""How long one heavy request stalls everybody else on a proxy worker.

Starts ``llmrelay serve`` (mock model, no upstream), then for each heavy request kind sends
it while a probe asks ``GET /health/liveliness`` back to back on its own connection; reports
the probe's worst and median latency during the heavy request, next to the same probe with
nothing else running (the baseline, measured in the same run). Kinds: the largest ``n``
(128), the most embedding inputs (2048 of 4 KiB), 20,000 short messages,
a 9 MiB embeddings body of floats-as-token-ids, and a 9 MiB single message.

    python bench/proxy_loop_lag.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_procs import Server, free_port

ROOT = Path(__file__).resolve().parent.parent


def _kinds() -> dict[str, tuple[str, bytes]]:
    def chat(**kw: Any) -> bytes:
        return json.dumps({"model": "mock", **kw}).encode()

    msgs = [{"role": "user", "content": "hello there"}] * 20000
    return {
        "n=128": ("/v1/chat/completions", chat(messages=[{"role": "user", "content": "hi"}],
                                               n=128)),
        "2048 embedding inputs": ("/v1/embeddings",
                                  json.dumps({"model": "mock", "input": ["x" * 4096] * 2048})
                                  .encode()),
        "20k messages": ("/v1/chat/completions", chat(messages=msgs)),
        "9 MiB token ids": ("/v1/embeddings", json.dumps(
            {"model": "mock", "input": [[123456] * 1000] * 1000}).encode()),
        "9 MiB one message": ("/v1/chat/completions", chat(messages=[
            {"role": "user", "content": "x" * (9 << 20)}])),
    }


def _probe(port: int, stop: threading.Event, out: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        t = time.perf_counter()
        conn.request("GET", "/health/liveliness")
        conn.getresponse().read()
        out.append((time.perf_counter() - t) * 1000)
    conn.close()


def _heavy(port: int, path: str, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", path, body, {"content-type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def _measure(port: int, work: Any) -> tuple[float, float, Any]:
    lat: list[float] = []
    stop = threading.Event()
    t = threading.Thread(target=_probe, args=(port, stop, lat))
    t.start()
    time.sleep(0.2)
    lat.clear()
    result = work()
    stop.set()
    t.join()
    return max(lat or [0.0]), statistics.median(lat or [0.0]), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="llmrelay-lag-"))
    cfg = tmp / "config.yaml"
    cfg.write_text("model_list:\n  - model_name: mock\n    litellm_params: {model: mock/mock}\n"
                   "general_settings:\n  max_request_size_mb: 10\n  max_messages: 20000\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "LLMRELAY_DATA_DIR": str(tmp)}
    server = Server("llmrelay", [sys.executable, "-m", "llmrelay.cli", "serve", "--port",
                                 str(port), "--config", str(cfg)], port, tmp / "out.log",
                    env=env)
    server.start()
    try:
        server.wait_ready("/health/liveliness")
        kinds = _kinds()
        rows: dict[str, list[tuple[float, float]]] = {"(idle baseline)": []}
        for _ in range(args.rounds):
            worst, med, _ = _measure(port, lambda: time.sleep(1.0))
            rows["(idle baseline)"].append((worst, med))
            for name, (path, body) in kinds.items():
                worst, med, status = _measure(port, lambda p=path, b=body: _heavy(port, p, b))
                assert status == 200, (name, status, server.tail())
                rows.setdefault(name, []).append((worst, med))
        print("| heavy request | probe worst ms (median of rounds) | probe median ms |")
        print("|---|---|---|")
        for name, vals in rows.items():
            print(f"| {name} | {statistics.median(v[0] for v in vals):.1f} | "
                  f"{statistics.median(v[1] for v in vals):.2f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
