"""Bedrock embeddings through InvokeModel: Amazon Titan and Cohere Embed bodies.

* ``amazon.titan-embed-text-v1`` / ``-v2:0`` (and ``amazon.titan-embed-image-v1``):
  ``{"inputText"}`` (v2 adds ``dimensions``, ``normalize``); one text per request, as the
  API defines it. Reply ``{"embedding", "inputTextTokenCount"}``.
* ``cohere.embed-*``: ``{"texts", "input_type", "truncate", "embedding_types"}`` (OpenAI's
  ``dimensions`` is ``output_dimension`` on Embed v4); reply ``{"embeddings": [[...]]}`` or
  ``{"embeddings": {"float": [[...]]}}``. Token counts come in the
  ``x-amzn-bedrock-input-token-count`` header.
"""

from __future__ import annotations

from typing import Any

from ...exceptions import APIConnectionError, BadRequestError
from ...types import Embedding, EmbeddingResponse, Usage
from ..base import Call, body_excerpt, decode_json, embedding_format, encode_vector
from .converse import family

__all__ = ["EMBEDDING_PARAMS", "embed_body", "parse_embedding"]

EMBEDDING_PARAMS = frozenset({"dimensions", "encoding_format"})
_COHERE_EXTRAS = ("input_type", "truncate", "embedding_types", "images", "output_dimension")


def _texts(call: Call) -> list[str]:
    items = call.input if isinstance(call.input, list) else [call.input]
    if not all(isinstance(t, str) for t in items):
        raise BadRequestError("Bedrock embeddings take strings (token arrays cannot be sent)",
                              llm_provider=call.provider, model=call.model, param="input")
    return [str(t) for t in items]


def _is_titan(model: str) -> bool:
    return family(model) == "amazon" and "titan-embed" in model


def embed_body(call: Call) -> dict[str, Any]:
    """The InvokeModel body for an embedding call; BadRequestError for an unknown family or
    several texts sent to Titan (which embeds one text per request)."""
    embedding_format(call)
    texts = _texts(call)
    params = call.params
    if _is_titan(call.model):
        if len(texts) != 1:
            raise BadRequestError(
                f"Titan embeds one text per request; got {len(texts)}. Call embedding() once "
                "per text, or use a Cohere embed model for batches",
                llm_provider=call.provider, model=call.model, param="input")
        body: dict[str, Any] = {"inputText": texts[0]}
        if params.get("dimensions") is not None:
            body["dimensions"] = int(params["dimensions"])
        for key in ("normalize", "embeddingTypes"):
            if key in params:
                body[key] = params[key]
        return body
    if family(call.model) == "cohere":
        body = {"texts": texts, "input_type": params.get("input_type") or "search_document"}
        if params.get("dimensions") is not None:
            body["output_dimension"] = int(params["dimensions"])
        for key in _COHERE_EXTRAS[1:]:
            if params.get(key) is not None:
                body[key] = params[key]
        return body
    raise BadRequestError(f"Bedrock embeddings support Titan and Cohere embed models, not "
                          f"{call.model!r}", llm_provider=call.provider, model=call.model)


def _vectors(data: dict[str, Any]) -> list[list[float]]:
    if isinstance(data.get("embedding"), list):
        return [data["embedding"]]
    found = data.get("embeddings")
    if isinstance(found, dict):
        found = found.get("float") or next(iter(found.values()), None)
    if isinstance(found, list):
        return [list(v) for v in found]
    raise KeyError("embeddings")


def parse_embedding(call: Call, status: int, headers: dict[str, str],
                    body: bytes) -> EmbeddingResponse:
    data = decode_json(call, status, headers, body)
    try:
        vectors = _vectors(data if isinstance(data, dict) else {})
    except KeyError:
        raise APIConnectionError(f"Bedrock embedding reply has no embeddings: "
                                 f"{body_excerpt(body)}", llm_provider=call.provider,
                                 model=call.model, response_body=body_excerpt(body)) from None
    fmt = embedding_format(call)
    tokens = data.get("inputTextTokenCount") if isinstance(data, dict) else None
    if tokens is None:
        tokens = headers.get("x-amzn-bedrock-input-token-count")
    if tokens is None:
        from ...tokens import token_counter

        tokens = token_counter(call.model, text=_texts(call))
    count = int(tokens)
    return EmbeddingResponse(model=call.model,
                             data=[Embedding(index=i, embedding=encode_vector(v, fmt))
                                   for i, v in enumerate(vectors)],
                             usage=Usage(prompt_tokens=count, total_tokens=count))
