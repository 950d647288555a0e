"""proxy/lean.py: the short path's request and response objects. A response written by
``LeanResponse.write_head`` is byte for byte what uvicorn's ``send`` writes for it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from starlette.responses import Response
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from llmrelay.proxy.lean import LeanRequest, LeanResponse, header_block
from llmrelay.proxy.sse import SSEResponse, json_response


class Transport:
    def __init__(self) -> None:
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


DATE = [(b"date", b"Sun, 06 Dec 2026 05:00:00 GMT")]


def _cycle(keep_alive: bool = True) -> tuple[RequestResponseCycle, Transport, list[int]]:
    t = Transport()
    done: list[int] = []
    scope: Any = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
                  "headers": []}
    cycle = RequestResponseCycle(
        scope=scope, transport=t, flow=FlowControl(t),  # type: ignore[arg-type]
        logger=logging.getLogger("test"), access_logger=logging.getLogger("test.access"),
        access_log=False, default_headers=DATE, message_event=asyncio.Event(),
        expect_100_continue=False, keep_alive=keep_alive, on_response=lambda: done.append(1))
    return cycle, t, done


async def _receive() -> Any:  # the client stays (a stream's watcher waits on this)
    await asyncio.Event().wait()


HEADERS = {"x-litellm-call-id": "abc", "llm_provider-x-request-id": "req_1",
           "x-litellm-response-cost": "4.5e-06", "retry-after": "1"}


@pytest.mark.parametrize("keep_alive", [True, False])
async def test_a_whole_answer_is_written_as_uvicorn_writes_it(keep_alive: bool) -> None:
    cycle, t, done = _cycle(keep_alive)
    response = json_response({"ok": True}, 429, dict(HEADERS))
    assert response.write_head(cycle)
    assert cycle.response_complete and done == [1] and t.closed is not keep_alive

    ref, rt, _ = _cycle(keep_alive)
    await Response(b'{"ok":true}', 429, dict(HEADERS), "application/json")(
        ref.scope, _receive, ref.send)  # type: ignore[arg-type]
    assert t.data == rt.data


async def test_a_stream_head_and_body_are_written_as_uvicorn_writes_them() -> None:
    async def events() -> Any:
        yield b"data: 1\n\n"
        yield b"data: [DONE]\n\n"

    cycle, t, done = _cycle()
    response = SSEResponse(events(), dict(HEADERS))
    assert response.write_head(cycle) and not cycle.response_complete
    await response(cycle.scope, _receive, cycle.send, True)  # type: ignore[arg-type]
    assert done == [1]

    ref, rt, _ = _cycle()
    await SSEResponse(events(), dict(HEADERS))(
        ref.scope, _receive, ref.send)  # type: ignore[arg-type]
    assert t.data == rt.data
    assert b"content-type: text/event-stream; charset=utf-8\r\n" in t.data
    assert b"transfer-encoding: chunked\r\n" in t.data


@pytest.mark.parametrize("fields", [
    {"x-a": "b\r\nx-injected: 1"}, {"X-Upper": "b"}, {"a b": "c"}, {"a:": "b"},
    {"x-a": "\u20ac"}, {"x-a": "nul\x00"}, {"connection": "close"},
    {"content-type": "text/plain"}, {"x-a": 1},
])
def test_headers_the_direct_write_leaves_to_the_general_path(fields: Any) -> None:
    assert header_block(fields) is None
    cycle, t, _ = _cycle()
    assert not LeanResponse(b"{}", fields, 200, "application/json").write_head(cycle)
    assert t.data == b"" and not cycle.response_started


def test_starlette_headers_stay_available() -> None:
    response = json_response({"a": 1}, 200, {"x-a": "1"})
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == "7"
    response.headers["x-b"] = "2"  # changed through Starlette: the general path writes it
    cycle, _, _ = _cycle()
    assert not response.write_head(cycle)
    assert (b"x-b", b"2") in response.raw_headers


async def test_lean_request_headers_and_body() -> None:
    parts = [{"type": "http.request", "body": b"ab", "more_body": True},
             {"type": "http.request", "body": b"c", "more_body": False}]

    async def receive() -> Any:
        return parts.pop(0)

    scope: Any = {"headers": [(b"authorization", b"Bearer 1"), (b"x-a", b"first"),
                              (b"x-a", b"second")], "method": "POST"}
    request = LeanRequest(object(), scope, receive)
    assert request.headers.get("x-a") == "first"  # as Starlette's Headers.get
    assert request.headers.get("Authorization") == "Bearer 1"
    assert request.headers.get("missing", "d") == "d"
    assert await request.body() == b"abc" and await request.body() == b"abc"


async def test_lean_request_stream_read_in_two_goes_ends_at_the_body_end() -> None:
    parts = [{"type": "http.request", "body": b"a" * 10, "more_body": False}]

    async def receive() -> Any:
        if parts:
            return parts.pop(0)
        await asyncio.Event().wait()  # nothing more will come

    request = LeanRequest(object(), {"headers": []}, receive)
    async for part in request.stream():  # stops at the first part (a body over a limit)
        assert part == b"a" * 10
        break
    drained = await asyncio.wait_for(_collect(request), 2)
    assert drained == []  # the whole body had come: nothing to wait for
    with pytest.raises(RuntimeError):
        await request.body()


async def _collect(request: LeanRequest) -> list[bytes]:
    return [p async for p in request.stream()]
