"""Translation to and from watsonx.ai's text API.

* chat: ``POST {base}/ml/v1/text/chat?version=V`` (``/text/chat_stream`` for streams, SSE
  whose events carry OpenAI-shaped chunks); a model in a deployment space,
  ``watsonx/deployment/<id>``, goes to ``/ml/v1/deployments/<id>/text/chat``;
* embeddings: ``POST {base}/ml/v1/text/embeddings?version=V`` with ``inputs``, answered with
  ``results[].embedding`` and ``input_token_count``.

The base URL is ``api_base=`` or ``WATSONX_URL`` (``WATSONX_API_BASE``, ``WX_URL``,
``WML_URL``), the project ``project_id=`` or ``WATSONX_PROJECT_ID`` (``WX_PROJECT_ID``,
``PROJECT_ID``), a deployment space ``space_id=`` or ``WATSONX_DEPLOYMENT_SPACE_ID``; the
API version ``api_version=`` or ``WATSONX_API_VERSION``. The bearer token is added per
attempt (:mod:`.auth`). Errors are ``{"errors": [{"code", "message"}], "status_code"}``.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from ...exceptions import APIConnectionError, BadRequestError, LLMRelayError, ProviderConfigError
from ...types import EmbeddingResponse, ModelResponse, ModelResponseStream
from ..base import (
    Call,
    HTTPRequest,
    body_excerpt,
    decode_json,
    embedding_format,
    encode_vector,
    error_from_reply,
    stream_event_object,
)
from ..registry import ProviderSpec
from ..sse import SSEDecoder, SSEStreamDecoder
from .auth import authorization

__all__ = ["API_VERSION", "WatsonxProvider"]

API_VERSION = "2024-03-13"
_PROJECT_ENV = ("WATSONX_PROJECT_ID", "WX_PROJECT_ID", "PROJECT_ID")
_SPACE_ENV = ("WATSONX_DEPLOYMENT_SPACE_ID", "WATSONX_SPACE_ID", "SPACE_ID")
_CHAT = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "tools", "tool_choice", "response_format",
})
_EMBED = frozenset({"encoding_format"})
_DEPLOYMENT = "deployment/"


def _env(names: tuple[str, ...]) -> str | None:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None


class WatsonxProvider:
    """Pure translation for watsonx.ai; the token is added by :meth:`authorize`."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        return _EMBED if call_type == "embedding" else _CHAT

    # ---- requests -----------------------------------------------------------------------
    def api_base(self, call: Call) -> str:
        base = call.api_base or self.spec.env_base()
        if not base:
            raise ProviderConfigError(
                "watsonx needs its instance URL: pass api_base= or set "
                f"{' or '.join(self.spec.base_env)} (e.g. https://us-south.ml.cloud.ibm.com)",
                llm_provider=self.spec.name, model=call.model)
        return base.rstrip("/")

    def _scope(self, call: Call) -> dict[str, str]:
        """``project_id`` or ``space_id`` (one is required outside a deployment)."""
        project = call.auth.get("project_id") or _env(_PROJECT_ENV)
        if project:
            return {"project_id": str(project)}
        space = call.auth.get("space_id") or _env(_SPACE_ENV)
        if space:
            return {"space_id": str(space)}
        raise BadRequestError("watsonx needs a project or a deployment space: pass "
                              "project_id= (or space_id=), or set WATSONX_PROJECT_ID",
                              llm_provider=self.spec.name, model=call.model)

    def build_request(self, call: Call) -> HTTPRequest:
        if call.call_type not in ("completion", "embedding"):
            raise BadRequestError("watsonx is served for chat completions and embeddings",
                                  llm_provider=self.spec.name, model=call.model)
        base = self.api_base(call)
        version = call.api_version or os.environ.get("WATSONX_API_VERSION") or API_VERSION
        body: dict[str, Any]
        if call.call_type == "embedding":
            embedding_format(call)
            items = call.input if isinstance(call.input, list) else [call.input]
            if not items or not all(isinstance(t, str) for t in items):
                raise BadRequestError("watsonx embeddings take a string or a list of strings",
                                      llm_provider=self.spec.name, model=call.model,
                                      param="input")
            body = {"inputs": items, "model_id": call.model, **self._scope(call)}
            path = "/ml/v1/text/embeddings"
        else:
            body = self._chat_body(call)
            op = "chat_stream" if call.stream else "chat"
            if call.model.startswith(_DEPLOYMENT):
                dep = quote(call.model[len(_DEPLOYMENT):], safe="")
                path = f"/ml/v1/deployments/{dep}/text/{op}"
            else:
                body.update({"model_id": call.model, **self._scope(call)})
                path = f"/ml/v1/text/{op}"
        if call.extra_body:
            body.update(call.extra_body)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if call.extra_headers:
            headers.update(call.extra_headers)
        return HTTPRequest("POST", f"{base}{path}?version={quote(version)}", headers, body)

    @staticmethod
    def _chat_body(call: Call) -> dict[str, Any]:
        body: dict[str, Any] = {"messages": call.messages}
        params = dict(call.params)
        if "max_completion_tokens" in params:  # watsonx names it max_tokens
            params.setdefault("max_tokens", params.pop("max_completion_tokens"))
        params.pop("stream_options", None)
        body.update(params)
        return body

    def authorize(self, call: Call, req: HTTPRequest, may_block: bool = True) -> bool:
        value = authorization(call, may_block)
        if value is None:
            return False
        req.headers["Authorization"] = value
        return True

    # ---- replies ------------------------------------------------------------------------
    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        data = decode_json(call, status, headers, body)
        if not isinstance(data, dict):
            raise self._unreadable(call, status, body)
        if data.get("errors"):
            raise self.map_error(call, status if status >= 400 else 500, headers, body)
        if call.call_type == "embedding":
            return self._embedding(call, data, status, body)
        if "choices" not in data:
            raise self._unreadable(call, status, body)
        return ModelResponse.from_dict(_openai_shape(data, call.model, "chat.completion"))

    def _embedding(self, call: Call, data: dict[str, Any], status: int,
                   body: bytes) -> EmbeddingResponse:
        results = data.get("results")
        if not isinstance(results, list):
            raise self._unreadable(call, status, body)
        fmt = embedding_format(call)
        tokens = int(data.get("input_token_count") or 0)
        out: EmbeddingResponse = EmbeddingResponse.from_dict({
            "object": "list", "model": data.get("model_id") or call.model,
            "data": [{"object": "embedding", "index": i,
                      "embedding": encode_vector(r.get("embedding") or [], fmt)}
                     for i, r in enumerate(results)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
        return out

    def _unreadable(self, call: Call, status: int, body: bytes) -> APIConnectionError:
        return APIConnectionError(f"watsonx reply has no result: {body_excerpt(body)}",
                                  status_code=status, llm_provider=call.provider,
                                  model=call.model, response_body=body_excerpt(body))

    def stream_decoder(self, call: Call) -> WatsonxStreamDecoder:
        return WatsonxStreamDecoder(self, call)

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        message = code = None
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            errors = data.get("errors")
            first = errors[0] if isinstance(errors, list) and errors else None
            if isinstance(first, dict):
                message, code = first.get("message"), first.get("code")
            elif isinstance(data.get("error"), str):
                message = data["error"]
        return error_from_reply(call, status, headers, body,
                                str(message) if message else None,
                                str(code) if code else None)


def _openai_shape(data: dict[str, Any], model: str, kind: str) -> dict[str, Any]:
    """A watsonx reply or chunk as OpenAI's: ``model_id`` -> ``model``, ``object`` set."""
    out = dict(data)
    out["model"] = out.pop("model_id", None) or model
    out.setdefault("object", kind)
    out.pop("created_at", None)
    out.pop("model_version", None)
    out.pop("system", None)  # warnings watsonx adds about the request
    return out


class WatsonxStreamDecoder(SSEStreamDecoder):
    """``chat_stream``'s SSE: each ``data:`` an OpenAI-shaped chunk (with ``model_id``);
    the last chunk carries the finish reason and the usage. A stream that ends before a
    finish reason was cut."""

    def __init__(self, provider: WatsonxProvider, call: Call) -> None:
        self._provider = provider
        self._call = call
        self._sse = SSEDecoder()
        self._finished = False

    cut_message = "watsonx's stream ended before its final chunk; the reply was cut"

    def _event(self, data: bytes) -> list[Any]:
        if data.strip() in (b"", b"[DONE]"):
            return []
        obj = stream_event_object(self._call, data, "watsonx")
        if obj is None:
            return []
        if obj.get("errors"):
            status = obj.get("status_code")
            raise self._provider.map_error(self._call, status if isinstance(status, int)
                                           else 500, {}, data)
        for choice in obj.get("choices") or ():
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self._finished = True
        return [ModelResponseStream.from_dict(_openai_shape(obj, self._call.model,
                                                            "chat.completion.chunk"))]

