"""Request and response bodies in usage rows, with ``general_settings.
store_prompts_in_spend_logs`` (LiteLLM's setting): the request as the proxy read it
(credentials left out) and the response (a stream's assembled text), as JSON text cut to
``storable.MAX_BODY_CHARS``. ``litellm_settings.turn_off_message_logging`` wins: nothing is
kept then. Shown by ``/spend/logs`` (``messages``, ``response``) and the dashboard's
request log."""

from __future__ import annotations

import json
from typing import Any

from .._params import SECRET_PARAMS

__all__ = ["keep_bodies", "request_json", "response_json", "stream_summary"]

_SECRET = SECRET_PARAMS  # credentials a request may carry: never stored


def keep_bodies(cfg: Any) -> bool:
    return bool(cfg.store_prompts_in_spend_logs) and not cfg.settings.get(
        "turn_off_message_logging")


def _dump(value: Any) -> str | None:
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None


def request_json(data: dict[str, Any]) -> str | None:
    return _dump({k: v for k, v in data.items() if k not in _SECRET})


def response_json(response: Any) -> str | None:
    if response is None:
        return None
    dump = getattr(response, "model_dump", None)
    if callable(dump):
        try:
            return _dump(dump())
        except Exception:
            return None
    if isinstance(response, (dict, list, str)):
        return _dump(response)
    return None


def stream_summary(chunks: list[Any]) -> dict[str, Any]:
    """A streamed chat reply as one object: the text of every choice's deltas."""
    texts: dict[int, list[str]] = {}
    for chunk in chunks:
        for choice in getattr(chunk, "choices", None) or ():
            delta = getattr(choice, "delta", None)
            content = getattr(delta, "content", None) if delta is not None else None
            if isinstance(content, str):
                texts.setdefault(int(getattr(choice, "index", 0) or 0), []).append(content)
    return {"object": "chat.completion.stream", "choices": [
        {"index": i, "message": {"role": "assistant", "content": "".join(parts)}}
        for i, parts in sorted(texts.items())]}
