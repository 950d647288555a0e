"""One benchmark measurement, run in a fresh interpreter: ``_worker.py SCENARIO TARGET URL N``.

TARGET is ``bare`` (the fastest plain client: httpx sync / aiohttp async), ``llmrelay`` or
``litellm``. Prints one JSON object: seconds per call (median of rounds) and extra facts.
This file runs under both our virtualenv and LiteLLM's, so it imports only what each has.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

MSGS = [{"role": "user", "content": "Hello, how are you?"}]
KEY = "sk-bench-0000000000000000"


def _rounds(fn: Any, n: int, rounds: int = 5) -> float:
    fn()  # warm-up: pools, imports, caches
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def _arounds(make: Any, n: int, rounds: int = 5) -> float:
    async def main() -> float:
        await make()
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(n):
                await make()
            times.append((time.perf_counter() - t0) / n)
        return statistics.median(times)

    return asyncio.run(main())


def _lib(target: str) -> Any:
    if target == "litellm":
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        return litellm
    import llmrelay

    return llmrelay


def mock(target: str, url: str, n: int) -> dict[str, Any]:
    lib = _lib(target)
    return {"s": _rounds(lambda: lib.completion(model="gpt-4o-mini", messages=MSGS,
                                                mock_response="Hello there"), n)}


def _cpu_per_call(fn: Any, n: int, settle: Any) -> tuple[float, float]:
    """(caller thread CPU, whole process CPU) per call for ``n`` calls plus the delivery
    of their callback events (``settle`` waits for it; waiting costs no CPU)."""
    t0, p0 = time.thread_time(), time.process_time()
    for _ in range(n):
        fn()
    t1 = time.thread_time()
    settle()
    p1 = time.process_time()
    return (t1 - t0) / n, (p1 - p0) / n


def callbacks(target: str, url: str, n: int) -> dict[str, Any]:
    """CPU cost of the reference doc's six-hook class on a mock call, against no callbacks
    in the same process (rounds interleaved, medians)."""
    lib = _lib(target)
    mod = "litellm" if target == "litellm" else "llmrelay"
    custom_logger = __import__(f"{mod}.integrations.custom_logger", fromlist=["CustomLogger"])

    class Handler(custom_logger.CustomLogger):  # type: ignore[name-defined,misc]
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            pass

        def log_post_api_call(self, kwargs: Any, r: Any, s: Any, e: Any) -> None:
            pass

        def log_success_event(self, kwargs: Any, r: Any, s: Any, e: Any) -> None:
            pass

        def log_failure_event(self, kwargs: Any, r: Any, s: Any, e: Any) -> None:
            pass

        async def async_log_success_event(self, kwargs: Any, r: Any, s: Any, e: Any) -> None:
            pass

        async def async_log_failure_event(self, kwargs: Any, r: Any, s: Any, e: Any) -> None:
            pass

    def call() -> None:
        lib.completion(model="gpt-4o-mini", messages=MSGS, mock_response="Hello there")

    def settle() -> None:
        if target == "llmrelay":
            lib.flush(60)
        else:  # LiteLLM hands sync success callbacks to a thread pool: let it finish
            time.sleep(1.0)

    handler = Handler()
    rows: dict[str, list[tuple[float, float]]] = {"none": [], "six": []}
    call()
    for _ in range(5):
        lib.callbacks = []
        rows["none"].append(_cpu_per_call(call, n, settle))
        lib.callbacks = [handler]
        call()
        settle()
        rows["six"].append(_cpu_per_call(call, n, settle))
    out: dict[str, Any] = {}
    for name, got in rows.items():
        out[f"{name}_caller_s"] = statistics.median(g[0] for g in got)
        out[f"{name}_total_s"] = statistics.median(g[1] for g in got)
    if target == "llmrelay":
        out["caller_path_s"] = statistics.median(_caller_work(lib, call, n) for _ in range(5))
    return out


def _caller_work(lib: Any, call: Any, n: int) -> float:
    """The work the callback system does on the caller's thread alone: per-call CPU of
    the caller with every job handed over dropped at once (nothing retained, nothing
    delivered), to subtract from the same loop with no callbacks."""
    from llmrelay.callbacks.dispatcher import dispatcher

    lib.flush(30)
    real = dispatcher.submit
    dispatcher.submit = lambda job: None  # type: ignore[method-assign]
    try:
        call()
        t0 = time.thread_time()
        for _ in range(n):
            call()
        return (time.thread_time() - t0) / n
    finally:
        dispatcher.submit = real  # type: ignore[method-assign]


LONG = 200  # words in a long stream (``max_tokens`` tells the bench upstream)


def sync_call(target: str, url: str, n: int, stream: bool = False,
              long: bool = False) -> dict[str, Any]:
    extra = {"max_tokens": LONG} if long else {}
    body = {"model": "gpt-4o-mini", "messages": MSGS, **extra}
    if target == "bare":
        import httpx

        client = httpx.Client(headers={"Authorization": f"Bearer {KEY}"})
        if not stream:
            def call() -> None:
                r = client.post(url + "/chat/completions", json=body)
                r.json()["choices"][0]["message"]["content"]
        else:
            def call() -> None:
                with client.stream("POST", url + "/chat/completions",
                                   json={**body, "stream": True}) as r:
                    for line in r.iter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            json.loads(line[6:])
        return {"s": _rounds(call, n)}
    lib = _lib(target)

    def lcall() -> None:
        r = lib.completion(model="openai/gpt-4o-mini", messages=MSGS, api_base=url,
                           api_key=KEY, stream=stream, **extra)
        if stream:
            for _ in r:
                pass

    return {"s": _rounds(lcall, n)}


def async_call(target: str, url: str, n: int, stream: bool = False,
               long: bool = False) -> dict[str, Any]:
    extra = {"max_tokens": LONG} if long else {}
    body = {"model": "gpt-4o-mini", "messages": MSGS, **extra}
    if target == "bare":
        import aiohttp

        state: dict[str, Any] = {}

        async def call() -> None:
            session = state.get("s")
            if session is None:
                session = state["s"] = aiohttp.ClientSession(
                    headers={"Authorization": f"Bearer {KEY}"})
            if not stream:
                async with session.post(url + "/chat/completions", json=body) as r:
                    (await r.json())["choices"][0]["message"]["content"]
            else:
                async with session.post(url + "/chat/completions",
                                        json={**body, "stream": True}) as r:
                    async for raw in r.content:
                        line = raw.strip()
                        if line.startswith(b"data: ") and line != b"data: [DONE]":
                            json.loads(line[6:])

        return {"s": _arounds(call, n)}
    lib = _lib(target)

    async def lcall() -> None:
        r = await lib.acompletion(model="openai/gpt-4o-mini", messages=MSGS, api_base=url,
                                  api_key=KEY, stream=stream, **extra)
        if stream:
            async for _ in r:
                pass

    return {"s": _arounds(lcall, n)}


def main() -> None:
    scenario, target, url, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    fns = {
        "mock": lambda: mock(target, url, n),
        "callbacks": lambda: callbacks(target, url, n),
        "sync": lambda: sync_call(target, url, n),
        "sync_stream": lambda: sync_call(target, url, n, stream=True),
        "async": lambda: async_call(target, url, n),
        "async_stream": lambda: async_call(target, url, n, stream=True),
        "sync_stream_long": lambda: sync_call(target, url, n, stream=True, long=True),
        "async_stream_long": lambda: async_call(target, url, n, stream=True, long=True),
    }
    print(json.dumps(fns[scenario]()))


if __name__ == "__main__":
    main()
