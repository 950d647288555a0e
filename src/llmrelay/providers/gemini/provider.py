"""The Gemini (Google AI Studio) wire: URLs, auth, and dispatch to the translators.

``gemini/<model>`` chats with ``POST {base}/v1beta/models/<model>:generateContent`` (and
``:streamGenerateContent?alt=sse`` when streaming); embeddings use
``:batchEmbedContents`` (``encoding_format="base64"`` is applied to the vectors here, as
Gemini only returns floats). The key goes in the ``x-goog-api-key`` header (``api_key=``,
``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``). ``api_version=`` picks ``v1`` over ``v1beta``.
"""

from __future__ import annotations

import re
from typing import Any

from ...exceptions import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    LLMRelayError,
    ProviderConfigError,
)
from ...types import Embedding, EmbeddingResponse, Usage
from ..base import (
    Call,
    HTTPRequest,
    body_excerpt,
    decode_json,
    embedding_format,
    encode_vector,
)
from ..registry import ProviderSpec
from .response import gemini_error, parse_generate
from .stream import GeminiStreamDecoder
from .translate import build_body, embed_body

__all__ = ["CHAT_PARAMS", "EMBEDDING_PARAMS", "GeminiProvider"]

CHAT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "response_format", "tools", "tool_choice",
    "stream_options",
})
EMBEDDING_PARAMS = frozenset({"dimensions", "encoding_format"})
_VERSIONED = re.compile(r"/v1(?:alpha|beta\d*)?$")


class GeminiProvider:
    """Pure translation for Google's Gemini API; one instance per provider row."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        if call_type == "embedding":
            return EMBEDDING_PARAMS
        if call_type == "completion":
            return CHAT_PARAMS
        return frozenset()

    def _root(self, call: Call) -> str:
        """``{base}/{version}``; raises AuthenticationError without a key for Google's host."""
        configured = call.api_base or self.spec.env_base()
        base = (configured or self.spec.base_url or "").rstrip("/")
        if not base:
            raise ProviderConfigError("gemini has no URL: pass api_base=",
                                  llm_provider=self.spec.name, model=call.model)
        if not call.api_key and (not configured
                                 or base == (self.spec.base_url or "").rstrip("/")):
            env = " or ".join(self.spec.key_env)
            raise AuthenticationError(
                f"missing API key for gemini: pass api_key= or set {env}",
                llm_provider=self.spec.name, model=call.model)
        if _VERSIONED.search(base):
            return base
        return f"{base}/{call.api_version or 'v1beta'}"

    @staticmethod
    def model_path(call: Call) -> str:
        name = call.model
        return name if name.startswith(("models/", "tunedModels/")) else f"models/{name}"

    def build_request(self, call: Call) -> HTTPRequest:
        """The Gemini request for ``call``.

        Raises BadRequestError for text completions (Gemini has no such endpoint) and for
        content it cannot carry; AuthenticationError without a key. All before any I/O.
        """
        if call.call_type not in ("completion", "embedding"):
            raise BadRequestError(
                "gemini offers chat completions and embeddings, not text completions: call "
                "completion() with messages=[{'role': 'user', 'content': prompt}]",
                llm_provider=self.spec.name, model=call.model)
        root = self._root(call)
        headers = {"Content-Type": "application/json"}
        if call.api_key:
            headers["x-goog-api-key"] = call.api_key
        if call.extra_headers:
            headers.update(call.extra_headers)
        path = self.model_path(call)
        if call.call_type == "embedding":
            embedding_format(call)  # a bad value fails here, before any I/O
            return HTTPRequest("POST", f"{root}/{path}:batchEmbedContents", headers,
                               embed_body(call, path))
        if call.stream:
            url = f"{root}/{path}:streamGenerateContent?alt=sse"
        else:
            url = f"{root}/{path}:generateContent"
        return HTTPRequest("POST", url, headers, build_body(call))

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        data = decode_json(call, status, headers, body)
        if isinstance(data, dict) and "error" in data:
            raise gemini_error(call, status if status >= 400 else 500, headers, body)
        if call.call_type == "embedding":
            return _embeddings(call, data, body)
        return parse_generate(call, data, body)

    def stream_decoder(self, call: Call) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(call)

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        return gemini_error(call, status, headers, body)


def _embeddings(call: Call, data: Any, body: bytes) -> EmbeddingResponse:
    items = data.get("embeddings") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise APIConnectionError(f"gemini embedding reply has no 'embeddings': "
                                 f"{body_excerpt(body)}", llm_provider=call.provider,
                                 model=call.model, response_body=body_excerpt(body))
    fmt = embedding_format(call)
    vectors = [Embedding(index=i, embedding=encode_vector(list((e or {}).get("values") or []),
                                                          fmt))
               for i, e in enumerate(items)]
    meta = data.get("usageMetadata") if isinstance(data, dict) else None
    if isinstance(meta, dict) and meta.get("promptTokenCount") is not None:
        tokens = int(meta["promptTokenCount"])
    else:  # batchEmbedContents reports no usage: estimate it so the call can be priced
        from ...tokens import token_counter

        texts = call.input if isinstance(call.input, list) else [call.input]
        tokens = token_counter(call.model, text=[str(t) for t in texts])
    return EmbeddingResponse(model=call.model, data=vectors,
                             usage=Usage(prompt_tokens=tokens, total_tokens=tokens))
