"""The fake OpenAI server's endpoints beyond chat, completions and embeddings, in OpenAI's
wire format: ``/images/generations``, ``/moderations``, ``/audio/transcriptions``
(a multipart upload, answered in each ``response_format``), ``/audio/speech`` (audio
bytes sent in chunks) and ``/rerank`` (the Cohere shape OpenAI-compatible rerank servers
speak). :class:`~fakes.openai_server.FakeOpenAI` routes these paths here.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import json
import time
import uuid
from typing import Any

from aiohttp import web

__all__ = ["SURFACE_PATHS", "parse_multipart", "surface_reply"]

SURFACE_PATHS = ("/images/generations", "/moderations", "/audio/transcriptions",
                 "/audio/speech", "/rerank")
_CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening",
               "illicit", "illicit/violent", "self-harm", "self-harm/instructions",
               "self-harm/intent", "sexual", "sexual/minors", "violence", "violence/graphic")
# the smallest valid PNG: 1x1 transparent
_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU"
        "5ErkJggg==")
FAKE_AUDIO = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 64  # "mp3" bytes


def parse_multipart(content_type: str, raw: bytes) -> dict[str, Any] | None:
    """A ``multipart/form-data`` body as a dict: text fields as strings (repeated
    ``name[]`` fields as lists), files as ``{"filename", "content_type", "size",
    "sha256", "data"}``; None when the body is not multipart."""
    if not content_type.startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    out: dict[str, Any] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            out[name] = {"filename": filename, "content_type": part.get_content_type(),
                         "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                         "data": data}
        elif name.endswith("[]"):
            out.setdefault(name[:-2], []).append(data.decode())
        else:
            out[name] = data.decode()
    return out


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param,
                      "code": None}}
    return web.json_response(body, status=status)


def _images(body: dict[str, Any]) -> web.Response:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return _error(400, "Missing required parameter: 'prompt'.", "prompt")
    model = body.get("model") or "dall-e-2"
    n = int(body.get("n") or 1)
    b64 = body.get("response_format") == "b64_json" or model.startswith("gpt-image")
    data = []
    for i in range(n):
        item: dict[str, Any] = ({"b64_json": _PNG} if b64 else
                                {"url": f"https://images.fake/{uuid.uuid4().hex}-{i}.png"})
        if model == "dall-e-3":
            item["revised_prompt"] = f"A detailed picture: {prompt}"
        data.append(item)
    out: dict[str, Any] = {"created": int(time.time()), "data": data}
    if model.startswith("gpt-image"):
        out["usage"] = {"input_tokens": 12, "output_tokens": 272 * n,
                        "total_tokens": 12 + 272 * n,
                        "input_tokens_details": {"text_tokens": 12, "image_tokens": 0}}
    return web.json_response(out)


def _moderations(body: dict[str, Any]) -> web.Response:
    items = body.get("input")
    if items is None:
        return _error(400, "Missing required parameter: 'input'.", "input")
    items = items if isinstance(items, list) else [items]
    results = []
    for item in items:
        bad = "hate you" in json.dumps(item).lower()
        results.append({"flagged": bad,
                        "categories": {c: bad and c == "harassment" for c in _CATEGORIES},
                        "category_scores": {c: 0.97 if bad and c == "harassment" else 1e-5
                                            for c in _CATEGORIES},
                        "category_applied_input_types": {c: ["text"] for c in _CATEGORIES}})
    return web.json_response({"id": f"modr-{uuid.uuid4().hex[:24]}",
                              "model": body.get("model") or "omni-moderation-latest",
                              "results": results})


def _transcription(form: dict[str, Any]) -> web.Response:
    file = form.get("file")
    if not isinstance(file, dict):
        return _error(400, "Missing required parameter: 'file'.", "file")
    model = form.get("model") or ""
    text = f"Transcript of {file['filename']} ({file['size']} bytes)."
    seconds = round(file["size"] / 16000, 2)
    fmt = form.get("response_format") or "json"
    if fmt == "text":
        return web.Response(text=text + "\n", content_type="text/plain")
    if fmt in ("srt", "vtt"):
        return web.Response(text=f"1\n00:00:00,000 --> 00:00:01,000\n{text}\n",
                            content_type="text/plain")
    usage: dict[str, Any] = {"type": "duration", "seconds": max(1, round(seconds))}
    if "transcribe" in model:
        usage = {"type": "tokens", "input_tokens": 40, "output_tokens": 12, "total_tokens": 52,
                 "input_token_details": {"text_tokens": 0, "audio_tokens": 40}}
    out: dict[str, Any] = {"text": text, "usage": usage}
    if fmt == "verbose_json":
        out = {"task": "transcribe", "language": form.get("language") or "english",
               "duration": seconds, "text": text, "usage": usage,
               "segments": [{"id": 0, "start": 0.0, "end": seconds, "text": text}]}
        if "word" in (form.get("timestamp_granularities") or []):
            out["words"] = [{"word": w, "start": 0.0, "end": 0.1} for w in text.split()]
    return web.json_response(out)


async def _speech(request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
    if not isinstance(body.get("input"), str) or not body["input"]:
        return _error(400, "Missing required parameter: 'input'.", "input")
    if not body.get("voice"):
        return _error(400, "Missing required parameter: 'voice'.", "voice")
    kinds = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
             "wav": "audio/wav", "pcm": "audio/pcm"}
    resp = web.StreamResponse(headers={
        "Content-Type": kinds.get(body.get("response_format") or "mp3", "audio/mpeg")})
    await resp.prepare(request)
    for i in range(0, len(FAKE_AUDIO), 4096):
        await resp.write(FAKE_AUDIO[i:i + 4096])
    await resp.write_eof()
    return resp


def _rerank(body: dict[str, Any]) -> web.Response:
    docs = body.get("documents")
    if not isinstance(docs, list) or not isinstance(body.get("query"), str):
        return _error(400, "query and documents are required")
    words = set(body["query"].lower().split())
    scored = [{"index": i, "relevance_score": round(len(words & set(str(d).lower().split()))
                                                    / (len(words) or 1), 4),
               **({"document": {"text": d}} if body.get("return_documents") else {})}
              for i, d in enumerate(docs)]
    scored.sort(key=lambda r: -r["relevance_score"])
    if body.get("top_n"):
        scored = scored[:int(body["top_n"])]
    tokens = sum(len(str(d).split()) for d in docs) + len(words)
    return web.json_response({"model": body.get("model"), "results": scored,
                              "usage": {"total_tokens": tokens}})


async def surface_reply(request: web.BaseRequest, path: str, body: dict[str, Any] | None,
                        form: dict[str, Any] | None) -> web.StreamResponse:
    """The reply for one of :data:`SURFACE_PATHS` (``path`` is the matched suffix)."""
    if path == "/audio/transcriptions":
        if form is None:
            return _error(400, "transcriptions take multipart/form-data with a file")
        return _transcription(form)
    if body is None:
        return _error(400, "We could not parse the JSON body of your request.")
    if path == "/images/generations":
        return _images(body)
    if path == "/moderations":
        return _moderations(body)
    if path == "/audio/speech":
        return await _speech(request, body)
    return _rerank(body)


def png_bytes() -> bytes:
    return base64.b64decode(_PNG)
