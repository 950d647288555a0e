"""A fake Anthropic Messages API upstream speaking the real wire format over real HTTP.

It shares :class:`~fakes.openai_server.FakeOpenAI`'s machinery (aiohttp server on its own
loop in a daemon thread, ``127.0.0.1`` and an OS-chosen port, recorded requests, scripted
replies, connection counting) and answers ``POST /v1/messages`` like Anthropic::

    with FakeAnthropic() as srv:
        srv.enqueue(Reply.rate_limited(retry_after="0"))
        ...  # first request gets the 429, later ones the default reply
        assert srv.last.headers["anthropic-version"] == "2023-06-01"

Requests are checked as the real API checks them: ``x-api-key`` and ``anthropic-version``
headers, ``model``/``max_tokens``/``messages`` present, only ``user``/``assistant`` roles,
no empty text blocks, every ``tool_result`` answering a ``tool_use`` of the turn before.
Failures get Anthropic's error body ``{"type": "error", "error": {"type", "message"}}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json as _json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .openai_server import FakeOpenAI, Recorded, split_words
from .openai_server import Reply as OpenAIReply

__all__ = ["FakeAnthropic", "Recorded", "Reply", "error_body", "error_event", "message",
           "stream_events"]

_JSON = "application/json"


def _dumps(obj: Any) -> str:
    return _json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def error_body(type: str, message: str) -> dict[str, Any]:
    """Anthropic's error JSON."""
    return {"type": "error", "error": {"type": type, "message": message}}


def error_event(type: str, message: str) -> dict[str, Any]:
    """An ``error`` event as sent in the middle of a stream."""
    return error_body(type, message)


