"""The mock provider's answers for images, audio, moderation and rerank: deterministic
replies of the right shape, computed from the request, with no network.

* images: ``n`` images, as URLs under ``https://mock.llmrelay.invalid/`` or, with
  ``response_format="b64_json"`` (and for ``gpt-image-*`` models), a real 1x1 PNG;
* transcription: ``"This is a mock transcription of <file name>."`` (or
  ``mock_response``), in the ``response_format`` asked for, with the audio's duration
  (read from a WAV upload, else estimated from its size);
* speech: a WAV of silence about as long as the text would take to say, streamed in
  4 KiB chunks;
* moderation: nothing flagged unless ``mock_response`` says so;
* rerank: documents scored by the words they share with the query.

``mock_response`` given as a dict is the whole reply (for images, moderation, rerank and
transcription); a string is the transcript, the image URL, or the speech is for it.
"""

from __future__ import annotations

import base64
import io
import math
import re
import struct
import wave
import zlib
from typing import Any

from ...cost_units import audio_seconds
from ...types import new_id
from ...types.media import (
    HttpxBinaryResponseContent,
    ImageResponse,
    OpenAIModerationResponse,
    RerankResponse,
    TranscriptionResponse,
)
from ..base import Call

__all__ = ["SURFACE_MOCKS", "mock_surface", "mock_surface_chunks"]

_CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
               "illicit/violent", "self-harm", "self-harm/instructions", "self-harm/intent",
               "sexual", "sexual/minors", "violence", "violence/graphic")
_WORDS = re.compile(r"\w+")


def _png() -> str:
    """A valid 1x1 grey PNG, base64."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))
    return base64.b64encode(raw).decode("ascii")


def _images(call: Call, mock: Any) -> ImageResponse:
    if isinstance(mock, dict):
        return ImageResponse(**mock)
    n = max(1, int(call.params.get("n") or 1))
    b64 = (call.params.get("response_format") == "b64_json"
           or call.model.startswith("gpt-image"))
    seed = zlib.crc32(str(call.input).encode("utf-8", "surrogatepass"))
    data = []
    for i in range(n):
        item: dict[str, Any] = {"revised_prompt": call.input if "dall-e-3" in call.model
                                else None}
        if b64:
            item["b64_json"] = _png()
        else:
            item["url"] = (str(mock) if isinstance(mock, str) else
                           f"https://mock.llmrelay.invalid/images/{seed:08x}-{i}.png")
        data.append(item)
    usage = None
    if call.model.startswith("gpt-image"):  # token-billed: 272 output tokens per low image
        from ...tokens import token_counter

        usage = {"input_tokens": token_counter(text=str(call.input)), "output_tokens": 272 * n}
    return ImageResponse(data=data, usage=usage)


def _transcription(call: Call, mock: Any) -> TranscriptionResponse:
    if isinstance(mock, dict):
        return TranscriptionResponse(**mock)
    file = call.input
    text = str(mock) if isinstance(mock, str) else (
        f"This is a mock transcription of {getattr(file, 'name', 'the audio')}.")
    seconds = audio_seconds(file)
    if seconds is None:  # 16 kB/s: about 128 kbit/s compressed audio
        seconds = max(1.0, len(getattr(file, "data", b"")) / 16000)
    fmt = call.params.get("response_format") or "json"
    if fmt == "text":
        return TranscriptionResponse(text=text)
    if fmt in ("srt", "vtt"):
        end = _stamp(seconds, "," if fmt == "srt" else ".")
        head = "1\n" if fmt == "srt" else "WEBVTT\n\n"
        start = "00:00:00,000" if fmt == "srt" else "00:00:00.000"
        return TranscriptionResponse(text=f"{head}{start} --> {end}\n{text}\n")
    usage = {"type": "duration", "seconds": math.ceil(seconds)}
    if fmt == "verbose_json":
        return TranscriptionResponse(
            task="transcribe", language=call.params.get("language") or "english",
            duration=round(seconds, 2), text=text, usage=usage,
            segments=[{"id": 0, "start": 0.0, "end": round(seconds, 2), "text": text}])
    return TranscriptionResponse(text=text, usage=usage)


def _stamp(seconds: float, sep: str) -> str:
    ms = int(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


_RATE = 8000


def _speech_bytes(call: Call) -> bytes:
    """A mono 8 kHz WAV of silence, ~15 characters a second (at most 30 s)."""
    text = call.input if isinstance(call.input, str) else ""
    speed = float(call.params.get("speed") or 1.0) or 1.0
    seconds = min(30.0, max(0.25, len(text) / 15.0 / speed))
    frames = int(_RATE * seconds)
    if call.params.get("response_format") == "pcm":
        return b"\x00\x00" * frames
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(_RATE)
        w.writeframes(b"\x00\x00" * frames)
    return buf.getvalue()


def _speech(call: Call, mock: Any) -> HttpxBinaryResponseContent:
    data = mock if isinstance(mock, (bytes, bytearray)) else _speech_bytes(call)
    ctype = "audio/pcm" if call.params.get("response_format") == "pcm" else "audio/wav"
    return HttpxBinaryResponseContent(bytes(data), {"content-type": ctype}, call.model)


def _moderation(call: Call, mock: Any) -> OpenAIModerationResponse:
    if isinstance(mock, dict):
        return OpenAIModerationResponse(**{"model": call.model, **mock})
    items = call.input if isinstance(call.input, list) else [call.input]
    flagged = mock is True or (isinstance(mock, str) and mock.lower() == "flagged")
    results = []
    for item in items:
        seed = zlib.crc32(repr(item).encode("utf-8", "surrogatepass"))
        scores = {c: round(((seed >> (i % 24)) % 97) / 100000, 6)
                  for i, c in enumerate(_CATEGORIES)}
        if flagged:
            scores["harassment"] = 0.91
        results.append({"flagged": flagged,
                        "categories": {c: flagged and c == "harassment" for c in _CATEGORIES},
                        "category_scores": scores})
    return OpenAIModerationResponse(id=new_id("modr-"), model=call.model, results=results)


def _rerank(call: Call, mock: Any) -> RerankResponse:
    from ..rerank import document_texts, rerank_response

    if isinstance(mock, dict):
        return RerankResponse(**mock)
    query = set(_WORDS.findall(str(call.input).lower()))
    scored = []
    for i, text in enumerate(document_texts(call)):
        words = set(_WORDS.findall(text.lower()))
        overlap = len(query & words) / (len(query) or 1)
        scored.append({"index": i, "relevance_score": round(0.05 + 0.9 * overlap
                                                             - i * 1e-6, 6)})
    scored.sort(key=lambda r: -r["relevance_score"])
    top = call.params.get("top_n")
    if top is not None:
        scored = scored[:int(top)]
    return rerank_response(call, {"id": new_id("rerank-"), "results": scored,
                                  "meta": {"billed_units": {"search_units": 1}}})


SURFACE_MOCKS = {"image_generation": _images, "transcription": _transcription,
                 "speech": _speech, "moderation": _moderation, "rerank": _rerank}


def mock_surface(call: Call, mock: Any) -> Any:
    """The whole mock reply of a surface call."""
    return SURFACE_MOCKS[call.call_type](call, mock)


def mock_surface_chunks(call: Call, mock: Any) -> list[Any]:
    """The chunks of a streamed mock reply (speech: the audio in 4 KiB pieces)."""
    reply = mock_surface(call, mock)
    data = getattr(reply, "content", None)
    if isinstance(data, bytes):
        return [data[i:i + 4096] for i in range(0, len(data), 4096)]
    return [reply]
