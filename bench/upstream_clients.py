"""The proxy's upstream HTTP client, alone: llmrelay.http1 (what the SDK's async
transport uses: a pooled HTTP/1.1 client on asyncio protocols, httptools' parser) against
aiohttp (the transport's client before), httpx's ``AsyncClient`` and, when installed,
the async clients of pyreqwest, rnet (both Rust, own runtime threads) and aiosonic, in
interleaved rounds against bench/proxy_upstream.py.

    python bench/upstream_clients.py [--rounds 5] [--requests 4000] [--concurrency 50]
        [--clients http1,aiohttp,...]

Each figure is the client process's CPU time (``time.process_time``, all threads, so a
Rust client's runtime threads count) per completed request, on uvloop, for a whole answer
(body read) and a stream (7 chunks + usage + ``[DONE]``, read as it arrives); the
upstream runs in its own process and is not counted. Every client keeps its connections
(one pool each, up to ``--concurrency``); each round runs every client and case once, the
order rotating; figures are medians over the rounds and ratios (client / http1) the
median of the per-round ratios. A client whose package is not installed is skipped.
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


async def _http1(url: str, n: int, conc: int, stream: bool) -> int:
    from llmrelay import http1

    done = 0
    body = (STREAM_BODY if stream else BODY).encode()

    async def worker(k: int) -> None:
        nonlocal done
        for _ in range(k):
            if stream:
                r = await http1.open_stream("POST", url, HEADERS, body, 600.0, 600.0, conc)
                async for _chunk in r.chunks():
                    pass
                r.close()
                done += r.status == 200
            else:
                status, _headers, _body = await http1.request("POST", url, HEADERS, body,
                                                              600.0, 600.0, conc)
                done += status == 200
    await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    return done


async def _aiohttp(url: str, n: int, conc: int, stream: bool) -> int:
    import aiohttp
    from yarl import URL

    done = 0
    target = URL(url, encoded=True)  # as the transport used it: URL and timeout made once
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=600, sock_read=600)
    connector = aiohttp.TCPConnector(limit=conc, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector,
                                     skip_auto_headers=("User-Agent",)) as session:
        async def worker(k: int) -> None:
            nonlocal done
            for _ in range(k):
                async with session.request("POST", target,
                                           data=STREAM_BODY if stream else BODY,
                                           headers=HEADERS, timeout=timeout) as r:
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


async def _pyreqwest(url: str, n: int, conc: int, stream: bool) -> int:
    from pyreqwest.client import ClientBuilder

    done = 0
    body = (STREAM_BODY if stream else BODY).encode()
    client = ClientBuilder().max_connections(conc).http1_only().build()
    try:
        async def worker(k: int) -> None:
            nonlocal done
            for _ in range(k):
                builder = client.post(url)
                for name, value in HEADERS.items():
                    builder = builder.header(name, value)
                builder = builder.body_bytes(body)
                if stream:
                    async with builder.build_streamed() as r:
                        while await r.body_reader.read_chunk() is not None:
                            pass
                        done += r.status == 200
                else:
                    r = await builder.build().send()
                    await r.bytes()
                    done += r.status == 200
        await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    finally:
        await client.close()
    return done


async def _rnet(url: str, n: int, conc: int, stream: bool) -> int:
    import rnet

    done = 0
    body = (STREAM_BODY if stream else BODY).encode()
    client = rnet.Client()

    async def worker(k: int) -> None:
        nonlocal done
        for _ in range(k):
            r = await client.post(url, headers=HEADERS, body=body)
            if stream:
                async with r.stream() as chunks:
                    async for _chunk in chunks:
                        pass
            else:
                await r.bytes()
            done += r.status == 200
    await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    return done


async def _aiosonic(url: str, n: int, conc: int, stream: bool) -> int:
    import aiosonic
    from aiosonic.pools import PoolConfig

    done = 0
    body = (STREAM_BODY if stream else BODY).encode()
    connector = aiosonic.TCPConnector(pool_configs={":default": PoolConfig(size=conc)})
    client = aiosonic.HTTPClient(connector=connector)

    async def worker(k: int) -> None:
        nonlocal done
        for _ in range(k):
            r = await client.post(url, data=body, headers=HEADERS)
            if stream:
                async for _chunk in r.read_chunks():
                    pass
            else:
                await r.content()
            done += r.status_code == 200
    await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    return done


CLIENTS = {"http1": _http1, "aiohttp": _aiohttp, "httpx": _httpx, "pyreqwest": _pyreqwest,
           "rnet": _rnet, "aiosonic": _aiosonic}
MODULES = {"http1": "httptools", "aiohttp": "aiohttp", "httpx": "httpx",
           "pyreqwest": "pyreqwest", "rnet": "rnet", "aiosonic": "aiosonic"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--clients", default=",".join(CLIENTS),
                    help="comma-separated, from: " + ", ".join(CLIENTS))
    args = ap.parse_args()
    import importlib.util

    import uvloop

    names = [c for c in args.clients.split(",")
             if c in CLIENTS and importlib.util.find_spec(MODULES[c]) is not None]
    print("clients:", ", ".join(names), flush=True)

    up = subprocess.Popen([sys.executable, str(HERE / "proxy_upstream.py"), "--port", "0"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert up.stdout is not None
    url = up.stdout.readline().strip() + "/chat/completions"
    rows: dict[tuple[str, bool], list[float]] = {}
    try:
        cases = [(c, s) for s in (False, True) for c in names]
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
    base = names[0]
    for stream in (False, True):
        for name in names[1:]:
            ratio = statistics.median(a / b for a, b in zip(rows[(name, stream)],
                                                            rows[(base, stream)], strict=True))
            print(f"{name} / {base} CPU per request, {'stream' if stream else 'answer'}: "
                  f"{ratio:.2f}x")


if __name__ == "__main__":
    main()
