"""The models and providers llmrelay knows, in the shapes LiteLLM users read them.

* :func:`get_model_cost_map` returns the model table as a plain dict (the bundled
  ``data/prices`` files, or a LiteLLM-format JSON map read from a URL or a file you name);
  ``llmrelay.model_cost = get_model_cost_map(url=...)`` makes it the table every call
  prices with.
* ``llmrelay.model_list``, ``llmrelay.models_by_provider``, ``llmrelay.provider_list`` and
  ``llmrelay.<provider>_models`` (``anthropic_models``, ``open_ai_chat_completion_models``
  ...) are computed from the table when read, so they follow :func:`~llmrelay.register_model`
  and :func:`add_known_models` is a no-op kept for LiteLLM code that calls it.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from . import cost

__all__ = ["add_known_models", "get_model_cost_map", "known_models", "models_by_provider",
           "provider_list", "replace_model_cost"]

_log = logging.getLogger("llmrelay")
_LOCAL_ENV = ("LLMRELAY_LOCAL_MODEL_COST_MAP", "LITELLM_LOCAL_MODEL_COST_MAP")
# LiteLLM's names for some provider lists: name -> (provider, mode or None for any).
_NAMED_LISTS: dict[str, tuple[str, str | None]] = {
    # every OpenAI model, whatever its mode, as LiteLLM's list holds them
    "open_ai_chat_completion_models": ("openai", None),
    "open_ai_embedding_models": ("openai", "embedding"),
    "open_ai_text_completion_models": ("text-completion-openai", None),
    "mistral_chat_models": ("mistral", "chat"),
    "azure_embedding_models": ("azure", "embedding"),
}


def _bundled() -> dict[str, dict[str, Any]]:
    return {k: dict(v) for k, v in cost.model_cost.items()}


def _fetch(url: str, timeout: float) -> Any:
    if url.startswith(("http://", "https://")):
        import httpx

        reply = httpx.get(url, timeout=timeout, follow_redirects=True)
        reply.raise_for_status()
        return reply.json()
    with open(url, encoding="utf-8") as f:
        return json.load(f)


def get_model_cost_map(url: str | None = "", timeout: float = 5.0) -> dict[str, dict[str, Any]]:
    """The model table as a new dict of model name -> row.

    With ``url`` empty or None, or ``LLMRELAY_LOCAL_MODEL_COST_MAP`` /
    ``LITELLM_LOCAL_MODEL_COST_MAP`` set to true: llmrelay's bundled table (no network).
    Otherwise ``url`` (an http(s) URL or a local path) is read as a LiteLLM-format map
    (``litellm_provider`` is read as ``provider``); if that fails, the failure is logged
    and the bundled table is returned, as LiteLLM falls back to its backup copy.
    """
    local = any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in _LOCAL_ENV)
    if not url or local:
        return _bundled()
    try:
        data = _fetch(url, timeout)
        if isinstance(data, dict) and isinstance(data.get("models"), dict):
            data = data["models"]
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object of model name -> row")
        return {k: cost.normalise_row(k, v) for k, v in data.items()
                if k != "sample_spec" and isinstance(v, dict)}
    except Exception as exc:  # a bad or unreachable map must not break start-up
        _log.warning("could not read the model cost map from %s (%s); using the bundled "
                     "table", url, exc)
        return _bundled()


def replace_model_cost(rows: Any) -> None:
    """Make ``rows`` (model name -> row) the whole model table (what assigning
    ``llmrelay.model_cost`` does). Raises TypeError for something that is not a dict of
    dicts."""
    if not isinstance(rows, dict):
        raise TypeError(f"llmrelay.model_cost must be a dict of model name -> row, got "
                        f"{type(rows).__name__}")
    if rows is cost.model_cost:
        return
    snapshot = dict(rows)  # ``rows`` may be a view of the table being replaced
    cost.model_cost.clear()
    cost.register_model(snapshot)


def models_by_provider() -> dict[str, list[str]]:
    """Provider -> the table's model names it serves (table order)."""
    out: dict[str, list[str]] = {}
    for name, row in cost.model_cost.items():
        provider = row.get("provider")
        if provider:
            out.setdefault(str(provider), []).append(name)
    return out


def provider_list() -> list[str]:
    """The providers llmrelay can call."""
    from .providers.registry import known_providers

    return known_providers()


def known_models(attr: str) -> list[str] | None:
    """The list behind a module attribute such as ``anthropic_models`` or
    ``open_ai_chat_completion_models`` (None if ``attr`` names no such list)."""
    if attr == "model_list":
        return list(cost.model_cost)
    if attr in _NAMED_LISTS:
        provider, mode = _NAMED_LISTS[attr]
        return [k for k, r in cost.model_cost.items() if r.get("provider") == provider
                and (mode is None or r.get("mode", "chat") == mode)]
    if attr.endswith("_models"):
        provider = attr[: -len("_models")]
        if provider in cost.PROVIDER_PREFIXES or provider in provider_list():
            return models_by_provider().get(provider, [])
    return None


def add_known_models(model_cost_map: dict[str, Any] | None = None) -> None:
    """Add rows to the table (LiteLLM sorts a map into its provider lists here; llmrelay's
    lists are computed from the table when read, so with no argument nothing changes)."""
    if model_cost_map:
        cost.register_model(model_cost_map)
