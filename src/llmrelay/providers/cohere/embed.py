"""Cohere v2 embed (``POST /v2/embed``) and rerank (``POST /v2/rerank``) translation.

Embeddings: ``input_type`` (Cohere requires it for v3+ models; ``search_document`` unless
the caller says otherwise), ``embedding_types`` (``float`` by default; the first type asked
for is returned), ``dimensions`` -> ``output_dimension``, ``truncate``.

Rerank is translation only here (:func:`rerank_body`, :func:`parse_rerank`): the public
``rerank()`` function and proxy route belong to the SDK surface.
"""

from __future__ import annotations

from typing import Any

from ...exceptions import APIConnectionError, BadRequestError
from ...types import Embedding, EmbeddingResponse, Usage
from ..base import Call, body_excerpt, decode_json, embedding_format, encode_vector

__all__ = ["EMBEDDING_PARAMS", "embed_body", "parse_embed", "parse_rerank", "rerank_body"]

EMBEDDING_PARAMS = frozenset({"dimensions", "encoding_format"})


def embed_body(call: Call) -> dict[str, Any]:
    embedding_format(call)
    texts = call.input if isinstance(call.input, list) else [call.input]
    if not all(isinstance(t, str) for t in texts):
        raise BadRequestError("Cohere embeddings take strings", llm_provider=call.provider,
                              model=call.model, param="input")
    p = call.params
    types = p.get("embedding_types") or ["float"]
    body: dict[str, Any] = {"model": call.model, "texts": list(texts),
                            "input_type": p.get("input_type") or "search_document",
                            "embedding_types": list(types)}
    if p.get("dimensions") is not None:
        body["output_dimension"] = int(p["dimensions"])
    if p.get("truncate") is not None:
        body["truncate"] = p["truncate"]
    return body


def parse_embed(call: Call, status: int, headers: dict[str, str],
                body: bytes) -> EmbeddingResponse:
    data = decode_json(call, status, headers, body)
    found = data.get("embeddings") if isinstance(data, dict) else None
    if isinstance(found, dict):
        kind = (call.params.get("embedding_types") or ["float"])[0]
        found = found.get(kind)
    if not isinstance(found, list):
        raise APIConnectionError(f"Cohere embed reply has no embeddings: {body_excerpt(body)}",
                                 llm_provider=call.provider, model=call.model,
                                 response_body=body_excerpt(body))
    fmt = embedding_format(call)
    billed = ((data.get("meta") or {}).get("billed_units") or {})
    tokens = int(billed.get("input_tokens") or 0)
    return EmbeddingResponse(model=call.model, data=[
        Embedding(index=i, embedding=encode_vector(list(v), fmt)) for i, v in enumerate(found)],
        usage=Usage(prompt_tokens=tokens, total_tokens=tokens))


def rerank_body(model: str, query: str, documents: list[Any], top_n: int | None = None,
                max_tokens_per_doc: int | None = None) -> dict[str, Any]:
    """The body of ``POST /v2/rerank``; documents may be strings or ``{"text": ...}``."""
    docs = [d if isinstance(d, str) else str((d or {}).get("text", "")) for d in documents]
    body: dict[str, Any] = {"model": model, "query": query, "documents": docs}
    if top_n is not None:
        body["top_n"] = int(top_n)
    if max_tokens_per_doc is not None:
        body["max_tokens_per_doc"] = int(max_tokens_per_doc)
    return body


def parse_rerank(data: dict[str, Any], documents: list[Any] | None = None,
                 return_documents: bool = False) -> dict[str, Any]:
    """LiteLLM's rerank response shape: ``{"id", "results": [{"index", "relevance_score",
    "document"?}], "meta": {"billed_units": {"search_units"}}}``."""
    results = []
    for item in data.get("results") or ():
        row: dict[str, Any] = {"index": int(item["index"]),
                               "relevance_score": float(item["relevance_score"])}
        if return_documents and documents is not None:
            doc = documents[row["index"]]
            row["document"] = {"text": doc if isinstance(doc, str) else doc.get("text")}
        results.append(row)
    return {"id": data.get("id"), "results": results, "meta": data.get("meta") or {}}
