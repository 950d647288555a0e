"""Translation to and from OpenAI's chat, completions and embeddings endpoints."""

from __future__ import annotations

import json
from typing import Any

from ...exceptions import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    LLMRelayError,
    ProviderConfigError,
)
from ...types import (
    EmbeddingResponse,
    ModelResponse,
    ModelResponseStream,
    TextCompletionResponse,
)
from ...types.lazy_chunks import LAZY_CHUNKS, LazyChunk, scan_event
from ...types.responses import RAW_JSON
from ..base import (
    CHAT_PARAMS,
    EMBEDDING_PARAMS,
    TEXT_PARAMS,
    Call,
    HTTPRequest,
    bearer_headers,
    body_excerpt,
    decode_json,
    error_from_reply,
    stream_event_object,
)
from ..registry import ProviderSpec
from ..sse import SSEDecoder

__all__ = ["CHAT_PARAMS", "EMBEDDING_PARAMS", "TEXT_PARAMS", "OpenAIProvider"]

_PATHS = {"completion": "/chat/completions", "text_completion": "/completions",
          "embedding": "/embeddings"}


def openai_error(call: Call, status: int, headers: dict[str, str], body: bytes) -> LLMRelayError:
    """Map an OpenAI-style error body ``{"error": {"message", "type", "param", "code"}}``."""
    message = code = param = None
    try:
        data = json.loads(body)
        err = data.get("error", data) if isinstance(data, dict) else None
        if isinstance(err, dict):
            message = err.get("message")
            code = err.get("code") or err.get("type")
            param = err.get("param")
        elif isinstance(err, str):
            message = err
    except ValueError:
        message = None
    if message is None:
        message = f"HTTP {status} from upstream: {body_excerpt(body)}"
    return error_from_reply(call, status, headers, body, str(message),
                            str(code) if code is not None else None, param)


class OpenAIStreamDecoder:
    """SSE ``data: {chunk}`` lines until ``data: [DONE]``."""

    __slots__ = ("_call", "_done", "_finished", "_kind", "_lazy", "_sse")

    def __init__(self, call: Call) -> None:
        self._call = call
        self._sse = SSEDecoder()
        self._done = False
        self._finished = False  # saw a finish_reason, so a missing [DONE] is tolerable
        self._kind = (TextCompletionResponse if call.call_type == "text_completion"
                      else ModelResponseStream)
        # chat chunks left as bytes until read, when the caller asked (see lazy_chunks)
        self._lazy = self._kind is ModelResponseStream and LAZY_CHUNKS.get()

    def _event(self, data: bytes) -> list[Any]:
        if data == b"[DONE]":
            self._done = True
            return []
        if self._lazy:
            plain, finished = scan_event(data)
            if plain:
                if finished:
                    self._finished = True
                return [LazyChunk(data)]
        obj = stream_event_object(self._call, data, "upstream")
        if obj is None:
            return []
        if "error" in obj and not obj.get("choices"):  # an error sent mid-stream
            err = obj["error"]
            code = str(err.get("code", "")) if isinstance(err, dict) else ""
            raise openai_error(self._call, int(code) if code.isdigit() else 500, {}, data)
        choices = obj.get("choices")
        if choices:
            for c in choices:
                if c.get("finish_reason"):
                    self._finished = True
        chunk = self._kind.from_dict(obj)
        if self._kind is TextCompletionResponse and not obj.get("usage"):
            chunk.__dict__["usage"] = None  # text chunks: no zero-filled usage
        chunk.__dict__[RAW_JSON] = data  # the event's JSON as sent
        return [chunk]

    def feed(self, line: bytes) -> list[Any]:
        ev = self._sse.feed(line)
        if ev is None:
            return []
        return self._event(ev[1])

    def finish(self) -> list[Any]:
        out: list[Any] = []
        ev = self._sse.flush()
        if ev is not None:
            out = self._event(ev[1])
        if not self._done and not self._finished:
            raise APIConnectionError(
                "upstream stream ended before its final event (no [DONE]); the reply was cut",
                llm_provider=self._call.provider, model=self._call.model)
        return out


