"""A fake Gemini (Google AI Studio) upstream speaking the real wire format over real HTTP.

Built on :class:`~fakes.openai_server.FakeOpenAI` (same thread, recording and scripting
machinery: ``.requests``, ``.last``, ``.enqueue(Reply(...))``, ``truncate``), with Gemini's
routes::

    POST /v1beta/models/<model>:generateContent
    POST /v1beta/models/<model>:streamGenerateContent?alt=sse   (a JSON array without alt=sse)
    POST /v1beta/models/<model>:batchEmbedContents

Like the real API it rejects unknown request fields (protobuf JSON), empty ``parts`` and
roles other than ``user``/``model``, honours ``maxOutputTokens`` (one word = one token,
``finishReason: MAX_TOKENS``) and ``candidateCount``, and answers a wrong key with
``400 INVALID_ARGUMENT / API_KEY_INVALID``::

    with FakeGemini() as srv:
        srv.enqueue(gemini_error(429, "Resource has been exhausted", "RESOURCE_EXHAUSTED"))
        srv.enqueue(gemini_sse([{...}], truncate=True))
"""

from __future__ import annotations

import json as _json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from fakes.openai_server import FakeOpenAI, Recorded, Reply, fake_embedding, split_words

__all__ = ["FakeGemini", "gemini_error", "gemini_sse"]

_ROUTE = re.compile(r"/(v1|v1beta)/models/([^/:]+):([A-Za-z]+)$")
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_TOP_FIELDS = frozenset({"contents", "systemInstruction", "tools", "toolConfig", "safetySettings",
                         "generationConfig", "cachedContent"})
_CONFIG_FIELDS = frozenset({
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
    "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed",
    "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs", "thinkingConfig",
    "responseModalities", "enableEnhancedCivicAnswers", "speechConfig", "mediaResolution"})
_PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse",
              "executableCode", "codeExecutionResult")


