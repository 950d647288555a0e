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


def callbacks(target: str, url: str, n: int) -> dict[str, Any]:
    """Caller-path cost of the reference doc's six-hook class on a mock call."""
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

    out: dict[str, Any] = {}
    if target == "llmrelay":
        from llmrelay import _client as client_mod

        real = client_mod.plan_for
        client_mod.plan_for = lambda *a, **k: None  # the callback system bypassed entirely
        out["bypassed_s"] = _rounds(call, n)
        client_mod.plan_for = real
    out["no_callbacks_s"] = _rounds(call, n)
    lib.callbacks = [Handler()]
    if target == "llmrelay":
        # Caller's path alone: hold delivery back (events queue up), then time the delivery.
        from llmrelay.callbacks.dispatcher import dispatcher

        call()
        lib.flush(30)
        assert dispatcher._loop is not None
        batch, spent, spent_bg, done = 200, 0.0, 0.0, 0
        while done < n:  # small held-back batches, so the backlog never grows the heap
            dispatcher._wake_pending = True
            t0 = time.perf_counter()
            for _ in range(batch):
                call()
            spent += time.perf_counter() - t0
            t0 = time.perf_counter()
            dispatcher._wake_pending = False
            dispatcher._loop.call_soon_threadsafe(dispatcher._drain)
            lib.flush(60)
            spent_bg += time.perf_counter() - t0
            done += batch
        out["caller_path_s"] = spent / done
        out["background_per_event_s"] = spent_bg / done
    out["s"] = _rounds(call, n)
    if target == "llmrelay":
        lib.flush(60)
    return out


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
