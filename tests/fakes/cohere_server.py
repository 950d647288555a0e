"""A fake Cohere v2 API speaking the real wire format over real HTTP.

Built on :class:`~fakes.openai_server.FakeOpenAI`. Routes::

    POST /v2/chat     JSON, or with "stream": true SSE events ("event: <type>" + data)
    POST /v2/embed    {"embeddings": {"<type>": [[...]]}, "meta": {"billed_units"}}
    POST /v2/rerank   {"results": [{"index", "relevance_score"}], ...}

Like Cohere it wants ``Authorization: Bearer <key>`` (checked when ``require_api_key`` is
set: 401 ``{"message": "invalid api token"}``), refuses unknown message fields and roles,
requires ``input_type`` for embeddings, and when ``documents`` are given answers with
citations over the part of the text that quotes them. Errors are ``{"id", "message"}``.
"""

from __future__ import annotations

import json as _json
import uuid
from typing import Any

from aiohttp import web

from fakes.openai_server import FakeOpenAI, Recorded, fake_embedding, split_words

__all__ = ["FakeCohere", "cohere_error_reply"]

_TOP = frozenset({"model", "messages", "tools", "documents", "citation_options",
                  "response_format", "safety_mode", "max_tokens", "stop_sequences",
                  "temperature", "seed", "frequency_penalty", "presence_penalty", "k", "p",
                  "logprobs", "tool_choice", "strict_tools", "stream", "thinking"})
_FIELDS = {"system": {"role", "content"}, "user": {"role", "content"},
           "assistant": {"role", "content", "tool_calls", "tool_plan", "citations"},
           "tool": {"role", "content", "tool_call_id"}}


def cohere_error_reply(status: int, message: str) -> web.Response:
    return web.json_response({"id": str(uuid.uuid4()), "message": message}, status=status)


