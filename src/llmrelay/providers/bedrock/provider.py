"""The Bedrock wire: URLs, auth, and dispatch to the translators.

``bedrock/<model id>`` (``bedrock/converse/<id>`` and ``bedrock/invoke/<id>`` name the same
model; chats always go through Converse) calls
``POST {endpoint}/model/{id}/converse`` (``/converse-stream`` when streaming) and, for
embeddings, ``/model/{id}/invoke``. The model id may be a foundation model
(``anthropic.claude-3-5-sonnet-20240620-v1:0``), a cross-region inference profile
(``us.``/``eu.``/``apac.``/``global.`` prefixes) or an ARN (provisioned throughput,
application inference profiles); it is URL-encoded into the path.

The endpoint is ``aws_bedrock_runtime_endpoint`` or ``api_base`` (or
``AWS_BEDROCK_RUNTIME_ENDPOINT``), else ``https://bedrock-runtime.<region>.amazonaws.com``.
Auth is a Bedrock API key (``api_key=`` or ``AWS_BEARER_TOKEN_BEDROCK``) sent as a bearer
token, else a SigV4 signature over the exact body bytes (see :mod:`.auth`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ...exceptions import BadRequestError, LLMRelayError
from ..base import Call, HTTPRequest, bearer_headers
from ..registry import ProviderSpec
from .auth import region_for, sign
from .converse import CHAT_PARAMS, build_converse
from .embed import EMBEDDING_PARAMS, embed_body, parse_embedding
from .response import bedrock_error, parse_converse
from .stream import BedrockStreamDecoder

__all__ = ["BedrockProvider"]


class BedrockProvider:
    """Pure translation for Amazon Bedrock; one instance per provider row."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        if call_type == "embedding":
            return EMBEDDING_PARAMS
        return CHAT_PARAMS if call_type == "completion" else frozenset()

    def endpoint(self, call: Call) -> str:
        base = (call.auth.get("aws_bedrock_runtime_endpoint") or call.api_base
                or self.spec.env_base())
        if base:
            return str(base).rstrip("/")
        return f"https://bedrock-runtime.{region_for(call)}.amazonaws.com"

    def build_request(self, call: Call) -> HTTPRequest:
        """The Converse (or InvokeModel) request; auth headers are added per attempt by
        :meth:`authorize`. Raises BadRequestError for text completions and untranslatable
        input, before any I/O."""
        if call.call_type not in ("completion", "embedding"):
            raise BadRequestError(
                "bedrock offers chat completions and embeddings, not text completions: call "
                "completion() with messages=[{'role': 'user', 'content': prompt}]",
                llm_provider=self.spec.name, model=call.model)
        if not call.model:
            raise BadRequestError("bedrock needs a model id: 'bedrock/<model id>'",
                                  llm_provider=self.spec.name)
        root = f"{self.endpoint(call)}/model/{quote(call.model, safe='')}"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if call.call_type == "embedding":
            url, body = f"{root}/invoke", embed_body(call)
        else:
            body = build_converse(call)
            if call.stream:
                url = f"{root}/converse-stream"
                headers["Accept"] = "application/vnd.amazon.eventstream"
            else:
                url = f"{root}/converse"
        return HTTPRequest("POST", url, bearer_headers(call, headers), body)

    def authorize(self, call: Call, req: HTTPRequest, may_block: bool = True) -> bool:
        """SigV4-sign ``req`` (unless a Bedrock API key is used); see :func:`.auth.sign`."""
        if call.api_key:
            return True
        return sign(call, req, region_for(call), may_block)

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        if call.call_type == "embedding":
            return parse_embedding(call, status, headers, body)
        return parse_converse(call, status, headers, body)

    def stream_decoder(self, call: Call) -> BedrockStreamDecoder:
        return BedrockStreamDecoder(call)

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        return bedrock_error(call, status, headers, body)