class OpenAIProvider:
    """Pure translation for OpenAI-compatible servers; one instance per provider row."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        if call_type == "embedding":
            return EMBEDDING_PARAMS
        if call_type == "text_completion":
            return TEXT_PARAMS
        return CHAT_PARAMS

    def api_base(self, call: Call) -> str:
        base = call.api_base or self.spec.env_base() or self.spec.base_url
        if not base:
            env = " or ".join(self.spec.base_env) or "an environment variable"
            raise ProviderConfigError(
                f"provider {self.spec.name!r} has no default URL: pass api_base= or set {env}",
                llm_provider=self.spec.name, model=call.model)
        return base.rstrip("/")

    def check_key(self, call: Call, base: str) -> None:
        if call.api_key or not self.spec.requires_key:
            return
        if self.spec.base_url and base != self.spec.base_url.rstrip("/"):
            return  # a self-hosted compatible server: keys are its business
        env = " or ".join(self.spec.key_env)
        raise AuthenticationError(
            f"missing API key for provider {self.spec.name!r}: pass api_key= or set {env}",
            llm_provider=self.spec.name, model=call.model)

    def surface(self, call_type: str) -> Any:
        """The translation of this wire's endpoint for ``call_type`` (images, audio,
        moderation, rerank, the Responses API) when the provider row offers it, else None
        (see :func:`llmrelay.providers.registry.provider_for`)."""
        if call_type not in self.spec.surfaces:
            return None
        from .surfaces import surface_for

        return surface_for(self, call_type)

    def endpoint_url(self, call: Call, path: str) -> str:
        """The URL of endpoint ``path`` (``"images/generations"`` ...) for ``call``."""
        return f"{self.api_base(call)}/{path}"

    def auth_headers(self, call: Call) -> dict[str, str]:
        """The credential headers (after the key check); the caller's extra headers last."""
        self.check_key(call, self.api_base(call))
        return bearer_headers(call)

    def endpoint_request(self, call: Call, path: str, body: dict[str, Any] | None,
                         content: bytes | None = None, content_type: str | None = None,
                         method: str = "POST") -> HTTPRequest:
        """A request to endpoint ``path``: a JSON ``body``, or raw ``content`` (a
        multipart upload) with ``body`` as what callbacks see."""
        url = self.endpoint_url(call, path)
        headers = {"Content-Type": content_type or "application/json"}
        if method != "POST" and content is None and body is None:
            del headers["Content-Type"]
        headers.update(self.auth_headers(call))
        return HTTPRequest(method, url, headers, body, content)

    def build_request(self, call: Call) -> HTTPRequest:
        if call.call_type == "embedding" and not self.spec.embeddings:
            raise BadRequestError(f"provider {self.spec.name!r} has no embeddings API",
                                  llm_provider=self.spec.name, model=call.model)
        base = self.api_base(call)
        self.check_key(call, base)
        headers = bearer_headers(call, {"Content-Type": "application/json"})
        body: dict[str, Any] = {"model": call.model}
        if call.call_type == "completion":
            body["messages"] = call.messages
        elif call.call_type == "text_completion":
            body["prompt"] = call.input
        else:
            body["input"] = call.input
        body.update(call.params)
        for ours, theirs in self.spec.renames:
            if ours in body:
                body.setdefault(theirs, body.pop(ours))
        if call.stream:
            body["stream"] = True
            if self.spec.stream_usage:
                opts = dict(body.get("stream_options") or {})
                opts["include_usage"] = True
                body["stream_options"] = opts
        elif "stream_options" in body:
            del body["stream_options"]
        if call.extra_body:
            body.update(call.extra_body)
        return HTTPRequest("POST", base + _PATHS[call.call_type], headers, body)

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        data = decode_json(call, status, headers, body)
        if not isinstance(data, dict) or ("choices" not in data and "data" not in data):
            if isinstance(data, dict) and "error" in data:
                raise openai_error(call, 500, headers, body)
            raise APIConnectionError(
                f"upstream reply has no 'choices' or 'data': {body_excerpt(body)}",
                status_code=status, llm_provider=call.provider, model=call.model,
                response_body=body_excerpt(body))
        if call.call_type == "embedding":
            out = EmbeddingResponse.from_dict(data)
        elif call.call_type == "text_completion":
            out = TextCompletionResponse.from_dict(data)
        else:
            out = ModelResponse.from_dict(data)
        out.__dict__[RAW_JSON] = body  # the reply's JSON as sent
        return out

    def stream_decoder(self, call: Call) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder(call)

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        return openai_error(call, status, headers, body)
