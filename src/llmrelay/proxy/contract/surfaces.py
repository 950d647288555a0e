"""The request contract of the endpoints beyond chat, text and embeddings: images,
moderations, audio (a multipart upload in, audio bytes out) and rerank (Cohere's shape).
Ranges and enumerations follow OpenAI's API reference (and Cohere's for rerank); open
enumerations (models, voices, formats OpenAI keeps adding) are checked as strings."""

from __future__ import annotations

from typing import Any

from ..limits import Limits
from .checks import INT64, AnyOf, Array, Boolean, Check, Integer, Number, Object, String
from .checks import _wrong_type as wrong_type
from .endpoints import Endpoint, add_endpoint

__all__ = ["IMAGES", "MODERATIONS", "RERANK", "SPEECH", "TRANSCRIPTIONS", "File"]

_MODEL = String(min_len=1, nullable=False)
_TEXT = String()
_NONEMPTY = String(min_len=1, nullable=False)


class File(Check):
    """An uploaded file of a multipart body (the proxy holds it as ``(name, bytes,
    content type)``)."""

    expected = "a file"
    nullable = False

    def check(self, value: Any, path: str, limits: Limits) -> None:
        if not (isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], bytes)):
            raise wrong_type(path, "a file upload (multipart/form-data)", value)

    def schema(self, limits: Limits) -> dict[str, Any]:
        return {"type": "string", "format": "binary"}


IMAGES = add_endpoint(Endpoint(
    call_type="image_generation", paths=("/v1/images/generations",),
    summary="Create images from a prompt (OpenAI's images API)",
    required={"model": _MODEL, "prompt": String(min_len=1, max_len=32000, nullable=False)},
    params={"n": Integer(1, 10), "size": _TEXT, "quality": _TEXT,
            "style": String(("vivid", "natural")),
            "response_format": String(("url", "b64_json")), "user": _TEXT,
            "background": _TEXT, "moderation": _TEXT, "output_format": _TEXT,
            "output_compression": Integer(0, 100)},
    streams=False, response="ImageList"))

MODERATIONS = add_endpoint(Endpoint(
    call_type="moderation", paths=("/v1/moderations",),
    summary="Classify text (and images) as potentially harmful (OpenAI's moderations API)",
    required={"input": AnyOf(_NONEMPTY, Array(AnyOf(String(), Object(), expected=(
        "a string or an input object")), min_items=1, max_items=2048),
        expected="a string or an array")},
    params={"model": _MODEL}, streams=False, response="Moderation",
    default_model="omni-moderation-latest"))

TRANSCRIPTIONS = add_endpoint(Endpoint(
    call_type="transcription", paths=("/v1/audio/transcriptions",),
    summary="Transcribe audio into text (OpenAI's audio API; multipart/form-data)",
    required={"model": _MODEL, "file": File()},
    params={"language": _TEXT, "prompt": _TEXT,
            "response_format": String(("json", "text", "srt", "verbose_json", "vtt")),
            "temperature": Number(0, 1),
            "timestamp_granularities": Array(String(("word", "segment")), max_items=2),
            "include": Array(String(), max_items=8), "stream": Boolean()},
    streams=False, response="Transcription", body="multipart", files=("file",)))

SPEECH = add_endpoint(Endpoint(
    call_type="speech", paths=("/v1/audio/speech",),
    summary="Turn text into speech (OpenAI's audio API); the audio is streamed as it comes",
    required={"model": _MODEL, "input": String(min_len=1, max_len=4096, nullable=False),
              "voice": AnyOf(_NONEMPTY, Object(), expected="a voice name or object")},
    params={"response_format": String(("mp3", "opus", "aac", "flac", "wav", "pcm")),
            "speed": Number(0.25, 4.0), "instructions": String(max_len=4096),
            "stream_format": String(("audio", "sse"))},
    streams=False, response="Audio", answer="audio"))

RERANK = add_endpoint(Endpoint(
    call_type="rerank", paths=("/v1/rerank", "/rerank"),
    summary="Rank documents by relevance to a query (Cohere's rerank API)",
    required={"model": _MODEL, "query": _NONEMPTY,
              "documents": Array(AnyOf(String(), Object(), expected=(
                  "a string or an object")), min_items=1, max_items=10000)},
    params={"top_n": Integer(1, INT64), "return_documents": Boolean(),
            "rank_fields": Array(String()), "max_chunks_per_doc": Integer(1, INT64),
            "max_tokens_per_doc": Integer(1, INT64)},
    streams=False, response="Rerank"))
