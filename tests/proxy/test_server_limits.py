"""The server's own limits, against a real ``llmrelay serve`` over raw sockets: slow or
endless headers (slowloris, with a bounded number of sockets), slow bodies, oversized
headers, the connection cap, and a 413 the client can read while it is still sending."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proxy_harness import Proxy, start_proxy, upstream_model

SOCKETS = 40  # slowloris sockets: enough to show the point, few enough for CI


@pytest.fixture(scope="module")
def proxy(module_tmp: Path, fake_server: Any) -> Iterator[Proxy]:
    config = {
        "model_list": [upstream_model(fake_server),
                       {"model_name": "mock", "litellm_params": {"model": "mock/mock"}}],
        "litellm_settings": {"num_retries": 0},
        "general_settings": {"request_header_timeout": 1, "request_body_timeout": 1,
                             "request_body_min_rate": 1000, "max_header_size_kb": 8,
                             "max_request_size_mb": 1, "max_connections": SOCKETS + 20},
    }
    p = start_proxy(module_tmp, config)
    yield p
    p.stop()


def _connect(proxy: Proxy) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _read_all(s: socket.socket, limit: float = 10.0) -> bytes:
    """Everything the server sends until it closes (or ``limit`` seconds pass)."""
    s.settimeout(limit)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except TimeoutError:
        out += b"<still open>"
    except ConnectionResetError:
        out += b"<reset>"
    return out


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0


def _body(raw: bytes) -> dict[str, Any]:
    return dict(json.loads(raw.split(b"\r\n\r\n", 1)[1]))


def test_slowloris_headers_are_cut(proxy: Proxy) -> None:
    socks = [_connect(proxy) for _ in range(SOCKETS)]
    try:
        for i, s in enumerate(socks):  # half a request line, or a few headers, never done
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" if i % 2
                      else b"GET /health/liven")
        # meanwhile the proxy serves others
        assert proxy.http.get("/health/liveliness").status_code == 200
        started = time.monotonic()
        answers = [_read_all(s) for s in socks]
        assert time.monotonic() - started < 15  # a safety net: the deadline is 1 s
    finally:
        for s in socks:
            s.close()
    assert all(_status(a) == 408 for a in answers), {a[:40] for a in answers}
    assert _body(answers[0])["error"]["code"] == "header_timeout"


def test_idle_connections_are_cut_too(proxy: Proxy) -> None:
    s = _connect(proxy)  # connects and sends nothing
    try:
        assert _status(_read_all(s)) == 408
    finally:
        s.close()


def test_slow_body_is_cut(proxy: Proxy) -> None:
    s = _connect(proxy)
    try:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        started = time.monotonic()
        closed = False
        s.settimeout(0.2)
        while time.monotonic() - started < 15:
            try:
                s.send(b" ")  # 5 bytes a second
                if s.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed
    finally:
        s.close()


def test_a_fast_body_and_a_slow_upstream_are_not_cut(proxy: Proxy, fake: Any) -> None:
    fake.default_delay = 2.0  # longer than both deadlines: they only cover reading
    try:
        r = proxy.http.post("/v1/chat/completions", json={
            "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 500000}]})
        assert r.status_code == 200, r.text
    finally:
        fake.default_delay = 0.0


def test_oversized_headers_get_431(proxy: Proxy) -> None:
    s = _connect(proxy)
    try:
        s.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000
                  + b"\r\n\r\n")
        raw = _read_all(s)
    finally:
        s.close()
    assert _status(raw) == 431 and _body(raw)["error"]["code"] == "headers_too_large"


def test_413_is_readable_while_the_client_still_sends(proxy: Proxy) -> None:
    body = json.dumps({"model": "mock", "messages": [
        {"role": "user", "content": "x" * (3 << 20)}]}).encode()
    s = _connect(proxy)
    try:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Content-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        raw = _read_all(s)
    finally:
        s.close()
    assert _status(raw) == 413, raw[:200]
    assert _body(raw)["error"]["code"] == "request_too_large"


def test_connections_beyond_the_cap_get_503(proxy: Proxy) -> None:
    socks = [_connect(proxy) for _ in range(SOCKETS + 20)]
    try:
        extra = _connect(proxy)
        extra.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = _read_all(extra)
        extra.close()
    finally:
        for s in socks:
            s.close()
    assert _status(raw) == 503, raw[:200]
    assert b"retry-after: 1" in raw.lower()
    assert _body(raw)["error"]["code"] == "too_many_connections"
    # and once they are gone, requests are served again
    deadline = time.monotonic() + 10
    while proxy.http.get("/health/liveliness").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
