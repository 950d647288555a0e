"""The Cohere wire: ``{base}/v2/chat`` and ``{base}/v2/embed`` with a bearer key
(``api_key=``, ``COHERE_API_KEY`` or ``CO_API_KEY``); base ``https://api.cohere.com``."""

from __future__ import annotations

from typing import Any

from ...exceptions import AuthenticationError, BadRequestError, LLMRelayError
from ..base import RERANK_PARAMS, Call, HTTPRequest, bearer_headers, decode_json
from ..registry import ProviderSpec
from ..rerank import rerank_body, rerank_response
from .chat import CHAT_PARAMS, build_chat, cohere_error, parse_chat
from .embed import EMBEDDING_PARAMS, embed_body, parse_embed
from .stream import CohereStreamDecoder

__all__ = ["CohereProvider"]


class CohereProvider:
    """Pure translation for Cohere's v2 API; one instance per provider row."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        if call_type == "embedding":
            return EMBEDDING_PARAMS
        return CHAT_PARAMS if call_type == "completion" else frozenset()

    def base(self, call: Call) -> str:
        base = (call.api_base or self.spec.env_base() or self.spec.base_url or "").rstrip("/")
        return base[: -len("/v2")] if base.endswith("/v2") else base

    def surface(self, call_type: str) -> Any:
        """Rerank (``/v2/rerank``); other call types beyond chat and embeddings: None."""
        return CohereRerank(self) if call_type == "rerank" else None

    def headers(self, call: Call) -> dict[str, str]:
        """JSON headers with the bearer key; AuthenticationError without a key (for
        Cohere's own host)."""
        base = self.base(call)
        if not call.api_key and base == (self.spec.base_url or "").rstrip("/"):
            raise AuthenticationError(f"missing API key for cohere: pass api_key= or set "
                                      f"{' or '.join(self.spec.key_env)}",
                                      llm_provider=self.spec.name, model=call.model)
        return bearer_headers(call, {"Content-Type": "application/json",
                                     "Accept": "application/json"})

    def build_request(self, call: Call) -> HTTPRequest:
        """The v2 chat or embed request; BadRequestError for text completions and content
        Cohere cannot take, AuthenticationError without a key (for Cohere's own host)."""
        if call.call_type not in ("completion", "embedding"):
            raise BadRequestError("cohere offers chat completions and embeddings here, not "
                                  "text completions", llm_provider=self.spec.name,
                                  model=call.model)
        base = self.base(call)
        headers = self.headers(call)
        if call.call_type == "embedding":
            return HTTPRequest("POST", f"{base}/v2/embed", headers, embed_body(call))
        if call.stream:
            headers["Accept"] = "text/event-stream"
        return HTTPRequest("POST", f"{base}/v2/chat", headers, build_chat(call))

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        if call.call_type == "embedding":
            return parse_embed(call, status, headers, body)
        return parse_chat(call, status, headers, body)

    def stream_decoder(self, call: Call) -> CohereStreamDecoder:
        return CohereStreamDecoder(call)

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        return cohere_error(call, status, headers, body)


class CohereRerank:
    """``POST {base}/v2/rerank``: documents sent as strings, results carry the request's
    documents unless ``return_documents=False``."""

    def __init__(self, wire: CohereProvider) -> None:
        self.wire = wire
        self.spec = wire.spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        return RERANK_PARAMS

    def build_request(self, call: Call) -> HTTPRequest:
        if call.stream:
            raise BadRequestError("rerank does not stream", param="stream")
        body = rerank_body(call, send_return_documents=False)
        body.pop("max_chunks_per_doc", None)  # a v1 option; v2 has max_tokens_per_doc
        return HTTPRequest("POST", f"{self.wire.base(call)}/v2/rerank",
                           self.wire.headers(call), body)

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        return rerank_response(call, decode_json(call, status, headers, body), body)

    def stream_decoder(self, call: Call) -> Any:
        raise BadRequestError("rerank does not stream", param="stream")

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        return cohere_error(call, status, headers, body)
