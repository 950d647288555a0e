"""Whether a model answers now: ``ahealth_check`` (LiteLLM's SDK function) and the checks
behind the proxy's ``GET /health``.

One small real call per model, of the kind its ``mode`` names (``chat`` by default, or the
mode the price table gives the model: an embedding model gets an embedding call). The call
runs on a client of its own, with no callbacks and no cache (a cached answer would say
nothing about the provider), so it shows in no logger and costs no spend record; the
provider bills it as any call. The answer is ``{}`` plus the provider's rate-limit headers
when it answered, or ``{"error": "..."}`` when it did not (never an exception).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["HEALTH_CHECK_TIMEOUT", "ahealth_check", "display_params"]

log = logging.getLogger("llmrelay")

HEALTH_CHECK_TIMEOUT = 60.0  # seconds one check may take (a model_info may set its own)
_PROMPT = "test from llmrelay: reply with one word"
_NOT_SHOWN = frozenset({"messages", "prompt", "input"})


def display_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without credentials (:func:`~llmrelay._params.is_secret_param`) or
    anything bulky (messages, prompt, input), for showing."""
    from ._params import is_secret_param

    return {k: v for k, v in params.items() if k not in _NOT_SHOWN and not is_secret_param(k)}


def _mode_of(model: str, mode: str | None) -> str:
    if mode:
        return mode
    from .cost import lookup

    row = lookup(model)
    found = row.get("mode") if row else None
    return str(found) if found else "chat"


async def _call(client: Any, mode: str, model: str, params: dict[str, Any],
                prompt: str, input: list[Any]) -> Any:
    if mode in ("chat", "responses"):
        return await client.acompletion(model=model, messages=params.pop("messages", None)
                                        or [{"role": "user", "content": prompt}], **params)
    if mode == "completion":
        return await client.atext_completion(model=model, prompt=prompt, **params)
    if mode == "embedding":
        return await client.aembedding(model=model, input=input, **params)
    if mode == "image_generation":
        return await client.aimage_generation(prompt=prompt, model=model, **params)
    if mode == "audio_speech":
        return await client.aspeech(model=model, input=prompt,
                                    voice=params.pop("voice", "alloy"), **params)
    if mode == "rerank":
        return await client.arerank(model=model, query=prompt, documents=[prompt], **params)
    if mode == "moderation":
        return await client.amoderation(input=prompt, model=model, **params)
    raise ValueError(f"no health check for mode {mode!r}; use one of chat, completion, "
                     f"embedding, image_generation, audio_speech, rerank, moderation")


def _rate_limits(response: Any) -> dict[str, Any]:
    hidden = getattr(response, "_hidden_params", None) or {}
    headers = hidden.get("additional_headers") or {}
    return {k: v for k, v in headers.items() if k.startswith("x-ratelimit-")}


async def ahealth_check(model_params: Mapping[str, Any], mode: str | None = None,
                        prompt: str | None = None, input: list[Any] | None = None,
                        default_timeout: float = HEALTH_CHECK_TIMEOUT) -> dict[str, Any]:
    """Check one model: ``model_params`` are a call's arguments (``model`` and its
    ``api_key``, ``api_base`` ...). Returns ``{}`` plus the provider's ``x-ratelimit-*``
    headers when the model answered within ``default_timeout`` seconds, else
    ``{"error": "<what went wrong>"}``."""
    from ._client import Client

    params = dict(model_params)
    model = str(params.pop("model", "") or "")
    if not model:
        return {"error": "model_params has no 'model'"}
    if model.endswith("*"):
        return {"error": f"{model} is a wildcard: name one model to check"}
    for option in ("mode", "health_check_timeout", "cache", "caching", "callbacks"):
        params.pop(option, None)
    mode = _mode_of(model, mode)
    client = Client()  # no callbacks, no cache: every check reaches the provider
    try:
        response = await asyncio.wait_for(
            _call(client, mode, model, params, prompt or _PROMPT, input or [_PROMPT]),
            timeout=default_timeout)
    except asyncio.TimeoutError:
        return {"error": f"no answer within {default_timeout:g} s"}
    except Exception as exc:  # the answer is the dict: the reason is its "error"
        log.debug("llmrelay: health check of %s failed", model, exc_info=True)
        message = getattr(exc, "message", None) or str(exc)
        return {"error": f"{type(exc).__name__}: {message}"}
    return _rate_limits(response)
