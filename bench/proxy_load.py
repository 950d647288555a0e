"""Load generators for the proxy benchmark: ``wrk`` with bench/proxy_post.lua, or, when wrk
is not installed, a small bounded aiohttp client (slower than wrk: its own CPU use caps the
rates it can measure, so its figures are labelled as such in the report).

Both POST one chat completion per request over keep-alive connections for a fixed time and
return a :class:`LoadResult`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["WRK_INSTALL", "LoadResult", "generator_name", "run_load"]

HERE = Path(__file__).resolve().parent
LUA = HERE / "proxy_post.lua"
WRK_INSTALL = "sudo apt-get install -y wrk"
MODEL = "gpt-4o-mini"


@dataclass
class LoadResult:
    requests: int  # completed with a 2xx
    errors: int  # socket errors, timeouts and non-2xx answers
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": self.rps}


def generator_name() -> str:
    return "wrk" if shutil.which("wrk") else "python-aiohttp (fallback: wrk not installed)"


def run_load(url: str, connections: int, seconds: float, stream: bool,
             key: str | None = None, headers: dict[str, str] | None = None) -> LoadResult:
    """``connections`` concurrent clients POSTing to ``url`` for ``seconds`` (``headers``:
    more request headers, e.g. Portkey's routing headers)."""
    if shutil.which("wrk"):
        return _run_wrk(url, connections, seconds, stream, key, headers)
    return asyncio.run(_run_python(url, connections, seconds, stream, key, headers))


def _run_wrk(url: str, connections: int, seconds: float, stream: bool,
             key: str | None, headers: dict[str, str] | None = None) -> LoadResult:
    env = dict(os.environ, PROXY_BENCH_MODEL=MODEL, PROXY_BENCH_STREAM="1" if stream else "0",
               PROXY_BENCH_KEY=key or "",
               PROXY_BENCH_HEADERS="\n".join(f"{k}: {v}" for k, v in (headers or {}).items()))
    # one wrk thread: it is cheap per request, and a second thread would take CPU from the
    # server under test on a small machine
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout",
           "30s", "-s", str(LUA), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         timeout=seconds + 60, check=False)
    m = re.search(r"^PROXY_BENCH_JSON (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or m is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    d = json.loads(m.group(1))
    errors = sum(d[k] for k in ("connect_errors", "read_errors", "write_errors",
                                "status_errors", "timeout_errors"))
    return LoadResult(requests=d["requests"] - d["status_errors"], errors=errors,
                      seconds=d["duration_us"] / 1e6, p50_ms=d["p50_us"] / 1000,
                      p90_ms=d["p90_us"] / 1000, p99_ms=d["p99_us"] / 1000)


async def _run_python(url: str, connections: int, seconds: float, stream: bool,
                      key: str | None, extra: dict[str, str] | None = None) -> LoadResult:
    import aiohttp

    body: dict[str, Any] = {"model": MODEL, "messages": [
        {"role": "user", "content": "Hello, how are you today?"}]}
    if stream:
        body["stream"] = True
    payload = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    headers.update(extra or {})
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=payload, headers=headers) as resp:
                    await resp.read()
                    ok = 200 <= resp.status < 300
            except (aiohttp.ClientError, asyncio.TimeoutError):
                ok = False
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    conn = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=30)
    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return LoadResult(requests=len(latencies), errors=errors, seconds=elapsed,
                      p50_ms=pct(0.50), p90_ms=pct(0.90), p99_ms=pct(0.99))
