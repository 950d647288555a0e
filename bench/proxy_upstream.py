"""A fast fake OpenAI upstream for the proxy benchmark, in its own process.

    python bench/proxy_upstream.py [--port 0]

Prints its base URL (``http://127.0.0.1:<port>/v1``) on stdout, then serves until stdin
closes. It is a bare asyncio protocol on uvloop with httptools' parser (no ASGI layer, no
JSON parsing of requests), so it costs far less CPU per request than any proxy in front of
it and its requests/second are the ceiling of the run.

Every ``POST .../chat/completions`` gets the same ``chat.completion`` JSON, or, when the
body asks for ``"stream": true``, the same 7 SSE chunks (role, five words, finish) plus a
usage chunk when the body mentions ``include_usage``, then ``data: [DONE]``, each event in
its own HTTP chunk and its own write. ``GET .../models`` lists the model; anything else is
a 404 with OpenAI's error body. HTTP/1.1 keep-alive; ``Connection: close`` is honoured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import threading
from typing import Any, cast

import httptools

MODEL = "gpt-4o-mini"
CREATED = 1_700_000_000
WORDS = ["Hello", " from", " the", " fake", " upstream"]
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _completion() -> bytes:
    return _dumps({
        "id": "chatcmpl-proxybench", "object": "chat.completion", "created": CREATED,
        "model": MODEL, "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(WORDS),
                                             "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": USAGE})


def _chunk(delta: dict[str, Any], finish: str | None = None,
           usage: dict[str, int] | None = None, choices: bool = True) -> bytes:
    body = {"id": "chatcmpl-proxybench", "object": "chat.completion.chunk",
            "created": CREATED, "model": MODEL, "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish}] if choices else [],
            "usage": usage}
    return b"data: " + _dumps(body) + b"\n\n"


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _response(status: bytes, ctype: bytes, body: bytes, close: bool) -> bytes:
    conn = b"close" if close else b"keep-alive"
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype +
            b"\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\nConnection: " + conn + b"\r\nx-request-id: req_proxybench\r\n\r\n" + body)


COMPLETION = _completion()
EVENTS = [_http_chunk(_chunk({"role": "assistant", "content": "", "refusal": None}))]
EVENTS += [_http_chunk(_chunk({"content": w})) for w in WORDS]
EVENTS += [_http_chunk(_chunk({}, finish="stop"))]
USAGE_EVENT = _http_chunk(_chunk({}, usage=USAGE, choices=False))
DONE_EVENT = _http_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"
MODELS = _dumps({"object": "list", "data": [{"id": MODEL, "object": "model",
                                            "created": CREATED, "owned_by": "bench"}]})
NOT_FOUND = _dumps({"error": {"message": "not found", "type": "invalid_request_error",
                              "param": None, "code": "404"}})


class _Conn(asyncio.Protocol):
    """One client connection: parse requests, answer each when its body is complete."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(_response(b"400 Bad Request", b"text/plain", b"bad", True))
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        close = not self.parser.should_keep_alive()
        path = self.url.split(b"?", 1)[0]
        method = self.parser.get_method()
        if method == b"POST" and path.endswith(b"/chat/completions"):
            body = b"".join(self.body)
            if _STREAM_RE.search(body):
                self._stream(t, b"include_usage" in body, close)
            else:
                t.write(_response(b"200 OK", b"application/json", COMPLETION, close))
        elif method == b"GET" and path.endswith(b"/models"):
            t.write(_response(b"200 OK", b"application/json", MODELS, close))
        else:
            t.write(_response(b"404 Not Found", b"application/json", NOT_FOUND, close))
        if close:
            t.close()

    @staticmethod
    def _stream(t: asyncio.Transport, usage: bool, close: bool) -> None:
        conn = b"close" if close else b"keep-alive"
        t.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: " + conn + b"\r\nx-request-id: req_proxybench\r\n\r\n")
        for event in EVENTS:
            t.write(event)
        if usage:
            t.write(USAGE_EVENT)
        t.write(DONE_EVENT)


def _install_loop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Conn, "127.0.0.1", port, backlog=1024)
    sock = server.sockets[0]
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    stop = asyncio.Event()
    # stdin closing (the parent went away or is done) ends the server
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)),
                     daemon=True).start()
    async with server:
        await stop.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    args = ap.parse_args()
    _install_loop()
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
