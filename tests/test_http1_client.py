"""The async side of the default transport (llmrelay.http1 through transport.asend and
transport.astream) against real sockets on 127.0.0.1: keep-alive, framings, encodings,
timeouts, failures, cancellation, TLS and the connection bound."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable

import pytest

from llmrelay import http1, transport
from llmrelay.exceptions import APIConnectionError, Timeout
from llmrelay.http1 import pool as http1_pool
from llmrelay.providers.base import HTTPRequest

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head (request line + headers) and body (content-length framed)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return head, body


def answer(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Server:
    """An asyncio server on 127.0.0.1 (a port picked at run time) that counts its
    connections and runs ``handler`` for each."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1",
                 tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.host = host
        self.tls = tls
        self.opened = 0
        self.open = 0
        self.most_open = 0
        self.heads: list[bytes] = []
        self.server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self.open -= 1
            writer.close()


def keep_alive(body: bytes = b'{"ok":true}', *extra: str,
               heads: list[bytes] | None = None) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await read_request(reader)
            if heads is not None:
                heads.append(head)
            writer.write(answer(body, "Content-Type: application/json", *extra))
            await writer.drain()
    return handler


def post(url: str, content: bytes | None = b"{}", **headers: str) -> HTTPRequest:
    return HTTPRequest("POST", url, {"Content-Type": "application/json", **headers}, None,
                       content=content)


async def settle(cond: Callable[[], bool], seconds: float = 3.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    assert cond()


async def test_keep_alive_reuses_one_connection() -> None:
    heads: list[bytes] = []
    async with Server(keep_alive(b'{"a":1}', "X-Thing: Yes", heads=heads)) as srv:
        for _ in range(20):
            reply = await transport.asend(post(srv.url + "/v1/chat"))
            assert reply.status == 200 and reply.body == b'{"a":1}'
            assert reply.headers["x-thing"] == "Yes"
            assert reply.headers["content-type"] == "application/json"
        s = await transport.astream(post(srv.url + "/v1/chat"))
        assert await s.read() == b'{"a":1}'
        assert srv.opened == 1
        assert transport.pool_stats()["async"] == 1
        port = srv.url.rsplit(":", 1)[1]
        head = heads[0].decode()
        assert head.startswith("POST /v1/chat HTTP/1.1\r\n")
        assert f"\r\nHost: 127.0.0.1:{port}\r\n" in head
        assert "user-agent" not in head.lower() and "Content-Length: 2\r\n" in head


async def test_url_is_sent_as_built_and_headers_kept() -> None:
    heads: list[bytes] = []
    async with Server(keep_alive(heads=heads)) as srv:
        url = srv.url + "/model/a%3Ab%2Fc/invoke?x=1%2C2&y=%7E"
        await transport.asend(post(url, **{"User-Agent": "mine/1", "X-Amz-Date": "1"}))
        head = heads[0].decode()
        assert head.startswith("POST /model/a%3Ab%2Fc/invoke?x=1%2C2&y=%7E HTTP/1.1\r\n")
        assert "User-Agent: mine/1\r\n" in head and "X-Amz-Date: 1\r\n" in head
        with pytest.raises(ValueError):
            await transport.asend(post(srv.url, **{"X-Bad": "a\r\nInjected: 1"}))


async def test_a_kept_connection_the_server_closed_is_replaced() -> None:
    async def one_answer_per_connection(reader: asyncio.StreamReader,
                                        writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"first"))  # keep-alive promised...
        await writer.drain()
        await read_request(reader)  # ...but the next request is met with a close

    async with Server(one_answer_per_connection) as srv:
        assert (await transport.asend(post(srv.url))).body == b"first"
        assert (await transport.asend(post(srv.url))).body == b"first"
        assert srv.opened == 2  # the second call was sent again on a new connection

    async with Server(one_answer_per_connection) as srv:  # two stale kept connections
        await asyncio.gather(transport.asend(post(srv.url)), transport.asend(post(srv.url)))
        assert srv.opened == 2
        assert (await transport.asend(post(srv.url))).body == b"first"
        assert srv.opened == 3  # the retry opened a connection, not the other stale one

    async def close_without_answer(reader: asyncio.StreamReader,
                                   writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with Server(close_without_answer) as srv:  # a new connection is not retried
        with pytest.raises(APIConnectionError, match="ServerDisconnected"):
            await transport.asend(post(srv.url))
        assert srv.opened == 1


async def test_chunked_body_whole_and_streamed() -> None:
    pieces = [b"data: one\n\n", b"data: two\n", b"\ndata: [DONE]\n\n"]

    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         b"Content-Type: text/event-stream\r\n\r\n")
            for piece in pieces:
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
                await asyncio.sleep(0.02)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async with Server(chunked) as srv:
        assert (await transport.asend(post(srv.url))).body == b"".join(pieces)
        s = await transport.astream(post(srv.url))
        assert s.status == 200 and s.headers["content-type"] == "text/event-stream"
        assert [c async for c in s.chunks()] == pieces  # as they arrived
        s.close()
        s = await transport.astream(post(srv.url))
        assert [line async for line in s.lines()] == [
            b"data: one", b"", b"data: two", b"", b"data: [DONE]", b""]
        s.close()
        assert srv.opened == 1  # streams read to the end give their connection back


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_bodies_are_decoded(encoding: str) -> None:
    plain = b'{"text": "' + b"hello " * 2000 + b'"}'
    if encoding == "gzip":
        packed = gzip.compress(plain)
    elif encoding == "deflate":
        packed = zlib.compress(plain)
    else:
        squeeze = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        packed = squeeze.compress(plain) + squeeze.flush()
    name = "gzip" if encoding == "gzip" else "deflate"
    heads: list[bytes] = []
    async with Server(keep_alive(packed, f"Content-Encoding: {name}", heads=heads)) as srv:
        reply = await transport.asend(post(srv.url))
        assert reply.body == plain and reply.headers["content-encoding"] == name
        s = await transport.astream(post(srv.url))
        assert b"".join([c async for c in s.chunks()]) == plain
        s.close()
        assert b"Accept-Encoding: gzip, deflate\r\n" in heads[0]


