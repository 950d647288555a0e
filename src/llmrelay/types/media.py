"""Response objects of the non-chat surfaces, in OpenAI's (and Cohere's) shapes: images,
audio transcriptions, speech, moderations and rerank.

Like the chat classes they support attribute and item access, ``model_dump()`` and
``_hidden_params``. Each defines ``_redacted()``: the copy a callback sees when prompts
and completions are redacted (:func:`llmrelay.callbacks.payload.redact_response` asks for
it), so a new body shape brings its own redaction.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .responses import OpenAIObject

__all__ = [
    "HttpxBinaryResponseContent",
    "ImageObject",
    "ImageResponse",
    "ImageUsage",
    "ModerationResult",
    "OpenAIModerationResponse",
    "RerankResponse",
    "TranscriptionResponse",
    "TranscriptionUsage",
]

REDACTED = "redacted-by-llmrelay"  # the same marker as callbacks.payload.REDACTED


def _clone(obj: OpenAIObject) -> Any:
    out = copy.copy(obj)
    out.__dict__ = dict(obj.__dict__)
    if "_hidden_params" in out.__dict__:
        out.__dict__["_hidden_params"] = dict(out.__dict__["_hidden_params"])
    return out


class TokenDetails(OpenAIObject):
    """``input_tokens_details`` / ``output_tokens_details`` of a token usage."""

    _fields = {"cached_tokens": 0}


class ImageUsage(OpenAIObject):
    """Token usage of an image or Responses API call (``input_tokens``/``output_tokens``);
    ``prompt_tokens``/``completion_tokens`` read the same counts under OpenAI's chat names
    so pricing, limits and spend records treat every call alike."""

    _fields = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
               "input_tokens_details": None, "output_tokens_details": None}
    _children = {"input_tokens_details": TokenDetails, "output_tokens_details": TokenDetails}

    def _post(self) -> None:
        d = self.__dict__
        d["input_tokens"] = int(d.get("input_tokens") or 0)
        d["output_tokens"] = int(d.get("output_tokens") or 0)
        if not d.get("total_tokens"):
            d["total_tokens"] = d["input_tokens"] + d["output_tokens"]

    @property
    def prompt_tokens(self) -> int:
        return int(self.__dict__["input_tokens"])

    @property
    def completion_tokens(self) -> int:
        return int(self.__dict__["output_tokens"])

    @property
    def prompt_tokens_details(self) -> Any:
        return self.__dict__.get("input_tokens_details")

    @property
    def completion_tokens_details(self) -> Any:
        return self.__dict__.get("output_tokens_details")


class ImageObject(OpenAIObject):
    """One generated image: ``url`` or ``b64_json``, and ``revised_prompt`` (dall-e-3)."""

    _fields = {"b64_json": None, "revised_prompt": None, "url": None}
    b64_json: str | None
    revised_prompt: str | None
    url: str | None


class ImageResponse(OpenAIObject):
    """``/v1/images/generations``'s answer: ``created``, ``data`` (:class:`ImageObject`)
    and, for token-priced models, ``usage``."""

    _fields = {"created": None, "data": None, "usage": None}
    _children = {"data": ImageObject, "usage": ImageUsage}
    created: int
    data: list[ImageObject]
    usage: ImageUsage | None

    def _post(self) -> None:
        d = self.__dict__
        if d["created"] is None:
            d["created"] = int(time.time())
        if d["data"] is None:
            d["data"] = []
        d.setdefault("_hidden_params", {})

    def _redacted(self) -> ImageResponse:
        out = _clone(self)
        out.__dict__["data"] = [ImageObject(revised_prompt=REDACTED if i.revised_prompt
                                            else None) for i in self.data]
        return out  # type: ignore[no-any-return]


class TranscriptionUsage(OpenAIObject):
    """A transcription's usage: ``{"type": "duration", "seconds"}`` (whisper) or
    ``{"type": "tokens", "input_tokens", "output_tokens", ...}``."""

    _fields = {"type": None}

    @property
    def prompt_tokens(self) -> int:
        return int(self.__dict__.get("input_tokens") or 0)

    @property
    def completion_tokens(self) -> int:
        return int(self.__dict__.get("output_tokens") or 0)

    @property
    def total_tokens(self) -> int:
        return int(self.__dict__.get("total_tokens") or self.prompt_tokens
                   + self.completion_tokens)


class TranscriptionResponse(OpenAIObject):
    """``/v1/audio/transcriptions``'s answer: ``text`` (and ``language``, ``duration``,
    ``words``, ``segments`` for ``verbose_json``; ``usage`` where OpenAI reports it).
    A ``text``/``srt``/``vtt`` answer is held as ``text``."""

    _fields = {"text": ""}
    _children = {"usage": TranscriptionUsage}

    def _post(self) -> None:
        self.__dict__.setdefault("_hidden_params", {})

    def _redacted(self) -> TranscriptionResponse:
        out = _clone(self)
        d = out.__dict__
        d["text"] = REDACTED
        for key in ("words", "segments"):
            if d.get(key):
                d[key] = REDACTED
        return out  # type: ignore[no-any-return]


class ModerationResult(OpenAIObject):
    _fields = {"flagged": False, "categories": None, "category_scores": None}


class OpenAIModerationResponse(OpenAIObject):
    """``/v1/moderations``'s answer: ``id``, ``model``, ``results``."""

    _fields = {"id": None, "model": None, "results": None}
    _children = {"results": ModerationResult}
    id: str | None
    model: str | None
    results: list[ModerationResult]

    def _post(self) -> None:
        d = self.__dict__
        if d["results"] is None:
            d["results"] = []
        d.setdefault("_hidden_params", {})

    def _redacted(self) -> OpenAIModerationResponse:
        return _clone(self)  # type: ignore[no-any-return]  # verdicts hold no prompt text


