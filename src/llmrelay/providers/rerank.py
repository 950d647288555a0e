"""Cohere's rerank shape, which the OpenAI-compatible rerank servers (Jina, Together,
vLLM, Infinity ...) also speak: ``POST {base}/rerank`` with ``{model, query, documents,
top_n, return_documents}``, answered with ``{results: [{index, relevance_score,
document?}], ...}``.

Documents may be strings or objects; with ``rank_fields`` the named fields of an object
are what is ranked (they are joined into the text sent, as ``"field: value"`` lines).
Unless ``return_documents=False``, each result carries its document (LiteLLM's default),
taken from the request when the server does not echo it.
"""

from __future__ import annotations

import json
from typing import Any

from ..exceptions import APIConnectionError, BadRequestError
from ..types import new_id
from ..types.media import RerankResponse
from .base import Call, body_excerpt

__all__ = ["document_texts", "rerank_body", "rerank_response"]


def _text(doc: Any, fields: Any) -> str:
    if isinstance(doc, str):
        return doc
    if not isinstance(doc, dict):
        raise BadRequestError(f"each rerank document must be a string or an object, got "
                              f"{type(doc).__name__}", param="documents")
    if fields:
        return "\n".join(f"{f}: {doc.get(f, '')}" for f in fields)
    if isinstance(doc.get("text"), str):
        return str(doc["text"])
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


def document_texts(call: Call) -> list[str]:
    """The documents of a rerank call as the strings a server ranks."""
    docs = call.params.get("documents")
    if not isinstance(docs, list) or not docs:
        raise BadRequestError("`documents` must be a non-empty list for rerank",
                              llm_provider=call.provider, model=call.model, param="documents")
    fields = call.params.get("rank_fields")
    return [_text(d, fields) for d in docs]


def rerank_body(call: Call, *, send_return_documents: bool = True) -> dict[str, Any]:
    """The request body; ``send_return_documents``: the server takes that field."""
    p = call.params
    body: dict[str, Any] = {"model": call.model, "query": call.input,
                            "documents": document_texts(call)}
    if p.get("top_n") is not None:
        body["top_n"] = int(p["top_n"])
    if send_return_documents and p.get("return_documents") is not None:
        body["return_documents"] = bool(p["return_documents"])
    for name in ("max_tokens_per_doc", "max_chunks_per_doc"):
        if p.get(name) is not None:
            body[name] = int(p[name])
    if call.extra_body:
        body.update(call.extra_body)
    return body


def rerank_response(call: Call, data: Any, raw: bytes = b"") -> RerankResponse:
    """A :class:`RerankResponse` from a Cohere-shaped answer (``meta.billed_units`` kept;
    a token ``usage`` kept as ``meta.tokens``)."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise APIConnectionError(f"rerank reply has no results: {body_excerpt(raw)}",
                                 llm_provider=call.provider, model=call.model)
    docs = call.params.get("documents") or []
    want_docs = call.params.get("return_documents", True) is not False
    out = []
    for item in results:
        index = int(item["index"])
        row: dict[str, Any] = {"index": index,
                               "relevance_score": float(item["relevance_score"])}
        if want_docs:
            doc = item.get("document")
            if doc is None and 0 <= index < len(docs):
                doc = docs[index]
            if doc is not None:
                row["document"] = {"text": doc} if isinstance(doc, str) else doc
        out.append(row)
    meta = dict(data.get("meta") or {})
    usage = data.get("usage")
    if isinstance(usage, dict) and "tokens" not in meta:
        meta["tokens"] = {"input_tokens": int(usage.get("prompt_tokens")
                                              or usage.get("total_tokens") or 0),
                          "output_tokens": 0}
    return RerankResponse(id=data.get("id") or new_id("rerank-"), results=out, meta=meta)
