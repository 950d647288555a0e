"""The proxy's upstream HTTP client, alone: aiohttp (what the SDK's async transport uses)
against httpx's ``AsyncClient``, in interleaved rounds against bench/proxy_upstream.py.

    python bench/upstream_clients.py [--rounds 5] [--requests 4000] [--concurrency 50]

Each figure is the client process's CPU time (``time.process_time``, all threads) per
completed request, on uvloop, for a whole answer (body read) and a stream (7 chunks +
usage + ``[DONE]``, read as it arrives); the upstream runs in its own process and is not
counted. Both clients keep their connections (one pool each, up to ``--concurrency``);
each round runs every client and case once, the order rotating; figures are medians
over the rounds and ratios the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})
STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "stream": True,
                          "stream_options": {"include_usage": True},
                          "messages": [{"role": "user", "content": "Hi"}]})
HEADERS = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}


async def _aiohttp(url: str, n: int, conc: int, stream: bool) -> int:
    import aiohttp

    done = 0
    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(connector=connector,
                                     skip_auto_headers=("User-Agent",)) as session:
        async def worker(k: int) -> None:
            nonlocal done
            for _ in range(k):
                async with session.post(url, data=STREAM_BODY if stream else BODY,
                                        headers=HEADERS) as r:
                    if stream:
                        async for _chunk in r.content.iter_any():
                            pass
                    else:
                        await r.read()
                    done += r.status == 200
        await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    return done


async def _httpx(url: str, n: int, conc: int, stream: bool) -> int:
    import httpx

    done = 0
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(limits=limits) as client:
        async def worker(k: int) -> None:
            nonlocal done
            for _ in range(k):
                async with client.stream("POST", url, content=STREAM_BODY if stream else BODY,
                                         headers=HEADERS) as r:
                    if stream:
                        async for _chunk in r.aiter_raw():
                            pass
                    else:
                        await r.aread()
                    done += r.status_code == 200
        await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    return done


CLIENTS = {"aiohttp": _aiohttp, "httpx": _httpx}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=50)
    args = ap.parse_args()
    import uvloop

    up = subprocess.Popen([sys.executable, str(HERE / "proxy_upstream.py"), "--port", "0"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert up.stdout is not None
    url = up.stdout.readline().strip() + "/chat/completions"
    rows: dict[tuple[str, bool], list[float]] = {}
    try:
        cases = [(c, s) for s in (False, True) for c in CLIENTS]
        for name, stream in cases:  # warm-up
            uvloop.run(CLIENTS[name](url, 500, args.concurrency, stream))
        for i in range(args.rounds):
            for name, stream in cases[i % len(cases):] + cases[:i % len(cases)]:
                t0 = time.process_time()
                ok = uvloop.run(CLIENTS[name](url, args.requests, args.concurrency, stream))
                ms = (time.process_time() - t0) * 1000 / max(ok, 1)
                rows.setdefault((name, stream), []).append(ms)
                print(f"round {i + 1} {name:>8} {'stream' if stream else 'answer'}: "
                      f"{ms:.3f} ms CPU/request ({ok} ok)", flush=True)
    finally:
        assert up.stdin is not None
        up.stdin.close()
        up.wait(10)
    med: dict[str, Any] = {f"{n} {'stream' if s else 'answer'}": statistics.median(v)
                           for (n, s), v in rows.items()}
    for k, v in med.items():
        print(f"{k:>16}: {v:.3f} ms CPU/request")
    for stream in (False, True):
        ratio = statistics.median(a / b for a, b in zip(rows[("httpx", stream)],
                                                        rows[("aiohttp", stream)], strict=True))
        print(f"httpx / aiohttp CPU per request, {'stream' if stream else 'answer'}: "
              f"{ratio:.2f}x")


if __name__ == "__main__":
    main()
