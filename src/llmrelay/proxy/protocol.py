"""uvicorn's httptools HTTP/1.1 protocol with the read deadlines and caps uvicorn lacks.

uvicorn closes idle keep-alive connections, but a client that sends a request's headers (or
its body) slowly, or never finishes them, holds its connection for ever: a few hundred such
sockets (slowloris) fill the server. :class:`GuardedHttpToolsProtocol` adds, per the app's
:class:`~llmrelay.proxy.limits.Limits`:

* a header deadline (``request_header_timeout``): from the connection's start, and from the
  first byte of each later request on it, the request line and headers must be complete in
  time, else the client gets a 408 and the connection is closed;
* a body deadline (``request_body_timeout`` from the end of the headers, extended by one
  second for every ``request_body_min_rate`` bytes received): a slower body gets the
  connection closed (the handler waiting for it sees the client gone);
* a header size cap (``max_header_size_kb``; 431 above it), since httptools has none;
* a connection cap (``max_connections`` per worker): a request arriving on a connection
  beyond it is answered 503 by the app, with ``Retry-After`` (see :mod:`.app`).

Refusals are written in OpenAI's error shape with ``Connection: close``.

Each request's ASGI scope names the protocol under ``limits.CONNECTION``, so a streaming
response can ask to hear of the client leaving (:meth:`GuardedHttpToolsProtocol.
watch_disconnect`) instead of running a task that waits on ``receive()``
(:class:`~llmrelay.proxy.sse.SSEResponse`).

The deadlines cost no timer per request: each connection notes when its current phase is
due, and one repeating timer per server (:class:`_Sweep`, running while there are
connections) enforces those that passed, at most a tenth of the shorter timeout late
(uvicorn's keep-alive timeout too: an idle connection is closed by the sweep, not by a
timer armed after every response).

A POST to an LLM endpoint that the proxy app serves on its short path
(``ProxyApp.fast_handler``) is run by the connection directly
(:meth:`GuardedHttpToolsProtocol._start_asgi_task`): the app's ``serve_fast`` with this
request's uvicorn cycle, whose response then writes its own status line and headers
(:meth:`~llmrelay.proxy.lean.LeanResponse.write_head`). Reading the request (deadlines,
caps, ``Expect: 100-continue``), pipelining, keep-alive, flow control and disconnects stay
uvicorn's cycle's; only the ASGI layers and Starlette's objects are skipped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from functools import partial
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .limits import CONNECTION, OVERLOADED, Limits

__all__ = ["GuardedHttpToolsProtocol", "limits_of"]

_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


def limits_of(app: Any) -> Limits:
    """The limits of the proxy app inside ``app`` (uvicorn may wrap it in middleware)."""
    for _ in range(8):
        proxy = getattr(getattr(app, "state", None), "proxy", None)
        if proxy is not None:
            return proxy.cfg.policy.limits  # type: ignore[no-any-return]
        app = getattr(app, "app", None)
        if app is None:
            break
    return Limits()


def _refusal(status: int, message: str, code: str) -> bytes:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error",
                                 "param": None, "code": code}}).encode()
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class _Sweep:
    """The deadlines of one server's connections, checked by one repeating timer.

    A timer per request (armed at its first byte, re-armed at the end of its headers,
    cancelled when it is read) costs more than the deadline checks themselves; instead each
    connection notes its deadline and this sweep, every ``tick`` seconds while the server has
    connections, enforces the expired ones. A deadline is enforced at most one tick late
    (a tenth of the shorter timeout, between 50 ms and 0.5 s)."""

    __slots__ = ("connections", "handle", "loop", "tick")

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: Any,
                 limits: Limits) -> None:
        self.loop = loop
        self.connections = connections
        shorter = min(limits.request_header_timeout, limits.request_body_timeout)
        self.tick = min(max(shorter / 10.0, 0.05), 0.5)
        self.handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self.handle is None:
            self.handle = self.loop.call_later(self.tick, self.run)

    def run(self) -> None:
        self.handle = None
        if not self.connections:
            return  # started again by the next connection
        now = self.loop.time()
        for conn in tuple(self.connections):
            check = getattr(conn, "_check_deadline", None)
            if check is not None:
                check(now)
        self.start()


class _CoalescingTransport:
    """The connection's transport with the writes of one event-loop turn sent together.

    uvicorn writes a response's status line and headers as soon as the app starts the
    response, then each body part as it comes: two ``send()`` system calls for a whole
    answer, one per event for a stream, however close together. Here writes are gathered
    and handed to the real transport once, at the end of the loop turn they were made in
    (``call_soon``), or at once when the connection is closed. The bytes and their order
    are unchanged; a write made in a later turn goes out in a later ``send()``."""

    __slots__ = ("_buf", "_loop", "_t")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._t = transport
        self._loop = loop
        self._buf: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        buf = self._buf
        if buf is None:
            self._buf = [data]
            self._loop.call_soon(self._flush)
        else:
            buf.append(data)

    def write_now(self, data: bytes) -> None:
        """``data`` handed to the transport at once when nothing is held (a whole answer
        written in one piece), else after what is held."""
        if self._buf is None and not self._t.is_closing():
            self._t.write(data)
        else:
            self.write(data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        buf = self._buf
        if buf is not None:
            self._buf = None
            t = self._t
            if not t.is_closing():
                t.write(buf[0] if len(buf) == 1 else b"".join(buf))

    def get_write_buffer_size(self) -> int:
        held = sum(len(b) for b in self._buf) if self._buf else 0
        return held + self._t.get_write_buffer_size()

    def close(self) -> None:
        self._flush()
        self._t.close()

    def write_eof(self) -> None:
        self._flush()
        self._t.write_eof()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's
        return getattr(self._t, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):  # type: ignore[misc]
    """See the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits = limits_of(self.app)
        self._header_timeout = limits.request_header_timeout
        self._body_timeout = limits.request_body_timeout
        self._phase = "idle"  # "headers" | "body" | "idle" | "keep-alive"
        self._header_bytes = 0
        self._deadline = 0.0  # of the current phase (loop time)
        self._refused = False
        self._overloaded = False
        self._on_lost: Callable[[], None] | None = None  # see watch_disconnect
        self._max_header_bytes = limits.max_header_bytes
        # the proxy app's short path for the LLM endpoints, called from here (no access log
        # then: uvicorn writes it when a response starts through its own send)
        fast = getattr(self.app, "fast_handler", None)
        self._fast: Callable[[Any], Any] | None = None if self.access_log else fast
        state = self.server_state
        sweep = getattr(state, "_llmrelay_sweep", None)
        if sweep is None or sweep.loop is not self.loop:
            sweep = _Sweep(self.loop, self.connections, limits)
            setattr(state, "_llmrelay_sweep", sweep)  # noqa: B010 - not a field uvicorn declares
        self._sweep = sweep

    # ---- deadlines ------------------------------------------------------------------------
    def _check_deadline(self, now: float) -> None:
        """Called by the sweep: act on this connection's deadline when it has passed."""
        phase = self._phase
        if phase == "idle" or now < self._deadline or self._refused:
            return
        if self.transport.is_closing():
            return
        if phase == "keep-alive":  # idle longer than uvicorn's timeout_keep_alive
            self._phase = "idle"
            self.transport.close()
        elif phase == "headers":
            self._refuse(408, f"the request line and headers did not arrive within "
                              f"{self.limits.request_header_timeout:g} s "
                              f"(general_settings.request_header_timeout)", "header_timeout")
        else:
            self._refused = True
            self.transport.close()  # the handler reading the body sees the client gone

    def _refuse(self, status: int, message: str, code: str) -> None:
        self._refused = True
        self._phase = "idle"
        self.transport.write(_refusal(status, message, code))
        self.transport.close()

    # ---- connection -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        most = self.limits.max_connections
        self._overloaded = bool(most) and len(self.connections) > most
        self._phase = "headers"  # the first request's headers are due from now
        self._deadline = self.loop.time() + self._header_timeout
        self._sweep.start()

    def connection_lost(self, exc: Exception | None) -> None:
        self._phase = "idle"
        super().connection_lost(exc)
        lost, self._on_lost = self._on_lost, None
        if lost is not None:
            lost()

    def watch_disconnect(self, callback: Callable[[], None] | None) -> bool:
        """Call ``callback`` once if the connection is lost before ``watch_disconnect(None)``
        (what ``receive()`` would report as ``http.disconnect`` while a response is sent).
        False, and nothing registered, when the client is gone already."""
        if callback is not None:
            cycle = self.cycle
            if self.transport.is_closing() or cycle is None or cycle.disconnected:
                return False
        self._on_lost = callback
        return True

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)

    # ---- parser callbacks -----------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if self._phase != "headers":
            self._phase = "headers"
            self._deadline = self.loop.time() + self._header_timeout

    def _too_large(self) -> None:
        self._refuse(431, f"the request line and headers are larger than "
                          f"{self.limits.max_header_size_kb:g} KiB "
                          f"(general_settings.max_header_size_kb)", "headers_too_large")

    # on_url and on_header are uvicorn's with the size count added, in one call per header
    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        size = self._header_bytes = self._header_bytes + len(url)
        if size > self._max_header_bytes:
            self._too_large()
            return
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        size = self._header_bytes = self._header_bytes + len(name) + len(value) + 4
        if size > self._max_header_bytes:
            self._too_large()
            return
        name = name.lower()
        value = value.rstrip(b" \t")  # trailing whitespace is not part of a value
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        if self._overloaded:
            self.scope[OVERLOADED] = True  # type: ignore[literal-required]
        self.scope[CONNECTION] = self  # type: ignore[literal-required]
        self._phase = "body"
        self._deadline = self.loop.time() + self._body_timeout
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        """Start serving a request (uvicorn calls this for each, pipelined ones in turn): a
        POST to an LLM endpoint that the proxy app serves on its short path runs that path
        directly with this request's cycle (no ASGI app layers; the response writes its
        own status line and headers), everything else the ASGI app."""
        fast = self._fast
        if fast is not None and app is self.app:
            handler = fast(cycle.scope)
            if handler is not None:
                app = partial(self.app.serve_fast, handler, cycle=cycle)
        super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        """uvicorn's, with the keep-alive deadline noted for the sweep instead of a timer
        armed per response (and cancelled by the next request's first bytes)."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self._phase == "idle":  # not already reading the next request
            self._phase = "keep-alive"
            self._deadline = self.loop.time() + self.timeout_keep_alive

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._deadline += len(body) / self.limits.request_body_min_rate
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._phase = "idle"
        super().on_message_complete()
