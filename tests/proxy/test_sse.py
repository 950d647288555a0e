"""The SSE response writer: events ready together go out in one write, waiting events are
never held back, and a cancelled stream is closed where it waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator

import pytest
from starlette.types import Message

from llmrelay.proxy.sse import SSEResponse, _default, dumps, encode_event
from llmrelay.types import ModelResponseStream, Usage


class Sink:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def bodies(self) -> list[tuple[bytes, bool]]:
        return [(m["body"], m["more_body"]) for m in self.messages
                if m["type"] == "http.response.body"]


async def test_ready_events_share_a_write_and_waiting_ones_do_not_wait_for_later() -> None:
    gate = asyncio.Event()
    seen: list[list[tuple[bytes, bool]]] = []
    sink = Sink()

    async def events() -> AsyncGenerator[bytes, None]:
        yield b"a"
        yield b"b"
        seen.append(sink.bodies())  # "a" and "b" not written yet: they go out together
        await gate.wait()
        yield b"c"
        yield b"d"

    task = asyncio.ensure_future(SSEResponse(events())._produce(sink))
    for _ in range(5):
        await asyncio.sleep(0)
    # "a" + "b" are written while the generator waits for "c"
    assert sink.bodies() == [(b"ab", True)]
    gate.set()
    await task
    assert seen == [[]]
    assert sink.bodies() == [(b"ab", True), (b"cd", False)]
    assert sink.messages[0]["type"] == "http.response.start"


async def test_every_event_waiting_is_its_own_write() -> None:
    async def events() -> AsyncGenerator[bytes, None]:
        for part in (b"x", b"y", b"z"):
            await asyncio.sleep(0)
            yield part

    sink = Sink()
    await SSEResponse(events())._produce(sink)
    assert sink.bodies() == [(b"x", True), (b"y", True), (b"z", False)]


async def test_empty_stream_ends_the_body() -> None:
    async def events() -> AsyncGenerator[bytes, None]:
        if False:
            yield b""

    sink = Sink()
    await SSEResponse(events())._produce(sink)
    assert sink.bodies() == [(b"", False)]


async def test_cancel_while_the_next_event_is_pending_reaches_the_generator() -> None:
    where: list[str] = []

    async def events() -> AsyncGenerator[bytes, None]:
        yield b"first"
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            where.append("cancelled at the wait")
            raise
        yield b"never"

    gen = events()
    sink = Sink()
    task = asyncio.ensure_future(SSEResponse(gen)._produce(sink))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert where == ["cancelled at the wait"]
    assert sink.bodies() == [(b"first", True)]
    await gen.aclose()  # finished, not left "running"


async def test_generator_error_after_ready_events_still_sends_them() -> None:
    async def events() -> AsyncGenerator[bytes, None]:
        yield b"one"
        raise RuntimeError("broken")

    sink = Sink()
    with pytest.raises(RuntimeError):
        await SSEResponse(events())._produce(sink)
    assert sink.bodies() == [(b"one", True)]


def test_chunk_encoding_matches_the_standard_encoder() -> None:
    chunk = ModelResponseStream.from_dict({
        "id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "é \"q\""}, "finish_reason": None}]})
    reference = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default)
    usage = Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7)
    for obj in (chunk, usage, {"a": [1, 2.5, None, True, float("nan")], "b": {"c": "d"}},
                "text", 3):
        assert dumps(obj) == reference.encode(obj).encode("utf-8")
    event = encode_event(chunk)
    assert event == b"data: " + reference.encode(chunk).encode("utf-8") + b"\n\n"
    assert json.loads(event[6:])["choices"][0]["delta"] == {"content": "é \"q\""}
    assert "é" in event.decode("utf-8")  # not \u-escaped, as OpenAI writes it
