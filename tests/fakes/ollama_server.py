"""A fake Ollama server speaking its native API over real HTTP.

Built on :class:`~fakes.openai_server.FakeOpenAI` (same thread, recording and scripting
machinery), with Ollama's routes::

    POST /api/chat     streams NDJSON unless the body says "stream": false (as Ollama does)
    POST /api/embed    {"model", "input": str | [str], "dimensions"?}
    GET  /api/tags     the pulled models

Like the real server it answers an unknown model with ``404 {"error": "model ... not
found"}``, refuses message content that is not a string and tool-call arguments that are
not objects, and honours ``options.num_predict`` (one word = one token, ``done_reason:
"length"``)::

    with FakeOllama() as srv:
        srv.enqueue(ollama_error(500, "boom"))
        srv.enqueue(ollama_ndjson([{...}, {...}], truncate=True))
"""

from __future__ import annotations

import asyncio
import json as _json
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from fakes.openai_server import FakeOpenAI, Recorded, Reply, fake_embedding, split_words

__all__ = ["FakeOllama", "ollama_error", "ollama_ndjson"]


def _dumps(obj: Any) -> str:
    return _json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def ollama_error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    """A scripted Ollama error: ``{"error": "<message>"}`` with ``status``."""
    return Reply(status=status, json={"error": message}, headers=dict(headers or {}))


def ollama_ndjson(objects: Iterable[Any], *, truncate: bool = False,
                  chunk_delay: float = 0.0) -> Reply:
    """A scripted NDJSON stream: dicts are sent as one JSON line each, strings verbatim."""
    lines = [o if isinstance(o, str) else _dumps(o) for o in objects]
    return Reply(stream_lines=lines, truncate=truncate, chunk_delay=chunk_delay, done=False)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class _Invalid(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise _Invalid("messages must be a list")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant",
                                                            "tool"):
            raise _Invalid(f"invalid role in message {i}")
        if not isinstance(m.get("content", ""), str):
            raise _Invalid("json: cannot unmarshal array into Go struct field "
                           "Message.messages.content of type string")
        for tc in m.get("tool_calls") or ():
            if not isinstance((tc.get("function") or {}).get("arguments"), dict):
                raise _Invalid("json: cannot unmarshal string into Go struct field "
                               "ToolCallFunction.messages.tool_calls.function.arguments of "
                               "type api.ToolCallFunctionArguments")
        if not all(isinstance(img, str) for img in m.get("images") or ()):
            raise _Invalid("images must be base64 strings")


