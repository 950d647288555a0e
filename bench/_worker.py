"""One benchmark measurement, run in a fresh interpreter: ``_worker.py SCENARIO TARGET URL N``.

TARGET is ``bare`` (the fastest plain client: httpx sync / aiohttp async), ``llmrelay`` or
``litellm``. Prints one JSON object: seconds per call (median of rounds) and extra facts.
This file runs under both our virtualenv and LiteLLM's, so it imports only what each has.
"""

from __future__ import annotations

import asyncio
import gc
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


def _cpu_per_call(fn: Any, n: int, settle: Any) -> tuple[float, float, float]:
    """(caller thread CPU, whole process CPU, time in the garbage collector) per call for
    ``n`` calls plus the delivery of their callback events (``settle`` waits for it;
    waiting costs no CPU). A collection holds the GIL throughout, so its wall time is CPU
    time of the process."""
    spent = [0.0, 0.0]

    def timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            spent[1] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - spent[1]

    gc.callbacks.append(timer)
    try:
        t0, p0 = time.thread_time(), time.process_time()
        for _ in range(n):
            fn()
        t1 = time.thread_time()
        settle()
        p1 = time.process_time()
    finally:
        gc.callbacks.remove(timer)
    return (t1 - t0) / n, (p1 - p0) / n, spent[0] / n


def _six_hook_class(base: Any) -> Any:
    """The reference doc's six-hook class, with its documented parameter names (LiteLLM
    passes them as keywords). The hooks do nothing but count (so a round can wait until
    every event was delivered, and the bench can check that the hooks really run)."""

    class Handler(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.pre = self.post = self.success = 0

        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            self.pre += 1

        def log_post_api_call(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            self.post += 1

        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            self.success += 1

        def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            pass

        async def async_log_success_event(self, kwargs: Any, response_obj: Any,
                                          start_time: Any, end_time: Any) -> None:
            pass

        async def async_log_failure_event(self, kwargs: Any, response_obj: Any,
                                          start_time: Any, end_time: Any) -> None:
            pass

    return Handler


def callbacks(target: str, url: str, n: int, rounds: int = 9) -> dict[str, Any]:
    """CPU cost of the reference doc's six-hook class on a mock call, against no callbacks
    in the same process: ``rounds`` pairs of rounds (none, six) interleaved; the added
    cost is the median of the pairs' differences (with its quartiles), so slow drifts of
    the shared machine cancel out. First checks that every hook runs (pre, post and
    success once per call)."""
    lib = _lib(target)
    mod = "litellm" if target == "litellm" else "llmrelay"
    base = __import__(f"{mod}.integrations.custom_logger", fromlist=["CustomLogger"])
    handler = _six_hook_class(base.CustomLogger)()

    def call() -> None:
        lib.completion(model="gpt-4o-mini", messages=MSGS, mock_response="Hello there")

    def settle() -> None:  # waiting costs no CPU
        if target == "llmrelay":
            lib.flush(60)
        deadline = time.monotonic() + 60
        while handler.success < handler.pre and time.monotonic() < deadline:
            time.sleep(0.02)  # LiteLLM hands sync success hooks to a thread pool

    lib.callbacks = [handler]
    for _ in range(10):
        call()
    settle()
    if (handler.pre, handler.post, handler.success) != (10, 10, 10):
        raise RuntimeError(f"{target}: the six-hook class was not called as documented: "
                           f"pre {handler.pre}, post {handler.post}, "
                           f"success {handler.success} of 10")
    pairs: list[tuple[tuple[float, float], tuple[float, float]]] = []
    for _ in range(rounds):
        lib.callbacks = []
        none = _cpu_per_call(call, n, settle)
        lib.callbacks = [handler]
        call()
        settle()
        pairs.append((none, _cpu_per_call(call, n, settle)))
    out: dict[str, Any] = {}
    for i, name in enumerate(("caller", "total")):
        out[f"none_{name}_s"] = statistics.median(p[0][i] for p in pairs)
        out[f"six_{name}_s"] = statistics.median(p[1][i] for p in pairs)
        diffs = [p[1][i] - p[0][i] for p in pairs]
        q = statistics.quantiles(diffs, n=4)
        out[f"added_{name}_s"] = statistics.median(diffs)
        out[f"added_{name}_q"] = [q[0], q[2]]
    out["gc_none_s"] = statistics.median(p[0][2] for p in pairs)
    out["gc_six_s"] = statistics.median(p[1][2] for p in pairs)
    if target == "llmrelay":
        out["caller_path_s"] = statistics.median(_caller_work(lib, call, n)
                                                 for _ in range(rounds))
    return out


def _caller_work(lib: Any, call: Any, n: int) -> float:
    """The work the callback system does on the caller's thread alone, as the difference
    of two interleaved loops on the caller's thread: with the logger and every job handed
    over dropped at once (nothing retained, nothing delivered), and with no callbacks."""
    from llmrelay.callbacks.dispatcher import dispatcher

    handler = lib.callbacks[0]
    lib.flush(30)
    real = dispatcher.submit
    dispatcher.submit = lambda job: None  # type: ignore[method-assign]
    try:
        def loop(cbs: list[Any]) -> float:
            lib.callbacks = cbs
            call()
            t0 = time.thread_time()
            for _ in range(n):
                call()
            return (time.thread_time() - t0) / n
        return loop([handler]) - loop([])
    finally:
        dispatcher.submit = real  # type: ignore[method-assign]
        lib.callbacks = [handler]


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
