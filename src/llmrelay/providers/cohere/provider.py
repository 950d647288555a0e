"""The Cohere wire: ``{base}/v2/chat`` and ``{base}/v2/embed`` with a bearer key
(``api_key=``, ``COHERE_API_KEY`` or ``CO_API_KEY``); base ``https://api.cohere.com``."""

from __future__ import annotations

from typing import Any

from ...exceptions import AuthenticationError, BadRequestError, LLMRelayError
from ..base import Call, HTTPRequest
from ..registry import ProviderSpec
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

    def build_request(self, call: Call) -> HTTPRequest:
        """The v2 chat or embed request; BadRequestError for text completions and content
        Cohere cannot take, AuthenticationError without a key (for Cohere's own host)."""
        if call.call_type not in ("completion", "embedding"):
            raise BadRequestError("cohere offers chat completions and embeddings here, not "
                                  "text completions", llm_provider=self.spec.name,
                                  model=call.model)
        base = self.base(call)
        if not call.api_key and base == (self.spec.base_url or "").rstrip("/"):
            raise AuthenticationError(f"missing API key for cohere: pass api_key= or set "
                                      f"{' or '.join(self.spec.key_env)}",
                                      llm_provider=self.spec.name, model=call.model)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if call.api_key:
            headers["Authorization"] = f"Bearer {call.api_key}"
        if call.extra_headers:
            headers.update(call.extra_headers)
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
