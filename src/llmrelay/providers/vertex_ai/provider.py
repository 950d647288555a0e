"""The Vertex AI wire: Google's and Anthropic's models behind Vertex's URLs and OAuth2.

``vertex_ai/<model>`` goes to
``https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/
publishers/{publisher}/models/{model}:{method}`` (``aiplatform.googleapis.com`` for the
``global`` location; ``api_base`` replaces the scheme and host):

* Gemini (``publishers/google``): the Gemini provider's body and replies,
  ``:generateContent`` / ``:streamGenerateContent?alt=sse``;
* Claude (``claude-*``, ``publishers/anthropic``): Anthropic's Messages body without
  ``model`` and with ``anthropic_version: vertex-2023-10-16``, ``:rawPredict`` /
  ``:streamRawPredict`` (Anthropic's SSE);
* embeddings (``text-embedding-*``, ``gemini-embedding-*``, ...): ``:predict`` with
  ``instances``; ``input_type`` becomes ``task_type`` and ``dimensions``
  ``outputDimensionality``.

The project is ``vertex_project`` (or ``VERTEXAI_PROJECT``/``GOOGLE_CLOUD_PROJECT``, or the
credentials' ``project_id``); the location ``vertex_location`` (or ``VERTEXAI_LOCATION``),
else us-central1. Every attempt carries ``Authorization: Bearer <token>`` (see :mod:`.auth`).
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from ...exceptions import APIConnectionError, BadRequestError, LLMRelayError, ProviderConfigError
from ...types import Embedding, EmbeddingResponse, Usage
from ..anthropic.response import anthropic_error, parse_message
from ..anthropic.stream import AnthropicStreamDecoder
from ..anthropic.translate import CHAT_PARAMS as CLAUDE_PARAMS
from ..anthropic.translate import build_body as anthropic_body
from ..base import Call, HTTPRequest, body_excerpt, decode_json, embedding_format, encode_vector
from ..gemini.provider import CHAT_PARAMS as GEMINI_PARAMS
from ..gemini.response import gemini_error, parse_generate
from ..gemini.stream import GeminiStreamDecoder
from ..gemini.translate import build_body as gemini_body
from ..registry import ProviderSpec
from .auth import credentials_info, token

__all__ = ["ANTHROPIC_VERSION", "VertexProvider"]

ANTHROPIC_VERSION = "vertex-2023-10-16"
DEFAULT_LOCATION = "us-central1"
EMBEDDING_PARAMS = frozenset({"dimensions", "encoding_format"})
_PROJECT_ENV = ("VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT")
_LOCATION_ENV = ("VERTEXAI_LOCATION", "VERTEX_LOCATION")
_EMBED_MARKERS = ("embedding", "embed", "gecko")


def _first_env(names: tuple[str, ...]) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def is_claude(model: str) -> bool:
    return model.startswith("claude")


class VertexProvider:
    """Pure translation for Vertex AI; one instance per provider row."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        if call_type == "embedding":
            return EMBEDDING_PARAMS
        return GEMINI_PARAMS | CLAUDE_PARAMS if call_type == "completion" else frozenset()

    # ---- URLs ---------------------------------------------------------------------------
    def project(self, call: Call) -> str:
        project = (call.auth.get("vertex_project") or call.auth.get("vertex_ai_project")
                   or _first_env(_PROJECT_ENV))
        if not project:
            info = credentials_info(call)
            project = (info or {}).get("project_id") or (info or {}).get("quota_project_id")
        if not project:
            raise ProviderConfigError("Vertex AI needs a project: pass vertex_project= or set "
                                  "VERTEXAI_PROJECT", llm_provider=self.spec.name,
                                  model=call.model, param="vertex_project")
        return str(project)

    def location(self, call: Call) -> str:
        return str(call.auth.get("vertex_location") or call.auth.get("vertex_ai_location")
                   or _first_env(_LOCATION_ENV) or DEFAULT_LOCATION)

    def model_url(self, call: Call, method: str) -> str:
        location = self.location(call)
        base = call.api_base or self.spec.env_base()
        if not base:
            host = ("aiplatform.googleapis.com" if location == "global"
                    else f"{location}-aiplatform.googleapis.com")
            base = f"https://{host}"
        publisher = "anthropic" if is_claude(call.model) else "google"
        return (f"{str(base).rstrip('/')}/v1/projects/{quote(self.project(call), safe='')}/"
                f"locations/{location}/publishers/{publisher}/models/"
                f"{quote(call.model, safe='@.-_')}:{method}")

    # ---- requests -----------------------------------------------------------------------
    def build_request(self, call: Call) -> HTTPRequest:
        """The Vertex request for ``call``; the bearer token is added per attempt by
        :meth:`authorize`. Raises BadRequestError before any I/O for text completions,
        a missing project or untranslatable input."""
        if call.call_type not in ("completion", "embedding"):
            raise BadRequestError(
                "vertex_ai offers chat completions and embeddings, not text completions",
                llm_provider=self.spec.name, model=call.model)
        if call.call_type == "embedding":
            url, body = self.model_url(call, "predict"), embed_body(call)
        elif is_claude(call.model):
            body = anthropic_body(call)
            body.pop("model", None)
            body["anthropic_version"] = ANTHROPIC_VERSION
            url = self.model_url(call, "streamRawPredict" if call.stream else "rawPredict")
        else:
            body = gemini_body(call)
            url = self.model_url(call, "streamGenerateContent?alt=sse" if call.stream
                                 else "generateContent")
        headers = {"Content-Type": "application/json"}
        if call.extra_headers:
            headers.update(call.extra_headers)
        return HTTPRequest("POST", url, headers, body)

    def authorize(self, call: Call, req: HTTPRequest, may_block: bool = True) -> bool:
        """Add ``Authorization: Bearer <token>`` (with ``api_base`` pointing at a gateway in
        front of Vertex, an ``api_key=`` is sent as the token as is)."""
        bearer = call.api_key if call.api_key and call.api_base else token(call, may_block)
        if bearer is None:
            return False
        req.headers["Authorization"] = f"Bearer {bearer}"
        return True

    # ---- replies ------------------------------------------------------------------------
    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        if call.call_type == "embedding":
            return parse_embedding(call, status, headers, body)
        if is_claude(call.model):
            return parse_message(call, status, headers, body)
        data = decode_json(call, status, headers, body)
        if isinstance(data, dict) and "error" in data:
            raise gemini_error(call, status if status >= 400 else 500, headers, body)
        return parse_generate(call, data, body)

    def stream_decoder(self, call: Call) -> Any:
        if is_claude(call.model):
            return AnthropicStreamDecoder(call)
        return GeminiStreamDecoder(call)

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        """Anthropic's error shape for errors Claude itself raised, Google's otherwise
        (quota, permission and validation errors of the Vertex front end)."""
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("type") == "error":
            return anthropic_error(call, status, headers, body)
        if isinstance(data, list) and data and isinstance(data[0], dict):
            body = json.dumps(data[0]).encode()  # Vertex sometimes wraps the error in a list
        return gemini_error(call, status, headers, body)