async def test_close_delimited_body() -> None:
    async def http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ")
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(b"part two")
        await writer.drain()

    async with Server(http10) as srv:
        assert (await transport.asend(post(srv.url))).body == b"part one, part two"
        s = await transport.astream(post(srv.url))
        assert await s.read() == b"part one, part two"
        assert srv.opened == 2
        await settle(lambda: transport.pool_stats()["async"] == 0)


async def test_connection_close_is_not_reused() -> None:
    async with Server(keep_alive(b"x", "Connection: close")) as srv:
        for _ in range(3):
            assert (await transport.asend(post(srv.url))).body == b"x"
        assert srv.opened == 3


async def test_head_request_has_no_body() -> None:
    async def head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)

    async with Server(head) as srv:
        reply = await transport.asend(HTTPRequest("HEAD", srv.url, {}, None))
        assert reply.status == 200 and reply.body == b""


def slow_stream(count: int = 50, gap: float = 0.05) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(count):
            piece = b"data: %d\n\n" % i
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(gap)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()  # until the client goes
    return handler


async def test_a_stream_left_early_drops_its_connection() -> None:
    async with Server(slow_stream()) as srv:
        s = await transport.astream(post(srv.url))
        async for _chunk in s.chunks():
            break
        s.close()
        await settle(lambda: srv.open == 0)  # dropped, not pooled half-read
        assert transport.pool_stats()["async"] == 0


async def test_cancelling_mid_stream_closes_the_connection() -> None:
    async with Server(slow_stream()) as srv:
        got: list[bytes] = []

        async def consume() -> None:
            s = await transport.astream(post(srv.url))
            try:
                async for chunk in s.chunks():
                    got.append(chunk)
            finally:
                s.close()

        task = asyncio.ensure_future(consume())
        await settle(lambda: len(got) >= 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle(lambda: srv.open == 0)
        assert transport.pool_stats()["async"] == 0


async def test_cancelling_a_whole_request_closes_the_connection() -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()

    async with Server(never) as srv:
        task = asyncio.ensure_future(transport.asend(post(srv.url)))
        await settle(lambda: srv.open == 1)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle(lambda: srv.open == 0)
        assert transport.pool_stats()["async"] == 0


async def test_read_timeout_before_and_between_bytes() -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()

    async with Server(stall) as srv:
        with pytest.raises(Timeout, match="timed out"):
            await transport.asend(post(srv.url), timeout=0.2)

    async with Server(slow_stream(count=3, gap=0.05)) as srv:  # gaps under the timeout
        s = await transport.astream(post(srv.url), timeout=0.5)
        assert len(await s.read()) > 0

    async with Server(slow_stream(count=3, gap=1.0)) as srv:  # a gap over it
        s = await transport.astream(post(srv.url), timeout=0.3)
        with pytest.raises(Timeout):
            async for _chunk in s.chunks():
                pass
        s.close()


async def test_a_shorter_read_timeout_on_a_kept_connection() -> None:
    async def answer_then_stall(reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"once"))
        await writer.drain()
        await read_request(reader)
        await reader.read()

    async with Server(answer_then_stall) as srv:
        assert (await transport.asend(post(srv.url))).body == b"once"  # 600 s timer armed
        with pytest.raises(Timeout):  # the same connection, a 0.2 s timeout: not 600 s
            await asyncio.wait_for(transport.asend(post(srv.url), timeout=0.2), 30)
        assert srv.opened == 1


