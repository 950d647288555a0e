"""The LLM endpoints' direct path under ``llmrelay serve`` (the connection runs the handler
and writes the response itself, proxy/protocol.py and proxy/lean.py), over raw sockets:
keep-alive, pipelining, ``Connection: close``, HTTP/1.0, ``Expect: 100-continue``, bodies
in many packets, bad and oversized input, a client leaving mid-stream, a slow reader."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from proxy_harness import Proxy, start_proxy, upstream_model, wait_until

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def proxy(module_tmp: Path, fake_server: Any) -> Iterator[Proxy]:
    config = {
        "model_list": [upstream_model(fake_server),
                       upstream_model(fake_server, "text-embedding-3-small")],
        "litellm_settings": {"num_retries": 0},
        "general_settings": {"max_request_size_mb": 0.05},
    }
    p = start_proxy(module_tmp, config)
    yield p
    p.stop()


@pytest.fixture
def fake(fresh_fake: Any) -> Any:
    return fresh_fake


def _connect(proxy: Proxy, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(20)
    s.connect(("127.0.0.1", proxy.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _post(path: str, body: dict[str, Any] | bytes, *extra: str, version: str = "1.1") -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = [f"POST {path} HTTP/{version}", "Host: x", "Content-Type: application/json",
            f"Content-Length: {len(data)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


class Answer:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.header_list = headers
        self.headers = {k: v for k, v in headers}
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[str]:
        return [e[len("data: "):] for e in self.body.decode().split("\n\n") if e]


def _read(f: BinaryIO) -> Answer:
    """One HTTP/1.1 response from ``f`` (content-length or chunked)."""
    line = f.readline()
    assert line.startswith(b"HTTP/1.1 "), line
    status = int(line.split()[1])
    headers: list[tuple[str, str]] = []
    while (line := f.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip().lower(), value.strip()))
    fields = dict(headers)
    if status == 100:
        return Answer(status, headers, b"")
    if "content-length" in fields:
        return Answer(status, headers, f.read(int(fields["content-length"])))
    assert fields.get("transfer-encoding") == "chunked", headers
    body = b""
    while True:
        size = int(f.readline().strip(), 16)
        chunk = f.read(size + 2)
        if size == 0:
            return Answer(status, headers, body)
        body += chunk[:-2]


def _closed(s: socket.socket) -> bool:
    s.settimeout(5)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def _check_answer(a: Answer) -> None:
    assert a.status == 200, a.body[:300]
    assert a.headers["content-type"] == "application/json"
    assert "date" in a.headers and "server" not in a.headers
    assert a.headers["x-litellm-call-id"] == a.headers["x-llmrelay-call-id"]
    assert a.headers["x-litellm-model-group"] == "gpt-4o-mini"
    assert a.json()["choices"][0]["message"]["content"] == "Hello from fake"


def test_keep_alive_several_requests_on_one_connection(proxy: Proxy, fake: Any) -> None:
    s = _connect(proxy)
    f = s.makefile("rb")
    try:
        ids = set()
        for stream in (False, True, False):
            s.sendall(_post("/v1/chat/completions", {"model": "gpt-4o-mini",
                                                     "messages": MESSAGES, "stream": stream}))
            a = _read(f)
            ids.add(a.headers["x-llmrelay-call-id"])
            if stream:
                assert a.status == 200
                assert a.headers["content-type"] == "text/event-stream; charset=utf-8"
                assert a.headers["cache-control"] == "no-cache"
                assert a.headers["transfer-encoding"] == "chunked"
                events = a.events()
                assert events[-1] == "[DONE]"
                text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                               for e in events[:-1] if json.loads(e)["choices"])
                assert text == "Hello from fake"
            else:
                _check_answer(a)
            assert "connection" not in a.headers
        # a request on the general (ASGI) path between them
        s.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read(f).json() == {"status": "alive"}
        s.sendall(_post("/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES}))
        _check_answer(_read(f))
        assert len(ids) == 3
    finally:
        f.close()
        s.close()


def test_pipelined_requests_are_answered_in_order(proxy: Proxy, fake: Any) -> None:
    s = _connect(proxy)
    f = s.makefile("rb")
    try:
        s.sendall(_post("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES})
                  + _post("/v1/embeddings", {"model": "text-embedding-3-small", "input": "a"})
                  + b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\n\r\n"
                  + _post("/v1/chat/completions", {"model": "gpt-4o-mini",
                                                   "messages": MESSAGES, "stream": True})
                  + _post("/v1/chat/completions", b"{not json"))
        _check_answer(_read(f))
        emb = _read(f)
        assert emb.status == 200 and emb.json()["object"] == "list"
        assert _read(f).json() == {"status": "alive"}
        stream = _read(f)
        assert stream.status == 200 and stream.events()[-1] == "[DONE]"
        bad = _read(f)
        assert bad.status == 400 and bad.json()["error"]["code"] == "invalid_json"
    finally:
        f.close()
        s.close()


def test_connection_close_and_http_1_0(proxy: Proxy, fake: Any) -> None:
    for request in (_post("/v1/chat/completions", {"model": "gpt-4o-mini",
                                                   "messages": MESSAGES},
                          "Connection: close"),
                    _post("/v1/chat/completions", {"model": "gpt-4o-mini",
                                                   "messages": MESSAGES}, version="1.0")):
        s = _connect(proxy)
        f = s.makefile("rb")
        try:
            s.sendall(request)
            a = _read(f)
            _check_answer(a)
            assert a.headers["connection"] == "close"
            assert f.read() == b""  # and the server closed the connection
        finally:
            f.close()
            s.close()


def test_expect_100_continue(proxy: Proxy, fake: Any) -> None:
    body = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES}).encode()
    s = _connect(proxy)
    f = s.makefile("rb")
    try:
        s.sendall(_post("/v1/chat/completions", body, "Expect: 100-continue")[:-len(body)])
        assert _read(f).status == 100  # sent before the body
        s.sendall(body)
        _check_answer(_read(f))
    finally:
        f.close()
        s.close()


def test_a_body_in_many_packets(proxy: Proxy, fake: Any) -> None:
    request = _post("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES})
    head, body = request.split(b"\r\n\r\n", 1)
    s = _connect(proxy)
    f = s.makefile("rb")
    try:
        s.sendall(head[:20])
        time.sleep(0.02)
        s.sendall(head[20:] + b"\r\n\r\n")
        for i in range(0, len(body), 7):
            s.sendall(body[i:i + 7])
            time.sleep(0.005)
        _check_answer(_read(f))
    finally:
        f.close()
        s.close()


def test_bad_and_oversized_input_get_openai_errors(proxy: Proxy, fake: Any) -> None:
    cases = [
        (_post("/v1/chat/completions", b'{"model": "gpt-4o-mini", "messages": [}'), 400,
         "invalid_json"),
        (_post("/v1/chat/completions", {"model": "nope", "messages": MESSAGES}), 404,
         "model_not_found"),
        (_post("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "x" * 100_000}]}), 413, "request_too_large"),
    ]
    for request, status, code in cases:
        s = _connect(proxy)
        f = s.makefile("rb")
        try:
            s.sendall(request)
            a = _read(f)
            assert a.status == status, a.body[:300]
            assert a.headers["content-type"] == "application/json"
            assert a.json()["error"]["code"] == code
            assert a.headers["x-llmrelay-call-id"]
        finally:
            f.close()
            s.close()
        # the next request, on another connection, is served as usual
        good = _connect(proxy)
        g = good.makefile("rb")
        try:
            good.sendall(_post("/v1/chat/completions", {"model": "gpt-4o-mini",
                                                        "messages": MESSAGES}))
            _check_answer(_read(g))
        finally:
            g.close()
            good.close()


def test_an_oversized_chunked_body_sent_at_once_gets_413(proxy: Proxy, fake: Any) -> None:
    chunk = b" " * 1024
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(100)) + b"0\r\n\r\n"
    s = _connect(proxy)
    f = s.makefile("rb")
    try:  # all of it there before the handler reads: the drain must not wait for more
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n" + body)
        a = _read(f)
        assert a.status == 413 and a.json()["error"]["code"] == "request_too_large"
        s.sendall(_post("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES}))
        _check_answer(_read(f))  # and the connection goes on
    finally:
        f.close()
        s.close()


def _in_flight(proxy: Proxy) -> int:
    text = proxy.http.get("/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("llmrelay_requests_in_flight "))
    return int(float(line.rsplit(" ", 1)[1]))


def test_client_leaving_mid_stream_is_accounted_once(proxy: Proxy, fake: Any) -> None:
    fake.default_content = " ".join(f"w{i}" for i in range(300))
    fake.default_chunk_delay = 0.02
    s = _connect(proxy)
    f = s.makefile("rb")
    try:
        s.sendall(_post("/v1/chat/completions", {"model": "gpt-4o-mini",
                                                 "messages": MESSAGES, "stream": True}))
        line = f.readline()
        assert line.startswith(b"HTTP/1.1 200"), line
        call_id = ""
        while (line := f.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            if name.lower() == "x-llmrelay-call-id":
                call_id = value.strip()
        assert call_id
        f.read(300)  # a few events
    finally:
        f.close()
        s.close()
    rows = wait_until(lambda: [r for r in proxy.spend_logs(1) if r["call_id"] == call_id])
    assert len(rows) == 1 and 0 < rows[0]["completion_tokens"] < 300
    assert wait_until(lambda: _in_flight(proxy) == 0)
    time.sleep(0.3)
    assert len([r for r in proxy.spend_logs(1) if r["call_id"] == call_id]) == 1


def test_a_slow_reader_holds_the_stream_back(proxy: Proxy, fake: Any) -> None:
    words = 4000
    fake.default_content = " ".join(f"{i:05d}" + "x" * 5000 for i in range(words))
    s = _connect(proxy, rcvbuf=8192)
    f = s.makefile("rb")
    try:
        s.sendall(_post("/v1/chat/completions", {"model": "gpt-4o-mini",
                                                 "messages": MESSAGES, "stream": True}))
        assert f.readline().startswith(b"HTTP/1.1 200")
        time.sleep(1.5)  # reading nothing: the proxy stops reading the upstream
        assert fake.in_flight == 1  # the upstream is still sending
        while f.readline() != b"\r\n":
            pass
        body = b""
        while True:  # now read it all, slowly at first
            size = int(f.readline().strip(), 16)
            chunk = f.read(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
            if len(body) < 200_000:
                time.sleep(0.001)
    finally:
        f.close()
        s.close()
    events = [e[len("data: "):] for e in body.decode().split("\n\n") if e]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                   for e in events[:-1] if json.loads(e)["choices"])
    assert text == fake.default_content
    assert wait_until(lambda: fake.in_flight == 0)


def test_an_idle_keep_alive_connection_is_closed(proxy: Proxy, fake: Any) -> None:
    s = _connect(proxy)
    f = s.makefile("rb")
    try:
        s.sendall(_post("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES}))
        _check_answer(_read(f))
        time.sleep(1.0)  # idle, but within uvicorn's keep-alive timeout (5 s)
        s.sendall(_post("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES}))
        _check_answer(_read(f))
        started = time.monotonic()
        s.settimeout(15)
        assert f.read() == b""  # closed by the server once idle for the timeout
        assert 4.0 < time.monotonic() - started < 10.0
    finally:
        f.close()
        s.close()