def message(content: list[dict[str, Any]], *, model: str = "claude-3-5-sonnet-20241022",
            stop_reason: str = "end_turn", stop_sequence: str | None = None,
            usage: dict[str, Any] | None = None, id: str | None = None) -> dict[str, Any]:
    """A complete ``/v1/messages`` reply body. Like the real API, its usage splits the cache
    writes by TTL in ``cache_creation`` (all 5-minute unless ``usage`` gives the split)."""
    counts: dict[str, Any] = {"input_tokens": 10, "output_tokens": 5,
                              "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                              **(usage or {})}
    counts.setdefault("cache_creation", {
        "ephemeral_5m_input_tokens": counts["cache_creation_input_tokens"],
        "ephemeral_1h_input_tokens": 0})
    counts.setdefault("service_tier", "standard")
    return {
        "id": id or f"msg_fake{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": counts,
    }


def _pieces(text: str, k: int = 3) -> list[str]:
    if not text:
        return []
    k = min(k, len(text))
    cuts = [len(text) * i // k for i in range(k + 1)]
    return [text[cuts[i]:cuts[i + 1]] for i in range(k)]


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    deltas: list[dict[str, Any]]
    if kind == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": w} for w in split_words(block["text"])]
    elif kind == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": ""}]  # as the real API does
        deltas += [{"type": "input_json_delta", "partial_json": p}
                   for p in _pieces(_dumps(block.get("input") or {}))]
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": ""}
        deltas = [{"type": "thinking_delta", "thinking": w}
                  for w in split_words(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block.get("signature", "")})
    else:
        start, deltas = block, []
    return ([{"type": "content_block_start", "index": index, "content_block": start}]
            + [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
            + [{"type": "content_block_stop", "index": index}])


def stream_events(msg: dict[str, Any], *, ping: bool = True) -> list[dict[str, Any]]:
    """The SSE events Anthropic sends for the reply ``msg`` (see :func:`message`)."""
    usage = dict(msg["usage"])
    start = dict(msg, content=[], stop_reason=None, stop_sequence=None,
                 usage={**usage, "output_tokens": 1})
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    if ping:
        events.append({"type": "ping"})
    for i, block in enumerate(msg["content"]):
        events += _block_events(i, block)
    events.append({"type": "message_delta",
                   "delta": {"stop_reason": msg["stop_reason"],
                             "stop_sequence": msg["stop_sequence"]},
                   "usage": {"output_tokens": usage["output_tokens"]}})
    events.append({"type": "message_stop"})
    return events


@dataclass
class Reply:
    """A scripted reply, consumed by the next request.

    Set one of ``json`` / ``body`` / ``events``; with none the default reply for the request
    is sent (``status`` and ``headers`` applied). ``events`` are SSE events: dicts go out as
    ``event: <type>`` + ``data: <json>``, strings verbatim, ``chunk_delay`` seconds apart.
    ``truncate`` drops the connection after the events, mid-body. ``cut_before`` streams the
    default reply but drops the connection before its first event of that type.
    """

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    events: list[Any] | None = None
    truncate: bool = False
    chunk_delay: float = 0.0
    cut_before: str | None = None

    @classmethod
    def error(cls, status: int, type: str, message: str,
              headers: dict[str, str] | None = None) -> Reply:
        return cls(status=status, json=error_body(type, message), headers=dict(headers or {}))

    @classmethod
    def overloaded(cls) -> Reply:
        return cls.error(529, "overloaded_error", "Overloaded")

    @classmethod
    def rate_limited(cls, retry_after: str = "0") -> Reply:
        return cls.error(429, "rate_limit_error",
                         "Number of request tokens has exceeded your per-minute rate limit",
                         {"retry-after": retry_after})

    @classmethod
    def unauthorized(cls) -> Reply:
        return cls.error(401, "authentication_error", "invalid x-api-key")

    @classmethod
    def prompt_too_long(cls) -> Reply:
        return cls.error(400, "invalid_request_error",
                         "prompt is too long: 212345 tokens > 200000 maximum")

    @classmethod
    def sse(cls, events: list[Any], *, truncate: bool = False, chunk_delay: float = 0.0,
            headers: dict[str, str] | None = None) -> Reply:
        return cls(events=list(events), truncate=truncate, chunk_delay=chunk_delay,
                   headers=dict(headers or {}))


def _check_messages(messages: Any, system_ok: bool = False) -> str | None:
    """What the real API would reject in ``messages``, or None (``system_ok``: the
    ``mid-conversation-system`` beta is on, so ``system`` turns are allowed)."""
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    prev_tools: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant") and not (system_ok and role == "system"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        content = m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            return f"messages.{i}: all messages must have non-empty content"
        uses: set[str] = set()
        for j, b in enumerate(blocks):
            if not isinstance(b, dict) or "type" not in b:
                return f"messages.{i}.content.{j}: content blocks need a type"
            if b["type"] == "text" and not b.get("text"):
                return f"messages.{i}.content.{j}.text: text content blocks must be non-empty"
            if b["type"] == "tool_use":
                uses.add(b.get("id", ""))
            if b["type"] == "tool_result" and b.get("tool_use_id") not in prev_tools:
                return (f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        "`tool_result` blocks: each tool_result must answer a tool_use of "
                        "the previous message")
        prev_tools = uses
    return None


class FakeAnthropic(FakeOpenAI):
    """Fake Anthropic server on ``127.0.0.1:<random port>``; pass ``api_base=srv.base``.

    Configuration (may change at any time): ``default_content`` (str or callable of the
    request body), ``default_usage`` (Anthropic usage fields), ``tool_use`` (None, a dict
    ``{"name", "input"}`` or a list of them, used when the request has tools and
    ``tool_choice`` is not ``none``; a forced tool is always called), ``thinking`` (text of
    a thinking block added when the request enables thinking), ``require_api_key``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        super().__init__(host, port, **kwargs)
        self.default_content = "Hello from fake Claude"
        self.default_usage: dict[str, Any] = {
            "input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0}
        self.tool_use: dict[str, Any] | list[dict[str, Any]] | None = None
        self.thinking: str | None = None

    @property
    def url(self) -> str:
        """Same as :attr:`base`: Anthropic clients append ``/v1/messages`` themselves."""
        return self.base

    def configure_defaults(self) -> None:
        """Back to the default reply configuration (does not touch records or the queue)."""
        self.default_content = "Hello from fake Claude"
        self.default_usage = {"input_tokens": 10, "output_tokens": 5,
                              "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        self.tool_use = None
        self.thinking = None
        self.require_api_key = None

    # ---- replies ----------------------------------------------------------------------------
    async def _scripted(self, request: web.BaseRequest, rec: Recorded,
                        reply: Any) -> web.StreamResponse:
        if isinstance(reply, OpenAIReply):
            return await super()._scripted(request, rec, reply)
        if reply.delay > 0:
            await asyncio.sleep(reply.delay)
        if reply.events is not None:
            return await self._write_events(request, reply.events, reply.status, reply.headers,
                                            reply.truncate, reply.chunk_delay)
        if reply.body is not None:
            return _response(reply.status, reply.body, "text/plain", reply.headers)
        if reply.json is not None:
            return _response(reply.status, _dumps(reply.json).encode(), _JSON, reply.headers)
        if reply.status >= 400:
            body = error_body("api_error", f"Fake upstream error {reply.status}")
            return _response(reply.status, _dumps(body).encode(), _JSON, reply.headers)
        return await self._default(request, rec, False, reply.status, reply.headers,
                                   cut_before=reply.cut_before)

    def _refuse(self, rec: Recorded, parse_error: bool) -> web.Response | None:
        """The error reply for a request the real API would refuse, or None."""
        def err(status: int, kind: str, msg: str) -> web.Response:
            return _response(status, _dumps(error_body(kind, msg)).encode(), _JSON)

        path = rec.path.rstrip("/")
        if not path.endswith("/v1/messages") and not path.endswith("/v1/messages/count_tokens"):
            return err(404, "not_found_error", f"Not found: {rec.method} {rec.path}")
        if rec.method.upper() != "POST":
            return err(405, "invalid_request_error", f"Method {rec.method} not allowed")
        key = rec.headers.get("x-api-key")
        if not key or (self.require_api_key is not None and key != self.require_api_key):
            return err(401, "authentication_error", "invalid x-api-key")
        if not rec.headers.get("anthropic-version"):
            return err(400, "invalid_request_error", "anthropic-version: header is required")
        body = rec.body
        if parse_error or body is None:
            return err(400, "invalid_request_error", "There was an error parsing the body")
        if not body.get("model"):
            return err(400, "invalid_request_error", "model: Field required")
        counting = path.endswith("/count_tokens")
        if counting and "max_tokens" in body:
            return err(400, "invalid_request_error", "max_tokens: Extra inputs are not permitted")
        if not counting and (not isinstance(body.get("max_tokens"), int)
                             or body["max_tokens"] < 1):
            return err(400, "invalid_request_error", "max_tokens: Field required")
        beta = rec.headers.get("anthropic-beta") or ""
        problem = _check_messages(body.get("messages"), "mid-conversation-system" in beta)
        return err(400, "invalid_request_error", problem) if problem else None

    async def _default(self, request: web.BaseRequest, rec: Recorded, parse_error: bool,
                       status: int, extra_headers: dict[str, str], *,
                       cut_before: str | None = None) -> web.StreamResponse:
        refused = self._refuse(rec, parse_error)
        if refused is not None:
            return refused
        body = rec.body or {}
        if rec.path.rstrip("/").endswith("/count_tokens"):  # one word of text = one token
            return _response(status, _dumps({"input_tokens": _count(body)}).encode(), _JSON)
        msg = self._message(body)
        if body.get("stream") is not True:
            return _response(status, _dumps(msg).encode(), _JSON, extra_headers)
        events = stream_events(msg)
        truncate = False
        if cut_before is not None:
            types = [e["type"] for e in events]
            if cut_before in types:
                events, truncate = events[:types.index(cut_before)], True
        return await self._write_events(request, events, status, extra_headers, truncate,
                                        self.default_chunk_delay)

    # ---- the default reply ------------------------------------------------------------------
    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") == "enabled" and self.thinking:
            sig = hashlib.sha256(self.thinking.encode()).hexdigest()[:32]
            content.append({"type": "thinking", "thinking": self.thinking, "signature": sig})
        uses = self._tool_uses(body)
        stop_reason, stop_sequence = "tool_use", None
        if uses:
            content += uses
        else:
            text = self.default_content
            text = text(body) if callable(text) else str(text)
            text, stop_reason, stop_sequence = _limit(text, body)
            content.append({"type": "text", "text": text})
        return message(content, model=body["model"], stop_reason=stop_reason,
                       stop_sequence=stop_sequence, usage=dict(self.default_usage))

    def _tool_uses(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and "name" in t]
        choice = body.get("tool_choice") or {"type": "auto"}
        if not tools or choice.get("type") == "none":
            return []
        spec = self.tool_use
        specs = spec if isinstance(spec, list) else [spec] if spec else []
        if choice.get("type") == "tool":
            forced = [s for s in specs if s.get("name") == choice.get("name")]
            specs = forced or [{"name": choice.get("name"), "input": {}}]
        elif choice.get("type") == "any" and not specs:
            specs = [{"name": tools[0]["name"], "input": {}}]
        return [{"type": "tool_use", "id": s.get("id") or f"toolu_fake{uuid.uuid4().hex[:16]}",
                 "name": s["name"], "input": s.get("input") or {}} for s in specs]

    async def _write_events(self, request: web.BaseRequest, events: list[Any], status: int,
                            headers: dict[str, str], truncate: bool,
                            delay: float) -> web.StreamResponse:
        hdrs = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
                "request-id": f"req_fake{uuid.uuid4().hex[:20]}", **headers}
        resp = web.StreamResponse(status=status, headers=hdrs)
        await resp.prepare(request)
        for i, ev in enumerate(events):
            if i and delay > 0:
                await asyncio.sleep(delay)
            text = ev if isinstance(ev, str) else f"event: {ev['type']}\ndata: {_dumps(ev)}"
            await resp.write((text + "\n\n").encode())
        if truncate:
            transport = request.transport
            if transport is not None:  # no terminating chunk: the client sees a cut body
                transport.close()
            return resp
        await resp.write_eof()
        return resp


def _count(body: dict[str, Any]) -> int:
    """The fake's token count of a request: words of every text, plus 8 per tool."""
    def words(value: Any) -> int:
        if isinstance(value, str):
            return len(value.split())
        if isinstance(value, list):
            return sum(words(v) for v in value)
        if isinstance(value, dict):
            return sum(words(v) for k, v in value.items() if k in ("text", "content"))
        return 0
    return (words(body.get("system")) + words(body.get("messages"))
            + 8 * len(body.get("tools") or []))


def _limit(text: str, body: dict[str, Any]) -> tuple[str, str, str | None]:
    """Apply ``stop_sequences`` and ``max_tokens`` (one word = one token) to ``text``."""
    for seq in body.get("stop_sequences") or []:
        at = text.find(seq)
        if at >= 0:
            return text[:at], "stop_sequence", seq
    words = split_words(text)
    if len(words) > body["max_tokens"]:
        return "".join(words[:body["max_tokens"]]), "max_tokens", None
    return text, "end_turn", None


def _response(status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> web.Response:
    hdrs = {"Content-Type": content_type, "request-id": f"req_fake{uuid.uuid4().hex[:20]}"}
    hdrs.update(headers or {})
    return web.Response(status=status, body=body, headers=hdrs)
