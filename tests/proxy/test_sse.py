"""The SSE response writer: events ready together go out in one write, waiting events are
never held back, a cancelled stream is closed where it waits, and under llmrelay's server
protocol the client's leaving is reported by the connection (no watcher task)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable

import pytest
from starlette.types import Message

from llmrelay.proxy.limits import CONNECTION
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


class Connection:
    """What the server protocol offers under ``CONNECTION``: watch_disconnect."""

    def __init__(self, gone: bool = False) -> None:
        self.gone = gone
        self.callback: Callable[[], None] | None = None
        self.calls: list[bool] = []

    def watch_disconnect(self, callback: Callable[[], None] | None) -> bool:
        self.calls.append(callback is not None)
        if callback is not None and self.gone:
            return False
        self.callback = callback
        return True

    def lose(self) -> None:
        self.gone = True
        if self.callback is not None:
            callback, self.callback = self.callback, None
            callback()


async def _never() -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def test_served_by_our_protocol_no_task_is_started_and_the_watch_ends() -> None:
    conn, sink, order = Connection(), Sink(), []

    async def events() -> AsyncGenerator[bytes, None]:
        yield b"a"
        yield b"b"

    async def closed() -> None:
        order.append("close")

    before = len(asyncio.all_tasks())
    response = SSEResponse(events(), on_close=closed)
    started = []

    async def send(message: Message) -> None:
        started.append(len(asyncio.all_tasks()))
        await sink(message)

    await response({"type": "http", CONNECTION: conn}, _never, send)
    assert sink.bodies() == [(b"ab", False)]
    assert set(started) == {before}  # the events were sent from this task alone
    assert conn.calls == [True, False] and conn.callback is None
    assert order == ["close"]


async def test_client_leaving_mid_stream_abandons_before_the_generator_is_closed() -> None:
    conn, sink, order = Connection(), Sink(), []
    gate = asyncio.Event()

    async def events() -> AsyncGenerator[bytes, None]:
        try:
            yield b"a"
            await gate.wait()
            yield b"b"
        finally:
            order.append("generator closed")

    async def closed() -> None:
        order.append("close")

    response = SSEResponse(events(), on_close=closed,
                           on_disconnect=lambda: order.append("abandon"))
    task = asyncio.ensure_future(response({"type": "http", CONNECTION: conn}, _never, sink))
    for _ in range(5):
        await asyncio.sleep(0)
    assert sink.bodies() == [(b"a", True)]
    conn.lose()
    await task  # the client's leaving ends the response quietly
    assert not task.cancelled()
    assert order == ["abandon", "generator closed", "close"]
    if hasattr(task, "cancelling"):
        assert task.cancelling() == 0


async def test_a_server_cancelling_the_request_is_not_swallowed() -> None:
    conn, order = Connection(), []

    async def events() -> AsyncGenerator[bytes, None]:
        yield b"a"
        await asyncio.Event().wait()
        yield b"b"

    async def closed() -> None:
        order.append("close")

    response = SSEResponse(events(), on_close=closed)
    task = asyncio.ensure_future(response({"type": "http", CONNECTION: conn}, _never, Sink()))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert order == ["close"] and conn.callback is None


async def test_a_client_gone_before_the_stream_starts_is_watched_by_receive() -> None:
    conn, sink, order = Connection(gone=True), Sink(), []

    async def events() -> AsyncGenerator[bytes, None]:
        yield b"a"
        await asyncio.Event().wait()
        yield b"b"

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def closed() -> None:
        order.append("close")

    response = SSEResponse(events(), on_close=closed,
                           on_disconnect=lambda: order.append("abandon"))
    await response({"type": "http", CONNECTION: conn}, receive, sink)
    assert order == ["abandon", "close"]