def _dumps(obj: Any) -> str:
    return _json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def error_body(status: int, message: str, status_name: str | None = None,
               reason: str | None = None, retry_delay: str | None = None) -> dict[str, Any]:
    """Google's error JSON; ``reason`` adds an ``ErrorInfo`` detail, ``retry_delay`` (like
    ``"23s"``) the ``QuotaFailure``/``Help``/``RetryInfo`` details of a quota 429."""
    err: dict[str, Any] = {"code": status, "message": message,
                           "status": status_name or _STATUS_NAMES.get(status, "UNKNOWN")}
    details: list[dict[str, Any]] = []
    if reason:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": reason, "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"}})
    if retry_delay is not None:
        details += [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/"
                               "generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"},
                "quotaValue": "15"}]},
            {"@type": "type.googleapis.com/google.rpc.Help", "links": [{
                "description": "Learn more about Gemini API quotas",
                "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ]
    if details:
        err["details"] = details
    return {"error": err}


def gemini_error(status: int, message: str, status_name: str | None = None,
                 reason: str | None = None, headers: dict[str, str] | None = None,
                 retry_delay: str | None = None) -> Reply:
    """A scripted Google-style error: ``{"error": {"code", "message", "status"}}``."""
    return Reply(status=status, json=error_body(status, message, status_name, reason,
                                                retry_delay),
                 headers=dict(headers or {}))


def gemini_sse(events: Iterable[Any], *, truncate: bool = False,
               chunk_delay: float = 0.0) -> Reply:
    """A scripted SSE stream of GenerateContentResponse dicts (no ``[DONE]``: Gemini sends
    none; the stream simply ends)."""
    return Reply.sse(events, truncate=truncate, chunk_delay=chunk_delay, done=False)


def _fail(status: int, message: str, reason: str | None = None) -> web.Response:
    return web.json_response(error_body(status, message, reason=reason), status=status)


class _Invalid(Exception):
    """A request the real API would refuse with 400 INVALID_ARGUMENT."""


def _check_parts(where: str, parts: Any) -> None:
    if not isinstance(parts, list) or not parts:
        raise _Invalid(f"* GenerateContentRequest.{where}.parts: contents.parts must not be "
                       "empty.")
    for j, part in enumerate(parts):
        kinds = [k for k in _PART_DATA if k in part] if isinstance(part, dict) else []
        if len(kinds) != 1:
            raise _Invalid(f"* GenerateContentRequest.{where}.parts[{j}].data: required "
                           "oneof field 'data' must have one initialized field")
        if "text" in part and not part["text"]:
            raise _Invalid(f"* GenerateContentRequest.{where}.parts[{j}].data: required "
                           "oneof field 'data' must have one initialized field")
        fr = part.get("functionResponse")
        if fr is not None and not (isinstance(fr, dict) and fr.get("name")
                                   and isinstance(fr.get("response"), dict)):
            raise _Invalid(f"* GenerateContentRequest.{where}.parts[{j}].function_response: "
                           "name and a response object are required")
        fc = part.get("functionCall")
        if fc is not None and not (isinstance(fc, dict) and fc.get("name")
                                   and isinstance(fc.get("args", {}), dict)):
            raise _Invalid(f"* GenerateContentRequest.{where}.parts[{j}].function_call: "
                           "name is required and args must be an object")


def check_generate(body: dict[str, Any]) -> None:
    """Raise :class:`_Invalid` for what Gemini would refuse in a generateContent body."""
    for key in body:
        if key not in _TOP_FIELDS:
            raise _Invalid(f'Invalid JSON payload received. Unknown name "{key}": Cannot '
                           "find field.")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _Invalid("* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role") not in ("user", "model"):
            raise _Invalid(f"Please use a valid role: user, model. (contents[{i}])")
        _check_parts(f"contents[{i}]", content.get("parts"))
    if "systemInstruction" in body:
        _check_parts("system_instruction", (body["systemInstruction"] or {}).get("parts"))
    config = body.get("generationConfig") or {}
    for key in config:
        if key not in _CONFIG_FIELDS:
            raise _Invalid(f'Invalid JSON payload received. Unknown name "{key}" at '
                           "'generation_config': Cannot find field.")
    for tool in body.get("tools") or ():
        for decl in tool.get("functionDeclarations") or ():
            params = decl.get("parameters") or {}
            if "additionalProperties" in _dumps(params):
                raise _Invalid('Invalid JSON payload received. Unknown name '
                               '"additionalProperties" at \'tools[0].function_declarations'
                               "[0].parameters': Cannot find field.")


class FakeGemini(FakeOpenAI):
    """Fake Gemini API on ``127.0.0.1:<random port>``; see the module docstring.

    Attributes (changeable at any time): ``default_content`` (str or ``body -> str``),
    ``thought`` (text of a leading ``thought: true`` part, or None), ``tool_call`` (dict
    ``{"name", "args"}`` or a list of them; used when the request has function declarations
    and the mode is not NONE), ``usage`` (the ``usageMetadata`` of a reply; the stream sends
    ``promptTokenCount`` on every event and the whole dict on the last), ``finish_reason``,
    ``block_reason`` (when set the prompt is refused with ``promptFeedback``),
    ``require_api_key``, ``embedding_dim``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default_content: str | Callable[[dict[str, Any]], str] = "Hello from Gemini"
        self.thought: str | None = None
        self.tool_call: dict[str, Any] | list[dict[str, Any]] | None = None
        self.usage: dict[str, Any] = {"promptTokenCount": 10, "candidatesTokenCount": 5,
                                      "totalTokenCount": 15}
        self.finish_reason = "STOP"
        self.block_reason: str | None = None

    @property
    def url(self) -> str:
        """The ``api_base`` to give llmrelay (no version: the client adds ``/v1beta``)."""
        return self.base

    async def _scripted(self, request: web.BaseRequest, rec: Recorded,
                        reply: Reply) -> web.StreamResponse:
        if (reply.status >= 400 and reply.json is None and reply.body is None
                and reply.stream_lines is None):
            return web.json_response(error_body(reply.status, f"Fake error {reply.status}"),
                                     status=reply.status, headers=reply.headers)
        return await super()._scripted(request, rec, reply)

    async def _default(self, request: web.BaseRequest, rec: Recorded, parse_error: bool,
                       status: int, extra_headers: dict[str, str]) -> web.StreamResponse:
        match = _ROUTE.search(rec.path)
        if match is None or rec.method.upper() != "POST":
            return _fail(404, f"Fake Gemini: no route for {rec.method} {rec.path}")
        key = rec.headers.get("x-goog-api-key") or rec.query.get("key")
        if self.require_api_key is not None:
            if not key:
                return _fail(403, "Method doesn't allow unregistered callers (callers without "
                             "established identity). Please use API Key or other form of API "
                             "consumer identity to call this API.")
            if key != self.require_api_key:
                return _fail(400, "API key not valid. Please pass a valid API key.",
                             "API_KEY_INVALID")
        if parse_error or rec.body is None:
            return _fail(400, "Invalid JSON payload received.")
        model, method = match.group(2), match.group(3)
        try:
            if method == "batchEmbedContents":
                return web.json_response(self._embed(model, rec.body), status=status,
                                         headers=extra_headers)
            if method not in ("generateContent", "streamGenerateContent"):
                return _fail(404, f"Fake Gemini: unknown method {method}")
            check_generate(rec.body)
        except _Invalid as exc:
            return _fail(400, str(exc))
        if self.block_reason:
            blocked = {"promptFeedback": {"blockReason": self.block_reason},
                       "usageMetadata": {"promptTokenCount": self.usage.get("promptTokenCount",
                                                                            0)}}
            return web.json_response(blocked, status=status, headers=extra_headers)
        events = self._events(model, rec.body)
        if method == "generateContent":
            return web.json_response(self._merge(events), status=status, headers=extra_headers)
        if rec.query.get("alt") != "sse":  # without alt=sse Gemini sends one JSON array
            return web.json_response(events, status=status, headers=extra_headers)
        return await self._stream_events(request, events, status, extra_headers,
                                         done_line=False)

    async def _stream_events(self, request: web.BaseRequest, events: list[dict[str, Any]],
                             status: int, extra_headers: dict[str, str],
                             done_line: bool = False) -> web.StreamResponse:
        lines = ["data: " + _dumps(e) for e in events]
        return await self._stream_raw(request, Reply(status=status, stream_lines=lines,
                                                     done=done_line, headers=extra_headers,
                                                     chunk_delay=self.default_chunk_delay))

    # ---- replies --------------------------------------------------------------------------
    def _wants_tools(self, body: dict[str, Any]) -> bool:
        declared = any(t.get("functionDeclarations") for t in body.get("tools") or ())
        mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
        return bool(declared and self.tool_call and mode != "NONE")

    def _candidate_events(self, body: dict[str, Any], index: int) -> list[dict[str, Any]]:
        """The streamed pieces of one candidate: lists of parts, plus the finish reason."""
        config = body.get("generationConfig") or {}
        if self._wants_tools(body):
            specs = self.tool_call if isinstance(self.tool_call, list) else [self.tool_call]
            parts = [{"functionCall": {"name": s["name"], "args": s.get("args", {})}}
                     for s in specs if s]
            return [{"parts": parts, "finish": "STOP"}]
        content = self.default_content
        text = content(body) if callable(content) else str(content)
        words = split_words(text)
        finish = self.finish_reason
        limit = config.get("maxOutputTokens")
        if isinstance(limit, int) and limit < len(words):
            words, finish = words[:limit], "MAX_TOKENS"
        pieces: list[dict[str, Any]] = []
        if self.thought:
            pieces.append({"parts": [{"text": self.thought, "thought": True}]})
        pieces.extend({"parts": [{"text": w}]} for w in words)
        if not pieces:
            pieces.append({"parts": []})
        pieces[-1]["finish"] = finish
        return pieces

    def _events(self, model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        n = int((body.get("generationConfig") or {}).get("candidateCount") or 1)
        per = [self._candidate_events(body, i) for i in range(n)]
        response_id = uuid.uuid4().hex[:20]
        prompt_only = {"promptTokenCount": self.usage.get("promptTokenCount", 0)}
        events = []
        for step in range(max(len(p) for p in per)):
            cands = []
            for i, pieces in enumerate(per):
                if step >= len(pieces):
                    continue
                cand: dict[str, Any] = {"content": {"role": "model",
                                                    "parts": pieces[step]["parts"]},
                                        "index": i}
                if "finish" in pieces[step]:
                    cand["finishReason"] = pieces[step]["finish"]
                cands.append(cand)
            events.append({"candidates": cands, "usageMetadata": dict(prompt_only),
                           "modelVersion": model, "responseId": response_id})
        events[-1]["usageMetadata"] = dict(self.usage)
        return events

    @staticmethod
    def _merge(events: list[dict[str, Any]]) -> dict[str, Any]:
        """The non-streamed reply: every candidate's parts joined, as the real API does."""
        merged: dict[int, dict[str, Any]] = {}
        for ev in events:
            for cand in ev["candidates"]:
                slot = merged.setdefault(cand["index"], {
                    "content": {"role": "model", "parts": []}, "index": cand["index"]})
                for part in cand["content"]["parts"]:
                    last = slot["content"]["parts"][-1] if slot["content"]["parts"] else None
                    if (last is not None and "text" in part and "text" in last
                            and bool(last.get("thought")) == bool(part.get("thought"))):
                        last["text"] += part["text"]
                    else:
                        slot["content"]["parts"].append(dict(part))
                if "finishReason" in cand:
                    slot["finishReason"] = cand["finishReason"]
        final = events[-1]
        return {"candidates": [merged[i] for i in sorted(merged)],
                "usageMetadata": final["usageMetadata"], "modelVersion": final["modelVersion"],
                "responseId": final["responseId"]}

    def _embed(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        requests = body.get("requests")
        if set(body) - {"requests"} or not isinstance(requests, list) or not requests:
            raise _Invalid("* BatchEmbedContentsRequest.requests: requests is required")
        out = []
        for i, req in enumerate(requests):
            if req.get("model") != f"models/{model}":
                raise _Invalid(f"Model names should be the same in batch request; requests[{i}]"
                               f" names {req.get('model')!r}")
            parts = (req.get("content") or {}).get("parts") or []
            text = "".join(p.get("text", "") for p in parts)
            dim = int(req.get("outputDimensionality") or self.embedding_dim)
            out.append({"values": fake_embedding(text, dim)})
        return {"embeddings": out}