def embed_body(call: Call) -> dict[str, Any]:
    embedding_format(call)
    items = call.input if isinstance(call.input, list) else [call.input]
    if not all(isinstance(t, str) for t in items):
        raise BadRequestError("Vertex AI embeddings take strings", llm_provider=call.provider,
                              model=call.model, param="input")
    task = call.params.get("input_type") or call.params.get("task_type")
    instances = []
    for text in items:
        inst: dict[str, Any] = {"content": text}
        if task:
            inst["task_type"] = str(task)
        if call.params.get("title"):
            inst["title"] = call.params["title"]
        instances.append(inst)
    body: dict[str, Any] = {"instances": instances}
    params: dict[str, Any] = {}
    if call.params.get("dimensions") is not None:
        params["outputDimensionality"] = int(call.params["dimensions"])
    if call.params.get("auto_truncate") is not None:
        params["autoTruncate"] = bool(call.params["auto_truncate"])
    if params:
        body["parameters"] = params
    return body


def parse_embedding(call: Call, status: int, headers: dict[str, str],
                    body: bytes) -> EmbeddingResponse:
    data = decode_json(call, status, headers, body)
    preds = data.get("predictions") if isinstance(data, dict) else None
    if not isinstance(preds, list):
        raise APIConnectionError(f"Vertex embedding reply has no predictions: "
                                 f"{body_excerpt(body)}", llm_provider=call.provider,
                                 model=call.model, response_body=body_excerpt(body))
    fmt = embedding_format(call)
    vectors, tokens = [], 0
    for i, pred in enumerate(preds):
        emb = (pred or {}).get("embeddings") or {}
        vectors.append(Embedding(index=i, embedding=encode_vector(list(emb.get("values") or []),
                                                                  fmt)))
        tokens += int((emb.get("statistics") or {}).get("token_count") or 0)
    return EmbeddingResponse(model=call.model, data=vectors,
                             usage=Usage(prompt_tokens=tokens, total_tokens=tokens))
