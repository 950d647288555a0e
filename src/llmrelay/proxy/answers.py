"""How the answers of the endpoints beyond chat travel: named server-sent events (the
Responses and Messages APIs: ``event: <type>`` then ``data: <json>``), audio bytes
streamed through (speech), and errors in the shape the endpoint's clients parse (OpenAI's
``{"error": {...}}``, or Anthropic's ``{"type": "error", "error": {"type", "message"}}``
for ``/v1/messages``, whose SDK reads the error type from it)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from .errors import ProxyError
from .lean import LeanResponse
from .sse import SSEResponse, dumps, encode_event, json_response

__all__ = [
    "AudioResponse",
    "answer",
    "anthropic_error",
    "encode_named",
    "error_response",
    "stream_error",
]

_TEXT_FORMATS = ("text", "srt", "vtt")


def answer(data: Mapping[str, Any], response: Any,
           headers: Mapping[str, str]) -> LeanResponse:
    """A whole answer: JSON, or plain text for a transcription asked for as ``text``,
    ``srt`` or ``vtt`` (as OpenAI answers those)."""
    if data.get("response_format") in _TEXT_FORMATS and type(response).__name__ == (
            "TranscriptionResponse"):
        return LeanResponse(str(response.text).encode("utf-8"), headers,
                            media_type="text/plain; charset=utf-8")
    return json_response(response, headers=headers)

# HTTP status -> Anthropic's error type
_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                    402: "billing_error", 403: "permission_error", 404: "not_found_error",
                    409: "conflict_error", 413: "request_too_large", 429: "rate_limit_error",
                    504: "timeout_error", 529: "overloaded_error"}


def encode_named(event: Any) -> bytes:
    """One named SSE event: bytes are passed through as they are (an upstream event
    relayed unchanged), objects and dicts with a ``type`` are written as ``event: <type>``
    and ``data: <json>``."""
    if isinstance(event, (bytes, bytearray)):
        return bytes(event)
    kind = event.get("type") if isinstance(event, dict) else getattr(event, "type", None)
    if not isinstance(kind, str):
        return encode_event(event)
    return b"event: " + kind.encode() + b"\ndata: " + dumps(event) + b"\n\n"


def anthropic_error(err: ProxyError) -> dict[str, Any]:
    """``err`` as the body Anthropic's API sends."""
    status = err.status_code
    kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else
                                "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": err.message}}


def error_response(endpoint: Any, err: ProxyError,
                   headers: Mapping[str, str]) -> LeanResponse:
    """The error answer of ``endpoint`` (None: OpenAI's shape)."""
    if endpoint is not None and endpoint.errors == "anthropic":
        return json_response(anthropic_error(err), err.status_code, headers)
    return json_response(err.body(), err.status_code, headers)


def stream_error(endpoint: Any, err: ProxyError) -> bytes:
    """The last event of a named-event stream that failed after it started."""
    if endpoint is not None and endpoint.errors == "anthropic":
        return b"event: error\ndata: " + dumps(anthropic_error(err)) + b"\n\n"
    body = {"type": "error", "code": str(err.code), "message": err.message,
            "param": err.param}
    return b"event: error\ndata: " + dumps(body) + b"\n\n"


class AudioResponse(SSEResponse):
    """Audio bytes streamed to the client as the upstream sends them, with the upstream's
    content type (the client-disconnect handling of :class:`SSEResponse`)."""

    def __init__(self, events: AsyncGenerator[bytes, None], media_type: str,
                 headers: Mapping[str, str] | None = None,
                 on_close: Callable[[], Awaitable[None]] | None = None,
                 on_disconnect: Callable[[], None] | None = None) -> None:
        super().__init__(events, headers, on_close, on_disconnect)
        self.media_type = media_type
        fields = dict(self.fields)
        del fields["x-accel-buffering"]
        self.fields = fields
