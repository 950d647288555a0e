"""A recording HTTP server on 127.0.0.1 that fails on purpose when told to.

    with WebhookServer() as srv:
        srv.enqueue(Scripted(500), Scripted(429, headers={"Retry-After": "1"}))
        ...  # the first two POSTs get those replies, later ones ``srv.default``
        batches = srv.json_bodies()

``Scripted(drop=True)`` closes the connection without replying (a connection error for the
client). Subclasses override :meth:`WebhookServer.handle` to implement real endpoints.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "Scripted", "WebhookServer"]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0  # the status we replied with; 0 for a dropped connection

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b'{"ok":true}'
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0
    content_type: str = "application/json"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        rec = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                       body, time.monotonic())
        reply = owner.handle(rec)
        rec.status = 0 if reply.drop else reply.status
        owner._record(rec)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = _serve
    do_GET = _serve
    do_PUT = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: WebhookServer


class WebhookServer:
    """Records every request; replies from the script queue, else ``default``."""

    def __init__(self) -> None:
        self.default = Scripted()
        self._script: deque[Scripted] = deque()
        self._received: list[Received] = []
        self._cond = threading.Condition()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> WebhookServer:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-webhook", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    # ---- scripting and inspection --------------------------------------------------------
    def enqueue(self, *replies: Scripted) -> None:
        with self._cond:
            self._script.extend(replies)

    def handle(self, rec: Received) -> Scripted:
        """The reply for one request: the next scripted one, else the default."""
        with self._cond:
            return self._script.popleft() if self._script else self.default

    def _record(self, rec: Received) -> None:
        with self._cond:
            self._received.append(rec)
            self._cond.notify_all()

    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``n`` requests arrived (or ``timeout``); returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self._received)

    def json_bodies(self, status: int | None = 200) -> list[Any]:
        """Decoded bodies of the requests that got ``status`` (None: all requests)."""
        return [r.json() for r in self.received if status is None or r.status == status]

    def reset(self) -> None:
        with self._cond:
            self._received.clear()
            self._script.clear()