class FakeCohere(FakeOpenAI):
    """Attributes: ``default_content``, ``tool_call`` (``{"name", "arguments"}``),
    ``tool_plan``, ``usage`` (``{"input_tokens", "output_tokens"}``), ``require_api_key``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default_content = "Hello from Cohere"
        self.tool_call: dict[str, Any] | None = None
        self.tool_plan = "I will call the tool."
        self.usage = {"input_tokens": 10, "output_tokens": 5}

    @property
    def url(self) -> str:
        return self.base

    async def _default(self, request: web.BaseRequest, rec: Recorded, parse_error: bool,
                       status: int, extra_headers: dict[str, str]) -> web.StreamResponse:
        if self.require_api_key is not None and \
                rec.headers.get("authorization") != f"Bearer {self.require_api_key}":
            return cohere_error_reply(401, "invalid api token")
        if parse_error or rec.body is None:
            return cohere_error_reply(400, "invalid request: body is not valid JSON")
        body = rec.body
        if rec.path == "/v2/embed":
            return self._embed(body)
        if rec.path == "/v2/rerank":
            return self._rerank(body)
        if rec.path != "/v2/chat":
            return cohere_error_reply(404, f"no route {rec.path}")
        problem = self._validate(body)
        if problem:
            return cohere_error_reply(400, problem)
        message, finish = self._answer(body)
        usage = {"billed_units": dict(self.usage), "tokens": dict(self.usage)}
        rid = str(uuid.uuid4())
        if not body.get("stream"):
            return web.json_response({"id": rid, "message": message, "finish_reason": finish,
                                      "usage": usage})
        return await self._stream(request, rid, message, finish, usage)

    @staticmethod
    def _validate(body: dict[str, Any]) -> str | None:
        unknown = set(body) - _TOP
        if unknown:
            return f"invalid request: unknown field: parameter {sorted(unknown)[0]} is not a " \
                   "valid field"
        for i, m in enumerate(body.get("messages") or ()):
            allowed = _FIELDS.get(m.get("role"))
            if allowed is None:
                return f"invalid request: messages[{i}].role must be one of system, user, " \
                       "assistant, tool"
            extra = set(m) - allowed
            if extra:
                return f"invalid request: messages[{i}]: unknown field {sorted(extra)[0]}"
        if not body.get("messages"):
            return "invalid request: messages must not be empty"
        if len(_json.dumps(body["messages"])) > 20_000:
            return "too many tokens: total number of tokens in the prompt cannot exceed 4081"
        return None

    def _answer(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if self.tool_call and body.get("tools") and body.get("tool_choice") != "NONE":
            args = self.tool_call.get("arguments", {})
            return {"role": "assistant", "tool_plan": self.tool_plan, "tool_calls": [{
                "id": "call_" + uuid.uuid4().hex[:10], "type": "function",
                "function": {"name": self.tool_call["name"],
                             "arguments": args if isinstance(args, str)
                             else _json.dumps(args)}}]}, "TOOL_CALL"
        text = self.default_content
        message: dict[str, Any] = {"role": "assistant", "content": [{"type": "text",
                                                                      "text": text}]}
        docs = body.get("documents") or []
        if docs:
            doc = docs[0] if isinstance(docs[0], dict) else {"data": {"text": docs[0]}}
            data = doc.get("data") or {}
            message["citations"] = [{"start": 0, "end": len(text.split()[0]),
                                     "text": text.split()[0], "type": "TEXT_CONTENT",
                                     "sources": [{"type": "document", "id": doc.get("id", "doc:0"),
                                                  "document": data}]}]
        finish = "COMPLETE"
        limit = body.get("max_tokens")
        words = split_words(text)
        if isinstance(limit, int) and limit < len(words):
            message["content"][0]["text"] = "".join(words[:limit])
            finish = "MAX_TOKENS"
        return message, finish

    async def _stream(self, request: web.BaseRequest, rid: str, message: dict[str, Any],
                      finish: str, usage: dict[str, Any]) -> web.StreamResponse:
        events: list[dict[str, Any]] = [{"type": "message-start", "id": rid, "delta": {
            "message": {"role": "assistant", "content": [], "tool_plan": "",
                        "tool_calls": [], "citations": []}}}]
        if message.get("tool_calls"):
            events.append({"type": "tool-plan-delta", "delta": {"message": {
                "tool_plan": message["tool_plan"]}}})
            for i, tc in enumerate(message["tool_calls"]):
                args = tc["function"]["arguments"]
                events.append({"type": "tool-call-start", "index": i, "delta": {"message": {
                    "tool_calls": {"id": tc["id"], "type": "function", "function": {
                        "name": tc["function"]["name"], "arguments": ""}}}}})
                for piece in (args[: len(args) // 2], args[len(args) // 2:]):
                    events.append({"type": "tool-call-delta", "index": i, "delta": {
                        "message": {"tool_calls": {"function": {"arguments": piece}}}}})
                events.append({"type": "tool-call-end", "index": i})
        else:
            events.append({"type": "content-start", "index": 0, "delta": {"message": {
                "content": {"type": "text", "text": ""}}}})
            for word in split_words(message["content"][0]["text"]):
                events.append({"type": "content-delta", "index": 0, "delta": {"message": {
                    "content": {"text": word}}}})
            events.append({"type": "content-end", "index": 0})
            for i, cite in enumerate(message.get("citations") or ()):
                events.append({"type": "citation-start", "index": i, "delta": {"message": {
                    "citations": cite}}})
                events.append({"type": "citation-end", "index": i})
        events.append({"type": "message-end", "delta": {"finish_reason": finish,
                                                        "usage": usage}})
        lines = [f"event: {e['type']}\ndata: {_json.dumps(e)}" for e in events]
        from fakes.openai_server import Reply

        return await self._stream_raw(request, Reply(stream_lines=lines, done=False))

    def _embed(self, body: dict[str, Any]) -> web.Response:
        texts = body.get("texts")
        if not body.get("input_type"):
            return cohere_error_reply(400, "invalid request: input_type is required for "
                                           "Embed models v3 and higher.")
        if not isinstance(texts, list) or not texts:
            return cohere_error_reply(400, "invalid request: texts must not be empty")
        dim = int(body.get("output_dimension") or self.embedding_dim)
        vecs = [fake_embedding(t, dim) for t in texts]
        kinds = body.get("embedding_types") or ["float"]
        tokens = sum(len(split_words(t)) for t in texts)
        return web.json_response({"id": str(uuid.uuid4()), "texts": texts,
                                  "embeddings": {k: vecs for k in kinds},
                                  "meta": {"billed_units": {"input_tokens": tokens}}})

    @staticmethod
    def _rerank(body: dict[str, Any]) -> web.Response:
        query, docs = body.get("query"), body.get("documents")
        if not isinstance(query, str) or not isinstance(docs, list):
            return cohere_error_reply(400, "invalid request: query and documents are required")
        words = set(query.lower().split())
        scored = sorted(((len(words & set(str(d).lower().split())) / (len(words) or 1), i)
                         for i, d in enumerate(docs)), reverse=True)
        top = scored[: int(body.get("top_n") or len(docs))]
        return web.json_response({"id": str(uuid.uuid4()), "results": [
            {"index": i, "relevance_score": round(s, 4)} for s, i in top],
            "meta": {"billed_units": {"search_units": 1}}})
