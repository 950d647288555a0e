"""A fake Amazon Bedrock runtime (and STS) speaking the real wire formats over real HTTP.

Built on :class:`~fakes.openai_server.FakeOpenAI` (thread, recording, ``enqueue``). Routes::

    POST /model/<modelId>/converse          JSON in, JSON out
    POST /model/<modelId>/converse-stream   JSON in, AWS event stream out (binary frames, CRC32)
    POST /model/<modelId>/invoke            Titan / Cohere embedding bodies
    POST /                                  STS AssumeRole (form body, XML reply)

Every request must carry a valid SigV4 signature, recomputed here from the request itself
(canonical request, string to sign, HMAC chain: written independently of botocore) for a
key in ``credentials`` (access key id -> (secret, session token or None)); a wrong one gets
``403 InvalidSignatureException`` / ``UnrecognizedClientException`` like AWS. A Bedrock API
key (``Authorization: Bearer``) is accepted when it is in ``api_keys``. Errors follow AWS:
``x-amzn-errortype`` header and ``{"message": ...}`` body; in streams, ``exception`` frames.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json as _json
import re
import struct
import time
import uuid
import zlib
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from aiohttp import web

from fakes.openai_server import FakeOpenAI, Recorded, fake_embedding, split_words

__all__ = ["FakeBedrock", "bedrock_error", "encode_frame", "event_frame", "exception_frame",
           "sigv4_signature"]

_ROUTE = re.compile(r"^/model/([^/]+)/(converse|converse-stream|invoke)$")
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                   r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")
_TOP = frozenset({"messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
                  "additionalModelRequestFields", "promptVariables", "requestMetadata",
                  "additionalModelResponseFieldPaths", "performanceConfig", "serviceTier"})
_INFERENCE = frozenset({"maxTokens", "temperature", "topP", "stopSequences"})
_BLOCKS = frozenset({"text", "image", "document", "toolUse", "toolResult", "cachePoint",
                     "reasoningContent", "video", "guardContent"})
_STATUS = {"ValidationException": 400, "AccessDeniedException": 403,
           "UnrecognizedClientException": 403, "InvalidSignatureException": 403,
           "ResourceNotFoundException": 404, "ModelTimeoutException": 408,
           "ThrottlingException": 429, "ModelNotReadyException": 429,
           "ModelErrorException": 424, "InternalServerException": 500,
           "ServiceUnavailableException": 503, "ExpiredTokenException": 403}


def bedrock_error(name: str, message: str, status: int | None = None) -> web.Response:
    """An AWS JSON error reply: ``x-amzn-errortype`` and ``{"message": ...}``."""
    return web.json_response({"message": message}, status=status or _STATUS.get(name, 400),
                             headers={"x-amzn-errortype": f"{name}:http://internal.amazon.com/"
                                                          "coral/com.amazon.bedrock/",
                                      "x-amzn-requestid": str(uuid.uuid4())})


# ---- AWS event stream framing -----------------------------------------------------------------
def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (struct.pack(">B", len(raw_name)) + raw_name + b"\x07"
            + struct.pack(">H", len(raw_value)) + raw_value)


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total length, headers length, CRC32), headers
    (type 7, strings), payload, CRC32 of everything before it."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + head + payload
    return message + struct.pack(">I", zlib.crc32(message) & 0xFFFFFFFF)


def event_frame(kind: str, payload: dict[str, Any]) -> bytes:
    body = dict(payload)
    body["p"] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"[: 4 + len(kind) % 20]
    return encode_frame({":event-type": kind, ":content-type": "application/json",
                         ":message-type": "event"}, _json.dumps(body).encode())


def exception_frame(name: str, message: str) -> bytes:
    return encode_frame({":exception-type": name, ":content-type": "application/json",
                         ":message-type": "exception"}, _json.dumps({"message": message}).encode())


# ---- SigV4, recomputed from the request -----------------------------------------------------
def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_signature(secret: str, method: str, raw_path: str, query: str,
                    headers: dict[str, str], signed: list[str], body: bytes, amz_date: str,
                    region: str, service: str) -> str:
    """The SigV4 signature AWS expects (non-S3 rules: the path is URI-encoded once more)."""
    canonical_query = "&".join(sorted(
        f"{quote(unquote(k), safe='-_.~')}={quote(unquote(v), safe='-_.~')}"
        for k, _, v in (p.partition("=") for p in query.split("&") if p)))
    canonical_headers = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    canonical = "\n".join([method, quote(raw_path, safe="/~"), canonical_query,
                           canonical_headers, ";".join(signed),
                           hashlib.sha256(body).hexdigest()])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret).encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class FakeBedrock(FakeOpenAI):
    """Fake Bedrock runtime + STS on ``127.0.0.1:<random port>``; see the module docstring.

    Attributes: ``credentials`` (access key -> (secret, token|None)), ``api_keys``,
    ``default_content``, ``tool_call`` (``{"name", "input"}``), ``reasoning`` (text of a
    reasoning block), ``usage`` (Converse ``usage``), ``stop_reason``, ``region`` (the region
    signatures must name), ``stream_exception`` ((name, message) sent as an exception frame
    after the first text delta), ``corrupt_crc`` / ``cut_stream`` (damage the stream),
    ``not_ready`` (model ids answered with ModelNotReadyException), ``context_limit``
    (characters of input above which ValidationException "too many input tokens").
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.credentials: dict[str, tuple[str, str | None]] = {}
        self.api_keys: set[str] = set()
        self.default_content = "Hello from Bedrock"
        self.tool_call: dict[str, Any] | None = None
        self.reasoning: str | None = None
        self.usage: dict[str, int] = {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}
        self.stop_reason = "end_turn"
        self.region = "us-east-1"
        self.stream_exception: tuple[str, str] | None = None
        self.corrupt_crc = False
        self.cut_stream = False
        self.not_ready: set[str] = set()
        self.context_limit = 100_000
        self.assumed: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return self.base

    # ---- auth ---------------------------------------------------------------------------
    def _check_auth(self, request: web.BaseRequest, rec: Recorded,
                    service: str) -> web.Response | None:
        auth = rec.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            if auth[7:] in self.api_keys:
                return None
            return bedrock_error("UnrecognizedClientException", "The security token included "
                                 "in the request is invalid.")
        m = _AUTH.match(auth)
        if m is None:
            return bedrock_error("MissingAuthenticationTokenException",
                                 "Missing Authentication Token", 403)
        key_id, _, region, svc, signed, signature = m.groups()
        known = self.credentials.get(key_id)
        if known is None:
            return bedrock_error("UnrecognizedClientException", "The security token included "
                                 "in the request is invalid.")
        secret, token = known
        if token is not None and rec.headers.get("x-amz-security-token") != token:
            return bedrock_error("UnrecognizedClientException", "The security token included "
                                 "in the request is invalid.")
        amz_date = rec.headers.get("x-amz-date", "")
        if region != self.region or svc != service:
            return bedrock_error("InvalidSignatureException", f"Credential should be scoped "
                                 f"to a valid region/service ({region}/{svc}).")
        raw_path, _, query = request.raw_path.partition("?")
        expected = sigv4_signature(secret, rec.method, raw_path, query, rec.headers,
                                   signed.split(";"), rec.raw, amz_date, region, service)
        if not hmac.compare_digest(expected, signature):
            return bedrock_error("InvalidSignatureException", "The request signature we "
                                 "calculated does not match the signature you provided.")
        return None

    # ---- routing ------------------------------------------------------------------------
    async def _default(self, request: web.BaseRequest, rec: Recorded, parse_error: bool,
                       status: int, extra_headers: dict[str, str]) -> web.StreamResponse:
        if rec.path == "/" and rec.method == "POST":
            return self._sts(request, rec)
        m = _ROUTE.match(rec.path)
        if m is None:
            return bedrock_error("UnknownOperationException", f"no route {rec.path}", 404)
        denied = self._check_auth(request, rec, "bedrock")
        if denied is not None:
            return denied
        model, op = unquote(m.group(1)), m.group(2)
        if model in self.not_ready:
            return bedrock_error("ModelNotReadyException", "Model is not ready to serve "
                                 "inference requests.")
        if parse_error or rec.body is None:
            return bedrock_error("SerializationException", "Invalid JSON", 400)
        if op == "invoke":
            return self._invoke(model, rec.body)
        problem = self._validate(rec.body)
        if problem is not None:
            return bedrock_error("ValidationException", problem)
        blocks, stop = self._answer(rec.body)
        if op == "converse":
            return web.json_response({
                "output": {"message": {"role": "assistant", "content": blocks}},
                "stopReason": stop, "usage": dict(self.usage),
                "metrics": {"latencyMs": 12}}, headers={"x-amzn-requestid": str(uuid.uuid4())})
        return await self._stream(request, blocks, stop)

    def _validate(self, body: dict[str, Any]) -> str | None:
        unknown = set(body) - _TOP
        if unknown:
            return f"Malformed input request: extraneous key [{sorted(unknown)[0]}] is not " \
                   "permitted"
        bad = set(body.get("inferenceConfig") or {}) - _INFERENCE
        if bad:
            return f"Malformed input request: extraneous key [{sorted(bad)[0]}] in inferenceConfig"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "A conversation must start with a user message."
        if messages[0].get("role") != "user":
            return "A conversation must start with a user message. Try again with a " \
                   "conversation that starts with a user message."
        for a, b in itertools.pairwise(messages):
            if a.get("role") == b.get("role"):
                return "A conversation must alternate between user and assistant roles."
        for msg in messages:
            for block in msg.get("content") or ():
                if len(block) != 1 or next(iter(block)) not in _BLOCKS:
                    return f"The model does not support the content block {block!r:.60}"
        if len(_json.dumps(messages)) > self.context_limit:
            return "Input is too long for requested model."
        return None

    def _answer(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        blocks: list[dict[str, Any]] = []
        if self.reasoning:
            blocks.append({"reasoningContent": {"reasoningText": {
                "text": self.reasoning, "signature": "sig-" + uuid.uuid4().hex[:8]}}})
        tools = (body.get("toolConfig") or {}).get("tools") or []
        choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
        forced = (choice.get("tool") or {}).get("name")
        if forced:
            spec = next(t["toolSpec"] for t in tools if "toolSpec" in t
                        and t["toolSpec"]["name"] == forced)
            blocks.append({"toolUse": {"toolUseId": "tooluse_" + uuid.uuid4().hex[:10],
                                       "name": spec["name"], "input": {"answer": 42}}})
            return blocks, "tool_use"
        if self.tool_call and tools:
            blocks.append({"toolUse": {"toolUseId": "tooluse_" + uuid.uuid4().hex[:10],
                                       "name": self.tool_call["name"],
                                       "input": self.tool_call.get("input", {})}})
            return blocks, "tool_use"
        text = self.default_content
        limit = (body.get("inferenceConfig") or {}).get("maxTokens")
        words = split_words(text)
        stop = self.stop_reason
        if isinstance(limit, int) and limit < len(words):
            text, stop = "".join(words[:limit]), "max_tokens"
        blocks.append({"text": text})
        return blocks, stop

    async def _stream(self, request: web.BaseRequest, blocks: list[dict[str, Any]],
                      stop: str) -> web.StreamResponse:
        frames = [event_frame("messageStart", {"role": "assistant"})]
        for i, block in enumerate(blocks):
            frames += list(self._block_frames(i, block))
        frames.append(event_frame("messageStop", {"stopReason": stop}))
        frames.append(event_frame("metadata", {"usage": dict(self.usage),
                                               "metrics": {"latencyMs": 12}}))
        if self.corrupt_crc:
            damaged = bytearray(frames[1])
            damaged[-6] ^= 0xFF
            frames[1] = bytes(damaged)
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "application/vnd.amazon.eventstream",
            "x-amzn-requestid": str(uuid.uuid4())})
        await resp.prepare(request)
        for n, frame in enumerate(frames):
            if self.stream_exception is not None and n == 2:
                await resp.write(exception_frame(*self.stream_exception))
                break
            if self.cut_stream and n == len(frames) - 2:
                await resp.write(frame[: len(frame) // 2])
                if request.transport is not None:
                    request.transport.close()
                return resp
            # split each frame in two writes so the client must reassemble frames
            await resp.write(frame[:7])
            await resp.write(frame[7:])
        await resp.write_eof()
        return resp

    @staticmethod
    def _block_frames(index: int, block: dict[str, Any]) -> Iterable[bytes]:
        if "text" in block:
            for word in split_words(block["text"]):
                yield event_frame("contentBlockDelta", {"contentBlockIndex": index,
                                                        "delta": {"text": word}})
        elif "toolUse" in block:
            use = block["toolUse"]
            yield event_frame("contentBlockStart", {"contentBlockIndex": index, "start": {
                "toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}})
            raw = _json.dumps(use["input"])
            for piece in (raw[: len(raw) // 2], raw[len(raw) // 2:]):
                yield event_frame("contentBlockDelta", {"contentBlockIndex": index,
                                                        "delta": {"toolUse": {"input": piece}}})
        elif "reasoningContent" in block:
            rt = block["reasoningContent"]["reasoningText"]
            yield event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {
                "reasoningContent": {"text": rt["text"]}}})
            yield event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {
                "reasoningContent": {"signature": rt["signature"]}}})
        yield event_frame("contentBlockStop", {"contentBlockIndex": index})

    def _invoke(self, model: str, body: dict[str, Any]) -> web.Response:
        dim = self.embedding_dim
        if "titan-embed" in model:
            if set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"}:
                return bedrock_error("ValidationException", "Malformed input request: "
                                     "extraneous key")
            text = body.get("inputText")
            if not isinstance(text, str):
                return bedrock_error("ValidationException", "inputText is required")
            vec = fake_embedding(text, int(body.get("dimensions") or dim))
            return web.json_response({"embedding": vec,
                                      "inputTextTokenCount": len(split_words(text))})
        texts = body.get("texts")
        if not isinstance(texts, list) or "input_type" not in body:
            return bedrock_error("ValidationException", "Malformed input request: "
                                 "#: required key [input_type] not found")
        out = [fake_embedding(t, int(body.get("output_dimension") or dim)) for t in texts]
        tokens = sum(len(split_words(t)) for t in texts)
        data: Any = {"float": out} if "v4" in model else out
        return web.json_response({"id": str(uuid.uuid4()), "embeddings": data, "texts": texts,
                                  "response_type": "embeddings_floats"},
                                 headers={"X-Amzn-Bedrock-Input-Token-Count": str(tokens)})

    # ---- STS ----------------------------------------------------------------------------
    def _sts(self, request: web.BaseRequest, rec: Recorded) -> web.Response:
        form = {k: v[0] for k, v in parse_qs(rec.raw.decode()).items()}
        action = form.get("Action")
        if action == "AssumeRole":
            denied = self._check_auth(request, rec, "sts")
            if denied is not None:
                return denied
        elif action != "AssumeRoleWithWebIdentity":
            return web.Response(status=400, text="unknown action")
        key = "ASIA" + uuid.uuid4().hex[:16].upper()
        secret, token = base64.b64encode(uuid.uuid4().bytes).decode(), "tok-" + uuid.uuid4().hex
        self.credentials[key] = (secret, token)
        self.assumed.append(form)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        xml = (f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
               f"<{action}Result><Credentials><AccessKeyId>{key}</AccessKeyId>"
               f"<SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}"
               f"</SessionToken><Expiration>{expires}</Expiration></Credentials>"
               f"<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/test/x</Arn><AssumedRoleId>AROA:x"
               f"</AssumedRoleId></AssumedRoleUser></{action}Result>"
               f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
               f"</{action}Response>")
        return web.Response(text=xml, content_type="text/xml")
