"""Prices of the calls not billed per token: images (per image, by quality and size),
audio transcription (per second of audio), speech (per character of input) and rerank
(per search unit). Token-billed variants of the same surfaces (``gpt-image-1``,
``gpt-4o-transcribe``, ``gpt-4o-mini-tts``) are priced from their token counts when the
reply carries them.

Row fields (``data/prices/*.json``, or rows given to :func:`llmrelay.register_model`):

* ``output_cost_per_image``: USD per image at the default quality and size;
  ``output_cost_per_image_by_size``: ``{"<quality>/<size>": USD, "<size>": USD}`` with
  sizes written ``1024x1024`` (LiteLLM's ``1024-x-1024`` is read too);
* ``input_cost_per_second`` (LiteLLM also names it ``output_cost_per_second``): USD per
  second of transcribed audio, charged once;
* ``input_cost_per_character``: USD per character of text turned into speech;
* ``input_cost_per_query``: USD per rerank search unit (Cohere bills one per query of up
  to 100 documents).

Every function returns None when the model has no such price (the caller reports the cost
as unknown) and never raises.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from .cost import Row, price_row

__all__ = ["audio_seconds", "image_cost", "rerank_cost", "response_cost_calculator",
           "speech_cost", "transcription_cost", "unit_cost", "unit_kind"]

_log = logging.getLogger("llmrelay")
DEFAULT_SIZE = "1024x1024"
_DEFAULT_QUALITY = {"auto": "medium", "": "standard"}


def _num(row: Row, *fields: str) -> float | None:
    for field in fields:
        value = row.get(field)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _tokens(usage: Any) -> tuple[int, int]:
    if usage is None:
        return 0, 0
    inp = _get(usage, "input_tokens") or _get(usage, "prompt_tokens") or 0
    out = _get(usage, "output_tokens") or _get(usage, "completion_tokens") or 0
    return int(inp), int(out)


def _token_price(row: Row, inp: int, out: int) -> float:
    return (inp * (_num(row, "input_cost_per_token") or 0.0)
            + out * (_num(row, "output_cost_per_token") or 0.0))


def _size(value: Any) -> str:
    return str(value or DEFAULT_SIZE).replace("-x-", "x").lower()


def image_cost(row: Row, response: Any = None, size: Any = None, quality: Any = None,
               n: Any = None) -> float | None:
    """USD for the images of one call: by the reply's token usage when it has one, else
    per image by ``quality``/``size`` (``output_cost_per_image_by_size``), else the flat
    ``output_cost_per_image``. The image count is the reply's, else ``n`` (default 1)."""
    inp, out = _tokens(_get(response, "usage") if response is not None else None)
    if (inp or out) and (_num(row, "input_cost_per_token") is not None
                         or _num(row, "output_cost_per_token") is not None):
        return _token_price(row, inp, out)
    data = _get(response, "data") if response is not None else None
    count = len(data) if isinstance(data, list) and data else int(n or 1)
    table = row.get("output_cost_per_image_by_size")
    if isinstance(table, dict):
        q = str(quality or "").lower()
        q = _DEFAULT_QUALITY.get(q, q) if q in _DEFAULT_QUALITY else q
        s = _size(size)
        for key in (f"{q}/{s}", s, f"standard/{s}", f"medium/{s}"):
            price = table.get(key)
            if isinstance(price, (int, float)):
                return float(price) * count
    flat = _num(row, "output_cost_per_image", "input_cost_per_image")
    return None if flat is None else flat * count


def audio_seconds(file: Any) -> float | None:
    """The length of an uploaded audio file in seconds when it can be read without a
    decoder (WAV), else None."""
    data = getattr(file, "data", None)
    if not isinstance(data, (bytes, bytearray)) or data[:4] != b"RIFF":
        return None
    import wave

    try:
        with wave.open(io.BytesIO(bytes(data))) as w:
            rate = w.getframerate()
            return w.getnframes() / rate if rate else None
    except (wave.Error, EOFError):
        return None


def transcription_cost(row: Row, response: Any = None, file: Any = None) -> float | None:
    """USD for one transcription: token usage (audio tokens at
    ``input_cost_per_audio_token``) when the reply reports tokens, else seconds of audio
    (the reply's ``usage.seconds`` or ``duration``, else the uploaded WAV's length) at the
    per-second price."""
    usage = _get(response, "usage") if response is not None else None
    inp, out = _tokens(usage)
    if inp or out:
        details = _get(usage, "input_token_details") or {}
        audio = int(_get(details, "audio_tokens") or 0)
        per_token = _num(row, "input_cost_per_token") or 0.0
        per_audio = _num(row, "input_cost_per_audio_token")
        per_audio = per_token if per_audio is None else per_audio
        return (audio * per_audio + max(inp - audio, 0) * per_token
                + out * (_num(row, "output_cost_per_token") or 0.0))
    per_second = _num(row, "input_cost_per_second", "output_cost_per_second")
    if per_second is None:
        return None
    seconds = _get(usage, "seconds") if usage is not None else None
    if seconds is None and response is not None:
        seconds = _get(response, "duration")
    if seconds is None:
        seconds = audio_seconds(file)
    if seconds is None:
        _log.debug("transcription: the audio length is unknown; cost not computed")
        return None
    return float(seconds) * per_second


