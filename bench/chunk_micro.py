"""Per-chunk CPU cost of llmrelay's stream path with no network: SSE lines fed through the
OpenAI stream decoder and the stream wrapper, against ``json.loads`` of the same lines (what
any client must do); then the proxy's way out for the same chunks: encoding each parsed
chunk as an SSE event against raw pass-through (the upstream's bytes, proxy/raw.py). Prints
the best of 15 rounds of each, in µs per chunk.

    python bench/chunk_micro.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from llmrelay._streaming import CustomStreamWrapper, StreamState
from llmrelay.providers.base import Call
from llmrelay.providers.openai.translate import OpenAIStreamDecoder
from llmrelay.providers.registry import resolve_model
from llmrelay.proxy.raw import raw_event
from llmrelay.proxy.sse import encode_event

N = 200
CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
         "model": "gpt-4o-mini", "system_fingerprint": "fp", "usage": None,
         "choices": [{"index": 0, "delta": {"content": " w"}, "logprobs": None,
                      "finish_reason": None}]}
LINES = [b"data: " + json.dumps(CHUNK).encode(), b""] * N + [b"data: [DONE]", b""]


def bare() -> None:
    for line in LINES:
        if line.startswith(b"data: ") and line != b"data: [DONE]":
            json.loads(line[6:])


def llmrelay_path() -> None:
    spec, model = resolve_model("openai/gpt-4o-mini", None)
    call = Call("completion", model, spec, [{"role": "user", "content": "x"}], None, {}, True,
                "http://127.0.0.1", "k", None, None, None, None)
    decoder = OpenAIStreamDecoder(call)

    def chunks() -> Iterator[Any]:
        for line in LINES:
            yield from decoder.feed(line)
        yield from decoder.finish()

    state = StreamState(None, False, lambda *_: None)
    for _ in CustomStreamWrapper(chunks(), lambda: None, state, {}):
        pass


def _decoded() -> list[Any]:
    spec, model = resolve_model("openai/gpt-4o-mini", None)
    call = Call("completion", model, spec, [{"role": "user", "content": "x"}], None, {}, True,
                "http://127.0.0.1", "k", None, None, None, None)
    decoder = OpenAIStreamDecoder(call)
    return [c for line in LINES for c in decoder.feed(line)]


DECODED = _decoded()


def proxy_encode() -> None:
    for chunk in DECODED:
        encode_event(chunk)


def proxy_raw() -> None:
    for chunk in DECODED:
        event = raw_event(chunk)
        if event is None:
            encode_event(chunk)


def main() -> None:
    best: dict[str, float] = {}
    for _ in range(15):
        for fn in (bare, llmrelay_path, proxy_encode, proxy_raw):
            t = time.perf_counter()
            for _ in range(20):
                fn()
            per_chunk = (time.perf_counter() - t) / 20 / N * 1e6
            best[fn.__name__] = min(best.get(fn.__name__, 1e9), per_chunk)
    print(f"json.loads only: {best['bare']:.2f} µs/chunk; llmrelay: "
          f"{best['llmrelay_path']:.2f} µs/chunk; added: "
          f"{best['llmrelay_path'] - best['bare']:.2f} µs/chunk")
    print(f"proxy out, encoded: {best['proxy_encode']:.2f} µs/chunk; raw pass-through: "
          f"{best['proxy_raw']:.2f} µs/chunk")


if __name__ == "__main__":
    main()