class RerankResponse(OpenAIObject):
    """Cohere's rerank answer: ``id``, ``results`` (``index``, ``relevance_score`` and,
    with ``return_documents``, ``document``), ``meta`` (``billed_units.search_units``)."""

    _fields = {"id": None, "results": None, "meta": None}
    id: str | None
    results: list[Any]
    meta: dict[str, Any]

    def _post(self) -> None:
        d = self.__dict__
        if d["results"] is None:
            d["results"] = []
        if d["meta"] is None:
            d["meta"] = {}
        d.setdefault("_hidden_params", {})

    @property
    def usage(self) -> None:
        """Rerank is priced per search unit, not per token."""
        return None

    def search_units(self) -> int:
        """Billed search units (1 when the provider does not say)."""
        billed = (self.meta or {}).get("billed_units") or {}
        units = billed.get("search_units") if isinstance(billed, dict) else None
        return int(units) if isinstance(units, (int, float)) and units > 0 else 1

    def _redacted(self) -> RerankResponse:
        out = _clone(self)
        out.__dict__["results"] = [
            {k: (REDACTED if k == "document" else v) for k, v in r.items()}
            if isinstance(r, dict) else r for r in self.results]
        return out  # type: ignore[no-any-return]


class HttpxBinaryResponseContent:
    """What :func:`llmrelay.speech` returns: the audio bytes with the methods of the
    OpenAI SDK's binary response (``content``, ``read()``, ``iter_bytes()``,
    ``write_to_file()``, ``stream_to_file()`` and async twins)."""

    def __init__(self, content: bytes, headers: dict[str, str] | None = None,
                 model: str | None = None) -> None:
        self.content = content
        self.headers = dict(headers or {})
        self.model = model
        self._hidden_params: dict[str, Any] = {}

    @property
    def usage(self) -> None:
        return None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def encoding(self) -> str | None:
        return None

    @property
    def response(self) -> HttpxBinaryResponseContent:  # the OpenAI SDK's attribute
        return self

    def read(self) -> bytes:
        return self.content

    async def aread(self) -> bytes:
        return self.content

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        size = chunk_size or 65536
        for i in range(0, len(self.content), size):
            yield self.content[i:i + size]

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        for piece in self.iter_bytes(chunk_size):
            yield piece

    def write_to_file(self, file: Any) -> None:
        with open(file, "wb") as f:
            f.write(self.content)

    def stream_to_file(self, file: Any, *, chunk_size: int | None = None) -> None:
        self.write_to_file(file)

    async def astream_to_file(self, file: Any, *, chunk_size: int | None = None) -> None:
        self.write_to_file(file)

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return {"bytes": len(self.content), "content_type": self.headers.get("content-type")}

    def _redacted(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return f"HttpxBinaryResponseContent({len(self.content)} bytes)"
