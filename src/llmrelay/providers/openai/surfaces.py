"""OpenAI's endpoints beyond chat, text and embeddings: ``images/generations``,
``moderations``, ``audio/transcriptions`` (a multipart upload), ``audio/speech`` (audio
bytes, streamed as they come) and ``rerank`` (Cohere's shape, which OpenAI-compatible
rerank servers speak). Azure reuses them with its own URLs and auth
(:meth:`OpenAIProvider.endpoint_url` / ``auth_headers``). The Responses API lives in
:mod:`.responses`.

One small object per endpoint implements the provider contract for its call type; the
wire object (:class:`~.translate.OpenAIProvider`) gives URLs, credentials and error
mapping.
"""

from __future__ import annotations

from typing import Any

from ...exceptions import BadRequestError, LLMRelayError
from ...types.media import (
    HttpxBinaryResponseContent,
    ImageResponse,
    OpenAIModerationResponse,
    TranscriptionResponse,
)
from ..base import (
    IMAGE_PARAMS,
    MODERATION_PARAMS,
    RERANK_PARAMS,
    SPEECH_PARAMS,
    TRANSCRIPTION_PARAMS,
    Call,
    HTTPRequest,
    decode_json,
)
from ..multipart import encode_multipart
from ..rerank import rerank_body, rerank_response

__all__ = ["Surface", "surface_for"]


class Surface:
    """One JSON endpoint of the wire: ``path``, the parameters it takes, the reply class."""

    call_type = ""
    path = ""
    params: frozenset[str] = frozenset()
    streams = False

    def __init__(self, wire: Any) -> None:
        self.wire = wire
        self.spec = wire.spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        return self.params

    def body(self, call: Call) -> dict[str, Any]:
        return {"model": call.model, "input": call.input, **call.params}

    def build_request(self, call: Call) -> HTTPRequest:
        if call.stream and not self.streams:
            raise BadRequestError(f"{self.call_type} does not stream: call it without "
                                  f"stream=True", llm_provider=call.provider,
                                  model=call.model, param="stream")
        body = self.body(call)
        if call.extra_body:
            body.update(call.extra_body)
        req: HTTPRequest = self.wire.endpoint_request(call, self.path, body)
        return req

    def parse(self, call: Call, data: Any, raw: bytes) -> Any:
        raise NotImplementedError

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        data = decode_json(call, status, headers, body)
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            raise self.wire.map_error(call, 500, headers, body)
        return self.parse(call, data, body)

    def stream_decoder(self, call: Call) -> Any:
        raise BadRequestError(f"{self.call_type} does not stream", param="stream")

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        err: LLMRelayError = self.wire.map_error(call, status, headers, body)
        return err


class Images(Surface):
    call_type, path, params = "image_generation", "images/generations", IMAGE_PARAMS

    def body(self, call: Call) -> dict[str, Any]:
        return {"model": call.model, "prompt": call.input, **call.params}

    def parse(self, call: Call, data: Any, raw: bytes) -> ImageResponse:
        return ImageResponse.from_dict(data)  # type: ignore[no-any-return]


class Moderations(Surface):
    call_type, path, params = "moderation", "moderations", MODERATION_PARAMS

    def parse(self, call: Call, data: Any, raw: bytes) -> OpenAIModerationResponse:
        out: OpenAIModerationResponse = OpenAIModerationResponse.from_dict(data)
        if out.model is None:
            out.model = call.model
        return out


class Rerank(Surface):
    call_type, path, params = "rerank", "rerank", RERANK_PARAMS

    def body(self, call: Call) -> dict[str, Any]:
        return rerank_body(call)

    def parse(self, call: Call, data: Any, raw: bytes) -> Any:
        return rerank_response(call, data, raw)


_TEXT_FORMATS = ("text", "srt", "vtt")


class Transcriptions(Surface):
    """A multipart upload: the file, the model and each parameter as a form field
    (``timestamp_granularities`` repeated as ``timestamp_granularities[]``)."""

    call_type, path, params = "transcription", "audio/transcriptions", TRANSCRIPTION_PARAMS

    def build_request(self, call: Call) -> HTTPRequest:
        if call.stream:
            raise BadRequestError("transcription does not stream here: call it without "
                                  "stream=True", param="stream")
        file = call.input
        fields: list[tuple[str, Any]] = [("model", call.model)]
        for name, value in {**call.params, **(call.extra_body or {})}.items():
            if isinstance(value, (list, tuple)):
                fields += [(f"{name}[]", v) for v in value]
            elif isinstance(value, dict):
                import json

                fields.append((name, json.dumps(value)))
            else:
                fields.append((name, value))
        content, ctype = encode_multipart(fields, [("file", file.name, file.data,
                                                    file.content_type)])
        shown = {"model": call.model, "file": file.model_dump(), **call.params}
        req: HTTPRequest = self.wire.endpoint_request(call, self.path, shown, content, ctype)
        return req

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> TranscriptionResponse:
        if call.params.get("response_format") in _TEXT_FORMATS:
            return TranscriptionResponse(text=body.decode("utf-8", "replace"))
        data = decode_json(call, status, headers, body)
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            raise self.wire.map_error(call, 500, headers, body)
        return TranscriptionResponse.from_dict(data)  # type: ignore[no-any-return]


class RawAudio:
    """Stream decoder of a speech reply: the body's bytes as they arrive."""

    raw_bytes = True

    def feed(self, chunk: bytes) -> list[bytes]:
        return [chunk] if chunk else []

    def finish(self) -> list[bytes]:
        return []


class Speech(Surface):
    """``audio/speech``: the audio comes back as bytes, whole or streamed."""

    call_type, path, params, streams = "speech", "audio/speech", SPEECH_PARAMS, True

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> HttpxBinaryResponseContent:
        if headers.get("content-type", "").startswith("application/json"):
            data = decode_json(call, status, headers, body)
            if isinstance(data, dict) and "error" in data:
                raise self.wire.map_error(call, 500, headers, body)
        return HttpxBinaryResponseContent(body, headers, call.model)

    def stream_decoder(self, call: Call) -> RawAudio:
        return RawAudio()


_SURFACES: dict[str, type[Surface]] = {
    s.call_type: s for s in (Images, Moderations, Rerank, Transcriptions, Speech)}


def surface_for(wire: Any, call_type: str) -> Any:
    """The endpoint object of ``wire`` for ``call_type``, or None."""
    if call_type == "responses":
        from .responses import ResponsesSurface

        return ResponsesSurface(wire)
    cls = _SURFACES.get(call_type)
    return cls(wire) if cls is not None else None
