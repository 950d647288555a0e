"""A fake OpenAI-compatible upstream speaking the real wire protocol over real HTTP.

The server runs aiohttp's low-level web server on its own event loop in a daemon
thread and listens on ``127.0.0.1`` on a port picked by the OS, so tests and
benchmarks can point any HTTP client (httpx, aiohttp, the ``openai`` SDK, the
llmrelay SDK or proxy) at ``srv.url``::

    with FakeOpenAI() as srv:
        srv.enqueue(Reply.error(429, "slow down", type="rate_limit_error",
                                headers={"Retry-After": "0"}))
        ...  # first request gets the 429, later ones the default reply
        assert srv.last.body["model"] == "gpt-4o-mini"

Routes are matched on the path *suffix*, so ``/v1/chat/completions``,
``/chat/completions`` and ``/openai/deployments/x/chat/completions`` all reach
the chat handler.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json as _json
import re
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fakes.openai_responses import responses_reply
from fakes.openai_surfaces import SURFACE_PATHS, parse_multipart, surface_reply

__all__ = ["FakeOpenAI", "Recorded", "Reply"]

_SSE_CONTENT_TYPE = "text/event-stream"
_JSON_CONTENT_TYPE = "application/json"
_DONE_LINE = "data: [DONE]"
_WORD_RE = re.compile(r"\s*\S+(?:\s+$)?|\s+$")
_MODEL_PATH_RE = re.compile(r"/models/([^/]+)$")


def _dumps(obj: Any) -> str:
    return _json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _error_body(
    message: str,
    type: str = "invalid_request_error",
    code: str | int | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def split_words(text: str) -> list[str]:
    """Split ``text`` the way the fake streams it: words keep their leading whitespace."""
    return _WORD_RE.findall(text)


def fake_embedding(text: str, dim: int) -> list[float]:
    """Deterministic unit-length vector of ``dim`` floats derived from ``text``."""
    dim = max(1, int(dim))
    raw = hashlib.shake_256(text.encode("utf-8")).digest(4 * dim)
    ints = struct.unpack(f"<{dim}I", raw)
    vec = [(i / 2147483647.5) - 1.0 for i in ints]
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]


@dataclass(frozen=True)
class Recorded:
    """One request as received by the fake server."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    raw: bytes
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class Reply:
    """A scripted reply, consumed by the next request (whatever its endpoint).

    Exactly one of ``json`` / ``body`` / ``stream_lines`` is normally set. When none
    is set the endpoint's default reply is sent (with ``status``, ``headers`` and
    ``delay`` applied) if ``status < 400``, or a generic OpenAI error body otherwise.

    ``stream_lines`` are sent verbatim as SSE events, each followed by a blank line
    (``"\\n\\n"``), ``chunk_delay`` seconds apart. Unless ``truncate`` is set, or ``done``
    is false, or the last line already is ``data: [DONE]``, a final ``data: [DONE]``
    is appended. With ``truncate=True`` the TCP connection is closed right after the
    lines, in the middle of the chunked body, so the client sees a broken stream.
    """

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    stream_lines: list[str] | None = None
    truncate: bool = False
    chunk_delay: float = 0.0
    done: bool = True

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        code: str | int | None = None,
        headers: dict[str, str] | None = None,
        *,
        param: str | None = None,
        delay: float = 0.0,
    ) -> Reply:
        """An OpenAI-shaped error: ``{"error": {"message", "type", "param", "code"}}``."""
        return cls(
            status=status,
            json=_error_body(message, type, code, param),
            headers=dict(headers or {}),
            delay=delay,
        )

    @classmethod
    def sse(
        cls,
        events: Iterable[Any],
        *,
        truncate: bool = False,
        chunk_delay: float = 0.0,
        done: bool = True,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Stream ``events``: dicts are sent as ``data: <json>``, strings verbatim."""
        lines = [e if isinstance(e, str) else "data: " + _dumps(e) for e in events]
        return cls(
            status=status,
            stream_lines=lines,
            truncate=truncate,
            chunk_delay=chunk_delay,
            done=done,
            headers=dict(headers or {}),
        )


class _CountingServer(web.Server):
    """aiohttp low-level server that reports TCP connection open/close to its owner."""

    def __init__(self, handler: Any, owner: FakeOpenAI, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner

    def connection_made(self, handler: Any, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self._owner._connection_opened()

    def connection_lost(self, handler: Any, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._owner._connection_closed()


class FakeOpenAI:
    """Fake OpenAI-compatible HTTP server on ``127.0.0.1:<random port>``.

    Configuration attributes (may be changed at any time, also while running):

    * ``default_content`` -- reply text for chat/completions; a ``str`` or a callable
      ``(request_body: dict) -> str``.
    * ``default_usage`` -- usage dict; ``total_tokens`` is added when missing.
    * ``tool_call`` -- ``None``, a dict ``{"name": ..., "arguments": "<json>"}`` (the
      arguments may also be a dict) or a list of such dicts. Used for chat requests
      carrying ``tools`` (unless ``tool_choice == "none"``).
    * ``embedding_dim`` -- default embedding size (the request's ``dimensions`` wins).
    * ``models`` -- ids listed by ``GET /v1/models``.
    * ``default_delay`` -- seconds to sleep before every default (unscripted) reply.
    * ``default_chunk_delay`` -- seconds between SSE chunks of default streams.
    * ``require_api_key`` -- when set, requests without ``Authorization: Bearer <key>``
      or ``api-key: <key>`` get OpenAI's 401 error.
    * ``record`` -- set to false (e.g. in benchmarks) to stop keeping ``requests``;
      ``request_count`` still counts them.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        keepalive_timeout: float = 75.0,
        shutdown_timeout: float = 0.5,
        record: bool = True,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._keepalive_timeout = keepalive_timeout
        self._shutdown_timeout = shutdown_timeout

        self.default_content: str | Callable[[dict[str, Any]], str] = "Hello from fake"
        self.default_usage: dict[str, Any] = {"prompt_tokens": 10, "completion_tokens": 5}
        self.tool_call: dict[str, Any] | list[dict[str, Any]] | None = None
        self.embedding_dim = 8
        self.models: list[str] = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
        self.default_delay = 0.0
        self.default_chunk_delay = 0.0
        self.require_api_key: str | None = None
        self.record = record
        self.responses_store: dict[str, dict[str, Any]] = {}  # the Responses API's
        self.in_flight = 0  # requests being answered now, and the most at once since reset
        self.max_in_flight = 0

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._records: list[Recorded] = []
        self._request_count = 0
        self._queue: deque[Reply] = deque()
        self._open = 0
        self._total = 0

        self._state_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.BaseRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeOpenAI:
        """Start serving in a background thread; returns once the socket is listening."""
        with self._state_lock:
            if self._thread is not None:
                return self
            ready = threading.Event()
            box: dict[str, BaseException] = {}
            thread = threading.Thread(
                target=self._thread_main,
                args=(ready, box),
                name="FakeOpenAI",
                daemon=True,
            )
            thread.start()
            ready.wait()
            if "error" in box:
                thread.join()
                raise RuntimeError("FakeOpenAI failed to start") from box["error"]
            self._thread = thread
        return self

    def stop(self) -> None:
        """Close every connection, stop the loop and join the thread. Idempotent."""
        with self._state_lock:
            thread, loop = self._thread, self._loop
            if thread is None or loop is None:
                return
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:  # loop already closed
                pass
            thread.join(timeout=30)
            self._thread = None
            self._loop = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeOpenAI is not running; call start() first")
        return self._port

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` -- use as an OpenAI ``base_url``."""
        return self.base + "/v1"

    def _thread_main(self, ready: threading.Event, box: dict[str, BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._setup())
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            loop.close()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(self._teardown())
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    async def _setup(self) -> None:
        server = _CountingServer(
            self._handle,
            self,
            handler_cancellation=True,
            access_log=None,
            keepalive_timeout=self._keepalive_timeout,
        )
        runner = web.ServerRunner(server, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port, backlog=2048)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def _teardown(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ------------------------------------------------------------ records & script

    @property
    def requests(self) -> list[Recorded]:
        """Snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._records)

    @property
    def last(self) -> Recorded | None:
        """The most recent request, or ``None`` if there was none."""
        with self._lock:
            return self._records[-1] if self._records else None

    @property
    def request_count(self) -> int:
        """Requests received since start or ``reset()`` (counted even when ``record`` is false)."""
        with self._lock:
            return self._request_count

    def enqueue(self, *replies: Reply) -> None:
        """Queue scripted replies; each is consumed by the next request, in order."""
        with self._lock:
            self._queue.extend(replies)

    def pending_replies(self) -> int:
        """How many scripted replies have not been consumed yet."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget recorded requests (and ``request_count``) and drop unconsumed scripted replies."""
        with self._lock:
            self._records.clear()
            self._queue.clear()
            self._request_count = 0
            self.max_in_flight = self.in_flight

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[Recorded]:
        """Block until at least ``n`` requests were recorded; raise TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._records) >= n, timeout):
                raise TimeoutError(f"expected {n} requests, got {len(self._records)}")
            return list(self._records)

    # ---------------------------------------------------------------- connections

    def open_connections(self) -> int:
        """Client TCP connections currently open to the server."""
        with self._lock:
            return self._open

    @property
    def connections_total(self) -> int:
        """Client TCP connections accepted since start."""
        with self._lock:
            return self._total

    def wait_for_open_connections(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until exactly ``n`` connections are open (closing is asynchronous)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._open == n, timeout)

    def _connection_opened(self) -> None:
        with self._cond:
            self._open += 1
            self._total += 1
            self._cond.notify_all()

    def _connection_closed(self) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify_all()

    # -------------------------------------------------------------------- handling

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        raw = await request.content.read()
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            k = key.lower()
            headers[k] = f"{headers[k]}, {value}" if k in headers else value
        body: dict[str, Any] | None = None
        parse_error = False
        if raw:
            try:
                parsed = _json.loads(raw)
            except ValueError:
                parse_error = True
            else:
                if isinstance(parsed, dict):
                    body = parsed
        rec = Recorded(
            method=request.method,
            path=request.path,
            headers=headers,
            body=body,
            raw=raw,
            query=dict(request.query),
        )
        with self._cond:
            self._request_count += 1
            if self.record:
                self._records.append(rec)
            reply = self._queue.popleft() if self._queue else None
            self._cond.notify_all()

        with self._cond:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if reply is not None:
                return await self._scripted(request, rec, reply)
            if self.default_delay > 0:
                await asyncio.sleep(self.default_delay)
            return await self._default(request, rec, parse_error, 200, {})
        except ConnectionError:
            # The client went away while we were writing; nothing useful to do.
            return web.Response(status=499)
        finally:
            with self._cond:
                self.in_flight -= 1

    async def _scripted(
        self, request: web.BaseRequest, rec: Recorded, reply: Reply
    ) -> web.StreamResponse:
        if reply.delay > 0:
            await asyncio.sleep(reply.delay)
        if reply.stream_lines is not None:
            return await self._stream_raw(request, reply)
        if reply.body is not None:
            return _response(reply.status, reply.body, "text/plain; charset=utf-8", reply.headers)
        if reply.json is not None:
            return _response(
                reply.status, _dumps(reply.json).encode(), _JSON_CONTENT_TYPE, reply.headers
            )
        if reply.status >= 400:
            body = _error_body(f"Fake upstream error {reply.status}", "server_error")
            return _response(reply.status, _dumps(body).encode(), _JSON_CONTENT_TYPE, reply.headers)
        return await self._default(request, rec, False, reply.status, reply.headers)

    async def _stream_raw(self, request: web.BaseRequest, reply: Reply) -> web.StreamResponse:
        lines = list(reply.stream_lines or [])
        if not reply.truncate and reply.done and not (lines and lines[-1].strip() == _DONE_LINE):
            lines.append(_DONE_LINE)
        resp = _sse_response(reply.status, reply.headers)
        await resp.prepare(request)
        for i, line in enumerate(lines):
            if i and reply.chunk_delay > 0:
                await asyncio.sleep(reply.chunk_delay)
            await resp.write((line + "\n\n").encode())
        if reply.truncate:
            if reply.chunk_delay > 0:
                await asyncio.sleep(reply.chunk_delay)
            transport = request.transport
            if transport is not None:
                # close() flushes what was written, then drops the connection without the
                # terminating zero-length chunk: an abruptly cut stream for the client.
                transport.close()
            return resp
        await resp.write_eof()
        return resp

    async def _default(
        self,
        request: web.BaseRequest,
        rec: Recorded,
        parse_error: bool,
        status: int,
        extra_headers: dict[str, str],
    ) -> web.StreamResponse:
        if self.require_api_key is not None:
            key = self.require_api_key
            auth = rec.headers.get("authorization", "")
            if auth != f"Bearer {key}" and rec.headers.get("api-key") != key:
                return _json_response(
                    401,
                    _error_body(
                        "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
                    ),
                )

        path = rec.path.rstrip("/") or "/"
        method = rec.method.upper()
        if path.endswith("/responses") or "/responses/" in path:
            return await responses_reply(self, request, rec, self.responses_store)
        surface = next((p for p in SURFACE_PATHS if path.endswith(p)), None)
        if surface is not None and method == "POST":
            form = parse_multipart(rec.headers.get("content-type", ""), rec.raw)
            return await surface_reply(request, surface, rec.body, form)
        if path.endswith("/chat/completions"):
            kind = "chat"
        elif path.endswith("/completions"):
            kind = "completions"
        elif path.endswith("/embeddings"):
            kind = "embeddings"
        elif path.endswith("/models") or _MODEL_PATH_RE.search(path):
            kind = "models"
        else:
            return _json_response(
                404,
                _error_body(f"Invalid URL ({method} {rec.path})", "invalid_request_error"),
            )

        expected = "GET" if kind == "models" else "POST"
        if method != expected:
            return _json_response(
                405,
                _error_body(f"Method {method} not allowed for {rec.path}", "invalid_request_error"),
            )

        if kind == "models":
            return self._models(path, status, extra_headers)

        if parse_error or rec.body is None:
            return _json_response(
                400,
                _error_body(
                    "We could not parse the JSON body of your request. (HINT: This likely "
                    "means you aren't using your HTTP library correctly.)",
                ),
            )
        body = rec.body
        if not body.get("model"):
            return _json_response(
                400, _error_body("you must provide a model parameter", param="model")
            )

        if kind == "chat":
            if not isinstance(body.get("messages"), list):
                return _json_response(
                    400,
                    _error_body(
                        "Missing required parameter: 'messages'.",
                        code="missing_required_parameter",
                        param="messages",
                    ),
                )
            return await self._chat(request, body, status, extra_headers)
        if kind == "completions":
            if "prompt" not in body:
                return _json_response(
                    400,
                    _error_body(
                        "Missing required parameter: 'prompt'.",
                        code="missing_required_parameter",
                        param="prompt",
                    ),
                )
            return await self._completions(request, body, status, extra_headers)
        if "input" not in body:
            return _json_response(
                400,
                _error_body(
                    "Missing required parameter: 'input'.",
                    code="missing_required_parameter",
                    param="input",
                ),
            )
        return self._embeddings(body, status, extra_headers)

    # ---------------------------------------------------------------- endpoints

    def _content(self, body: dict[str, Any]) -> str:
        content = self.default_content
        return content(body) if callable(content) else str(content)

    def _usage(self) -> dict[str, Any]:
        usage = dict(self.default_usage)
        usage.setdefault("prompt_tokens", 0)
        usage.setdefault("completion_tokens", 0)
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
        return usage

    def _tool_calls(self) -> list[dict[str, Any]]:
        spec = self.tool_call
        specs = spec if isinstance(spec, list) else [spec] if spec else []
        calls = []
        for item in specs:
            args = item.get("arguments", "{}")
            if not isinstance(args, str):
                args = _dumps(args)
            calls.append(
                {
                    "id": item.get("id") or f"call_fake{uuid.uuid4().hex[:20]}",
                    "type": "function",
                    "function": {"name": item["name"], "arguments": args},
                }
            )
        return calls

    async def _chat(
        self,
        request: web.BaseRequest,
        body: dict[str, Any],
        status: int,
        extra_headers: dict[str, str],
    ) -> web.StreamResponse:
        model = body["model"]
        created = int(time.time())
        resp_id = f"chatcmpl-fake{uuid.uuid4().hex[:24]}"
        tool_calls: list[dict[str, Any]] = []
        if body.get("tools") and body.get("tool_choice") != "none":
            tool_calls = self._tool_calls()
        content = "" if tool_calls else self._content(body)
        usage = self._usage()

        if body.get("stream") is not True:
            message: dict[str, Any] = {"role": "assistant", "refusal": None}
            if tool_calls:
                message["content"] = None
                message["tool_calls"] = tool_calls
            else:
                message["content"] = content
            n = body.get("n") or 1
            n = n if isinstance(n, int) and 1 <= n <= 128 else 1
            payload = {
                "id": resp_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": i,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "tool_calls" if tool_calls else "stop",
                    }
                    for i in range(n)
                ],
                "usage": usage,
                "system_fingerprint": "fp_fake",
            }
            return _json_response(status, payload, extra_headers)

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            obj: dict[str, Any] = {
                "id": resp_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                obj["usage"] = None
            return obj

        events: list[dict[str, Any]] = []
        if tool_calls:
            first_calls = [
                {
                    "index": i,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""},
                }
                for i, call in enumerate(tool_calls)
            ]
            events.append(chunk({"role": "assistant", "content": None, "tool_calls": first_calls}))
            for i, call in enumerate(tool_calls):
                for piece in _split_pieces(call["function"]["arguments"]):
                    events.append(
                        chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
                    )
            events.append(chunk({}, "tool_calls"))
        else:
            events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
            events.extend(chunk({"content": word}) for word in split_words(content))
            events.append(chunk({}, "stop"))
        if include_usage:
            events.append(
                {
                    "id": resp_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [],
                    "usage": usage,
                }
            )
        return await self._stream_events(request, events, status, extra_headers)

    async def _completions(
        self,
        request: web.BaseRequest,
        body: dict[str, Any],
        status: int,
        extra_headers: dict[str, str],
    ) -> web.StreamResponse:
        model = body["model"]
        created = int(time.time())
        resp_id = f"cmpl-fake{uuid.uuid4().hex[:24]}"
        content = self._content(body)
        usage = self._usage()

        if body.get("stream") is not True:
            payload = {
                "id": resp_id,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [
                    {"text": content, "index": 0, "logprobs": None, "finish_reason": "stop"}
                ],
                "usage": usage,
                "system_fingerprint": "fp_fake",
            }
            return _json_response(status, payload, extra_headers)

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
            obj: dict[str, Any] = {
                "id": resp_id,
                "object": "text_completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                obj["usage"] = None
            return obj

        events = [chunk(word) for word in split_words(content)]
        events.append(chunk("", "stop"))
        if include_usage:
            events.append(
                {
                    "id": resp_id,
                    "object": "text_completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [],
                    "usage": usage,
                }
            )
        return await self._stream_events(request, events, status, extra_headers)

    def _embeddings(
        self, body: dict[str, Any], status: int, extra_headers: dict[str, str]
    ) -> web.StreamResponse:
        raw_input = body["input"]
        items: list[Any]
        if (
            isinstance(raw_input, list)
            and raw_input
            and not all(isinstance(x, int) for x in raw_input)
        ):
            items = raw_input
        else:
            items = [raw_input]  # a string, or a single token array
        dims = body.get("dimensions")
        dim = dims if isinstance(dims, int) and dims > 0 else self.embedding_dim
        as_base64 = body.get("encoding_format") == "base64"

        data = []
        tokens = 0
        for index, item in enumerate(items):
            if isinstance(item, str):
                text = item
                tokens += len(item.split())
            else:  # token array
                text = _dumps(item)
                tokens += len(item) if isinstance(item, list) else 1
            vec = fake_embedding(text, dim)
            embedding: Any = vec
            if as_base64:
                embedding = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        payload = {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return _json_response(status, payload, extra_headers)

    def _models(self, path: str, status: int, extra_headers: dict[str, str]) -> web.StreamResponse:
        created = 1_700_000_000
        match = _MODEL_PATH_RE.search(path)
        if match and not path.endswith("/models"):
            model_id = match.group(1)
            obj = {"id": model_id, "object": "model", "created": created, "owned_by": "fake"}
            return _json_response(status, obj, extra_headers)
        data = [
            {"id": m, "object": "model", "created": created, "owned_by": "fake"}
            for m in self.models
        ]
        return _json_response(status, {"object": "list", "data": data}, extra_headers)

    async def _stream_events(
        self,
        request: web.BaseRequest,
        events: list[dict[str, Any]],
        status: int,
        extra_headers: dict[str, str],
    ) -> web.StreamResponse:
        resp = _sse_response(status, extra_headers)
        await resp.prepare(request)
        delay = self.default_chunk_delay
        for i, event in enumerate(events):
            if i and delay > 0:
                await asyncio.sleep(delay)
            await resp.write(f"data: {_dumps(event)}\n\n".encode())
        await resp.write(f"{_DONE_LINE}\n\n".encode())
        await resp.write_eof()
        return resp


def _split_pieces(text: str) -> list[str]:
    """Split tool-call arguments into 2-3 pieces, as OpenAI streams them."""
    if not text:
        return []
    k = min(3, len(text))
    cuts = [len(text) * i // k for i in range(k + 1)]
    return [text[cuts[i] : cuts[i + 1]] for i in range(k)]


def _request_id_header() -> dict[str, str]:
    return {"x-request-id": f"req_fake{uuid.uuid4().hex[:24]}"}


def _response(
    status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> web.Response:
    hdrs = _request_id_header()
    extra = dict(headers or {})
    if not any(k.lower() == "content-type" for k in extra):
        hdrs["Content-Type"] = content_type
    hdrs.update(extra)
    return web.Response(status=status, body=body, headers=hdrs)


def _json_response(
    status: int, payload: Any, headers: dict[str, str] | None = None
) -> web.Response:
    return _response(status, _dumps(payload).encode(), _JSON_CONTENT_TYPE, headers)


def _sse_response(status: int, headers: dict[str, str] | None = None) -> web.StreamResponse:
    hdrs = _request_id_header()
    extra = dict(headers or {})
    if not any(k.lower() == "content-type" for k in extra):
        hdrs["Content-Type"] = _SSE_CONTENT_TYPE
    hdrs["Cache-Control"] = "no-cache"
    hdrs.update(extra)
    return web.StreamResponse(status=status, headers=hdrs)