async def test_connect_timeout_covers_the_tls_handshake() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with Server(silent) as srv:  # plain TCP that never answers a TLS hello
        url = srv.url.replace("http://", "https://")
        httpx = pytest.importorskip("httpx")
        with pytest.raises(Timeout):
            await transport.asend(post(url), timeout=httpx.Timeout(5.0, connect=0.2))
        await settle(lambda: transport.pool_stats()["async"] == 0)


async def test_refused_connection_is_an_api_connection_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(APIConnectionError) as info:
        await transport.asend(post(f"http://127.0.0.1:{port}/v1?key=sekret"))
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert "sekret" not in str(info.value) and "connection to" in str(info.value)
    assert transport.pool_stats()["async"] == 0


async def test_tls_with_a_self_signed_ca(tmp_path: object,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    async with Server(keep_alive(b"secure"), tls=server_ctx) as srv:
        # the default context verifies: an unknown CA is refused
        monkeypatch.setattr(http1_pool, "_ssl_context", None)
        with pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await transport.asend(post(srv.url))
        # trusted through the standard SSL_CERT_FILE variable, as with aiohttp before
        with ca.cert_pem.tempfile() as pem:
            monkeypatch.setenv("SSL_CERT_FILE", pem)
            monkeypatch.setattr(http1_pool, "_ssl_context", None)
            assert (await transport.asend(post(srv.url))).body == b"secure"
            s = await transport.astream(post(srv.url.replace("127.0.0.1", "localhost")))
            assert await s.read() == b"secure"
        monkeypatch.setattr(http1_pool, "_ssl_context", None)


async def test_ipv6_literal_host() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no ::1")
    heads: list[bytes] = []
    async with Server(keep_alive(b"six", heads=heads), host="::1") as srv:
        assert (await transport.asend(post(srv.url + "/p"))).body == b"six"
        port = srv.url.rsplit(":", 1)[1]
        assert f"\r\nHost: [::1]:{port}\r\n".encode() in heads[0]


async def test_at_most_100_connections_per_loop() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await asyncio.sleep(0.1)
            writer.write(answer(b"ok"))
            await writer.drain()

    async with Server(slow) as srv:
        replies = await asyncio.gather(*(transport.asend(post(srv.url)) for _ in range(160)))
        assert all(r.body == b"ok" for r in replies)
        assert srv.most_open <= 100 and srv.opened <= 100
        assert transport.pool_stats()["async"] <= 100


def test_one_pool_per_loop_closed_with_it() -> None:
    async def call(url: str) -> int:
        return (await transport.asend(post(url))).status

    async def main() -> None:
        async with Server(keep_alive()) as srv:
            for _ in range(2):
                # another loop in another thread gets its own pool
                await asyncio.to_thread(asyncio.run, call(srv.url))
            assert await call(srv.url) == 200
            assert srv.opened == 3

    asyncio.run(main())
    assert all(p.closed for p in list(http1.pools.values()))


async def test_a_broken_reply_is_an_api_connection_error() -> None:
    async with Server(keep_alive(b"not gzip at all", "Content-Encoding: gzip")) as srv:
        with pytest.raises(APIConnectionError, match="cannot decode"):
            await transport.asend(post(srv.url))

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with Server(garbage) as srv:
        with pytest.raises(APIConnectionError, match="invalid HTTP response"):
            await transport.asend(post(srv.url))
    await settle(lambda: transport.pool_stats()["async"] == 0)