class FakeOllama(FakeOpenAI):
    """Fake Ollama on ``127.0.0.1:<random port>``; see the module docstring.

    Attributes: ``models`` (pulled model names; ``name`` and ``name:latest`` both match),
    ``default_content`` (str or ``body -> str``), ``thinking`` (text of ``message.thinking``
    or None), ``tool_call`` (dict ``{"name", "arguments": {...}}`` or a list; used when the
    request has ``tools``), ``counts`` (``prompt_eval_count``/``eval_count``),
    ``embedding_dim``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.models = ["llama3.2", "nomic-embed-text", "qwen3"]
        self.default_content: str | Callable[[dict[str, Any]], str] = "Hello from Ollama"
        self.thinking: str | None = None
        self.tool_call: dict[str, Any] | list[dict[str, Any]] | None = None
        self.counts: dict[str, int] = {"prompt_eval_count": 10, "eval_count": 5}

    @property
    def url(self) -> str:
        """The ``api_base`` to give llmrelay."""
        return self.base

    async def _scripted(self, request: web.BaseRequest, rec: Recorded,
                        reply: Reply) -> web.StreamResponse:
        if (reply.status >= 400 and reply.json is None and reply.body is None
                and reply.stream_lines is None):
            return _error(reply.status, f"fake error {reply.status}")
        return await super()._scripted(request, rec, reply)

    async def _stream_raw(self, request: web.BaseRequest, reply: Reply) -> web.StreamResponse:
        """NDJSON: one line per object, no SSE framing and no ``[DONE]``."""
        resp = web.StreamResponse(status=reply.status, headers={
            "Content-Type": "application/x-ndjson", **reply.headers})
        await resp.prepare(request)
        for i, line in enumerate(reply.stream_lines or ()):
            if i and reply.chunk_delay > 0:
                await asyncio.sleep(reply.chunk_delay)
            await resp.write((line + "\n").encode())
        if reply.truncate:
            if request.transport is not None:
                request.transport.close()
            return resp
        await resp.write_eof()
        return resp

    def _known(self, model: Any) -> bool:
        name = str(model)
        return name in self.models or name.removesuffix(":latest") in self.models

    async def _default(self, request: web.BaseRequest, rec: Recorded, parse_error: bool,
                       status: int, extra_headers: dict[str, str]) -> web.StreamResponse:
        path, method = rec.path.rstrip("/"), rec.method.upper()
        if path == "/api/tags" and method == "GET":
            return web.json_response({"models": [{"name": f"{m}:latest", "model": f"{m}:latest"}
                                                 for m in self.models]})
        if path not in ("/api/chat", "/api/embed") or method != "POST":
            return web.Response(status=404, text="404 page not found")
        if parse_error or rec.body is None:
            return _error(400, "invalid character 'x' looking for beginning of value")
        body = rec.body
        if not body.get("model"):
            return _error(400, "model is required")
        if not self._known(body["model"]):
            return _error(404, f'model "{body["model"]}" not found, try pulling it first')
        try:
            if path == "/api/embed":
                return web.json_response(self._embed(body), status=status,
                                         headers=extra_headers)
            _check_messages(body.get("messages"))
            if not isinstance(body.get("options", {}), dict):
                raise _Invalid("options must be an object")
        except _Invalid as exc:
            return _error(exc.status, str(exc))
        lines = self._chat_lines(body)
        if body.get("stream", True) is False:
            return web.json_response(self._merge(lines), status=status, headers=extra_headers)
        return await self._stream_raw(request, Reply(
            status=status, stream_lines=[_dumps(x) for x in lines], headers=extra_headers,
            chunk_delay=self.default_chunk_delay))

    def _chat_lines(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        model = body["model"]
        base = {"model": model}
        lines: list[dict[str, Any]] = []
        done_reason = "stop"
        if body.get("tools") and self.tool_call:
            specs = self.tool_call if isinstance(self.tool_call, list) else [self.tool_call]
            calls = [{"function": {"name": s["name"], "arguments": s.get("arguments", {})}}
                     for s in specs]
            lines.append({**base, "created_at": _now(), "message": {
                "role": "assistant", "content": "", "tool_calls": calls}, "done": False})
        else:
            content = self.default_content
            words = split_words(content(body) if callable(content) else str(content))
            limit = (body.get("options") or {}).get("num_predict")
            if isinstance(limit, int) and 0 <= limit < len(words):
                words, done_reason = words[:limit], "length"
            if self.thinking:
                lines.append({**base, "created_at": _now(), "message": {
                    "role": "assistant", "content": "", "thinking": self.thinking},
                    "done": False})
            lines.extend({**base, "created_at": _now(), "message": {
                "role": "assistant", "content": w}, "done": False} for w in words)
        lines.append({**base, "created_at": _now(),
                      "message": {"role": "assistant", "content": ""}, "done": True,
                      "done_reason": done_reason, "total_duration": 123456,
                      "load_duration": 1000, "prompt_eval_duration": 2000,
                      "eval_duration": 3000, **self.counts})
        return lines

    @staticmethod
    def _merge(lines: list[dict[str, Any]]) -> dict[str, Any]:
        final = dict(lines[-1])
        message: dict[str, Any] = {"role": "assistant", "content": ""}
        for line in lines:
            part = line["message"]
            message["content"] += part.get("content", "")
            if part.get("thinking"):
                message["thinking"] = message.get("thinking", "") + part["thinking"]
            if part.get("tool_calls"):
                message.setdefault("tool_calls", []).extend(part["tool_calls"])
        final["message"] = message
        return final

    def _embed(self, body: dict[str, Any]) -> dict[str, Any]:
        raw = body.get("input")
        items = raw if isinstance(raw, list) else [raw]
        if not items or not all(isinstance(x, str) for x in items):
            raise _Invalid("invalid input type")
        dim = int(body.get("dimensions") or self.embedding_dim)
        return {"model": body["model"],
                "embeddings": [fake_embedding(x, dim) for x in items],
                "total_duration": 1000, "load_duration": 100,
                "prompt_eval_count": sum(len(x.split()) for x in items)}