def speech_cost(row: Row, text: Any) -> float | None:
    """USD for turning ``text`` into speech: per character, else per input token (audio
    output tokens are not reported by the API, so they are not priced)."""
    text = text if isinstance(text, str) else ""
    per_char = _num(row, "input_cost_per_character")
    if per_char is not None:
        return len(text) * per_char
    per_token = _num(row, "input_cost_per_token")
    if per_token is None:
        return None
    from .tokens import token_counter

    return token_counter(text=text) * per_token if text else 0.0


def rerank_cost(row: Row, response: Any = None) -> float | None:
    """USD for one rerank: billed search units (1 when unknown) at ``input_cost_per_query``,
    else the reply's token usage at the token prices."""
    per_query = _num(row, "input_cost_per_query")
    if per_query is not None:
        units = response.search_units() if hasattr(response, "search_units") else 1
        return units * per_query
    meta = _get(response, "meta") if response is not None else None
    tokens = _get(meta, "tokens") or _get(response, "usage")
    inp, out = _tokens(tokens)
    if not (inp or out):
        return None
    return _token_price(row, inp, out)


def unit_cost(call_type: str, model: str, provider: str | None, response: Any = None, *,
              params: dict[str, Any] | None = None, input: Any = None,
              prices: dict[str, Row] | None = None) -> float | None:
    """USD for one call of a unit-priced ``call_type`` (``image_generation``,
    ``transcription``, ``speech``, ``rerank``; an ``a`` prefix is ignored), or None."""
    kind = call_type[1:] if call_type.startswith("a") and call_type[1:] in _KINDS else call_type
    row = price_row(model, provider, prices)
    if row is None or kind not in _KINDS:
        return None
    p = params or {}
    try:
        if kind == "image_generation":
            return image_cost(row, response, p.get("size"), p.get("quality"), p.get("n"))
        if kind == "transcription":
            return transcription_cost(row, response, input)
        if kind == "speech":
            return speech_cost(row, input)
        return rerank_cost(row, response)
    except Exception:  # pricing never fails a call
        _log.debug("could not price %s for %r", kind, model, exc_info=True)
        return None


_KINDS = frozenset({"image_generation", "transcription", "speech", "rerank"})

_CLASSES = {"ImageResponse": "image_generation", "TranscriptionResponse": "transcription",
            "RerankResponse": "rerank", "HttpxBinaryResponseContent": "speech"}


def unit_kind(call_type: str | None, response: Any = None) -> str | None:
    """The unit-priced call type of ``call_type`` (``"a"`` prefix ignored) or, without
    one, of the response's class; None for token-priced calls."""
    if call_type:
        name = str(getattr(call_type, "value", call_type))
        name = name[1:] if name.startswith("a") and name[1:] in _KINDS else name
        return name if name in _KINDS else None
    return _CLASSES.get(type(response).__name__) if response is not None else None


def response_cost_calculator(response_object: Any = None, model: str | None = None,
                             cache_hit: bool | None = None,
                             custom_llm_provider: str | None = None,
                             base_model: str | None = None, call_type: str | None = None,
                             optional_params: dict[str, Any] | None = None,
                             custom_pricing: bool | None = None, prompt: str = "",
                             **_: Any) -> float | None:
    """LiteLLM's ``response_cost_calculator``: the USD cost of a response, or None when it
    cannot be priced; never raises. ``base_model`` (the model a deployment runs) is priced
    before ``model``; a cache hit costs 0.0."""
    if cache_hit:
        return 0.0
    from .cost import completion_cost

    params = optional_params or {}
    response = response_object if not isinstance(response_object, type) else None
    for name in (base_model, model):
        if not name:
            continue
        try:
            return completion_cost(response, model=name, prompt=prompt,
                                   custom_llm_provider=custom_llm_provider,
                                   call_type=call_type, size=params.get("size"),
                                   quality=params.get("quality"), n=params.get("n"))
        except Exception:
            _log.debug("response_cost_calculator: %r not priced", name, exc_info=True)
    return None
